"""Handlers whose answer is the same in both versions, once the request is translated.

- The BootNotification answer (1.6 §4.2, 2.0.1 B01–B03) and Heartbeat (1.6 §4.6,
  2.0.1 G02).
- SecurityEventNotification (1.6 security extension N02, 2.0.1 A04): kept, critical
  events logged.
- DataTransfer (1.6 §4.3, 2.0.1 P01/P02): one registry of vendor handlers serves 1.6
  chargers and 2.0.1 stations alike, so a handler such as the touchscreen ``PinLogin``
  answers on both. A vendorId no handler claims is answered ``UnknownVendorId`` and
  recorded.
- csms's own vendorId ``csms``: messageId ``PinLogin``, the touchscreen login (SPEC
  "Authorization methods"; see :mod:`csms.domain.people.pin_login`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from csms.adapters.timestamps import format_time
from csms.domain.charging.stations import record_boot, record_charger_event, touch_charger
from csms.domain.model import BootInfo, RegistrationStatus
from csms.domain.people.pin_login import pin_login, record_malformed_attempt
from csms.domain.security.events import record_security_event
from csms.gateway import CallContext
from protocol.messages import v16, v201

__all__ = [
    "BOOT_RETRY_INTERVAL",
    "CSMS_VENDOR_ID",
    "PIN_LOGIN_MESSAGE_ID",
    "VENDOR_HANDLERS",
    "BootAnswer",
    "DataTransferRequest",
    "DataTransferResponse",
    "VendorHandler",
    "answer_boot",
    "csms_data_transfer",
    "data_transfer",
    "heartbeat",
    "parse_pin_login",
    "pin_login_transfer",
    "security_event_notification",
]

log = logging.getLogger(__name__)

#: Seconds before a Pending or Rejected charger should send BootNotification again.
BOOT_RETRY_INTERVAL = 60

#: A DataTransfer request of either version (2.0.1 allows any JSON as ``data``).
DataTransferRequest = v16.DataTransferRequest | v201.DataTransferRequest
#: The DataTransfer answer: ``status`` and optional ``data``, as 1.6 types them (a valid
#: 2.0.1 answer too).
DataTransferResponse = v16.DataTransferResponse
#: A vendor's DataTransfer handler: returns the answer, or an awaitable of it.
VendorHandler = Callable[[CallContext, DataTransferRequest], Any]
#: DataTransfer handlers by vendorId.
VENDOR_HANDLERS: dict[str, VendorHandler] = {}


@dataclass(frozen=True, slots=True)
class BootAnswer:
    """The BootNotification answer, the same in both versions: ``status``,
    ``currentTime`` and ``interval``."""

    status: RegistrationStatus
    current_time: str
    interval: int


async def answer_boot(ctx: CallContext, info: BootInfo, *, reason: str | None = None) -> BootAnswer:
    """Store what the charger reports at boot; Accepted with the heartbeat interval, or
    Pending until an operator runs ``csms chargers accept``. Only an Accepted charger may
    send anything else (the session's boot gate)."""
    now = ctx.clock()
    decision = await ctx.db.write(
        lambda uow: record_boot(uow, charger_id=ctx.charger_id, info=info, now=now)
    )
    accepted = decision.status is RegistrationStatus.ACCEPTED
    ctx.set_accepted(accepted)
    log.info(
        "charger %s (OCPP %s) booted%s: %s",
        ctx.charger_id,
        info.ocpp_version,
        f" ({reason})" if reason else "",
        decision.status.value,
    )
    return BootAnswer(
        decision.status,
        format_time(now),
        ctx.heartbeat_interval if accepted else BOOT_RETRY_INTERVAL,
    )


async def heartbeat(
    ctx: CallContext, p: v16.HeartbeatRequest | v201.HeartbeatRequest
) -> v16.HeartbeatResponse:
    """1.6 §4.6, 2.0.1 G02: the charger is alive; it learns the current time."""
    now = ctx.clock()
    await ctx.db.write(lambda uow: touch_charger(uow, charger_id=ctx.charger_id, now=now))
    return {"currentTime": format_time(now)}


async def security_event_notification(
    ctx: CallContext,
    p: v16.SecurityEventNotificationRequest | v201.SecurityEventNotificationRequest,
) -> v16.SecurityEventNotificationResponse:
    """1.6 security extension N02 / 2.0.1 A04: the event is kept; the answer is empty.

    Critical events also get a WARNING line (see :mod:`csms.domain.security.events`)."""
    now = ctx.clock()
    await ctx.db.write(
        lambda uow: record_security_event(uow, charger_id=ctx.charger_id, payload=p, now=now)
    )
    return {}


async def data_transfer(ctx: CallContext, p: DataTransferRequest) -> DataTransferResponse:
    """UnknownVendorId unless a handler claims the vendor."""
    handler = VENDOR_HANDLERS.get(p["vendorId"])
    if handler is None:
        now = ctx.clock()
        await ctx.db.write(
            lambda uow: record_charger_event(
                uow,
                charger_id=ctx.charger_id,
                kind="DataTransfer",
                payload={"vendorId": p["vendorId"], "messageId": p.get("messageId")},
                now=now,
            )
        )
        return {"status": "UnknownVendorId"}
    result = handler(ctx, p)
    if hasattr(result, "__await__"):
        result = await result
    return cast("DataTransferResponse", dict(result))


#: csms's own DataTransfer vendorId and the touchscreen login's messageId (SPEC
#: "Authorization methods").
CSMS_VENDOR_ID = "csms"
PIN_LOGIN_MESSAGE_ID = "PinLogin"


def parse_pin_login(data: Any) -> tuple[str, str] | None:
    """(login, PIN) from PinLogin data: a JSON string ``{"login": "...", "pin": "..."}``
    (a 2.0.1 station may send the object itself: DataTransfer data is anyType there).
    None when it is anything else; the PIN must be a string (a number loses leading zeros).
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if not isinstance(data, dict):
        return None
    login, pin = data.get("login"), data.get("pin")
    if not isinstance(login, str) or not isinstance(pin, str) or not login or not pin:
        return None
    return login, pin


async def pin_login_transfer(ctx: CallContext, p: DataTransferRequest) -> DataTransferResponse:
    """DataTransfer csms/PinLogin: ``Accepted`` with data ``{"idTag": "<one-time token>",
    "expiresAt": "<UTC>"}`` when the login and PIN match, else ``Rejected`` whatever the
    reason (wrong login, wrong PIN, no PIN, erased, locked, malformed data): the charger
    learns nothing about which accounts exist. The reason is recorded as a security event.
    """
    now = ctx.clock()
    request = parse_pin_login(p.get("data"))
    if request is None:
        await ctx.db.write(
            lambda uow: record_malformed_attempt(uow, charger_id=ctx.charger_id, now=now)
        )
        return {"status": "Rejected"}
    login, pin = request
    outcome = await pin_login(ctx.db, login=login, pin=pin, charger_id=ctx.charger_id, now=now)
    token = outcome.token
    if not outcome.accepted or token is None or token.expires_at is None:
        return {"status": "Rejected"}
    data = {"idTag": token.uid, "expiresAt": format_time(token.expires_at)}
    return {"status": "Accepted", "data": json.dumps(data, separators=(",", ":"))}


async def csms_data_transfer(ctx: CallContext, p: DataTransferRequest) -> DataTransferResponse:
    """DataTransfer for vendorId ``csms``: PinLogin, else UnknownMessageId."""
    if p.get("messageId") == PIN_LOGIN_MESSAGE_ID:
        return await pin_login_transfer(ctx, p)
    return {"status": "UnknownMessageId"}


VENDOR_HANDLERS[CSMS_VENDOR_ID] = csms_data_transfer
