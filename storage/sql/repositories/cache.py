"""The per-process cache of committed facts the hot path looks up."""

from __future__ import annotations

__all__ = ["StorageCache"]


class StorageCache:
    """Facts that never change once committed, kept per process to spare hot-path queries.

    ``transaction_keys``: CSMS transactionId → (row id, charger id). A transaction id is
    assigned once and never reused, so the entry stays true on every node.

    ``active_station_transactions``: (charger id, station transactionId) → (row id, connector
    id) of a 2.0.1 transaction this process saw active. Neither changes once the transaction
    has started on its EVSE; the entry is dropped when
    this process commits the transaction's end. (A station talks to one node at a time; a
    transaction ended through another node and then updated here again would take the fast
    path once more, which stores its event and samples but skips the energy recount.)
    """

    def __init__(self, *, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self.transaction_keys: dict[int, tuple[int, str]] = {}
        self.active_station_transactions: dict[tuple[str, str], tuple[int, int]] = {}

    def remember_transaction(self, transaction_id: int, pk: int, charger_id: str) -> None:
        if len(self.transaction_keys) >= self.max_entries:
            self.transaction_keys.clear()
        self.transaction_keys[transaction_id] = (pk, charger_id)

    def remember_active(
        self, charger_id: str, station_transaction_id: str, pk: int, connector_id: int
    ) -> None:
        if len(self.active_station_transactions) >= self.max_entries:
            self.active_station_transactions.clear()
        self.active_station_transactions[charger_id, station_transaction_id] = (pk, connector_id)

    def forget_active(self, charger_id: str, station_transaction_id: str) -> None:
        self.active_station_transactions.pop((charger_id, station_transaction_id), None)
