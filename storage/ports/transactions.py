"""Ports of the transactions aggregate: transactions, 2.0.1 TransactionEvents and the
meter samples of both protocols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from storage.records import (
    MeterSampleRecord,
    SampledValue,
    TransactionEventRecord,
    TransactionRecord,
)

__all__ = ["MeterSampleRepository", "TransactionEventRepository", "TransactionRepository"]


class TransactionRepository(Protocol):
    def add(self, transaction: TransactionRecord) -> TransactionRecord: ...
    def by_transaction_id(self, transaction_id: int) -> TransactionRecord | None: ...
    def key_for(self, transaction_id: int) -> tuple[int, str] | None:
        """(row id, charger id) of the transaction with this CSMS transactionId."""
        ...

    def by_start_key(self, start_key: str) -> TransactionRecord | None: ...
    def by_pk(self, pk: int) -> TransactionRecord | None: ...
    def by_station_transaction_id(
        self, charger_id: str, station_transaction_id: str
    ) -> TransactionRecord | None: ...
    def active_station_transaction(
        self, charger_id: str, station_transaction_id: str
    ) -> tuple[int, int] | None:
        """(row id, connector id) of the station's (2.0.1) transaction when this process
        knows it to be active (a cache, no query); None when it does not know (then read
        the whole record)."""
        ...

    def remember_active(
        self, charger_id: str, station_transaction_id: str, pk: int, connector_id: int
    ) -> None:
        """Note (once committed) that this station transaction is active under row ``pk``."""
        ...

    def forget_active(self, charger_id: str, station_transaction_id: str) -> None:
        """Note (once committed) that this station transaction is no longer active."""
        ...

    def transaction_id_taken(self, transaction_id: int) -> bool: ...
    def active_for_id_tag(self, id_tag: str) -> list[TransactionRecord]: ...
    def active_for_connector(
        self, charger_id: str, connector_id: int
    ) -> list[TransactionRecord]: ...
    def update(self, pk: int, **fields: Any) -> None: ...
    def list(
        self,
        *,
        charger_id: str | None = None,
        active: bool | None = None,
        customer_id: int | None = None,
        owner_id: int | None = None,
        started_from: datetime | None = None,
        started_before: datetime | None = None,
        limit: int = 1000,
        after_pk: int | None = None,
    ) -> list[TransactionRecord]:
        """Newest first (by started_at, then id); ``started_from`` ≤ started_at <
        ``started_before``; ``after_pk``: only those listed after that session (a cursor)."""
        ...

    def forget_id_tags(self, pk: int, *, now: datetime) -> None:
        """Clear the idTags of a transaction and its events (erasure)."""
        ...

    def anonymize_before(self, cutoff: datetime, *, now: datetime) -> int:
        """Unlink completed transactions that ended before ``cutoff`` from any person."""
        ...

    def rotate(self) -> int: ...


class TransactionEventRepository(Protocol):
    def add(self, event: TransactionEventRecord) -> bool:
        """Store the event; False (and nothing stored) when this (charger, station
        transactionId, seqNo) is stored already."""
        ...

    def for_transaction(
        self, charger_id: str, station_transaction_id: str
    ) -> list[TransactionEventRecord]:
        """The transaction's events in seqNo order."""
        ...

    def get(
        self, charger_id: str, station_transaction_id: str, seq_no: int
    ) -> TransactionEventRecord | None:
        """The stored event (without its meter values), if this seqNo was stored."""
        ...

    def rotate(self) -> int: ...


class MeterSampleRepository(Protocol):
    def add_many(
        self,
        samples: Sequence[SampledValue],
        *,
        charger_id: str,
        connector_id: int,
        transaction_pk: int | None,
        reported_transaction_id: int | None,
        source: str,
        received_at: datetime,
    ) -> None:
        """Append sampled values of one message (written when the unit of work flushes)."""
        ...

    def for_transaction(self, transaction_pk: int) -> list[MeterSampleRecord]: ...
    def energy_registers(self, transaction_pk: int) -> list[MeterSampleRecord]:
        """The transaction's Energy.Active.Import.Register samples (no phase), oldest first."""
        ...

    def count(self) -> int: ...
    def rotate(self) -> int:
        """Re-encrypt signed values not under the newest key; how many."""
        ...
