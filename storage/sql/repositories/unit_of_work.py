"""The SQL unit of work: every repository over one connection, buffered appends, and
what runs once the database transaction has committed."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

from storage.sql.repositories.billing import (
    SqlInvoices,
    SqlPaymentAttempts,
    SqlPaymentMethods,
    SqlTariffs,
)
from storage.sql.repositories.cache import StorageCache
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
from storage.sql.repositories.security import (
    SqlApiTokens,
    SqlIssuedCertificates,
    SqlSecurityEvents,
)
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
from storage.sql.repositories.vault import Vault

__all__ = ["SqlUnitOfWork"]


class SqlUnitOfWork:
    """All repositories over one connection; ``flush`` writes buffered appends.

    ``after_commit`` callbacks run once the database transaction has committed (on a
    read connection, which sees only committed data, they run at once).
    """

    def __init__(
        self,
        conn: Connection,
        cache: StorageCache | None = None,
        *,
        vault: Vault,
        read_only: bool = False,
    ) -> None:
        self.conn = conn
        self.cache = cache if cache is not None else StorageCache()
        self.vault = vault
        self.read_only = read_only
        self._after_commit: list[Callable[[], None]] = []
        #: Called (no arguments) after a commit that added outbox deliveries.
        self.outbox_listeners: list[Callable[[], None]] = []
        self.owners = SqlOwners(conn)
        self.chargers = SqlChargers(conn, vault)
        self.connectors = SqlConnectors(conn)
        self.status_events = SqlStatusEvents(conn)
        self.customers = SqlCustomers(conn, vault)
        self.id_tags = SqlIdTags(conn, vault)
        self.transactions = SqlTransactions(
            conn, vault, cache=self.cache, after_commit=self.after_commit
        )
        self.meter_samples = SqlMeterSamples(conn, vault)
        self.transaction_events = SqlTransactionEvents(conn, vault)
        self.device_model = SqlDeviceModel(conn)
        self.unreconciled = SqlUnreconciled(conn, vault)
        self.charger_events = SqlChargerEvents(conn, vault)
        self.api_tokens = SqlApiTokens(conn)
        self.customer_tokens = SqlCustomerTokens(conn)
        self.favorites = SqlFavorites(conn)
        self.security_events = SqlSecurityEvents(conn)
        self.connection_log = SqlConnectionLog(conn)
        self.data_keys = SqlDataKeys(conn)
        self.tariffs = SqlTariffs(conn)
        self.payment_methods = SqlPaymentMethods(conn, vault)
        self.invoices = SqlInvoices(conn)
        self.payment_attempts = SqlPaymentAttempts(conn)
        self.outbox = SqlOutbox(conn, on_enqueue=self.outbox_added)
        self.issued_certificates = SqlIssuedCertificates(conn)

    def flush(self) -> None:
        self.meter_samples.flush()

    def outbox_added(self) -> None:
        """A delivery was enqueued: wake this process's outbox workers once committed."""
        for listener in self.outbox_listeners:
            if listener not in self._after_commit:
                self.after_commit(listener)

    def after_commit(self, callback: Callable[[], None]) -> None:
        if self.read_only:
            callback()
        else:
            self._after_commit.append(callback)

    def committed(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
