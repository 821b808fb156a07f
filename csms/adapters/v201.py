"""OCPP 2.0.1 adapter: one function per action a charging station sends.

Each function translates the 2.0.1 payload into a version-neutral domain call and the
result back into the 2.0.1 answer, like :mod:`csms.adapters.v16`. Transaction messages
are committed before the answer is returned (``Database.write`` returns after the commit).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from csms.adapters.common import format_time
from csms.domain.model import BootInfo, RegistrationStatus
from csms.domain.stations import record_boot, touch_charger
from csms.gateway import CallContext, Handler

__all__ = ["HANDLERS"]

log = logging.getLogger(__name__)

#: Seconds before a Pending or Rejected station should send BootNotification again.
BOOT_RETRY_INTERVAL = 60


async def boot_notification(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """B01/B02: store what the station reports; Accepted with the heartbeat interval, or
    Pending until an operator runs ``csms chargers accept``."""
    station = p["chargingStation"]
    modem = station.get("modem") or {}
    info = BootInfo(
        vendor=station["vendorName"],
        model=station["model"],
        ocpp_version="2.0.1",
        serial_number=station.get("serialNumber"),
        charge_box_serial_number=None,
        firmware_version=station.get("firmwareVersion"),
        iccid=modem.get("iccid"),
        imsi=modem.get("imsi"),
        meter_type=None,
        meter_serial_number=None,
    )
    decision = await ctx.db.write(
        lambda uow: record_boot(uow, charger_id=ctx.charger_id, info=info, now=ctx.now)
    )
    accepted = decision.status is RegistrationStatus.ACCEPTED
    ctx.connection.session.accepted = accepted
    log.info("station %s booted (%s): %s", ctx.charger_id, p["reason"], decision.status.value)
    return {
        "status": decision.status.value,
        "currentTime": format_time(ctx.now),
        "interval": ctx.settings.heartbeat_interval if accepted else BOOT_RETRY_INTERVAL,
    }


async def heartbeat(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """G02."""
    await ctx.db.write(lambda uow: touch_charger(uow, charger_id=ctx.charger_id, now=ctx.now))
    return {"currentTime": format_time(ctx.now)}


HANDLERS: Mapping[str, Handler] = {
    "BootNotification": boot_notification,
    "Heartbeat": heartbeat,
}
