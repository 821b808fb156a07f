"""The scripted charger behind ``csms-sim charge`` and ``csms-sim serve``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulators.charging import ChargingPlan, SessionResult
from simulators.errors import HandshakeFailed, SimulatorError
from simulators.v16 import ChargePoint16
from simulators.v201 import ChargePoint201

__all__ = ["AnyChargePoint", "ScriptOutcome", "SessionScript", "run_session"]

log = logging.getLogger("simulators.scenario")

#: A simulated charger of either version.
AnyChargePoint = ChargePoint16 | ChargePoint201


@dataclass(slots=True)
class ScriptOutcome:
    """What a scripted run did."""

    sessions: list[SessionResult] = field(default_factory=list)
    #: Transaction messages still queued when the run ended (not delivered).
    undelivered: int = 0
    #: Why the run could not do what it was asked (PIN login refused, ...), if so.
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.undelivered == 0 and all(s.ok for s in self.sessions)


class SessionScript:
    """Runs a charger: boot, optionally one local session, optionally stay for remote ones.

    :meth:`request_stop` (Ctrl-C) ends it gracefully: a running transaction is stopped with
    reason Local and queued messages get a chance to be delivered.
    """

    def __init__(
        self,
        charge_point: AnyChargePoint,
        *,
        id_tag: str | None = None,
        login: str | None = None,
        pin: str | None = None,
        keycode: bool = False,
        connector_id: int = 1,
        plan: ChargingPlan | None = None,
        stay: bool = False,
        max_sessions: int | None = None,
        flush_timeout: float = 60.0,
        get_certificate: bool = False,
        certificate_timeout: float = 30.0,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        if login is not None and pin is None:
            raise ValueError("a PIN login needs both login and pin")
        if keycode and not isinstance(charge_point, ChargePoint201):
            raise ValueError("a KeyCode idToken is OCPP 2.0.1: use DataTransfer PinLogin on 1.6")
        self.charge_point = charge_point
        self.id_tag = id_tag
        self.login = login
        self.pin = pin
        self.keycode = keycode
        self.connector_id = connector_id
        self.plan = plan
        self.stay = stay
        self.max_sessions = max_sessions
        self.flush_timeout = flush_timeout
        #: Security profile 3 on a first run: after booting (profile 2), get a certificate
        #: signed (SignCertificate, CertificateSigned), then reconnect with it (profile 3).
        self.get_certificate = get_certificate
        self.certificate_timeout = certificate_timeout
        self.on_progress = on_progress
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()
        for transaction in self.charge_point.transactions:
            if transaction.active:
                transaction.request_stop("Local")

    async def run(self) -> ScriptOutcome:
        cp = self.charge_point
        outcome = ScriptOutcome(sessions=cp.session_results)
        await cp.connect()
        try:
            await self._until_stopped(cp.boot())
            if self._stop.is_set():
                return outcome
            if self.get_certificate:
                outcome.error = await self._become_profile_3()
                if outcome.error is not None or self._stop.is_set():
                    return outcome
            if self.id_tag is not None or self.login is not None:
                outcome.error = await self._local_session()
                if outcome.error is not None:
                    return outcome
            if self.stay:
                await self._stay()
            # A reset the CSMS asked for may still be rebooting the charger.
            with contextlib.suppress(TimeoutError):
                await cp.wait_idle(timeout=self.flush_timeout)
        finally:
            if not await cp.wait_queue_empty(timeout=self.flush_timeout):
                outcome.undelivered = len(cp.queued_messages)
            await cp.close()
        return outcome

    async def _until_stopped(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return
        task.result()

    def _tell(self, text: str) -> None:
        if self.on_progress is not None:
            self.on_progress(text)

    async def _become_profile_3(self) -> str | None:
        """The first run of a profile 3 charger: CSR over the profile 2 connection, the
        signed chain stored, then a new connection that presents it (no password)."""
        cp = self.charge_point
        self._tell(f"{cp.identity}: no client certificate yet: sending a CSR (SignCertificate)")
        try:
            await cp.obtain_certificate(timeout=self.certificate_timeout)
        except SimulatorError as exc:
            return f"getting a certificate failed: {exc}"
        self._tell(
            f"{cp.identity}: certificate signed by the CSMS, stored in "
            f"{cp.certificates.cert_path}; reconnecting with security profile 3"
        )
        try:
            await cp.reconnect_with(security_profile=3)
        except HandshakeFailed as exc:
            if exc.status not in (401, 403):
                raise HandshakeFailed(
                    f"reconnecting with the new certificate failed: {exc}", status=exc.status
                ) from None
            # The CSMS still requires profile 2 of this charger: a charger keeps its
            # profile until the CSMS raises it (1.6 SecurityProfile, 2.0.1 A05), and then
            # connects with the certificate it now has.
            self._tell(
                f"{cp.identity}: the CSMS still requires security profile 2 of this charger "
                f"(HTTP {exc.status} to profile 3): staying on profile 2 with the certificate "
                "until the CSMS raises it (e.g. `csms chargers set-profile "
                f"{cp.identity} 3`)"
            )
            await cp.reconnect_with(security_profile=2)
            return None
        self._tell(f"{cp.identity}: connected with security profile 3 (client certificate)")
        return None

    async def _local_session(self) -> str | None:
        cp = self.charge_point
        id_tag = self.id_tag
        authorize = True
        if self.login is not None and self.pin is not None:
            if self.keycode and isinstance(cp, ChargePoint201):
                # 2.0.1 C04: the PIN is a KeyCode idToken with the login as additionalInfo,
                # authorized (Authorize) and sent with the transaction as it is.
                id_tag = cp.pin_token(self.login, self.pin)
            else:
                # The touchscreen asks the CSMS first (DataTransfer csms/PinLogin), then
                # starts with the one-time token it returns, as a real charger would.
                try:
                    id_tag = await cp.pin_login(self.login, self.pin)
                except SimulatorError as exc:
                    return f"PIN login failed: {exc}"
                if id_tag is None:
                    return "PIN login was rejected by the CSMS"
                authorize = False  # the one-time token starts the transaction directly
        assert id_tag is not None
        result = await cp.charge(
            id_tag=id_tag, connector_id=self.connector_id, plan=self.plan, authorize=authorize
        )
        if result.started_at is not None and result.id_tag_status is None:
            return f"the CSMS never confirmed the transaction ({cp.start_action} failed)"
        if result.id_tag_status != "Accepted":
            stage = "Authorize" if result.started_at is None else cp.start_action
            return f"{stage} answered {cp.token_label} {id_tag!r} with {result.id_tag_status}"
        return None

    async def _stay(self) -> None:
        cp = self.charge_point
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._stop.wait())}
        if self.max_sessions is not None:
            waiters.add(asyncio.ensure_future(cp.wait_sessions(self.max_sessions)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        # Let remote sessions that were asked to stop finish their messages.
        with contextlib.suppress(TimeoutError):
            await cp.wait_idle(timeout=self.flush_timeout)


async def run_session(
    *,
    url: str,
    identity: str,
    protocol: str = "ocpp1.6",
    id_tag: str | None = None,
    password: str | None = None,
    login: str | None = None,
    pin: str | None = None,
    keycode: bool = False,
    connector_id: int = 1,
    connectors: int = 1,
    plan: ChargingPlan | None = None,
    speed: float = 60.0,
    meter_interval: int = 60,
    stay: bool = False,
    max_sessions: int | None = None,
    flush_timeout: float = 60.0,
    on_session: Callable[[SessionResult], None] | None = None,
    **charge_point_options: Any,
) -> ScriptOutcome:
    """Boot a charge point (``protocol`` ocpp1.6 or ocpp2.0.1), charge once with
    ``id_tag`` (or a PIN login: ``login`` and ``pin``, through DataTransfer PinLogin, or on
    2.0.1 with ``keycode`` a KeyCode idToken), and optionally stay connected for remote
    starts. See :class:`SessionScript`. ``connectors`` is the number of EVSEs for 2.0.1."""
    charge_point: AnyChargePoint
    if protocol == "ocpp2.0.1":
        charge_point = ChargePoint201(
            url=url,
            identity=identity,
            password=password,
            evses=connectors,
            speed=speed,
            meter_interval=meter_interval,
            charging_plan=plan,
            **charge_point_options,
        )
    elif protocol == "ocpp1.6":
        charge_point = ChargePoint16(
            url=url,
            identity=identity,
            password=password,
            connectors=connectors,
            speed=speed,
            meter_interval=meter_interval,
            charging_plan=plan,
            **charge_point_options,
        )
    else:
        raise ValueError(f"unknown protocol {protocol!r}; use ocpp1.6 or ocpp2.0.1")
    charge_point.on_session_finished = on_session
    script = SessionScript(
        charge_point,
        id_tag=id_tag,
        login=login,
        pin=pin,
        keycode=keycode,
        connector_id=connector_id,
        plan=plan,
        stay=stay,
        max_sessions=max_sessions,
        flush_timeout=flush_timeout,
    )
    return await script.run()
