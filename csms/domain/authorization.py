"""Authorization of id tokens: RFID cards and the other 2.0.1 idToken types.

Touchscreen PIN login and app tokens build on :func:`authorize_id_tag`: whatever identifies
the driver is looked up as a provisioned token.
"""

from __future__ import annotations

from datetime import datetime

from csms.domain.model import AuthMethod, AuthorizationStatus, IdTokenInfo
from storage.ports import UnitOfWork

__all__ = [
    "NO_AUTHORIZATION",
    "PROVISIONED_TOKEN_TYPES",
    "auth_method_for",
    "authorize_id_tag",
    "authorize_id_token",
]

#: 2.0.1 IdTokenEnumType NoAuthorization: the station charges without identifying anyone.
NO_AUTHORIZATION = "NoAuthorization"
#: 2.0.1 idToken types whose value can be a provisioned token (``csms cards add``).
PROVISIONED_TOKEN_TYPES = frozenset({"ISO14443", "ISO15693", "Central"})

_AUTH_METHODS = {
    "ISO14443": AuthMethod.CARD,
    "ISO15693": AuthMethod.CARD,
    "KeyCode": AuthMethod.TOUCHSCREEN,
    "Central": AuthMethod.APP,
    "eMAID": AuthMethod.VEHICLE,
    "MacAddress": AuthMethod.VEHICLE,
    "Local": AuthMethod.LOCAL,
    NO_AUTHORIZATION: AuthMethod.NONE,
}


def auth_method_for(token_type: str | None) -> AuthMethod:
    """How a driver identified, from a 2.0.1 idToken type (1.6 idTags are cards)."""
    if token_type is None:
        return AuthMethod.CARD
    return _AUTH_METHODS.get(token_type, AuthMethod.CARD)


def authorize_id_tag(
    uow: UnitOfWork,
    id_tag: str,
    *,
    now: datetime,
    exclude_transaction_pk: int | None = None,
) -> IdTokenInfo:
    """The idTagInfo for ``id_tag`` (1.6 §4.1 Authorize, §7.15 AuthorizationStatus).

    Unknown → Invalid; blocked card → Blocked; past its expiry → Expired; a card already in
    a running transaction → ConcurrentTx (the transaction ``exclude_transaction_pk`` does not
    count, so a replayed StartTransaction is not refused by itself).
    """
    tag = uow.id_tags.by_uid(id_tag)
    if tag is None:
        return IdTokenInfo(AuthorizationStatus.INVALID)
    expiry = tag.expires_at
    parent = tag.parent_id_tag
    if tag.status == "blocked":
        return IdTokenInfo(AuthorizationStatus.BLOCKED, expiry, parent)
    if expiry is not None and expiry <= now:
        return IdTokenInfo(AuthorizationStatus.EXPIRED, expiry, parent)
    running = [
        tx for tx in uow.transactions.active_for_id_tag(id_tag) if tx.id != exclude_transaction_pk
    ]
    if running:
        return IdTokenInfo(AuthorizationStatus.CONCURRENT_TX, expiry, parent)
    return IdTokenInfo(AuthorizationStatus.ACCEPTED, expiry, parent)


def authorize_id_token(
    uow: UnitOfWork,
    id_token: str,
    token_type: str,
    *,
    now: datetime,
    exclude_transaction_pk: int | None = None,
) -> IdTokenInfo:
    """The idTokenInfo for a 2.0.1 idToken (C01–C06).

    ``NoAuthorization`` is always Accepted (C02: a start button, no identification). A card
    (ISO14443/ISO15693) and a token the CSMS handed out (``Central``: remote and app starts)
    are looked up as provisioned tokens, exactly like a 1.6 idTag. The other types name
    things csms does not provision (yet) and are Invalid: above all a ``KeyCode`` (a PIN
    typed on the keypad) never matches a card, or anyone who can read a card's printed
    UID could charge on its account; a contract id (eMAID), a vehicle MAC address and a
    station-local id likewise never stand in for a card.
    """
    if token_type == NO_AUTHORIZATION:
        return IdTokenInfo(AuthorizationStatus.ACCEPTED)
    if token_type not in PROVISIONED_TOKEN_TYPES:
        return IdTokenInfo(AuthorizationStatus.INVALID)
    return authorize_id_tag(uow, id_token, now=now, exclude_transaction_pk=exclude_transaction_pk)
