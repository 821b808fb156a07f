"""DataTransfer, the same on both versions (1.6 §4.3, 2.0.1 P01/P02).

One registry of vendor handlers serves 1.6 chargers and 2.0.1 stations alike, so a
handler such as the touchscreen ``PinLogin`` answers on both. A vendorId no handler
claims is answered ``UnknownVendorId`` and recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from csms.domain.stations import record_charger_event
from csms.gateway import CallContext

__all__ = ["VENDOR_HANDLERS", "VendorHandler", "data_transfer"]

VendorHandler = Callable[[CallContext, dict[str, Any]], Any]
#: DataTransfer handlers by vendorId; a handler returns the DataTransfer answer payload
#: (``status`` and optional ``data``), the same keys in both versions.
VENDOR_HANDLERS: dict[str, VendorHandler] = {}


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
