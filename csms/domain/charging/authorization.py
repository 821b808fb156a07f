"""Authorization of id tokens: cards, app tokens, one-time touchscreen tokens (SPEC
"Authorization methods").

Whatever identifies a driver is looked up as a token in ``id_tags``; its ``kind`` says how
the driver identified and decides the session's ``auth_method``:

- ``card``: an RFID card (``csms cards add``): 1.6 idTag, 2.0.1 ISO14443/ISO15693.
- ``app``: a one-time app start token, sent by the CSMS in RemoteStart/RequestStart
  (:func:`csms.domain.people.cards.app_token_for`); it starts one session, within minutes
  of the app's request.
- ``login``: a one-time token issued after a touchscreen PIN login
  (:mod:`csms.domain.people.pin_login`); it starts one session, within minutes of the login.

App and login tokens are *one-time* tokens: the start that uses one up
(:func:`mark_one_time_token_used`) makes any other use Invalid.

Tokens csms does not know fall back to the 2.0.1 idToken type (1.6 idTags: card).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from csms.domain.model import AuthMethod, AuthorizationStatus, IdTokenInfo
from storage.ports import UnitOfWork
from storage.records import IdTagRecord

__all__ = [
    "KEY_CODE",
    "NO_AUTHORIZATION",
    "ONE_TIME_KINDS",
    "PROVISIONED_TOKEN_TYPES",
    "TokenKind",
    "auth_method_for",
    "authorize_id_tag",
    "authorize_id_token",
    "mark_one_time_token_used",
    "token_record",
]

#: 2.0.1 IdTokenEnumType NoAuthorization: the station charges without identifying anyone.
NO_AUTHORIZATION = "NoAuthorization"
#: 2.0.1 IdTokenEnumType KeyCode: a code typed on the station's keypad (here: a PIN).
KEY_CODE = "KeyCode"
#: 2.0.1 idToken types whose value can be a provisioned token (``csms cards add``).
PROVISIONED_TOKEN_TYPES = frozenset({"ISO14443", "ISO15693", "Central"})


class TokenKind(StrEnum):
    """``id_tags.kind``: what a token is."""

    CARD = "card"
    APP = "app"
    LOGIN = "login"


#: Token kinds valid for one session only (``id_tags.used_at`` set by its start).
ONE_TIME_KINDS = frozenset({TokenKind.APP.value, TokenKind.LOGIN.value})

_KIND_METHODS = {
    TokenKind.CARD.value: AuthMethod.CARD,
    TokenKind.APP.value: AuthMethod.APP,
    TokenKind.LOGIN.value: AuthMethod.TOUCHSCREEN,
}

_TYPE_METHODS = {
    "ISO14443": AuthMethod.CARD,
    "ISO15693": AuthMethod.CARD,
    KEY_CODE: AuthMethod.TOUCHSCREEN,
    "Central": AuthMethod.APP,
    "eMAID": AuthMethod.VEHICLE,
    "MacAddress": AuthMethod.VEHICLE,
    "Local": AuthMethod.LOCAL,
    NO_AUTHORIZATION: AuthMethod.NONE,
}


def auth_method_for(token_type: str | None, *, kind: str | None = None) -> AuthMethod:
    """How a driver identified (SPEC "Authorization methods").

    ``kind`` is that of the csms token the idToken stands for (see :func:`token_record`):
    card → card, app → app, login → touchscreen, whatever the idToken type says (a 2.0.1
    ``Central`` token is an app start only when it is an app token). Without a known token
    the 2.0.1 idToken type decides; a 1.6 idTag (no type) is a card.
    """
    if kind is not None and kind in _KIND_METHODS:
        return _KIND_METHODS[kind]
    if token_type is None:
        return AuthMethod.CARD
    return _TYPE_METHODS.get(token_type, AuthMethod.CARD)


def token_record(
    uow: UnitOfWork, id_token: str | None, token_type: str | None
) -> IdTagRecord | None:
    """The csms token an idToken stands for, or None.

    A 1.6 idTag (``token_type`` None) and the 2.0.1 provisioned types are looked up by
    value. A ``KeyCode`` stands only for the one-time login token a PIN login turned it
    into (the PIN itself is never looked up, nor kept). Other types (eMAID, MacAddress,
    Local, NoAuthorization) never stand for a csms token, even when the value is a card's
    UID: it is printed on many cards.
    """
    if not id_token:
        return None
    if token_type is not None and token_type not in PROVISIONED_TOKEN_TYPES:
        if token_type != KEY_CODE:
            return None
        tag = uow.id_tags.by_uid(id_token)
        return tag if tag is not None and tag.kind == TokenKind.LOGIN.value else None
    return uow.id_tags.by_uid(id_token)


def _started_by(uow: UnitOfWork, id_tag: str, transaction_pk: int | None) -> bool:
    """Whether transaction ``transaction_pk`` is the one ``id_tag`` started."""
    if transaction_pk is None:
        return False
    transaction = uow.transactions.by_pk(transaction_pk)
    return transaction is not None and transaction.id_tag == id_tag


def _authorize_record(
    uow: UnitOfWork,
    tag: IdTagRecord | None,
    id_tag: str,
    *,
    now: datetime,
    exclude_transaction_pk: int | None,
) -> IdTokenInfo:
    if tag is None:
        return IdTokenInfo(AuthorizationStatus.INVALID)
    expiry = tag.expires_at
    parent = tag.parent_id_tag
    if tag.status == "blocked":
        return IdTokenInfo(AuthorizationStatus.BLOCKED, expiry, parent)
    if tag.kind in ONE_TIME_KINDS and tag.used_at is not None:
        # A one-time token started its session: only that session's own messages (its
        # stop, a replayed start) still go through, also after the token's expiry.
        if _started_by(uow, id_tag, exclude_transaction_pk):
            return IdTokenInfo(AuthorizationStatus.ACCEPTED, None, parent)
        return IdTokenInfo(AuthorizationStatus.INVALID)
    if expiry is not None and expiry <= now:
        return IdTokenInfo(AuthorizationStatus.EXPIRED, expiry, parent)
    running = [
        tx for tx in uow.transactions.active_for_id_tag(id_tag) if tx.id != exclude_transaction_pk
    ]
    if running:
        return IdTokenInfo(AuthorizationStatus.CONCURRENT_TX, expiry, parent)
    return IdTokenInfo(AuthorizationStatus.ACCEPTED, expiry, parent)


def authorize_id_tag(
    uow: UnitOfWork,
    id_tag: str,
    *,
    now: datetime,
    exclude_transaction_pk: int | None = None,
) -> IdTokenInfo:
    """The idTagInfo for ``id_tag`` (1.6 §4.1 Authorize, §7.15 AuthorizationStatus).

    Unknown → Invalid; blocked → Blocked; past its expiry → Expired; a token already in a
    running transaction → ConcurrentTx. ``exclude_transaction_pk`` is the transaction the
    message belongs to: it does not count as running, so a replayed StartTransaction is not
    refused by itself, and a used one-time token (app or login) still answers Accepted for
    the session it started (its StopTransaction). Any other use of a used one-time token is
    Invalid (SPEC: it starts one session; issue 13: so does an app start token).
    """
    tag = uow.id_tags.by_uid(id_tag)
    return _authorize_record(
        uow, tag, id_tag, now=now, exclude_transaction_pk=exclude_transaction_pk
    )


def authorize_id_token(
    uow: UnitOfWork,
    id_token: str | None,
    token_type: str | None,
    *,
    now: datetime,
    exclude_transaction_pk: int | None = None,
) -> IdTokenInfo:
    """The idTokenInfo for a 2.0.1 idToken (C01–C06); ``token_type`` None: a 1.6 idTag.

    ``NoAuthorization`` is always Accepted (C02: a start button, no identification). A card
    (ISO14443/ISO15693) and a token the CSMS handed out (``Central``: app and remote starts,
    one-time login tokens) are looked up like a 1.6 idTag. A ``KeyCode`` (C04: a PIN typed
    on the keypad) authorizes only as the one-time login token its PIN login gave (see
    :mod:`csms.domain.people.pin_login`; None: the login failed, or there was none); it never
    matches a card, or anyone who can read a card's printed UID could charge on its
    account. A contract id (eMAID), a vehicle MAC address and a station-local id likewise
    never stand in for a card: Invalid.
    """
    if token_type == NO_AUTHORIZATION:
        return IdTokenInfo(AuthorizationStatus.ACCEPTED)
    if id_token is None:
        return IdTokenInfo(AuthorizationStatus.INVALID)
    tag = token_record(uow, id_token, token_type)
    return _authorize_record(
        uow, tag, id_token, now=now, exclude_transaction_pk=exclude_transaction_pk
    )


def mark_one_time_token_used(
    uow: UnitOfWork, tag: IdTagRecord | None, info: IdTokenInfo, *, now: datetime
) -> None:
    """A transaction started with ``tag`` and ``info``: a one-time token (app start or
    login) accepted for it is used up (SPEC "Authorization methods": valid to start one
    session)."""
    if (
        tag is not None
        and tag.kind in ONE_TIME_KINDS
        and tag.used_at is None
        and info.status is AuthorizationStatus.ACCEPTED
    ):
        uow.id_tags.update(tag.uid, used_at=now)
        tag.used_at = now
