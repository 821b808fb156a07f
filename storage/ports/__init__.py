"""Storage ports: the repository and unit-of-work interfaces the domain is written against.

Repositories are synchronous and never commit: a unit of work groups their changes and
the :class:`~storage.database.Database` commits it (see ``Database.write``). Keeping the
domain code synchronous lets the database layer run a whole batch of units of work in
one database transaction (group commit) without an await per statement.

One module per aggregate, like ``storage.sql.repositories``; every port is importable
from ``storage.ports`` itself.
"""

from __future__ import annotations

from typing import Protocol

from storage.ports.billing import (
    InvoiceRepository,
    PaymentAttemptRepository,
    PaymentMethodRepository,
    TariffRepository,
)
from storage.ports.keys import DataKeyRepository
from storage.ports.outbox import OutboxRepository
from storage.ports.people import (
    CustomerRepository,
    CustomerTokenRepository,
    FavoriteRepository,
    IdTagRepository,
    OwnerRepository,
)
from storage.ports.security import (
    ApiTokenRepository,
    IssuedCertificateRepository,
    SecurityEventRepository,
)
from storage.ports.stations import (
    ChargerEventRepository,
    ChargerRepository,
    ConnectionLogRepository,
    ConnectorRepository,
    DeviceModelRepository,
    StatusEventRepository,
    UnreconciledRepository,
)
from storage.ports.transactions import (
    MeterSampleRepository,
    TransactionEventRepository,
    TransactionRepository,
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
    "IssuedCertificateRepository",
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

    @property
    def issued_certificates(self) -> IssuedCertificateRepository: ...
