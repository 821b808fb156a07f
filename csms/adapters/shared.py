"""Handlers whose answer is the same in both versions, once the request is translated.

- The BootNotification answer (1.6 §4.2, 2.0.1 B01–B03) and Heartbeat (1.6 §4.6,
  2.0.1 G02).
- DataTransfer (1.6 §4.3, 2.0.1 P01/P02): one registry of vendor handlers serves 1.6
  chargers and 2.0.1 stations alike, so a handler such as the touchscreen ``PinLogin``
  answers on both. A vendorId no handler claims is answered ``UnknownVendorId`` and
  recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from csms.adapters.common import format_time
from csms.domain.model import BootInfo, RegistrationStatus
from csms.domain.stations import record_boot, record_charger_event, touch_charger
from csms.gateway import CallContext

__all__ = [
    "BOOT_RETRY_INTERVAL",
    "VENDOR_HANDLERS",
    "VendorHandler",
    "answer_boot",
    "data_transfer",
    "heartbeat",
]

log = logging.getLogger(__name__)

#: Seconds before a Pending or Rejected charger should send BootNotification again.
BOOT_RETRY_INTERVAL = 60

VendorHandler = Callable[[CallContext, dict[str, Any]], Any]
#: DataTransfer handlers by vendorId; a handler returns the DataTransfer answer payload
#: (``status`` and optional ``data``), the same keys in both versions.
VENDOR_HANDLERS: dict[str, VendorHandler] = {}


async def answer_boot(
    ctx: CallContext, info: BootInfo, *, reason: str | None = None
) -> dict[str, Any]:
    """Store what the charger reports at boot; Accepted with the heartbeat interval, or
    Pending until an operator runs ``csms chargers accept``. Only an Accepted charger may
    send anything else (the session's boot gate)."""
    decision = await ctx.db.write(
        lambda uow: record_boot(uow, charger_id=ctx.charger_id, info=info, now=ctx.now)
    )
    accepted = decision.status is RegistrationStatus.ACCEPTED
    ctx.connection.session.accepted = accepted
    log.info(
        "charger %s (OCPP %s) booted%s: %s",
        ctx.charger_id,
        info.ocpp_version,
        f" ({reason})" if reason else "",
        decision.status.value,
    )
    return {
        "status": decision.status.value,
        "currentTime": format_time(ctx.now),
        "interval": ctx.settings.heartbeat_interval if accepted else BOOT_RETRY_INTERVAL,
    }


async def heartbeat(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    await ctx.db.write(lambda uow: touch_charger(uow, charger_id=ctx.charger_id, now=ctx.now))
    return {"currentTime": format_time(ctx.now)}


async def data_transfer(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """UnknownVendorId unless a handler claims the vendor."""
    handler = VENDOR_HANDLERS.get(p["vendorId"])
    if handler is None:
        await ctx.db.write(
            lambda uow: record_charger_event(
                uow,
                charger_id=ctx.charger_id,
                kind="DataTransfer",
                payload={"vendorId": p["vendorId"], "messageId": p.get("messageId")},
                now=ctx.now,
            )
        )
        return {"status": "UnknownVendorId"}
    result = handler(ctx, p)
    if hasattr(result, "__await__"):
        result = await result
    return dict(result)
