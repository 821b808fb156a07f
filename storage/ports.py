"""Storage ports: the repository and unit-of-work interfaces the domain is written against.

Repositories are synchronous and never commit: a unit of work groups their changes and
the :class:`~storage.database.Database` commits it (see ``Database.write``). Keeping the
domain code synchronous lets the database layer run a whole batch of units of work in
one database transaction (group commit) without an await per statement.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from storage.records import (
    ApiTokenRecord,
    ChargerEventRecord,
    ChargerRecord,
    ConnectionLogRecord,
    ConnectorRecord,
    CustomerRecord,
    CustomerTokenRecord,
    DeviceReportRecord,
    DeviceVariableRecord,
    IdTagRecord,
    InvoiceRecord,
    MeterSampleRecord,
    OutboxRecord,
    OwnerRecord,
    PaymentAttemptRecord,
    PaymentMethodRecord,
    SampledValue,
    SecurityEventRecord,
    StatusEventRecord,
    TariffAssignmentRecord,
    TariffRecord,
    TransactionEventRecord,
    TransactionRecord,
    UnreconciledRecord,
)

__all__ = [
    "ApiTokenRepository",
    "ChargerEventRepository",
    "ChargerRepository",
    "ConnectionLogRepository",
    "ConnectorRepository",
    "CustomerRepository",
    "CustomerTokenRepository",
    "DataKeyRepository",
    "DeviceModelRepository",
    "FavoriteRepository",
    "IdTagRepository",
    "InvoiceRepository",
    "MeterSampleRepository",
    "OutboxRepository",
    "OwnerRepository",
    "PaymentAttemptRepository",
    "PaymentMethodRepository",
    "SecurityEventRepository",
    "StatusEventRepository",
    "TariffRepository",
    "TransactionEventRepository",
    "TransactionRepository",
    "UnitOfWork",
    "UnreconciledRepository",
]


class OwnerRepository(Protocol):
    def add(self, *, name: str, created_at: datetime) -> OwnerRecord: ...
    def get(self, owner_id: int) -> OwnerRecord | None: ...
    def by_name(self, name: str) -> OwnerRecord | None: ...
    def list(self) -> list[OwnerRecord]: ...


class ChargerRepository(Protocol):
    def get(self, charger_id: str) -> ChargerRecord | None: ...
    def add(self, charger: ChargerRecord) -> None: ...
    def update(self, charger_id: str, **fields: Any) -> None: ...
    def delete(self, charger_id: str) -> bool: ...
    def list(self, *, owner_id: int | None = None) -> list[ChargerRecord]: ...
    def set_password_delivery(self, charger_id: str, password: str | None) -> None:
        """Keep the password to send to the charger (encrypted at rest); None erases it."""
        ...

    def password_delivery(self, charger_id: str) -> str | None: ...
    def rotate(self) -> int: ...


class ConnectorRepository(Protocol):
    def upsert(self, connector: ConnectorRecord) -> None: ...
    def for_charger(self, charger_id: str) -> list[ConnectorRecord]: ...
    def list(self, *, owner_id: int | None = None) -> list[ConnectorRecord]: ...


class StatusEventRepository(Protocol):
    def add(self, event: StatusEventRecord) -> None: ...
    def for_charger(
        self, charger_id: str, *, connector_id: int | None = None, limit: int = 100
    ) -> list[StatusEventRecord]:
        """The newest first (of one connector, or of every one)."""
        ...


class CustomerRepository(Protocol):
    """Customers; identity fields are encrypted at rest and found by keyed hash."""

    def add(self, customer: CustomerRecord) -> CustomerRecord:
        """Insert ``customer`` (its ``id`` is ignored and set)."""
        ...

    def get(self, customer_id: int) -> CustomerRecord | None: ...
    def by_number(self, customer_number: int) -> CustomerRecord | None: ...
    def by_email(self, email: str) -> CustomerRecord | None: ...
    def by_phone(self, phone: str) -> CustomerRecord | None: ...
    def by_unsubscribe_hash(self, token_hash: str) -> CustomerRecord | None: ...
    def number_taken(self, customer_number: int) -> bool: ...
    def update(self, customer_id: int, **fields: Any) -> None:
        """Change fields named as in CustomerRecord (and ``unsubscribe_token_hash``)."""
        ...

    def list(self, *, marketing_opt_in: bool | None = None) -> list[CustomerRecord]: ...
    def erase(self, customer_id: int, *, now: datetime) -> None:
        """Clear every identity field, hash, login and card; keep the customer number."""
        ...

    def rotate(self) -> int: ...


class CustomerTokenRepository(Protocol):
    def add(
        self,
        *,
        customer_id: int,
        token_hash: str,
        created_at: datetime,
        expires_at: datetime,
        created_ip: str | None = None,
    ) -> CustomerTokenRecord: ...
    def by_hash(self, token_hash: str) -> CustomerTokenRecord | None: ...
    def touch(self, token_id: int, when: datetime) -> None: ...
    def revoke(self, token_id: int, when: datetime) -> None: ...
    def list(self, customer_id: int) -> list[CustomerTokenRecord]: ...
    def forget_addresses_before(self, cutoff: datetime) -> int: ...
    def purge_expired_before(self, cutoff: datetime) -> int: ...


class FavoriteRepository(Protocol):
    def add(self, customer_id: int, charger_id: str, *, now: datetime) -> bool: ...
    def remove(self, customer_id: int, charger_id: str) -> bool: ...
    def list(self, customer_id: int) -> list[tuple[str, datetime]]: ...


class SecurityEventRepository(Protocol):
    def add(
        self,
        *,
        kind: str,
        details: dict[str, Any],
        created_at: datetime,
        customer_id: int | None = None,
        charger_id: str | None = None,
    ) -> None: ...
    def list(
        self, *, kind: str | None = None, customer_id: int | None = None, limit: int = 1000
    ) -> list[SecurityEventRecord]: ...


class DataKeyRepository(Protocol):
    def usage(self, key_ids: Iterable[str]) -> tuple[Counter[str], int]:
        """(stored values per key id, values under none of ``key_ids``)."""
        ...


class ConnectionLogRepository(Protocol):
    def add(
        self, *, charger_id: str, remote_address: str | None, connected_at: datetime
    ) -> None: ...
    def list(
        self, *, charger_id: str | None = None, limit: int = 1000
    ) -> list[ConnectionLogRecord]: ...
    def purge_before(self, cutoff: datetime) -> int: ...


class IdTagRepository(Protocol):
    def add(
        self,
        *,
        uid: str,
        status: str,
        created_at: datetime,
        customer_id: int | None = None,
        expires_at: datetime | None = None,
        parent_id_tag: str | None = None,
        kind: str = "card",
    ) -> IdTagRecord: ...
    def by_uid(self, uid: str) -> IdTagRecord | None: ...
    def update(self, uid: str, **fields: Any) -> None: ...
    def delete(self, tag_id: int) -> bool: ...
    def list(
        self, *, customer_id: int | None = None, kind: str | None = "card"
    ) -> list[IdTagRecord]:
        """Tokens sorted by UID; ``kind=None`` lists every kind."""
        ...

    def purge_expired_logins(self, before: datetime) -> int: ...
    def rotate(self) -> int: ...


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


class DeviceModelRepository(Protocol):
    def report(self, charger_id: str, request_id: int) -> DeviceReportRecord | None: ...
    def save_report(self, report: DeviceReportRecord) -> None:
        """Insert or replace the report row of (charger, requestId)."""
        ...

    def latest_report(self, charger_id: str) -> DeviceReportRecord | None: ...
    def delete_report_variables(self, charger_id: str, request_id: int) -> int:
        """Remove the variables that came from report ``request_id``; how many."""
        ...

    def upsert_variables(self, variables: Sequence[DeviceVariableRecord]) -> None:
        """Insert or replace variables by (charger, variable_key)."""
        ...

    def variables(
        self,
        charger_id: str,
        *,
        component_name: str | None = None,
        variable_name: str | None = None,
    ) -> list[DeviceVariableRecord]: ...
    def counts(self, charger_id: str) -> tuple[int, int, int]:
        """(components, variables, EVSEs) in the station's stored device model."""
        ...


