"""Retention: personal data is kept only as long as the policy says (SPEC "Personal data").

One run (``csms retention run``, and daily by the server):

- charger connection records (with the address each came from) older than 21 days are
  deleted;
- the address an app login came from is cleared once the login is 21 days old, and app
  logins that have expired are deleted;
- one-time tokens (id tags of kind ``login``, touchscreen logins, and ``app``, app starts)
  are deleted a day after they expired, unless a running session names them;
- completed sessions that ended more than ``retention_years`` years ago are unlinked from
  the customer and the card that started them (energy, times and amounts stay for the
  books and the owners' reports);
- security events, charger events (``charger_events``: what chargers report besides
  transactions, their security events included) and unreconciled messages older than
  ``event_retention_days`` (CSMS_EVENT_RETENTION_DAYS, default 180) are deleted. An
  unreconciled message is deleted after that period *whether or not it was resolved*:
  its payload can hold an idTag, and a message nobody reconciled in half a year is not
  going to be; an operator who needs one longer exports it before (``csms sessions``).

"Older than" is strict: a record exactly at the limit is kept until the next run.

After the run is committed, :func:`run_retention_and_vacuum` has PostgreSQL ``VACUUM`` the
tables that hold personal data (:data:`VACUUMED_TABLES`). An erasure
(``rights.erase_customer``, an account closed) and this run's deletions leave the old row
versions, ciphertext included, as dead tuples in the table's pages until a VACUUM prunes
them: the daily run makes sure that happens within a day, not whenever autovacuum's
thresholds are next reached. Plain VACUUM (not FULL: no exclusive lock, charging goes on)
removes the dead tuples from the heap pages, and compacting a page moves the live tuples
over the space they took; what a VACUUM cannot reach are copies outside the table (the
write-ahead log until it is recycled, backups, replicas), which age out with them. On
SQLite there is nothing to run: ``PRAGMA secure_delete`` (``storage.database``) overwrites
deleted content at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from csms.domain.units_of_work import UnitsOfWork
from storage.ports import UnitOfWork

__all__ = [
    "CONNECTION_ADDRESS_RETENTION",
    "DEFAULT_EVENT_RETENTION_DAYS",
    "LOGIN_TOKEN_GRACE",
    "VACUUMED_TABLES",
    "RetentionReport",
    "Vacuuming",
    "run_retention",
    "run_retention_and_vacuum",
    "years_before",
]

#: Connection IP addresses (chargers and app logins) are kept this long.
CONNECTION_ADDRESS_RETENTION = timedelta(days=21)
#: A one-time login token is kept this long after it expired (support can still tell a
#: driver why a start failed), then deleted.
LOGIN_TOKEN_GRACE = timedelta(days=1)
#: Security events, charger events and unreconciled messages are kept this many days
#: unless CSMS_EVENT_RETENTION_DAYS says otherwise.
DEFAULT_EVENT_RETENTION_DAYS = 180
#: The tables an erasure or a retention run changes that held personal data (ciphertext,
#: keyed hashes, IP addresses): customers, their cards and tokens, payment-card tokens,
#: the idTags sessions keep, app logins, connection addresses, and the events.
VACUUMED_TABLES = (
    "customers",
    "id_tags",
    "transactions",
    "payment_methods",
    "customer_tokens",
    "customer_favorites",
    "connection_log",
    "security_events",
    "charger_events",
    "unreconciled_messages",
)


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one run removed; the cutoffs are the moments before which it removed it."""

    ran_at: datetime
    connection_log_deleted: int
    login_addresses_cleared: int
    app_logins_deleted: int
    login_tokens_deleted: int
    sessions_anonymized: int
    address_cutoff: datetime
    session_cutoff: datetime
    security_events_deleted: int = 0
    charger_events_deleted: int = 0
    unreconciled_deleted: int = 0
    #: Before this moment security events, charger events and unreconciled messages went.
    event_cutoff: datetime | None = None
    #: Tables PostgreSQL vacuumed after the run (empty on SQLite, or before it ran).
    vacuumed: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        return {
            name: value
            for name, value in asdict(self).items()
            if isinstance(value, int) and not isinstance(value, bool)
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def years_before(moment: datetime, years: int) -> datetime:
    """``moment`` minus whole calendar years (29 February becomes 28 February)."""
    year = moment.year - years
    try:
        return moment.replace(year=year)
    except ValueError:  # 29 February in a year that has none
        return moment.replace(year=year, day=28)


def run_retention(
    uow: UnitOfWork,
    *,
    now: datetime,
    retention_years: int,
    event_retention_days: int = DEFAULT_EVENT_RETENTION_DAYS,
) -> RetentionReport:
    """Apply the retention rules as of ``now`` in one unit of work; returns the counts."""
    if retention_years < 1:
        raise ValueError("retention_years must be at least 1")
    if event_retention_days < 1:
        raise ValueError("event_retention_days must be at least 1")
    address_cutoff = now - CONNECTION_ADDRESS_RETENTION
    event_cutoff = now - timedelta(days=event_retention_days)
    session_cutoff = years_before(now, retention_years)
    connections = uow.connection_log.purge_before(address_cutoff)
    # Expired logins go first, so an address is counted as cleared only on a login kept.
    app_logins = uow.customer_tokens.purge_expired_before(now)
    addresses = uow.customer_tokens.forget_addresses_before(address_cutoff)
    login_tokens = uow.id_tags.purge_expired_logins(now - LOGIN_TOKEN_GRACE)
    sessions = uow.transactions.anonymize_before(session_cutoff, now=now)
    security_events = uow.security_events.purge_before(event_cutoff)
    charger_events = uow.charger_events.purge_before(event_cutoff)
    unreconciled = uow.unreconciled.purge_before(event_cutoff)
    return RetentionReport(
        ran_at=now,
        connection_log_deleted=connections,
        login_addresses_cleared=addresses,
        app_logins_deleted=app_logins,
        login_tokens_deleted=login_tokens,
        sessions_anonymized=sessions,
        address_cutoff=address_cutoff,
        session_cutoff=session_cutoff,
        security_events_deleted=security_events,
        charger_events_deleted=charger_events,
        unreconciled_deleted=unreconciled,
        event_cutoff=event_cutoff,
    )


class Vacuuming(UnitsOfWork, Protocol):
    """Units of work on a database that can VACUUM (:class:`storage.database.Database`)."""

    async def vacuum(self, tables: Sequence[str]) -> tuple[str, ...]:
        """VACUUM ``tables`` outside any transaction; the ones vacuumed (none on SQLite)."""
        ...


async def run_retention_and_vacuum(
    db: Vacuuming,
    *,
    now: datetime,
    retention_years: int,
    event_retention_days: int = DEFAULT_EVENT_RETENTION_DAYS,
) -> RetentionReport:
    """:func:`run_retention` committed, then :data:`VACUUMED_TABLES` vacuumed (PostgreSQL),
    so that no old row version of an erased person's data outlives the run."""
    report = await db.write(
        lambda uow: run_retention(
            uow,
            now=now,
            retention_years=retention_years,
            event_retention_days=event_retention_days,
        )
    )
    return replace(report, vacuumed=await db.vacuum(VACUUMED_TABLES))
