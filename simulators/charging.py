"""A charging session as a driver and an EV produce it, independent of the OCPP version.

:func:`charge` authorizes, starts a transaction, delivers energy at constant power with a
periodic meter sample, and stops when the battery is full or when the CSMS (remote stop,
reset, unlock) asks. The station supplies the version-specific messages through the
:class:`ChargingStation` protocol (1.6: StatusNotification/StartTransaction/MeterValues/
StopTransaction; 2.0.1: TransactionEvent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from simulators.clock import SimClock
from simulators.station import Reply
from simulators.transaction import Transaction

__all__ = ["ChargingPlan", "ChargingStation", "SessionKeeping", "SessionResult", "charge"]

TxT = TypeVar("TxT", bound=Transaction)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargingPlan:
    """What the EV takes: ``energy_wh`` at ``power_w``; a meter sample every
    ``meter_interval`` simulated seconds (None: the station's configured interval)."""

    energy_wh: float = 10_000.0
    power_w: float = 11_000.0
    meter_interval: float | None = None

    def __post_init__(self) -> None:
        if self.energy_wh <= 0 or self.power_w <= 0:
            raise ValueError("energy and power must be positive")


@dataclass(slots=True, kw_only=True)
class SessionResult:
    """The outcome of one :func:`charge`."""

    charger_id: str
    connector_id: int
    id_tag: str
    id_tag_status: str | None
    transaction_id: int | str | None = None
    local_transaction_id: int | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    energy_wh: int | None = None
    stop_reason: str | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    meter_values: int = 0
    remote: bool = False

    @property
    def ok(self) -> bool:
        """Authorized, started and accepted by the CSMS, and stopped."""
        return self.id_tag_status == "Accepted" and self.stopped_at is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("started_at", "stopped_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        data["ok"] = self.ok
        return data

    @classmethod
    def of(
        cls, charger_id: str, transaction: Transaction, *, status: str | None = None
    ) -> SessionResult:
        return cls(
            charger_id=charger_id,
            connector_id=transaction.connector_id,
            id_tag=transaction.id_tag,
            id_tag_status=status or transaction.id_tag_status,
            transaction_id=transaction.transaction_id,
            local_transaction_id=transaction.local_id,
            meter_start_wh=transaction.meter_start_wh,
            meter_stop_wh=transaction.meter_stop_wh,
            energy_wh=transaction.energy_wh,
            stop_reason=transaction.stop_reason,
            started_at=transaction.started_at,
            stopped_at=transaction.stopped_at,
            meter_values=transaction.meter_values,
            remote=transaction.remote,
        )


class ChargingStation(Protocol):
    """The steps of a session in a station's own OCPP version."""

    identity: str
    clock: SimClock

    def meter_interval(self) -> float:
        """Simulated seconds between periodic samples (0: none)."""
        ...

    async def session_authorize(self, id_tag: str) -> str:
        """Authorize ``id_tag``; returns the status (``Accepted``, ``Invalid``, ...)."""
        ...

    async def session_begin(self, *, id_tag: str, connector_id: int, remote: bool) -> Transaction:
        """Cable in, transaction started (answered when online), energy flowing.

        The transaction must be created with ``driven=True``: from then on, stops the
        CSMS asks for are left to this loop."""
        ...

    def session_deliver(self, transaction: Transaction, energy_wh: float, power_w: float) -> None:
        """Energy went into the EV (advances the meter register)."""
        ...

    async def session_sample(self, transaction: Transaction) -> None:
        """A periodic meter sample."""
        ...

    async def session_suspend_ev(self, transaction: Transaction) -> None:
        """The EV stopped taking energy (battery full)."""
        ...

    async def session_end(self, transaction: Transaction, reason: str) -> None:
        """Stop the transaction and let the connector become available again."""
        ...

    def session_finished(self, result: SessionResult) -> None:
        """Record the outcome."""
        ...


async def charge(
    station: ChargingStation,
    *,
    id_tag: str,
    connector_id: int = 1,
    plan: ChargingPlan | None = None,
    authorize: bool = True,
    remote: bool = False,
) -> SessionResult:
    """One session from card to unplug; see the module docstring.

    Returns its :class:`SessionResult`; ``result.ok`` is False when the id tag was not
    accepted (by Authorize, or by the StartTransaction answer: the transaction is then
    stopped with reason DeAuthorized).
    """
    plan = plan or ChargingPlan()
    if authorize:
        status = await station.session_authorize(id_tag)
        if status != "Accepted":
            result = SessionResult(
                charger_id=station.identity,
                connector_id=connector_id,
                id_tag=id_tag,
                id_tag_status=status,
                remote=remote,
            )
            station.session_finished(result)
            return result
    transaction = await station.session_begin(
        id_tag=id_tag, connector_id=connector_id, remote=remote
    )
    try:
        if transaction.confirmed and not transaction.accepted:
            reason = "DeAuthorized"  # 1.6 StopTransactionOnInvalidId
        else:
            reason = await _deliver(station, transaction, plan)
        if transaction.active:
            await station.session_end(transaction, reason)
    finally:
        transaction.driven = False
    result = SessionResult.of(station.identity, transaction)
    station.session_finished(result)
    return result


async def _deliver(station: ChargingStation, transaction: Transaction, plan: ChargingPlan) -> str:
    """Charge until the plan's energy is in or a stop is requested; returns the reason."""
    clock = station.clock
    loop = asyncio.get_running_loop()
    delivered = 0.0
    last = loop.time()
    while True:
        remaining_s = (plan.energy_wh - delivered) / plan.power_w * 3600.0
        interval = plan.meter_interval
        if interval is None:
            interval = station.meter_interval()
        final = interval <= 0 or remaining_s <= interval
        stop = await transaction.wait_stop_requested(
            clock.real_seconds(remaining_s if final else interval)
        )
        now = loop.time()
        elapsed_s = clock.simulated_seconds(now - last)
        last = now
        if final and not stop:
            energy = plan.energy_wh - delivered  # timers may fire a hair early
        else:
            energy = min(plan.power_w * elapsed_s / 3600.0, plan.energy_wh - delivered)
        delivered += energy
        station.session_deliver(transaction, energy, plan.power_w)
        if stop:
            return transaction.requested_stop_reason or "Other"
        if final:
            await station.session_suspend_ev(transaction)
            return "Local"
        await station.session_sample(transaction)


class SessionKeeping(Generic[TxT]):
    """What a simulated charge point of either version keeps about its sessions: the
    transactions, the finished sessions, and stopping one when the CSMS asks."""

    transactions: list[TxT]
    session_results: list[SessionResult]
    on_session_finished: Callable[[SessionResult], None] | None
    _sessions_changed: asyncio.Event

    if TYPE_CHECKING:

        async def end_session(self, transaction: TxT, reason: str) -> None: ...

    async def wait_sessions(self, count: int, *, timeout: float | None = None) -> None:
        """Wait until ``count`` sessions have finished in total."""
        async with asyncio.timeout(timeout):
            while len(self.session_results) < count:
                self._sessions_changed.clear()
                await self._sessions_changed.wait()

    def session_finished(self, result: SessionResult) -> None:
        self.session_results.append(result)
        self._sessions_changed.set()
        if self.on_session_finished is not None:
            self.on_session_finished(result)

    def _find_transaction(self, transaction_id: Any) -> TxT | None:
        for transaction in self.transactions:
            if transaction.active and transaction.transaction_id == transaction_id:
                return transaction
        return None

    def _stop_soon(self, transaction: TxT, reason: str) -> Reply:
        """Stop a transaction the CSMS asked to stop (1.6 RemoteStop, reset, unlock; 2.0.1
        RequestStop): the driving session ends it, or it is ended after the answer."""
        if transaction.driven:
            transaction.request_stop(reason)
            return Reply({"status": "Accepted"})

        async def stop() -> None:
            if transaction.active:
                await self.end_session(transaction, reason)

        return Reply({"status": "Accepted"}, then=stop)