class UnreconciledRepository(Protocol):
    def add(self, record: UnreconciledRecord) -> None: ...
    def list(self, *, charger_id: str | None = None) -> list[UnreconciledRecord]: ...
    def rotate(self) -> int: ...


class ChargerEventRepository(Protocol):
    """Charger-reported events; payloads are stored encrypted (they can hold personal data)."""

    def add(self, record: ChargerEventRecord) -> None: ...
    def list(self, charger_id: str, *, kind: str | None = None) -> list[ChargerEventRecord]: ...
    def rotate(self) -> int: ...


class ApiTokenRepository(Protocol):
    def add(
        self,
        *,
        name: str,
        role: str,
        token_hash: str,
        created_at: datetime,
        owner_id: int | None,
        expires_at: datetime | None = None,
    ) -> ApiTokenRecord: ...
    def by_hash(self, token_hash: str) -> ApiTokenRecord | None: ...
    def count(self, *, role: str | None = None) -> int: ...
    def touch(self, token_id: int, when: datetime) -> None: ...
    def live_by_name(self, name: str) -> list[ApiTokenRecord]:
        """The tokens called ``name`` that are not revoked (expired ones included)."""
        ...

    def revoke(self, token_id: int, when: datetime) -> None: ...
    def list(self) -> list[ApiTokenRecord]:
        """Every token, revoked and expired ones too, oldest first."""
        ...


class TariffRepository(Protocol):
    def add(self, tariff: TariffRecord) -> TariffRecord: ...
    def get(self, tariff_id: int) -> TariffRecord | None: ...
    def by_name(self, name: str) -> TariffRecord | None: ...
    def assign(self, *, tariff_id: int, charger_id: str | None, at: datetime) -> None:
        """From ``at`` on, ``charger_id`` (None: every charger without one of its own)
        charges from this tariff."""
        ...

    def in_force(self, charger_id: str, at: datetime) -> TariffRecord | None:
        """The tariff the charger charged from at ``at``: its own latest assignment made
        by then, else the default's; None when there was neither."""
        ...

    def assignments(self, *, charger_id: str | None = None) -> list[TariffAssignmentRecord]:
        """Newest first; every charger's and the default's when ``charger_id`` is None."""
        ...

    def list(self) -> list[TariffRecord]: ...


