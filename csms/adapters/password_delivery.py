"""Sending a charger the password csms issued to it (a charger accepted from Pending).

The password goes the way each version sets it: 1.6 ChangeConfiguration of
``AuthorizationKey`` (security whitepaper: the key is the hexadecimal form of the
password's bytes; the charger decodes it and sends the bytes in its Basic auth header),
2.0.1 SetVariables of ``SecurityCtrlr.BasicAuthPassword`` (A01: the password as it is).
The charger then reconnects with it.

A password issued to a charger that had none (``stations.issue_password``):

- Accepted (1.6 also RebootRequired): the password is enforced from now on.
- Rejected / NotSupported / unknown variable: the operator is told; the charger keeps
  connecting without a password until it has one (set by hand, or sent again).

A rotation of a charger's password (``stations.rotate_password``):

- Accepted / RebootRequired: the charger is not sent it again; its current password and
  the new one are both let in until it connects with the new one, which then is the only
  one (gateway ``_credentials_ok``).
- Rejected / NotSupported / unknown variable: the new password is dropped, the charger
  keeps its current one; the refusal is in the answer to the operator, in
  ``password_detail`` and a security event (for a rotation sent at a connection, when no
  operator was waiting for the answer).

Both: not connected, no answer in time, a CALLERROR: sent again at its next connection
(the charger may have applied it all the same: it stays valid).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from csms.adapters.outbound import send_command
from csms.domain.charging.remote_commands import ChangeConfiguration, UnsupportedCommand
from csms.domain.charging.stations import (
    PASSWORD_PENDING,
    PASSWORD_ROTATING,
    confirm_password,
    record_password_not_delivered,
    record_password_refused,
    record_rotation_refused,
    record_rotation_taken,
)
from csms.domain.errors import InvalidRequest
from csms.domain.views import normalize_ocpp_version
from csms.routing import ChargerNotConnected, CommandError, CommandRouter
from storage.database import Database

__all__ = ["PasswordDelivery", "deliver_password", "deliver_pending_password"]

log = logging.getLogger(__name__)

#: What the charger answered that means it took the password.
_TAKEN = frozenset({"Accepted", "RebootRequired"})


@dataclass(frozen=True, slots=True)
class PasswordDelivery:
    """``status``: ``accepted`` (enforced now), ``refused`` (the charger said no: see
    ``detail``), ``waiting`` (sent at the charger's next connection); ``answer`` is the
    charger's own status (``Accepted``, ``Rejected``, ``NotSupported``, ...) if it gave one."""

    status: str
    detail: str
    answer: str | None = None
    #: The charger's whole answer (:func:`~csms.adapters.outbound.send_command`), when it
    #: gave one; and why it was not delivered (not connected, timeout, CALLERROR, ...).
    command: dict[str, Any] | None = None
    failure: Exception | None = None


def _setting(password: str, ocpp_version: str | None) -> ChangeConfiguration:
    if ocpp_version == "2.0.1":
        return ChangeConfiguration(key="SecurityCtrlr.BasicAuthPassword", value=password)
    return ChangeConfiguration(key="AuthorizationKey", value=password.encode().hex().upper())


def _what(ocpp_version: str | None) -> str:
    if ocpp_version == "2.0.1":
        return "SetVariables SecurityCtrlr.BasicAuthPassword"
    return "ChangeConfiguration AuthorizationKey"


async def deliver_password(
    db: Database, router: CommandRouter, charger_id: str
) -> PasswordDelivery:
    """Send the charger its issued password now if it is connected, and record the outcome."""
    secret = await db.read(lambda uow: uow.chargers.password_delivery(charger_id))
    if secret is None:
        return PasswordDelivery("accepted", "no password waiting to be sent")
    charger = await db.read(lambda uow: uow.chargers.get(charger_id))
    rotation = charger is not None and charger.password_hash is not None
    if not router.is_connected(charger_id):
        return await _not_delivered(
            db,
            charger_id,
            "the charger is offline: it is sent at its next connection",
            failure=ChargerNotConnected(f"charger {charger_id} is not connected"),
        )
    version = normalize_ocpp_version(router.ocpp_version(charger_id))
    try:
        answer = await send_command(router, charger_id, _setting(secret, version))
    except (CommandError, UnsupportedCommand, InvalidRequest) as exc:
        return await _not_delivered(
            db,
            charger_id,
            f"not delivered ({exc}); it is sent again at the next connection",
            failure=exc,
        )
    status = str(answer.get("status"))
    now = datetime.now(UTC)
    if rotation:
        return await _rotation_outcome(db, charger_id, version, answer, now)
    if status in _TAKEN:
        detail = f"the charger accepted it ({_what(version)}: {status})"
        await db.write(lambda uow: confirm_password(uow, charger_id, now=now, detail=detail))
        log.info("charger %s took its new password (%s)", charger_id, status)
        return PasswordDelivery("accepted", detail, status, answer)
    reason = answer.get("reason")
    detail = f"the charger refused it ({_what(version)}: {status}{f', {reason}' if reason else ''})"
    await db.write(lambda uow: record_password_refused(uow, charger_id, now=now, detail=detail))
    log.warning("charger %s refused its new password: %s", charger_id, detail)
    return PasswordDelivery("refused", detail, status, answer)


async def _rotation_outcome(
    db: Database, charger_id: str, version: str | None, answer: dict[str, Any], now: datetime
) -> PasswordDelivery:
    """Record what the charger answered to the new password of a rotation (module doc)."""
    status = str(answer.get("status"))
    if status in _TAKEN:
        detail = (
            f"the charger accepted the new password ({_what(version)}: {status}); its "
            "current one stays valid until it connects with the new one"
        )
        await db.write(lambda uow: record_rotation_taken(uow, charger_id, now=now, detail=detail))
        log.info("charger %s took its rotated password (%s)", charger_id, status)
        return PasswordDelivery("accepted", detail, status, answer)
    reason = answer.get("reason")
    detail = (
        f"the charger refused the new password ({_what(version)}: {status}"
        f"{f', {reason}' if reason else ''})"
    )
    await db.write(lambda uow: record_rotation_refused(uow, charger_id, now=now, detail=detail))
    log.warning("charger %s refused its rotated password: %s", charger_id, detail)
    return PasswordDelivery("refused", f"{detail}; it keeps its current password", status, answer)


async def _not_delivered(
    db: Database, charger_id: str, detail: str, *, failure: Exception | None = None
) -> PasswordDelivery:
    now = datetime.now(UTC)
    await db.write(
        lambda uow: record_password_not_delivered(uow, charger_id, now=now, detail=detail)
    )
    log.info("password for charger %s not delivered: %s", charger_id, detail)
    return PasswordDelivery("waiting", detail, failure=failure)


async def deliver_pending_password(db: Database, router: CommandRouter, charger_id: str) -> None:
    """At a charger's connection: send it the password issued (or rotated) while it was
    offline, or not delivered then (not one it refused: that waits for the operator).
    Failures are logged, never raised."""
    try:
        charger = await db.read(lambda uow: uow.chargers.get(charger_id))
        if charger is None or charger.password_state not in (PASSWORD_PENDING, PASSWORD_ROTATING):
            return
        if charger.pending_password_hash is None:
            return
        await deliver_password(db, router, charger_id)
    except Exception:
        log.exception("sending charger %s its password failed", charger_id)
