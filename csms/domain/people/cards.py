"""RFID cards (id tags): provisioning, blocking, expiry, the customer a card belongs to.

Stored statuses are ``active`` and ``blocked``; "expired" is derived from ``expires_at``
and "invalid" from absence (see ``csms.domain.charging.authorization``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from csms.domain.errors import AlreadyExists, InvalidRequest, NotFound
from csms.domain.model import parse_moment
from csms.domain.people.customers import get_customer
from storage.ports import UnitOfWork
from storage.records import CustomerRecord, IdTagRecord

__all__ = [
    "APP_START_TOKEN_LIFETIME",
    "APP_TOKEN_PREFIX",
    "MAX_UID_LENGTH",
    "CardState",
    "add_card",
    "app_token_for",
    "block_card",
    "card_state",
    "get_card",
    "list_cards",
    "parse_expiry",
    "unblock_card",
    "validate_uid",
]

#: 2.0.1 IdTokenType.idToken is at most 36 characters (1.6 IdToken: 20; longer UIDs only
#: work with 2.0.1 chargers).
MAX_UID_LENGTH = 36


class CardState(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    EXPIRED = "expired"


def validate_uid(uid: str) -> str | None:
    """Why ``uid`` cannot be a card UID, or None if it can."""
    if not uid:
        return "card UID is empty"
    if len(uid) > MAX_UID_LENGTH:
        return f"card UID is longer than {MAX_UID_LENGTH} characters"
    if any(ch.isspace() or not ch.isprintable() for ch in uid):
        return "card UID contains spaces or control characters"
    if "/" in uid:
        return "card UID contains '/'"
    return None


def parse_expiry(text: str) -> datetime:
    """An expiry from ``YYYY-MM-DD`` (valid through the end of that day, UTC) or an ISO 8601
    date-time (no time zone means UTC)."""

    def end_of(day: date) -> datetime:
        return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)

    return parse_moment(text, day=end_of, example="2030-12-31T23:00:00Z")


def card_state(card: IdTagRecord, *, now: datetime) -> CardState:
    if card.status == CardState.BLOCKED.value:
        return CardState.BLOCKED
    if card.expires_at is not None and card.expires_at <= now:
        return CardState.EXPIRED
    return CardState.ACTIVE


def add_card(
    uow: UnitOfWork,
    *,
    uid: str,
    now: datetime,
    customer_number: int | None = None,
    expires_at: datetime | None = None,
    group: str | None = None,
) -> IdTagRecord:
    """Provision a card. ``group`` is answered as 1.6 parentIdTag / 2.0.1 groupIdToken (a
    fleet or household the card belongs to; not a card UID itself)."""
    problem = validate_uid(uid)
    if problem:
        raise InvalidRequest(problem)
    if group is not None:
        problem = validate_uid(group.strip())
        if problem:
            raise InvalidRequest(problem.replace("card UID", "group id"))
        if len(group.strip()) > 20:
            raise InvalidRequest("group id is longer than 20 characters (1.6 parentIdTag)")
        group = group.strip()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidRequest("expiry needs a time zone (or give a date: YYYY-MM-DD)")
        if expires_at <= now:
            raise InvalidRequest(
                f"expiry {expires_at.isoformat()} is in the past: give a future date"
            )
    customer_id = get_customer(uow, customer_number).id if customer_number is not None else None
    if uow.id_tags.by_uid(uid) is not None:
        raise AlreadyExists(f"card {uid} already exists: see `csms cards list`")
    return uow.id_tags.add(
        uid=uid,
        status=CardState.ACTIVE.value,
        created_at=now,
        customer_id=customer_id,
        expires_at=expires_at,
        parent_id_tag=group,
    )


def get_card(uow: UnitOfWork, uid: str) -> IdTagRecord:
    card = uow.id_tags.by_uid(uid)
    if card is None:
        raise NotFound(f"card {uid} not found: see `csms cards list`")
    return card


def list_cards(uow: UnitOfWork, *, customer_number: int | None = None) -> list[IdTagRecord]:
    if customer_number is None:
        return uow.id_tags.list()
    return uow.id_tags.list(customer_id=get_customer(uow, customer_number).id)


def _set_status(uow: UnitOfWork, uid: str, status: CardState) -> IdTagRecord:
    card = get_card(uow, uid)
    if card.status != status.value:
        uow.id_tags.update(uid, status=status.value)
        card.status = status.value
    return card


def block_card(uow: UnitOfWork, uid: str) -> IdTagRecord:
    """Block a card: Authorize/StartTransaction answer Blocked from now on (idempotent)."""
    return _set_status(uow, uid, CardState.BLOCKED)


def unblock_card(uow: UnitOfWork, uid: str) -> IdTagRecord:
    return _set_status(uow, uid, CardState.ACTIVE)


#: App tokens (SPEC "Authorization methods": the idTag the CSMS sends in RemoteStart /
#: RequestStart for an app start) look like ``APP`` + 17 random characters: 20 in all,
#: the 1.6 idTag limit (CiString20).
APP_TOKEN_PREFIX = "APP"
_APP_TOKEN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
#: An app start token starts one session within this time of the app's start request
#: (issue 13 point 6). Long enough for a charger that waits for the cable (1.6
#: ConnectionTimeOut, 2.0.1 EVConnectionTimeOut: typically 1-3 minutes) and to retry once;
#: short enough that a token read off the wire or a charger's log is soon worth nothing.
APP_START_TOKEN_LIFETIME = timedelta(minutes=5)


def app_token_for(uow: UnitOfWork, customer: CustomerRecord, *, now: datetime) -> str:
    """A new app start token of ``customer`` (kind ``app`` in id_tags): single-use and
    short-lived, like a touchscreen login token.

    It starts one session, within :data:`APP_START_TOKEN_LIFETIME` of ``now``: once a
    session has started with it (1.6 StartTransaction, 2.0.1 TransactionEvent) any other
    Authorize or start with it is Invalid, and after its expiry Expired
    (``csms.domain.charging.authorization``), so a replayed RemoteStart or a token copied
    from a charger cannot start a second session. The session it started still gets its
    own messages (its stop) accepted. A session started with it is recorded with
    auth_method ``app``. It is a credential like a card UID: stored encrypted, never shown
    to anyone; expired ones are purged by the retention job.
    """
    import secrets

    while True:
        uid = APP_TOKEN_PREFIX + "".join(secrets.choice(_APP_TOKEN_ALPHABET) for _ in range(17))
        if uow.id_tags.by_uid(uid) is None:
            break
    uow.id_tags.add(
        uid=uid,
        status=CardState.ACTIVE.value,
        created_at=now,
        customer_id=customer.id,
        expires_at=now + APP_START_TOKEN_LIFETIME,
        kind="app",
    )
    return uid
