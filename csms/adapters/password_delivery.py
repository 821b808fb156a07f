"""Sending a charger the password csms issued to it (a charger accepted from Pending).

The password goes the way each version sets it: 1.6 ChangeConfiguration of
``AuthorizationKey`` (security whitepaper: the key is the hexadecimal form of the
password's bytes; the charger decodes it and sends the bytes in its Basic auth header),
2.0.1 SetVariables of ``SecurityCtrlr.BasicAuthPassword`` (A01: the password as it is).
The charger then reconnects with it.

- Accepted (1.6 also RebootRequired): the password is enforced from now on.
- Rejected / NotSupported / unknown variable: the operator is told; the charger keeps
  connecting without a password until it has one (set by hand, or sent again).
- Not connected, no answer in time, a CALLERROR: sent again at its next connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from csms.adapters.outbound import send_command
from csms.domain.charging.remote_commands import ChangeConfiguration, UnsupportedCommand
from csms.domain.charging.stations import (
    PASSWORD_PENDING,
    confirm_password,
    record_password_not_delivered,
    record_password_refused,
)
from csms.domain.errors import InvalidRequest
from csms.domain.views import normalize_ocpp_version
from csms.routing import CommandError, CommandRouter
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
    if not router.is_connected(charger_id):
        return await _not_delivered(
            db, charger_id, "the charger is offline: it is sent at its next connection"
        )
    version = normalize_ocpp_version(router.ocpp_version(charger_id))
    try:
        answer = await send_command(router, charger_id, _setting(secret, version))
    except (CommandError, UnsupportedCommand, InvalidRequest) as exc:
        return await _not_delivered(
            db, charger_id, f"not delivered ({exc}); it is sent again at the next connection"
        )
    status = str(answer.get("status"))
    now = datetime.now(UTC)
    if status in _TAKEN:
        detail = f"the charger accepted it ({_what(version)}: {status})"
        await db.write(lambda uow: confirm_password(uow, charger_id, now=now, detail=detail))
        log.info("charger %s took its new password (%s)", charger_id, status)
        return PasswordDelivery("accepted", detail, status)
    reason = answer.get("reason")
    detail = f"the charger refused it ({_what(version)}: {status}{f', {reason}' if reason else ''})"
    await db.write(lambda uow: record_password_refused(uow, charger_id, now=now, detail=detail))
    log.warning("charger %s refused its new password: %s", charger_id, detail)
    return PasswordDelivery("refused", detail, status)


async def _not_delivered(db: Database, charger_id: str, detail: str) -> PasswordDelivery:
    now = datetime.now(UTC)
    await db.write(
        lambda uow: record_password_not_delivered(uow, charger_id, now=now, detail=detail)
    )
    log.info("password for charger %s not delivered: %s", charger_id, detail)
    return PasswordDelivery("waiting", detail)


async def deliver_pending_password(db: Database, router: CommandRouter, charger_id: str) -> None:
    """At a charger's connection: send it the password issued while it was offline (not
    one it refused: that waits for the operator). Failures are logged, never raised."""
    try:
        charger = await db.read(lambda uow: uow.chargers.get(charger_id))
        if charger is None or charger.password_state != PASSWORD_PENDING:
            return
        if charger.pending_password_hash is None:
            return
        await deliver_password(db, router, charger_id)
    except Exception:
        log.exception("sending charger %s its password failed", charger_id)
