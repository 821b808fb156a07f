"""SQLAlchemy Core implementations of the storage ports, over a synchronous ``Connection``,
one module per aggregate.

They run inside ``Database.write``/``Database.read`` (a worker thread for SQLite, the
async driver's greenlet bridge for PostgreSQL). They never commit: the unit of work
(``unit_of_work``) groups them and ``storage.database`` commits it.
"""

from __future__ import annotations

from storage.sql.repositories.billing import (
    SqlInvoices,
    SqlPaymentAttempts,
    SqlPaymentMethods,
    SqlTariffs,
)
from storage.sql.repositories.keys import SqlDataKeys
from storage.sql.repositories.outbox import SqlOutbox
from storage.sql.repositories.people import (
    SqlCustomers,
    SqlCustomerTokens,
    SqlFavorites,
    SqlIdTags,
    SqlOwners,
)
from storage.sql.repositories.samples import SqlMeterSamples
from storage.sql.repositories.security import SqlApiTokens, SqlSecurityEvents
from storage.sql.repositories.stations import (
    SqlChargerEvents,
    SqlChargers,
    SqlConnectionLog,
    SqlConnectors,
    SqlDeviceModel,
    SqlStatusEvents,
    SqlUnreconciled,
)
from storage.sql.repositories.transactions import SqlTransactionEvents, SqlTransactions
from storage.sql.repositories.unit_of_work import SqlUnitOfWork, StorageCache
from storage.sql.repositories.vault import Vault

__all__ = [
    "SqlApiTokens",
    "SqlChargerEvents",
    "SqlChargers",
    "SqlConnectionLog",
    "SqlConnectors",
    "SqlCustomerTokens",
    "SqlCustomers",
    "SqlDataKeys",
    "SqlDeviceModel",
    "SqlFavorites",
    "SqlIdTags",
    "SqlInvoices",
    "SqlMeterSamples",
    "SqlOutbox",
    "SqlOwners",
    "SqlPaymentAttempts",
    "SqlPaymentMethods",
    "SqlSecurityEvents",
    "SqlStatusEvents",
    "SqlTariffs",
    "SqlTransactionEvents",
    "SqlTransactions",
    "SqlUnitOfWork",
    "SqlUnreconciled",
    "StorageCache",
    "Vault",
]
