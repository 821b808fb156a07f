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
  books and the owners' reports).

"Older than" is strict: a record exactly at the limit is kept until the next run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.ports import UnitOfWork

__all__ = [
    "CONNECTION_ADDRESS_RETENTION",
    "LOGIN_TOKEN_GRACE",
    "RetentionReport",
    "run_retention",
    "years_before",
]

#: Connection IP addresses (chargers and app logins) are kept this long.
CONNECTION_ADDRESS_RETENTION = timedelta(days=21)
#: A one-time login token is kept this long after it expired (support can still tell a
#: driver why a start failed), then deleted.
LOGIN_TOKEN_GRACE = timedelta(days=1)


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


def run_retention(uow: UnitOfWork, *, now: datetime, retention_years: int) -> RetentionReport:
    """Apply the retention rules as of ``now`` in one unit of work; returns the counts."""
    if retention_years < 1:
        raise ValueError("retention_years must be at least 1")
    address_cutoff = now - CONNECTION_ADDRESS_RETENTION
    session_cutoff = years_before(now, retention_years)
    connections = uow.connection_log.purge_before(address_cutoff)
    # Expired logins go first, so an address is counted as cleared only on a login kept.
    app_logins = uow.customer_tokens.purge_expired_before(now)
    addresses = uow.customer_tokens.forget_addresses_before(address_cutoff)
    login_tokens = uow.id_tags.purge_expired_logins(now - LOGIN_TOKEN_GRACE)
    sessions = uow.transactions.anonymize_before(session_cutoff, now=now)
    return RetentionReport(
        ran_at=now,
        connection_log_deleted=connections,
        login_addresses_cleared=addresses,
        app_logins_deleted=app_logins,
        login_tokens_deleted=login_tokens,
        sessions_anonymized=sessions,
        address_cutoff=address_cutoff,
        session_cutoff=session_cutoff,
    )
