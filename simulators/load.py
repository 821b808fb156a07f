"""Load generator: many lean simulated chargers in one asyncio process.

Each charger opens its own WebSocket (the ``websockets`` asyncio client, compression off, no
client pings), boots, and then runs a closed loop with exactly one outstanding CALL: send,
wait for the answer, send the next one. Only the steady-state loop is measured: it starts
after every charger has finished its setup (connect, BootNotification, and in ``meter``
mode one StartTransaction; in ``txevent`` mode, 2.0.1 only, one TransactionEvent Started,
after which the loop sends TransactionEvent Updated with seqNo 1, 2, … inside that
running transaction).

The hot path builds frames with string formatting and recognises its own CALLRESULT by a
string prefix; anything else (a CALLERROR, a call from the server, odd spacing) takes the
slow path through :func:`json.loads`. This keeps the generator cheap enough to share a
machine with the server under test.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import ipaddress
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import quote, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from simulators.stats import summarize_latencies
from simulators.tls import TlsClient

__all__ = [
    "LOAD_MODES",
    "LoadConfig",
    "LoadGenerator",
    "LoadMode",
    "LoadReport",
    "check_loopback_url",
    "run_load",
]

LoadMode = Literal["heartbeat", "meter", "txevent", "sessions", "idle"]
LOAD_MODES: tuple[str, ...] = get_args(LoadMode)

_V16 = "ocpp1.6"
_V201 = "ocpp2.0.1"
_PROTOCOLS = (_V16, _V201)

# `proxy=None`: never route a benchmark through an HTTP proxy from the environment
# (the keyword exists since websockets 15).
_CONNECT_EXTRA: dict[str, Any] = (
    {"proxy": None} if "proxy" in inspect.signature(connect.__init__).parameters else {}
)


def check_loopback_url(url: str) -> None:
    """Refuse anything but a ws:// or wss:// URL on this machine (the load is a flood)."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"{url!r}: the URL must start with ws:// or wss://")
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(
        f"{url!r}: the load generator only connects to this machine (127.0.0.1, ::1 or localhost)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadConfig:
    """What to run. ``url`` is the endpoint prefix; a charger connects to ``{url}/{id}``."""

    url: str
    chargers: int
    duration: float
    protocol: str = _V16
    mode: LoadMode = "heartbeat"
    password: str | None = None
    #: wss://: the CA trusted for the server certificate (None: the system's trust store).
    ca_file: Path | None = None
    id_prefix: str = "LOAD"
    id_tag: str = "LOADTAG"
    ramp: float = 0.0
    warmup: float = 0.0
    call_timeout: float = 10.0
    connect_timeout: float = 30.0
    connect_concurrency: int = 100
    meter_values_per_session: int = 3

    def __post_init__(self) -> None:
        check_loopback_url(self.url)
        if self.protocol not in _PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; use one of {_PROTOCOLS}")
        if self.mode not in LOAD_MODES:
            raise ValueError(f"unknown mode {self.mode!r}; use one of {LOAD_MODES}")
        if self.protocol == _V201 and self.mode == "sessions":
            raise ValueError("sessions mode is only available for ocpp1.6 so far")
        if self.protocol == _V16 and self.mode == "txevent":
            raise ValueError("txevent mode (TransactionEvent) needs --protocol ocpp2.0.1")
        if self.chargers < 1:
            raise ValueError("at least one charger is needed")
        if self.duration < 0 or self.warmup < 0 or self.ramp < 0:
            raise ValueError("duration, warmup and ramp must not be negative")
        if self.connect_concurrency < 1:
            raise ValueError("connect_concurrency must be at least 1")


@dataclass(slots=True, kw_only=True)
class LoadReport:
    """Results. Call figures cover only the measured steady-state window."""

    mode: str
    protocol: str
    chargers: int
    booted: int
    connect_failures: int
    boot_failures: int
    setup_seconds: float
    setup_rate_per_s: float
    duration_s: float
    calls: int
    calls_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    call_errors: int
    timeouts: int
    disconnects: int
    sessions_completed: int = 0
    first_errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; NaN (no calls) becomes None."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = None if math.isnan(value) else round(value, 3)
        return data

    @property
    def errors(self) -> int:
        return (
            self.connect_failures
            + self.boot_failures
            + self.call_errors
            + self.timeouts
            + self.disconnects
        )

    def format_text(self) -> str:
        lines = [
            f"mode            {self.mode} ({self.protocol})",
            f"chargers        {self.chargers} (booted {self.booted}, connect failures "
            f"{self.connect_failures}, boot failures {self.boot_failures})",
            f"connect+boot    {self.setup_seconds:.2f} s ({self.setup_rate_per_s:.0f} chargers/s)",
        ]
        if self.mode != "idle":
            lines += [
                f"measured        {self.duration_s:.1f} s",
                f"calls           {self.calls} ({self.calls_per_s:.0f} calls/s)",
                f"latency ms      p50 {self.p50_ms:.2f}  p95 {self.p95_ms:.2f}  "
                f"p99 {self.p99_ms:.2f}  max {self.max_ms:.2f}",
            ]
        if self.mode == "sessions":
            lines.append(f"sessions        {self.sessions_completed} completed")
        lines.append(
            f"errors          CALLERROR {self.call_errors}, timeouts {self.timeouts}, "
            f"disconnects {self.disconnects}"
        )
        lines += [f"  {message}" for message in self.first_errors]
        return "\n".join(lines)


class _CallFailed(Exception):
    """A call got a CALLERROR or no answer in time (already counted)."""


class _TimestampCache:
    """``YYYY-MM-DDTHH:MM:SSZ`` for the current second, formatted once per second."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._text


_METER_V16 = (
    '{{"connectorId":1,"transactionId":{tx},"meterValue":[{{"timestamp":"{ts}","sampledValue":['
    '{{"value":"{wh}","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",'
    '"unit":"Wh"}},'
    '{{"value":"{w}","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"}}'
    "]}}]}}"
)
_METER_V201 = (
    '{{"evseId":1,"meterValue":[{{"timestamp":"{ts}","sampledValue":['
    '{{"value":{wh},"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",'
    '"unitOfMeasure":{{"unit":"Wh"}}}},'
    '{{"value":{w},"context":"Sample.Periodic","measurand":"Power.Active.Import",'
    '"unitOfMeasure":{{"unit":"W"}}}}'
    "]}}]}}"
)
# 2.0.1 E01/E02: the Started event of the loop's transaction and its periodic updates.
_TX_STARTED_V201 = (
    '{{"eventType":"Started","timestamp":"{ts}","triggerReason":"Authorized","seqNo":0,'
    '"transactionInfo":{{"transactionId":"{tx}","chargingState":"Charging"}},'
    '"idToken":{{"idToken":{tag},"type":"ISO14443"}},"evse":{{"id":1,"connectorId":1}},'
    '"meterValue":[{{"timestamp":"{ts}","sampledValue":['
    '{{"value":{wh},"context":"Transaction.Begin","measurand":"Energy.Active.Import.Register",'
    '"unitOfMeasure":{{"unit":"Wh"}}}}]}}]}}'
)
_TX_UPDATED_V201 = (
    '{{"eventType":"Updated","timestamp":"{ts}","triggerReason":"MeterValuePeriodic",'
    '"seqNo":{seq},"transactionInfo":{{"transactionId":"{tx}"}},'
    '"meterValue":[{{"timestamp":"{ts}","sampledValue":['
    '{{"value":{wh},"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",'
    '"unitOfMeasure":{{"unit":"Wh"}}}},'
    '{{"value":{w},"context":"Sample.Periodic","measurand":"Power.Active.Import",'
    '"unitOfMeasure":{{"unit":"W"}}}}'
    "]}}]}}"
)
_POWER_W = 11_000
_ENERGY_STEP_WH = 183  # 11 kW for one minute


class _Charger:
    __slots__ = (
        "deadline",
        "energy_wh",
        "identity",
        "seq",
        "task",
        "timed_out",
        "transaction_id",
        "tx_seq_no",
        "ws",
    )

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.ws: ClientConnection | None = None
        self.seq = 0
        #: 1.6: the CSMS's integer id; 2.0.1: the station's own UUID.
        self.transaction_id: int | str = 0
        #: seqNo of the last TransactionEvent sent (2.0.1).
        self.tx_seq_no = 0
        self.energy_wh = 1_000
        #: The measured loop's task (None during setup).
        self.task: asyncio.Task[None] | None = None
        #: perf_counter() deadline of the call in flight (0.0: none).
        self.deadline = 0.0
        self.timed_out = False


class LoadGenerator:
    """Connects ``config.chargers`` chargers, then runs the measured closed loop.

    ``async with LoadGenerator(config) as load: await load.connect_all(); report = await
    load.run()``. :func:`run_load` does exactly that.
    """

    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        self._chargers: list[_Charger] = []
        self._clock = _TimestampCache()
        self._recording = False
        self._stopping = False
        self._latencies: list[float] = []
        self._call_errors = 0
        self._timeouts = 0
        self._disconnects = 0
        self._connect_failures = 0
        self._boot_failures = 0
        self._sessions = 0
        self._setup_seconds = math.nan
        self._first_errors: list[str] = []
        self._subprotocol = Subprotocol(config.protocol)
        # One TLS context for every charger (each still makes its own full handshake).
        self._tls: dict[str, Any] = (
            {"ssl": TlsClient(ca_file=config.ca_file, resume=False).context()}
            if config.url.startswith("wss://")
            else {}
        )
        self._error_code_unsupported = (
            "NotSupported" if config.protocol == _V16 else "NotImplemented"
        )

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> LoadGenerator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def booted(self) -> int:
        return len(self._chargers)

    async def connect_all(self) -> float:
        """Connect and boot every charger; returns the seconds it took."""
        config = self.config
        semaphore = asyncio.Semaphore(config.connect_concurrency)
        started = time.perf_counter()
        step = config.ramp / config.chargers if config.ramp else 0.0

        async def one(index: int) -> None:
            if step:
                delay = started + index * step - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            async with semaphore:
                await self._setup_charger(f"{config.id_prefix}{index:05d}")

        await asyncio.gather(*(one(i) for i in range(config.chargers)))
        self._setup_seconds = time.perf_counter() - started
        return self._setup_seconds

    async def run(
        self,
        *,
        on_measure_start: Callable[[], None] | None = None,
        on_measure_end: Callable[[], None] | None = None,
    ) -> LoadReport:
        """Warm up, then measure ``config.duration`` seconds of the closed loop; then stop.

        The callbacks run right at the edges of the measured window (e.g. to sample the
        server's CPU time). The connections stay open until :meth:`close`.
        """
        config = self.config
        loop_body: Callable[[_Charger], Any] = {
            "heartbeat": self._heartbeat_loop,
            "meter": self._meter_loop,
            "txevent": self._transaction_event_loop,
            "sessions": self._sessions_loop,
            "idle": self._idle_loop,
        }[config.mode]
        tasks = []
        for charger in self._chargers:
            charger.task = asyncio.create_task(self._guard(loop_body, charger))
            tasks.append(charger.task)
        watchdog = asyncio.create_task(self._watchdog())
        tasks.append(watchdog)
        try:
            if config.warmup:
                await asyncio.sleep(config.warmup)
            self._latencies.clear()
            self._call_errors = self._timeouts = self._sessions = 0
            if on_measure_start is not None:
                on_measure_start()
            self._recording = True
            window_start = time.perf_counter()
            await asyncio.sleep(config.duration)
            self._recording = False
            window = time.perf_counter() - window_start
            if on_measure_end is not None:
                on_measure_end()
        finally:
            self._recording = False
            self._stopping = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self._report(window)

    async def close(self) -> None:
        """Close every connection (close handshakes run concurrently)."""
        self._stopping = True
        connections = [ch.ws for ch in self._chargers if ch.ws is not None]
        self._chargers = []
        await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)

    def setup_report(self) -> LoadReport:
        """A report of the setup phase alone (for idle connection tests)."""
        return self._report(0.0)

    # -- setup ---------------------------------------------------------------------------

    async def _setup_charger(self, identity: str) -> None:
        config = self.config
        charger = _Charger(identity)
        headers: dict[str, str] = {}
        if config.password is not None:
            token = base64.b64encode(f"{identity}:{config.password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            charger.ws = await connect(
                f"{config.url.rstrip('/')}/{quote(identity, safe='')}",
                subprotocols=[self._subprotocol],
                additional_headers=headers or None,
                compression=None,
                ping_interval=None,
                user_agent_header=None,
                open_timeout=config.connect_timeout,
                close_timeout=2,
                **self._tls,
                **_CONNECT_EXTRA,
            )
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            self._connect_failures += 1
            self._note(f"{identity}: connect failed: {exc!r}")
            return
        if charger.ws.subprotocol != self._subprotocol:
            self._connect_failures += 1
            self._note(f"{identity}: server did not agree to {self._subprotocol}")
            await charger.ws.close()
            return
        try:
            await self._boot(charger)
            if config.mode == "meter" and config.protocol == _V16:
                await self._start_transaction(charger)
            elif config.mode == "txevent":
                await self._start_transaction_event(charger)
        except (_CallFailed, ConnectionClosed, ValueError, KeyError, TypeError) as exc:
            self._boot_failures += 1
            if not isinstance(exc, _CallFailed):
                self._note(f"{identity}: setup failed: {exc!r}")
            await charger.ws.close()
            return
        self._chargers.append(charger)

    async def _boot(self, charger: _Charger) -> None:
        if self.config.protocol == _V16:
            payload = '{"chargePointVendor":"csms-sim","chargePointModel":"load"}'
        else:
            payload = (
                '{"reason":"PowerUp","chargingStation":{"vendorName":"csms-sim","model":"load"}}'
            )
        answer = json.loads(await self._call(charger, "BootNotification", payload))
        if answer.get("status") != "Accepted":
            self._note(f"{charger.identity}: BootNotification answered {answer.get('status')}")
            raise _CallFailed

    async def _start_transaction(self, charger: _Charger) -> None:
        payload = (
            f'{{"connectorId":1,"idTag":{json.dumps(self.config.id_tag)},'
            f'"meterStart":{charger.energy_wh},"timestamp":"{self._clock.now()}"}}'
        )
        answer = json.loads(await self._call(charger, "StartTransaction", payload))
        charger.transaction_id = int(answer["transactionId"])

    async def _start_transaction_event(self, charger: _Charger) -> None:
        charger.transaction_id = str(uuid.uuid4())
        charger.tx_seq_no = 0
        payload = _TX_STARTED_V201.format(
            ts=self._clock.now(),
            tx=charger.transaction_id,
            tag=json.dumps(self.config.id_tag),
            wh=charger.energy_wh,
        )
        await self._call(charger, "TransactionEvent", payload)

    # -- loops ---------------------------------------------------------------------------

    async def _guard(self, body: Callable[[_Charger], Any], charger: _Charger) -> None:
        try:
            await body(charger)
        except ConnectionClosed as exc:
            if not self._stopping:
                self._disconnects += 1
                self._note(f"{charger.identity}: connection closed: {exc}")

    async def _heartbeat_loop(self, charger: _Charger) -> None:
        while True:
            with contextlib.suppress(_CallFailed):
                await self._call(charger, "Heartbeat", "{}")

    async def _meter_loop(self, charger: _Charger) -> None:
        template = _METER_V16 if self.config.protocol == _V16 else _METER_V201
        clock = self._clock
        while True:
            charger.energy_wh += _ENERGY_STEP_WH
            payload = template.format(
                tx=charger.transaction_id, ts=clock.now(), wh=charger.energy_wh, w=_POWER_W
            )
            with contextlib.suppress(_CallFailed):
                await self._call(charger, "MeterValues", payload)

    async def _transaction_event_loop(self, charger: _Charger) -> None:
        clock = self._clock
        while True:
            charger.energy_wh += _ENERGY_STEP_WH
            charger.tx_seq_no += 1
            payload = _TX_UPDATED_V201.format(
                ts=clock.now(),
                seq=charger.tx_seq_no,
                tx=charger.transaction_id,
                wh=charger.energy_wh,
                w=_POWER_W,
            )
            with contextlib.suppress(_CallFailed):
                await self._call(charger, "TransactionEvent", payload)

    async def _sessions_loop(self, charger: _Charger) -> None:
        tag = json.dumps(self.config.id_tag)
        clock = self._clock
        while True:
            try:
                await self._call(charger, "Authorize", f'{{"idTag":{tag}}}')
                await self._start_transaction(charger)
                for _ in range(self.config.meter_values_per_session):
                    charger.energy_wh += _ENERGY_STEP_WH
                    payload = _METER_V16.format(
                        tx=charger.transaction_id,
                        ts=clock.now(),
                        wh=charger.energy_wh,
                        w=_POWER_W,
                    )
                    await self._call(charger, "MeterValues", payload)
                payload = (
                    f'{{"transactionId":{charger.transaction_id},'
                    f'"meterStop":{charger.energy_wh},"timestamp":"{clock.now()}",'
                    '"reason":"Local"}'
                )
                await self._call(charger, "StopTransaction", payload)
            except (_CallFailed, ValueError, KeyError, TypeError):
                continue
            if self._recording:
                self._sessions += 1

    async def _idle_loop(self, charger: _Charger) -> None:
        ws = charger.ws
        assert ws is not None
        while True:
            await self._handle_other(ws, await ws.recv(), None)

    # -- one call ------------------------------------------------------------------------

    async def _call(self, charger: _Charger, action: str, payload: str) -> str:
        """Send one CALL and return the raw payload text of its CALLRESULT.

        In the measured loop the deadline is enforced by :meth:`_watchdog` (one task for
        all chargers) instead of a timer per call: ``asyncio.timeout`` costs about as much
        as the rest of the call.
        """
        ws = charger.ws
        assert ws is not None
        charger.seq += 1
        uid = str(charger.seq)
        prefix = f'[3,"{uid}",'
        started = time.perf_counter()
        await ws.send(f'[2,"{uid}","{action}",{payload}]')
        try:
            if charger.task is None:  # setup: no watchdog yet
                async with asyncio.timeout(self.config.call_timeout):
                    result = await self._receive_answer(ws, uid, prefix, charger, action)
            else:
                charger.deadline = started + self.config.call_timeout
                try:
                    while True:
                        message = await ws.recv()
                        if isinstance(message, str) and message.startswith(prefix):
                            result = message[len(prefix) : -1]
                            break
                        outcome = await self._handle_other(ws, message, uid, charger, action)
                        if outcome is not None:
                            result = outcome
                            break
                except asyncio.CancelledError:
                    if not charger.timed_out or self._stopping:
                        raise
                    charger.timed_out = False
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
                    raise TimeoutError from None
                finally:
                    charger.deadline = 0.0
        except TimeoutError:
            if self._recording:
                self._timeouts += 1
            self._note(f"{charger.identity}: {action} timed out")
            raise _CallFailed from None
        if self._recording:
            self._latencies.append(time.perf_counter() - started)
        return result

    async def _receive_answer(
        self, ws: ClientConnection, uid: str, prefix: str, charger: _Charger, action: str
    ) -> str:
        while True:
            message = await ws.recv()
            if isinstance(message, str) and message.startswith(prefix):
                return message[len(prefix) : -1]
            outcome = await self._handle_other(ws, message, uid, charger, action)
            if outcome is not None:
                return outcome

    async def _watchdog(self) -> None:
        """Time out the measured loop's calls: cancel a charger stuck past its deadline."""
        period = min(max(self.config.call_timeout / 4, 0.01), 0.25)
        while True:
            await asyncio.sleep(period)
            now = time.perf_counter()
            for charger in self._chargers:
                deadline = charger.deadline
                if deadline and now > deadline and not charger.timed_out and charger.task:
                    charger.timed_out = True
                    charger.task.cancel()

    async def _handle_other(
        self,
        ws: ClientConnection,
        message: str | bytes,
        uid: str | None,
        charger: _Charger | None = None,
        action: str | None = None,
    ) -> str | None:
        """Slow path: our answer with unusual spacing, a CALLERROR, or a call from the server."""
        try:
            frame = json.loads(message)
        except ValueError:
            return None
        if not isinstance(frame, list) or len(frame) < 3:
            return None
        kind = frame[0]
        if kind == 3 and uid is not None and frame[1] == uid:
            return json.dumps(frame[2], separators=(",", ":"))
        if kind == 4 and uid is not None and frame[1] == uid:
            if self._recording:
                self._call_errors += 1
            where = f"{charger.identity}: {action} answered with " if charger and action else ""
            self._note(f"{where}CALLERROR {frame[2]}: {frame[3] if len(frame) > 3 else ''}")
            raise _CallFailed
        if kind == 2 and isinstance(frame[1], str):
            # Calls from the server are outside the load profile: refuse them politely.
            await ws.send(
                json.dumps([4, frame[1], self._error_code_unsupported, "load generator", {}])
            )
        return None

    # -- reporting -----------------------------------------------------------------------

    def _note(self, message: str) -> None:
        if len(self._first_errors) < 5:
            self._first_errors.append(message)

    def _report(self, window: float) -> LoadReport:
        summary = summarize_latencies(self._latencies)
        setup = self._setup_seconds
        return LoadReport(
            mode=self.config.mode,
            protocol=self.config.protocol,
            chargers=self.config.chargers,
            booted=len(self._chargers),
            connect_failures=self._connect_failures,
            boot_failures=self._boot_failures,
            setup_seconds=setup,
            setup_rate_per_s=len(self._chargers) / setup if setup and setup > 0 else math.nan,
            duration_s=window,
            calls=summary.count,
            calls_per_s=summary.count / window if window > 0 else math.nan,
            p50_ms=summary.p50_ms,
            p95_ms=summary.p95_ms,
            p99_ms=summary.p99_ms,
            max_ms=summary.max_ms,
            call_errors=self._call_errors,
            timeouts=self._timeouts,
            disconnects=self._disconnects,
            sessions_completed=self._sessions,
            first_errors=list(self._first_errors),
        )


async def run_load(config: LoadConfig) -> LoadReport:
    """Connect, boot, run the measured loop for ``config.duration`` seconds, disconnect."""
    async with LoadGenerator(config) as load:
        await load.connect_all()
        return await load.run()
