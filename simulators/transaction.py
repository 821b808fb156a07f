"""A simulated charging transaction, as the station sees it (version-neutral)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Transaction"]


@dataclass(eq=False)
class Transaction:
    """One transaction on one connector.

    ``local_id`` is the station's own number for it (negative, so it never looks like a
    CSMS id). In 1.6 the CSMS assigns ``transaction_id`` in its answer to StartTransaction;
    messages queued before that answer carry the local id and are remapped when sent.
    """

    local_id: int
    connector_id: int
    id_tag: str
    meter_start_wh: int
    started_at: datetime
    remote: bool = False
    transaction_id: int | str | None = None
    id_tag_status: str | None = None
    #: The idTagInfo (1.6) or idTokenInfo (2.0.1) the CSMS gave.
    id_tag_info: Mapping[str, Any] | None = None
    stop_reason: str | None = None
    meter_stop_wh: int | None = None
    stopped_at: datetime | None = None
    #: Periodic/triggered MeterValues produced for this transaction.
    meter_values: int = 0
    #: True while a charging loop (:func:`simulators.charging.charge`) runs it; stops
    #: requested by the CSMS then go through that loop.
    driven: bool = False
    requested_stop_reason: str | None = None
    _confirmed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _stopped: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _stop_requested: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def active(self) -> bool:
        return self.stopped_at is None

    @property
    def confirmed(self) -> bool:
        """The CSMS has answered the start (and assigned its id, in 1.6)."""
        return self._confirmed.is_set()

    @property
    def accepted(self) -> bool:
        return self.id_tag_status == "Accepted"

    @property
    def wire_id(self) -> int | str:
        """The id to put in a message now: the CSMS's if known, else the local one."""
        return self.transaction_id if self.transaction_id is not None else self.local_id

    @property
    def energy_wh(self) -> int | None:
        if self.meter_stop_wh is None:
            return None
        return self.meter_stop_wh - self.meter_start_wh

    def confirm(self, transaction_id: int | str, id_tag_info: Mapping[str, Any] | None) -> None:
        self.transaction_id = transaction_id
        self.id_tag_info = id_tag_info
        self.id_tag_status = None if id_tag_info is None else str(id_tag_info.get("status"))
        self._confirmed.set()

    def mark_stopped(self, *, reason: str, meter_stop_wh: int, at: datetime) -> None:
        self.stop_reason = reason
        self.meter_stop_wh = meter_stop_wh
        self.stopped_at = at
        self._stopped.set()
        self._stop_requested.set()

    def request_stop(self, reason: str) -> None:
        """Ask the charging loop running this transaction to stop it with ``reason``."""
        if self.requested_stop_reason is None:
            self.requested_stop_reason = reason
        self._stop_requested.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    async def wait_stop_requested(self, timeout: float | None) -> bool:
        """True if a stop was requested within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout):
                await self._stop_requested.wait()
        except TimeoutError:
            return False
        return True

    async def wait_confirmed(self, *, timeout: float | None = None) -> int | str:
        """Wait for the CSMS's answer to the start; returns its transaction id."""
        async with asyncio.timeout(timeout):
            await self._confirmed.wait()
        assert self.transaction_id is not None
        return self.transaction_id

    async def wait_stopped(self, *, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._stopped.wait()
