"""Version-neutral plumbing of a simulated charging station.

:class:`Station` owns the WebSocket (with reconnects and backoff), the sans-I/O
:class:`protocol.OCPPSession`, the single outstanding outgoing CALL, the dispatch of the
CSMS's CALLs to handlers, BootNotification retries, heartbeats and the offline queue of
transaction messages. :class:`simulators.charge_point.ChargePoint` adds what both versions
do alike; :class:`simulators.v16.ChargePoint16` and :class:`simulators.v201.ChargePoint201`
build the messages and answer the CSMS.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, Self, cast
from urllib.parse import quote

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from protocol import (
    Call,
    CallErrorReceived,
    CallReceived,
    CallResultReceived,
    ErrorCode,
    MessageIgnored,
    OCPPError,
    OCPPSession,
    OCPPVersion,
    SendFrame,
    UnmatchedMessage,
)
from simulators.clock import SimClock, utc_now
from simulators.errors import (
    CallErrorResponse,
    CallTimeout,
    ConnectionLost,
    HandshakeFailed,
    SimulatorError,
    StationOffline,
)
from simulators.tls import TlsClient, explain_tls_failure
from simulators.txqueue import PayloadResolver, QueuedMessage, TransactionQueue

__all__ = [
    "DEFAULT_RECONNECT_DELAYS",
    "AfterReply",
    "Handler",
    "MessageRecord",
    "Payload",
    "Reply",
    "Station",
]

#: Seconds between reconnection attempts (real time), the last one repeating.
DEFAULT_RECONNECT_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
#: Simulated seconds before retrying a boot the CSMS answered with interval 0.
DEFAULT_BOOT_RETRY_S = 60.0

_CONNECT_EXTRA: dict[str, Any] = (
    {"proxy": None} if "proxy" in inspect.signature(connect.__init__).parameters else {}
)

AfterReply = Callable[[], Coroutine[Any, Any, None]]

#: A payload as the station sends it: a TypedDict of :mod:`protocol.messages` (a plain
#: dict at run time) or any other dict.
Payload = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer; ``then`` runs after the CALLRESULT has been sent (e.g. the
    transaction that a RemoteStartTransaction asked for)."""

    payload: Payload
    then: AfterReply | None = None


#: Answers one action of the CSMS. It gets the CALL payload, which the session has
#: checked against the action's request schema: handlers annotate it with the action's
#: request TypedDict (``v16.ResetRequest``).
Handler = Callable[[Any], Awaitable[Reply]]