class PaymentMethodRepository(Protocol):
    def add(self, method: PaymentMethodRecord) -> PaymentMethodRecord: ...
    def get(self, method_id: int) -> PaymentMethodRecord | None: ...
    def list(self, customer_id: int, *, active_only: bool = True) -> list[PaymentMethodRecord]:
        """Newest first."""
        ...

    def mark_removed(self, method_id: int, *, now: datetime) -> None: ...
    def delete(self, method_id: int) -> None: ...
    def rotate(self) -> int: ...


class InvoiceRepository(Protocol):
    def add(self, invoice: InvoiceRecord) -> bool:
        """Store the invoice; False (nothing stored) when its session has one already."""
        ...

    def get(self, invoice_id: int) -> InvoiceRecord | None: ...
    def by_transaction(self, transaction_pk: int) -> InvoiceRecord | None: ...
    def for_transactions(self, transaction_pks: Iterable[int]) -> dict[int, InvoiceRecord]: ...
    def update(self, invoice_id: int, **fields: Any) -> None: ...
    def next_number(self, year: int) -> int:
        """Take the next invoice number of ``year`` (1, 2, ...) in this unit of work: no
        gap (a rolled-back unit of work gives its number back) and no duplicate (a
        concurrent one waits for this one's commit)."""
        ...

    def list(
        self,
        *,
        customer_id: int | None = None,
        payment_status: str | None = None,
        limit: int = 1000,
    ) -> list[InvoiceRecord]:
        """Newest first."""
        ...


class PaymentAttemptRepository(Protocol):
    def add(self, attempt: PaymentAttemptRecord) -> None: ...
    def for_invoice(self, invoice_id: int) -> list[PaymentAttemptRecord]:
        """Oldest first."""
        ...


class OutboxRepository(Protocol):
    def enqueue(self, *, topic: str, key: str, payload: dict[str, Any], now: datetime) -> bool:
        """Add a delivery due now; False (nothing added) when ``key`` is there already."""
        ...

    def get(self, outbox_id: int) -> OutboxRecord | None: ...
    def due(self, now: datetime, *, limit: int) -> list[OutboxRecord]:
        """Pending deliveries due by ``now`` and claimed by nobody, oldest first."""
        ...

    def next_due_at(self) -> datetime | None:
        """When the next pending delivery is due (None: nothing pending)."""
        ...

    def claim(self, outbox_id: int, *, now: datetime, until: datetime) -> bool:
        """Take a due delivery for one attempt (counted), unless another worker holds it."""
        ...

    def complete(self, outbox_id: int, *, now: datetime, result: str | None) -> None: ...
    def reschedule(self, outbox_id: int, *, at: datetime, error: str, now: datetime) -> None: ...
    def fail(self, outbox_id: int, *, error: str, now: datetime) -> None: ...
    def retry(self, outbox_id: int, *, now: datetime) -> bool:
        """A failed delivery back to pending, due now, with its attempts counted from 0."""
        ...

    def list(self, *, status: str | None = None, limit: int = 100) -> list[OutboxRecord]:
        """Newest first."""
        ...

    def counts(self) -> dict[str, int]:
        """Deliveries per status."""
        ...


class UnitOfWork(Protocol):
    """The repositories of one unit of work (read-only members, so adapters may narrow them)."""

    @property
    def owners(self) -> OwnerRepository: ...

    @property
    def chargers(self) -> ChargerRepository: ...

    @property
    def connectors(self) -> ConnectorRepository: ...

    @property
    def status_events(self) -> StatusEventRepository: ...

    @property
    def customers(self) -> CustomerRepository: ...

    @property
    def id_tags(self) -> IdTagRepository: ...

    @property
    def transactions(self) -> TransactionRepository: ...

    @property
    def meter_samples(self) -> MeterSampleRepository: ...

    @property
    def transaction_events(self) -> TransactionEventRepository: ...

    @property
    def device_model(self) -> DeviceModelRepository: ...

    @property
    def unreconciled(self) -> UnreconciledRepository: ...

    @property
    def charger_events(self) -> ChargerEventRepository: ...

    @property
    def api_tokens(self) -> ApiTokenRepository: ...

    @property
    def customer_tokens(self) -> CustomerTokenRepository: ...

    @property
    def favorites(self) -> FavoriteRepository: ...

    @property
    def security_events(self) -> SecurityEventRepository: ...

    @property
    def connection_log(self) -> ConnectionLogRepository: ...

    @property
    def data_keys(self) -> DataKeyRepository: ...

    @property
    def tariffs(self) -> TariffRepository: ...

    @property
    def payment_methods(self) -> PaymentMethodRepository: ...

    @property
    def invoices(self) -> InvoiceRepository: ...

    @property
    def payment_attempts(self) -> PaymentAttemptRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...