def _as_sent(payload: Payload) -> dict[str, Any]:
    """``payload`` as :mod:`protocol` takes it (a TypedDict is that dict: no copy)."""
    return cast(dict[str, Any], payload)


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One message in :attr:`Station.history`."""

    direction: Literal["sent", "received"]
    kind: Literal["call", "result", "error"]
    action: str
    unique_id: str
    payload: dict[str, Any]
    at: datetime = field(default_factory=utc_now)


class Station:
    """A simulated charging station's connection to a CSMS, for one OCPP version.

    Use as ``async with Subclass(url=..., identity=...) as station:`` (connects on entry,
    closes on exit) or call :meth:`connect` and :meth:`close`.

    Args:
        url: endpoint prefix; the station connects to ``{url}/{identity}``.
        identity: the charge point identity (percent-encoded in the URL).
        password: HTTP Basic auth password (security profiles 1 and 2), user = identity.
        tls: how ``wss://`` connections are made (trusted CA, client certificate, session
            resumption); None with a ``wss://`` URL: the system's trust store, no client
            certificate.
        security_profile: 1 (Basic auth, ws or wss), 2 (wss and Basic auth) or 3 (wss and
            a client certificate, no password): 1.6 security whitepaper, 2.0.1 part 2 A00.
        speed: time compression of heartbeat, meter and retry intervals.
        call_timeout: seconds to wait for the CSMS's answer to a CALL.
        reconnect_delays: real seconds between reconnection attempts (last one repeats).
        transaction_message_attempts: tries per transaction message that the CSMS answers
            with a CALLERROR (or not at all) before it is dropped (1.6
            TransactionMessageAttempts).
        transaction_retry_interval: simulated seconds times the attempt number between
            those tries (1.6 TransactionMessageRetryInterval).
        validate: check outgoing and incoming payloads against the OCPP schemas.
        accept_password_change: take a new Basic auth password the CSMS sets (1.6
            AuthorizationKey, 2.0.1 BasicAuthPassword) and reconnect with it; False
            answers Rejected, as firmware that does not allow it remotely does.
    """

    version: ClassVar[OCPPVersion]

    def __init__(
        self,
        *,
        url: str,
        identity: str,
        password: str | None = None,
        speed: float = 1.0,
        call_timeout: float = 30.0,
        reconnect_delays: Sequence[float] = DEFAULT_RECONNECT_DELAYS,
        transaction_message_attempts: int = 3,
        transaction_retry_interval: float = 60.0,
        validate: bool = True,
        open_timeout: float = 10.0,
        history_size: int = 10_000,
        logger: logging.Logger | None = None,
        accept_password_change: bool = True,
        tls: TlsClient | None = None,
        security_profile: int = 1,
    ) -> None:
        if not reconnect_delays:
            raise ValueError("reconnect_delays must not be empty")
        if security_profile not in (1, 2, 3):
            raise ValueError(f"security profile must be 1, 2 or 3, not {security_profile}")
        self.url = url.rstrip("/")
        self.identity = identity
        self.password = password
        self.tls = tls
        #: The security profile the next connection uses (the CSMS may raise it).
        self.security_profile = security_profile
        self.accept_password_change = accept_password_change
        self.clock = SimClock(speed)
        self.call_timeout = call_timeout
        self.reconnect_delays = tuple(reconnect_delays)
        self.transaction_message_attempts = max(1, transaction_message_attempts)
        self.transaction_retry_interval = transaction_retry_interval
        self.validate = validate
        self.open_timeout = open_timeout
        self.log = logger or logging.getLogger(f"simulators.{identity}")
        #: Every message sent and received, oldest first (bounded).
        self.history: deque[MessageRecord] = deque(maxlen=history_size)
        #: Registration status from the last BootNotification answer (None: not booted).
        self.registration_status: str | None = None
        #: Seconds (simulated) between heartbeats, from the CSMS's boot answer.
        self.heartbeat_interval: float = 0.0
        #: Completed connections so far (1 after the first connect).
        self.connections = 0
        #: Why the last reconnection attempt failed (None: it did not).
        self.last_connect_error: HandshakeFailed | None = None
        #: Told ``connected``, ``booted`` (BootNotification Accepted) and ``disconnected``
        #: as they happen (``csms-sim serve`` prints them for the person watching).
        self.on_link_event: Callable[[str], None] | None = None

        self._handlers: dict[str, Handler] = {}
        self._ws: ClientConnection | None = None
        self._session: OCPPSession | None = None
        self._reader: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._queue_worker: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._restore_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._call_lock = asyncio.Lock()
        self._pending: tuple[str, asyncio.Future[Any]] | None = None
        self._queue = TransactionQueue()
        self._connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._ready = asyncio.Event()
        self._want_online = asyncio.Event()
        self._want_online.set()
        self._wake_reconnect = asyncio.Event()
        self._registration_changed = asyncio.Event()
        self._heartbeat_changed = asyncio.Event()
        self._connect_failed = asyncio.Event()
        self._rebooting = False
        self._closed = False

    # -- to implement per version ---------------------------------------------------------

    def boot_request(self) -> Payload:
        """The BootNotification payload."""
        raise NotImplementedError

    async def heartbeat(self) -> dict[str, Any]:
        """Send one Heartbeat."""
        response: dict[str, Any] = await self.call("Heartbeat", {})
        return response

    async def on_boot_accepted(self) -> None:
        """After a BootNotification is Accepted (e.g. report connector statuses)."""

    async def on_reconnected(self) -> None:
        """After the connection came back without a reboot (e.g. report changed statuses)."""

    def on_heartbeat_interval(self, interval: float) -> None:
        """The CSMS set a new heartbeat interval (mirror it in the configuration)."""

    async def before_reboot(self, reason: str) -> None:
        """Stop what must stop before a reset (transactions)."""

    def on_security_profile(self, profile: int) -> None:
        """The security profile changed (mirror it in the configuration)."""

    def new_tls_client(self) -> TlsClient:
        """The TLS settings of a first wss:// connection made without any given."""
        return TlsClient()

    # -- handlers -------------------------------------------------------------------------

    def on(self, action: str, handler: Handler) -> None:
        """Answer the CSMS's ``action`` CALLs with ``handler`` (replaces any previous one)."""
        self._handlers[action] = handler

    # -- state ----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"{self.url}/{quote(self.identity, safe='')}"

    @property
    def online(self) -> bool:
        """Connected right now."""
        return self._connected.is_set()

    @property
    def ready(self) -> bool:
        """Connected and accepted by the CSMS: messages flow."""
        return self._ready.is_set()

    @property
    def accepted(self) -> bool:
        return self.registration_status == "Accepted"

    @property
    def queued_messages(self) -> list[tuple[str, Payload]]:
        """Transaction messages waiting to be sent, oldest first (as stored)."""
        return self._queue.pending()

    def sent(self, action: str | None = None) -> list[MessageRecord]:
        """CALLs this station sent (optionally of one action), oldest first."""
        return [
            record
            for record in self.history
            if record.direction == "sent"
            and record.kind == "call"
            and (action is None or record.action == action)
        ]

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the first connection (raises :class:`HandshakeFailed`), then keep it up."""
        if self._supervisor is not None:
            raise RuntimeError("already connected")
        self._closed = False
        await self._open()
        self._supervisor = asyncio.create_task(self._supervise(), name=f"{self.identity}-conn")
        self._queue_worker = asyncio.create_task(self._drain_queue(), name=f"{self.identity}-queue")

    async def close(self) -> None:
        """Stop everything and close the connection (queued messages are kept in memory)."""
        self._closed = True
        tasks = [
            self._supervisor,
            self._queue_worker,
            self._heartbeat_task,
            self._restore_task,
            *self._background,
        ]
        for task in tasks:
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)
        self._supervisor = self._queue_worker = self._heartbeat_task = None
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._reader
        self._mark_disconnected()

    async def go_offline(self) -> None:
        """Drop the connection as a network failure would, and stay offline.

        Transaction messages are queued meanwhile; :meth:`go_online` reconnects.
        """
        self._want_online.clear()
        ws = self._ws
        if ws is not None and ws.transport is not None:
            ws.transport.abort()
        await self._disconnected.wait()

    async def go_online(self, *, wait: bool = True, timeout: float | None = None) -> None:
        """Reconnect now; with ``wait``, return once messages flow again."""
        self._want_online.set()
        self._wake_reconnect.set()
        if wait:
            await self.wait_ready(timeout=timeout)

    async def wait_ready(self, *, timeout: float | None = None) -> None:
        """Wait until connected and accepted."""
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    async def wait_queue_empty(self, *, timeout: float | None = None) -> bool:
        """Wait until every queued transaction message is delivered; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._queue.wait_empty()
        except TimeoutError:
            return False
        return True

    # -- calls ----------------------------------------------------------------------------

    async def call(self, action: str, payload: Payload, *, timeout: float | None = None) -> Any:
        """Send a CALL now and return the CSMS's CALLRESULT payload, which the session has
        checked against the action's response schema (annotate it with the action's
        response TypedDict: ``answer: v16.AuthorizeResponse = await station.call(...)``).

        Raises :class:`StationOffline` when not connected, :class:`CallErrorResponse`,
        :class:`CallTimeout` or :class:`ConnectionLost`. Calls wait their turn: OCPP-J
        allows one outstanding CALL per direction.
        """
        limit = self.call_timeout if timeout is None else timeout
        async with self._call_lock:
            ws, session = self._ws, self._session
            if ws is None or session is None or not self._connected.is_set():
                raise StationOffline(f"{self.identity} is offline: {action} not sent")
            loop = asyncio.get_running_loop()
            call, text = session.call(action, _as_sent(payload), now=loop.time())
            future: asyncio.Future[Any] = loop.create_future()
            self._pending = (call.unique_id, future)
            self._record("sent", "call", action, call.unique_id, payload)
            try:
                try:
                    await ws.send(text)
                except ConnectionClosed:
                    raise ConnectionLost(f"connection lost while sending {action}") from None
                try:
                    async with asyncio.timeout(limit):
                        return await future
                except TimeoutError:
                    session.expire(now=math.inf)
                    raise CallTimeout(action, limit) from None
            finally:
                self._pending = None

    def enqueue(
        self,
        action: str,
        payload: Payload,
        *,
        resolve: PayloadResolver | None = None,
        on_result: Callable[[Any], None] | None = None,
    ) -> QueuedMessage:
        """Queue a transaction message; it is sent in order whenever the station is ready."""
        message = QueuedMessage(action, payload, resolve=resolve, on_result=on_result)
        message.future.add_done_callback(_retrieve_exception)
        return self._queue.put(message)

    async def await_delivery(self, message: QueuedMessage) -> Any:
        """The CSMS's answer to a queued message, or None if the station is (or goes)
        offline first (the message then stays queued). Raises what made it fail."""
        if not self.ready:
            return None
        offline: asyncio.Future[Any] = asyncio.ensure_future(self._disconnected.wait())
        delivered: asyncio.Future[Any] = message.future
        try:
            await asyncio.wait({delivered, offline}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            offline.cancel()
        if message.future.done():
            return message.future.result()
        return None

    # -- boot and heartbeat ---------------------------------------------------------------

    async def send_boot_notification(self) -> dict[str, Any]:
        """One BootNotification; records the registration status and interval."""
        response: dict[str, Any] = await self.call("BootNotification", self.boot_request())
        status = str(response.get("status"))
        interval = float(response.get("interval", 0))
        self.registration_status = status
        self._registration_changed.set()
        if status == "Accepted":
            if interval > 0:
                self.set_heartbeat_interval(interval)
            if self._session is not None and self._connected.is_set():
                self._ready.set()
            self._tell("booted")
            self._ensure_heartbeat()
            await self.on_boot_accepted()
        else:
            self._ready.clear()
        return response

    async def boot(self, *, retry: bool = True) -> dict[str, Any]:
        """BootNotification; while the CSMS answers Pending or Rejected, retry after the
        ``interval`` it gave (compressed by ``speed``), staying connected and answering its
        calls meanwhile, as firmware does (1.6 §4.2, 2.0.1 B02/B03)."""
        while True:
            response = await self.send_boot_notification()
            if response.get("status") == "Accepted" or not retry:
                return response
            interval = float(response.get("interval", 0)) or DEFAULT_BOOT_RETRY_S
            self.log.warning(
                "%s: BootNotification %s; retrying in %g simulated s",
                self.identity,
                response["status"],
                interval,
            )
            self._registration_changed.clear()
            # A BootNotification triggered by the CSMS may be accepted meanwhile.
            await _wait_event(self._registration_changed, self.clock.real_seconds(interval))
            if self.accepted:
                return response | {"status": "Accepted"}

    def set_heartbeat_interval(self, interval: float) -> None:
        self.heartbeat_interval = interval
        self._heartbeat_changed.set()
        self.on_heartbeat_interval(interval)

    def _ensure_heartbeat(self) -> None:
        if self._heartbeat_task is None or self._heartbeat_task.done():
            self._heartbeat_task = asyncio.create_task(
                self._heartbeats(), name=f"{self.identity}-heartbeat"
            )

    async def _heartbeats(self) -> None:
        while True:
            self._heartbeat_changed.clear()
            interval = self.heartbeat_interval
            if interval <= 0:
                await self._heartbeat_changed.wait()
                continue
            if await _wait_event(self._heartbeat_changed, self.clock.real_seconds(interval)):
                continue  # new interval: start over
            if self._ready.is_set():
                try:
                    await self.heartbeat()
                except SimulatorError as exc:
                    self.log.info("heartbeat failed: %s", exc)

    # -- reboot ---------------------------------------------------------------------------

    async def reboot(self, reason: str = "SoftReset", *, flush_timeout: float = 10.0) -> None:
        """Reset: stop transactions, deliver what is queued, reconnect and boot again."""
        if self._rebooting:
            return
        self._rebooting = True
        try:
            await self.before_reboot(reason)
            await self.wait_queue_empty(timeout=flush_timeout)
            self.registration_status = None
            self._ready.clear()
            ws = self._ws
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.close()
            self._wake_reconnect.set()
            # The supervisor reconnects and, as the registration is gone, boots again.
            await self.wait_ready(timeout=None)
        finally:
            self._rebooting = False

    def password_changed(self, password: str) -> AfterReply:
        """What follows a new password the CSMS set: after the answer, drop the connection
        and reconnect at once with it (2.0.1 A01; 1.6 security whitepaper)."""

        async def reconnect() -> None:
            self.password = password
            self.log.info("new password set by the CSMS: reconnecting with it")
            self._wake_reconnect.set()
            ws = self._ws
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.close()

        return reconnect

    async def reconnect_with(
        self,
        *,
        url: str | None = None,
        security_profile: int | None = None,
        timeout: float | None = None,
    ) -> None:
        """Drop the connection and connect again at once, to ``url`` and/or with
        ``security_profile`` (a new certificate, a raised profile, a new network profile);
        returns once messages flow. Raises :class:`HandshakeFailed` with the reason when
        the new connection is refused until ``timeout`` (default: the call timeout)."""
        if security_profile is not None and security_profile not in (1, 2, 3):
            raise ValueError(f"security profile must be 1, 2 or 3, not {security_profile}")
        if url is not None:
            self.url = url.rstrip("/")
        if security_profile is not None:
            self.security_profile = security_profile
            self.on_security_profile(security_profile)
        if self.tls is not None:
            self.tls.forget_session()
        self.last_connect_error = None
        self._connect_failed.clear()
        self._ready.clear()
        self._wake_reconnect.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        limit = self.call_timeout if timeout is None else timeout
        ready = asyncio.ensure_future(self._ready.wait())
        failed = asyncio.ensure_future(self._connect_failed.wait())
        try:
            await asyncio.wait({ready, failed}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            failed.cancel()
        if self._ready.is_set():
            return
        error = self.last_connect_error
        if error is not None:  # refused: the supervisor keeps retrying meanwhile
            raise HandshakeFailed(str(error), status=error.status)
        raise HandshakeFailed(f"{self.endpoint}: not connected and accepted within {limit:g} s")

    # -- internals: connection ------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        # Profile 3: the client certificate is the credential, no Basic auth (2.0.1 part 2 A00).
        if self.password is None or self.security_profile == 3:
            return {}
        token = base64.b64encode(f"{self.identity}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _tls_options(self) -> dict[str, Any]:
        """``ssl=`` for a wss:// endpoint; profiles 2 and 3 refuse a plain ws:// one (the
        charger never downgrades, 1.6 security whitepaper, 2.0.1 A00)."""
        if not self.endpoint.startswith("wss://"):
            if self.security_profile >= 2:
                raise HandshakeFailed(
                    f"{self.endpoint}: security profile {self.security_profile} needs a "
                    "wss:// URL (TLS); use --url wss://..."
                )
            return {}
        if self.tls is None:
            self.tls = self.new_tls_client()
        if self.security_profile == 3 and not self.tls.has_client_certificate:
            raise HandshakeFailed(
                f"{self.endpoint}: security profile 3 needs a client certificate "
                "(--cert FILE --key FILE, or let --profile 3 get one signed)"
            )
        return {"ssl": self.tls.context()}

    def _refusal_hint(self, status: int) -> str:
        if status in (401, 403) and self.security_profile == 3:
            return (
                " (client certificate not accepted for this identity, or the CSMS still "
                "requires profile 2 of this charger?)"
            )
        if status == 401 and self.endpoint.startswith("wss://"):
            return " (wrong or missing password, or does the CSMS require profile 3?)"
        return {
            401: " (wrong or missing password, or does the CSMS require wss://?)",
            404: " (unknown charger identity?)",
        }.get(status, "")

    async def _open(self) -> None:
        subprotocol = Subprotocol(self.version.value)
        tls_options = self._tls_options()
        try:
            ws = await connect(
                self.endpoint,
                subprotocols=[subprotocol],
                additional_headers=self._auth_headers() or None,
                open_timeout=self.open_timeout,
                user_agent_header=f"csms-sim/{self.version.value}",
                **tls_options,
                **_CONNECT_EXTRA,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise HandshakeFailed(
                f"{self.endpoint}: the server refused the connection with HTTP {status}"
                f"{self._refusal_hint(status)}",
                status=status,
            ) from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            if self.tls is not None:
                self.tls.forget_session()
            raise HandshakeFailed(self._connect_failure(exc, tls=bool(tls_options))) from None
        if self.tls is not None and tls_options:
            self.tls.remember(ws.transport)
        if ws.subprotocol != subprotocol:
            await ws.close()
            raise HandshakeFailed(
                f"{self.endpoint}: the server did not agree to subprotocol {subprotocol}"
            )
        session = OCPPSession(
            version=self.version,
            role="charge_point",
            validate=self.validate,
            call_timeout=self.call_timeout,
            boot_required=False,
        )
        self._ws, self._session = ws, session
        self.connections += 1
        self._disconnected.clear()
        self._connected.set()
        if self.accepted:
            self._ready.set()
        self._reader = asyncio.create_task(self._read(ws, session), name=f"{self.identity}-rx")
        self._tell("connected")

    def _connect_failure(self, exc: BaseException, *, tls: bool) -> str:
        """Why a connect failed, in words that say what to do."""
        presented = tls and self.tls is not None and self.tls.has_client_certificate
        if tls:
            explained = explain_tls_failure(
                exc, endpoint=self.endpoint, client_certificate=presented
            )
            if explained is not None:
                return explained
            if isinstance(exc, InvalidHandshake):
                # TLS 1.3: the server checks the client certificate after the handshake
                # and may just close the connection instead of answering the upgrade.
                question = (
                    "did it refuse the client certificate?"
                    if presented
                    else "does it want a client certificate (--cert FILE --key FILE)?"
                )
                return (
                    f"{self.endpoint}: the server closed the connection during the "
                    f"handshake ({exc}); {question}"
                )
        return f"{self.endpoint}: cannot connect: {exc}"

    def _tell(self, event: str) -> None:
        if self.on_link_event is not None:
            self.on_link_event(event)

    def _mark_disconnected(self) -> None:
        self._connected.clear()
        self._ready.clear()
        self._ws = None
        self._session = None
        pending = self._pending
        if pending is not None and not pending[1].done():
            pending[1].set_exception(ConnectionLost("connection lost while waiting for an answer"))
        self._disconnected.set()

    async def _supervise(self) -> None:
        """Notice lost connections and reconnect with backoff."""
        while True:
            reader = self._reader
            if reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(reader)
            if self._restore_task is not None:
                self._restore_task.cancel()
            self._mark_disconnected()
            if self._closed:
                return
            self.log.info("connection to %s lost", self.endpoint)
            self._tell("disconnected")
            delays = self._delays()
            if self._rebooting:
                self._wake_reconnect.set()  # a reboot reconnects at once
            while True:
                await self._want_online.wait()
                if not self._wake_reconnect.is_set():
                    await _wait_event(self._wake_reconnect, next(delays))
                self._wake_reconnect.clear()
                if not self._want_online.is_set():
                    continue
                try:
                    await self._open()
                except HandshakeFailed as exc:
                    self.log.info("reconnect failed: %s", exc)
                    self.last_connect_error = exc
                    self._connect_failed.set()
                    continue
                self.last_connect_error = None
                if self._want_online.is_set():
                    break
                await self._drop_connection()  # go_offline() came while connecting
            self.log.info("reconnected to %s", self.endpoint)
            self._restore_task = asyncio.create_task(self._restore(), name=f"{self.identity}-up")

    async def _drop_connection(self) -> None:
        ws, reader = self._ws, self._reader
        if ws is not None and ws.transport is not None:
            ws.transport.abort()
        if reader is not None:
            with contextlib.suppress(Exception):
                await reader
        self._mark_disconnected()

    def _delays(self) -> Iterator[float]:
        yield from self.reconnect_delays
        while True:
            yield self.reconnect_delays[-1]

    async def _restore(self) -> None:
        try:
            if not self.accepted:
                await self.boot()
            else:
                await self.on_reconnected()
        except SimulatorError as exc:
            self.log.info("after reconnecting: %s", exc)

    async def _read(self, ws: ClientConnection, session: OCPPSession) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for message in ws:
                for event in session.receive(message, now=loop.time()):
                    await self._on_event(ws, session, event)
        except ConnectionClosed:
            pass

    async def _on_event(self, ws: ClientConnection, session: OCPPSession, event: Any) -> None:
        if isinstance(event, CallReceived):
            call = event.call
            self._record("received", "call", call.action, call.unique_id, call.payload)
            self._spawn(self._dispatch(ws, session, call))
        elif isinstance(event, CallResultReceived):
            self._record(
                "received", "result", event.call.action, event.call.unique_id, event.result.payload
            )
            self._resolve(event.call.unique_id, result=event.result.payload)
        elif isinstance(event, CallErrorReceived):
            error = event.error
            self._record(
                "received",
                "error",
                event.call.action,
                event.call.unique_id,
                {"errorCode": error.error_code, "errorDescription": error.error_description},
            )
            self._resolve(event.call.unique_id, error=CallErrorResponse(event.call.action, error))
        elif isinstance(event, SendFrame):
            self.log.info("answered a bad message from the CSMS: %s", event.error)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(event.data)
        elif isinstance(event, UnmatchedMessage | MessageIgnored):
            self.log.info("ignored a message from the CSMS: %s", event)

    def _resolve(
        self,
        unique_id: str,
        *,
        result: dict[str, Any] | None = None,
        error: Exception | None = None,
    ) -> None:
        pending = self._pending
        if pending is None or pending[0] != unique_id or pending[1].done():
            return
        if error is not None:
            pending[1].set_exception(error)
        else:
            pending[1].set_result(result or {})

    async def _dispatch(self, ws: ClientConnection, session: OCPPSession, call: Call) -> None:
        handler = self._handlers.get(call.action)
        then: AfterReply | None = None
        try:
            if handler is None:
                raise OCPPError(
                    ErrorCode.NOT_SUPPORTED, f"{call.action} is not supported by this station"
                )
            reply = await handler(call.payload)
            text = session.reply(call, _as_sent(reply.payload))
            then = reply.then
            self._record("sent", "result", call.action, call.unique_id, reply.payload)
        except OCPPError as exc:
            text = session.reply_error(call, exc)
            self._record("sent", "error", call.action, call.unique_id, {"errorCode": exc.code})
        except Exception as exc:  # a bug here must not kill the connection
            self.log.exception("handler for %s failed", call.action)
            text = session.reply_error(call, OCPPError(ErrorCode.INTERNAL_ERROR, str(exc)[:200]))
        try:
            await ws.send(text)
        except ConnectionClosed:
            return
        if then is not None:
            self._spawn(then())

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if isinstance(exc, SimulatorError):
                self.log.info("background action failed: %s", exc)
            else:
                self.log.error("background action failed", exc_info=exc)

    async def wait_idle(self, *, timeout: float | None = None) -> None:
        """Wait for the actions started by the CSMS's calls (remote starts, resets) to end."""
        async with asyncio.timeout(timeout):
            while self._background:
                await asyncio.gather(*list(self._background), return_exceptions=True)

    def _record(
        self,
        direction: Literal["sent", "received"],
        kind: Literal["call", "result", "error"],
        action: str,
        unique_id: str,
        payload: Payload,
    ) -> None:
        self.history.append(MessageRecord(direction, kind, action, unique_id, _as_sent(payload)))

    # -- internals: the transaction queue -------------------------------------------------

    async def _drain_queue(self) -> None:
        """Send queued transaction messages one at a time, in order, whenever ready."""
        queue = self._queue
        while True:
            await queue.wait_nonempty()
            await self._ready.wait()
            message = queue.head()
            assert message is not None
            try:
                payload = message.payload_to_send()
            except Exception as exc:
                queue.pop(message)
                message.future.set_exception(exc)
                continue
            if payload is None:
                self.log.info("dropped queued %s: its transaction has no id", message.action)
                queue.pop(message)
                message.future.set_result(None)
                continue
            try:
                result = await self.call(message.action, payload)
            except (StationOffline, ConnectionLost):
                await self._disconnected.wait()  # stays at the head; resent after reconnect
                continue
            except (CallErrorResponse, CallTimeout) as exc:
                message.attempts += 1
                if message.attempts >= self.transaction_message_attempts:
                    self.log.warning("giving up %s after %d attempts: %s", message.action,
                                     message.attempts, exc)  # fmt: skip
                    queue.pop(message)
                    message.future.set_exception(exc)
                else:
                    await self.clock.sleep(self.transaction_retry_interval * message.attempts)
                continue
            except OCPPError as exc:  # our own payload broke the schema: a bug, do not loop
                self.log.error("cannot send queued %s: %s", message.action, exc)
                queue.pop(message)
                message.future.set_exception(exc)
                continue
            queue.pop(message)
            if message.on_result is not None:
                try:
                    message.on_result(result)
                except Exception:
                    self.log.exception("processing the answer to %s failed", message.action)
            message.future.set_result(result)


async def _wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; True if it was set.

    (``asyncio.timeout`` rather than ``asyncio.wait_for``: on Python 3.11 the latter can
    swallow a cancellation that arrives as the event is set.)
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


def _retrieve_exception(future: asyncio.Future[Any]) -> None:
    # Nobody may be waiting for a queued message's outcome: do not warn about it.
    if not future.cancelled():
        future.exception()
