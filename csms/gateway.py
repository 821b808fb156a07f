"""The OCPP-J WebSocket gateway: accept chargers, check who they are, move frames.

No business rules live here. The gateway

- takes the charger identity from the last path segment (percent-decoded, ≤ 48 characters,
  no ``:``), negotiates the subprotocol and refuses clients that offer none we speak;
- checks HTTP Basic credentials (security profile 1: username = identity, password checked
  against its salted hash) and answers 401 when they are wrong or missing, 404 for an
  unknown identity unless ``CSMS_UNKNOWN_CHARGERS`` says otherwise;
- enforces the charger's security profile (:mod:`csms.domain.security.profiles`): ws or
  wss for profile 1, wss for profile 2 (a profile 2 charger on ws is refused 401 before
  its password is looked at: the downgrade guard), wss with a client certificate whose
  subject CN is the identity for profile 3 (no password); a refusal is a security event.
  The wss listener (``CSMS_OCPP_TLS_PORT``, :mod:`csms.tls`) runs beside the ws one when
  a TLS context is given; the TLS handshake itself refuses untrusted, expired and not yet
  valid client certificates and TLS below 1.2;
- runs one ``protocol.OCPPSession`` per connection and hands each CALL to the version's
  adapter, sending the answer only after the adapter returns (so after its commit);
- keeps the connection registry that operator commands are routed through.

The WebSocket layer is :mod:`csms.transport` (websockets' sans-I/O protocol under an
asyncio protocol): it hands each message to :meth:`ChargerConnection.message_received`
synchronously, and answers are written without awaiting anything.

A second connection for an identity that is already connected **replaces** the old one:
the charger has most likely lost the old TCP connection without the server noticing
(NAT timeout, power cycle), so the newest connection is the one that works. Both events
are logged, and the old socket is closed with code 1000 ("replaced by a new connection").

A binary WebSocket message is refused: OCPP-J messages are JSON text (OCPP-J 1.6, 2.0.1
part 4), so the connection is closed with 1003 (unsupported data, RFC 6455 §7.4.1) in its
turn, after the answers to the CALLs read before it.

**Stopping** (:meth:`Gateway.stop`, on SIGTERM/SIGINT) loses no answer: the listener
closes and no connection reads another frame, every CALL already read is handled and
answered (within ``CSMS_SHUTDOWN_GRACE``), and only then are the connections closed with
1001 (going away). A charger resends what was not read; what was committed is answered.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.datastructures import Headers
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from csms.config import Settings
from csms.domain.charging.stations import (
    complete_password_rotation,
    confirm_password,
    register_unknown_charger,
    validate_identity,
)
from csms.domain.model import RegistrationStatus
from csms.domain.security.csr import CsrSigner
from csms.domain.security.profiles import (
    CONNECTION_REFUSED_EVENT,
    profile_refusal,
    raise_security_profile,
)
from csms.domain.units_of_work import UnitsOfWork
from csms.ratelimit import GuessThrottle, RateLimiter, growing_delay
from csms.routing import (
    ChargerNotConnected,
    CommandError,
    CommandResult,
    CommandTimeout,
)
from csms.security import verify_password
from csms.tls import certificate_identity
from csms.transport import ConnectionNotOpen, WebSocketConnection, WebSocketServer
from protocol import (
    Call,
    CallErrorReceived,
    CallInProgress,
    CallReceived,
    CallResultReceived,
    ErrorCode,
    Event,
    MessageIgnored,
    OCPPError,
    OCPPSession,
    OCPPVersion,
    SendFrame,
    UnmatchedMessage,
)
from storage.database import Database
from storage.errors import DatabaseUnavailable, StorageError
from storage.records import ChargerRecord

__all__ = ["CallContext", "ChargerCall", "ChargerConnection", "FollowUp", "Gateway", "Handler"]

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a handler gets besides the payload: the few things it needs of its charger's
    connection, built once per connection by the gateway (nothing per message)."""

    #: The charger's identity (the last segment of its connection's path).
    charger_id: str
    #: Runs the handler's units of work; ``write`` returns after the commit (the
    #: process's Database; a handler sees only its ``read`` and ``write``).
    db: UnitsOfWork
    #: Seconds between heartbeats asked of an Accepted charger (CSMS_HEARTBEAT_INTERVAL).
    heartbeat_interval: int
    #: Opens (True) or closes the session's boot gate: until it is open, the charger may
    #: send nothing but BootNotification (1.6 §4.2, 2.0.1 B02/B03).
    set_accepted: Callable[[bool], None]
    #: The current time, timezone-aware UTC: a handler reads it once per message.
    clock: Callable[[], datetime] = _utcnow
    #: Signs the charger's CSRs (SignCertificate): csms's CA, CSMS_CERT_ORG and
    #: CSMS_CERT_DAYS. None: this connection signs nothing.
    signer: CsrSigner | None = None
    #: Runs a job once the answer to the CALL being handled has been written, as a task of
    #: its own that gets a way to CALL the charger on this connection (CertificateSigned
    #: after the SignCertificate answer, 2.0.1 A02/A03). Jobs queued by a handler that
    #: ends in a CALLERROR are dropped. None: no connection to run them on.
    after_answer: Callable[[FollowUp], None] | None = None


#: Sends a CALL to the charger of a connection and returns its answer's payload; raises
#: what :meth:`ChargerConnection.call` raises (CommandTimeout, ChargerNotConnected, ...).
ChargerCall = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
#: A job a handler leaves for after its answer (``CallContext.after_answer``).
FollowUp = Callable[[ChargerCall], Coroutine[Any, Any, None]]


#: An inbound handler: the connection's context and the action's request, already checked
#: against its schema (typed in :mod:`protocol.messages`), to the action's response.
Handler = Callable[[CallContext, Any], Awaitable[Any]]


def _boot_gate(session: OCPPSession) -> Callable[[bool], None]:
    """``CallContext.set_accepted`` of a connection's session."""

    def set_accepted(accepted: bool) -> None:
        session.accepted = accepted

    return set_accepted


#: Messages a charger may queue behind a CALL being handled before reading pauses, and
#: the number at which reading resumes (like ``max_queue=4`` of websockets before).
BACKLOG_HIGH = 4
BACKLOG_LOW = 1


@dataclass(eq=False, slots=True)
class ChargerConnection:
    """One charger's open connection: its OCPP session, its worker, its command lock.

    The transport hands every message to :meth:`message_received` as it arrives. While no
    CALL is being handled, the message goes through the session at once; a CALL goes to
    the connection's worker task (created at the first CALL, it lives as long as the
    connection), which runs the adapter and sends the answer. Messages that arrive while
    the worker is busy wait in a backlog and are fed to the session only when their turn
    comes, exactly as if they had been read one after the other: CALLs are answered in the
    order they arrived, each only after its handler returned (so after its commit), and a
    BootNotification's outcome applies to the messages behind it. While the charger does
    not read (the transport's write buffer is full), the worker waits before the next
    answer and the transport stops reading; a backlog of ``BACKLOG_HIGH`` messages stops
    reading too.
    """

    charger_id: str
    version: OCPPVersion
    ws: WebSocketConnection
    session: OCPPSession
    connected_at: datetime
    remote_address: str | None
    gateway: Gateway
    handlers: Mapping[str, Handler]
    #: What every handler of this connection gets (:class:`CallContext`).
    context: CallContext
    #: The security profile the connection was admitted under (1, 2 or 3; a pending
    #: higher profile it satisfied becomes the charger's profile at the handshake).
    security_profile: int = 1
    _call_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _waiter: asyncio.Future[Any] | None = None
    _worker: asyncio.Task[None] | None = None
    _wake: asyncio.Future[None] | None = None
    _events: list[Event] | None = None
    _backlog: deque[str | bytes] | None = None
    _busy: bool = False
    _closed: bool = False
    _refused: bool = False
    #: Jobs the handler being run left for after its answer (CallContext.after_answer).
    _follow_ups: list[FollowUp] | None = None

    async def call(self, action: str, payload: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """Send a CALL and wait for its answer; one outstanding CALL at a time (OCPP-J §4.1.1)."""
        async with self._call_lock:
            loop = asyncio.get_running_loop()
            try:
                call, text = self.session.call(action, payload, now=loop.time())
            except OCPPError as exc:
                raise CommandError(
                    f"{action} refused before sending: {exc.description}",
                    error_code=exc.code.value,
                ) from None
            except CallInProgress:  # pragma: no cover - the lock prevents it
                raise CommandError("another command is in progress") from None
            self._waiter = loop.create_future()
            try:
                self.ws.send_text(text)
                await self.ws.drain()
                return await asyncio.wait_for(self._waiter, timeout)
            except TimeoutError:
                self.session.expire(now=loop.time() + timeout + 1e9)
                raise CommandTimeout(
                    f"{self.charger_id} did not answer {action} within {timeout:g} s"
                ) from None
            except ConnectionNotOpen:
                raise ChargerNotConnected(
                    f"{self.charger_id} disconnected before answering {action}"
                ) from None
            finally:
                self._waiter = None
                del call

    def _resolve(self, payload: dict[str, Any] | None, error: CommandError | None) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(payload)

    # -- messages from the transport (MessageHandler) -------------------------------------

    def message_received(self, message: str | bytes) -> None:
        if self._refused:
            return
        if self._busy:
            backlog = self._backlog
            if backlog is None:
                backlog = self._backlog = deque()
            backlog.append(message)
            if len(backlog) >= BACKLOG_HIGH:
                self.ws.pause_reading()
            return
        if type(message) is not str:
            self._refuse_binary()
            return
        events = self.session.receive(message, now=self.gateway._loop_time())
        for index, event in enumerate(events):
            if isinstance(event, CallReceived):
                self._hand_over(events if index == 0 else events[index:])
                return
            self._on_event(event)

    def connection_lost(self) -> None:
        self._closed = True
        wake = self._wake
        if wake is not None:  # the worker is idle: let it end
            self._wake = None
            wake.set_result(None)
        connections = self.gateway.connections
        if connections.get(self.charger_id) is self:
            del connections[self.charger_id]
            self._resolve(None, ChargerNotConnected(f"{self.charger_id} disconnected"))
            log.info("charger %s disconnected (code %s)", self.charger_id, self.ws.close_code)
        else:
            log.info("replaced connection of charger %s closed", self.charger_id)

    # -- internals -----------------------------------------------------------------------

    def _hand_over(self, events: list[Event]) -> None:
        """Give ``events`` (starting with a CALL) to the connection's worker task."""
        self._busy = True
        self._events = events
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set_result(None)
        else:  # the first CALL: the worker lives as long as the connection
            worker = self._worker = asyncio.get_running_loop().create_task(self._work())
            self.gateway._workers.add(worker)

    async def _work(self) -> None:
        """Answer CALLs one at a time: the events handed over, then the backlog; then
        wait for the next hand-over. One task per connection, not one per message."""
        session = self.session
        loop = asyncio.get_running_loop()
        try:
            while True:
                events, self._events = self._events, None
                while events is not None:
                    for event in events:
                        if isinstance(event, CallReceived):
                            await self._answer(event.call)
                        else:
                            self._on_event(event)
                    backlog = self._backlog
                    if backlog and not self._refused:
                        message = backlog.popleft()
                        if len(backlog) <= BACKLOG_LOW:
                            self.ws.resume_reading()
                        if type(message) is str:
                            events = session.receive(message, now=loop.time())
                        else:
                            self._refuse_binary()
                            events = None
                    else:
                        events = None
                self._busy = False
                if self._closed or self.gateway._stopping:
                    return
                wake = self._wake = loop.create_future()
                await wake
                if self._events is None:  # woken by connection_lost
                    return
        finally:
            self._busy = False
            self._wake = None
            if self._worker is not None:
                self.gateway._workers.discard(self._worker)
                self._worker = None

    def _refuse_binary(self) -> None:
        """OCPP-J is text: close with 1003; nothing read after it is handled."""
        self._refused = True
        self._backlog = None
        log.warning(
            "charger %s sent a binary WebSocket message: closing (1003, OCPP-J is text)",
            self.charger_id,
        )
        self.ws.fail(CloseCode.UNSUPPORTED_DATA, "OCPP-J messages are text frames")

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SendFrame):
            self._send(event.data, None)
        elif isinstance(event, CallResultReceived):
            self._resolve(event.result.payload, None)
        elif isinstance(event, CallErrorReceived):
            error = event.error
            self._resolve(
                None,
                CommandError(
                    f"{self.charger_id} answered {event.call.action} with "
                    f"{error.error_code}: {error.error_description}",
                    error_code=error.error_code,
                ),
            )
        elif isinstance(event, UnmatchedMessage | MessageIgnored):
            log.info("charger %s sent an answer to no pending call", self.charger_id)

    async def _answer(self, call: Call) -> None:
        gateway = self.gateway
        session = self.session
        handler = self.handlers.get(call.action)
        if handler is None:
            error = OCPPError(
                ErrorCode.NOT_SUPPORTED, f"{call.action} is not supported by this central system"
            )
            self._send(session.reply_error(call, error), call)
            return
        if call.action == "Authorize" and not await gateway._authorize_allowed(self):
            self._send(session.reply(call, _AUTHORIZE_REFUSED[self.version]), call)
            return
        debug = log.isEnabledFor(logging.DEBUG)
        started = time.perf_counter() if debug else 0.0
        answered = False
        try:
            answer = await handler(self.context, call.payload)
            text = session.reply(call, answer)
            answered = True
        except OCPPError as exc:
            text = session.reply_error(call, exc)
        except StorageError as exc:
            log.error("%s from %s not stored: %s", call.action, self.charger_id, exc)
            text = session.reply_error(
                call, OCPPError(ErrorCode.INTERNAL_ERROR, "could not store the message; retry")
            )
        except Exception:
            log.exception("%s from %s failed", call.action, self.charger_id)
            text = session.reply_error(call, OCPPError(ErrorCode.INTERNAL_ERROR, "internal error"))
        if debug:
            log.debug(
                "%s %s answered in %.1f ms",
                self.charger_id,
                call.action,
                (time.perf_counter() - started) * 1000,
            )
        self._send(text, call)
        if self._follow_ups is not None:
            self._start_follow_ups(answered=answered)
        ws = self.ws
        if ws.writing_paused:
            await ws.drain()  # the charger does not read: hold the next answer back

    def _send(self, text: str, call: Call | None) -> None:
        try:
            self.ws.send_text(text)
        except ConnectionNotOpen:
            if call is not None:
                log.info("%s closed before the answer to %s", self.charger_id, call.action)

    # -- jobs after an answer (CallContext.after_answer) -----------------------------------

    def after_answer(self, job: FollowUp) -> None:
        """Run ``job`` once the answer to the CALL being handled is written."""
        if self._follow_ups is None:
            self._follow_ups = []
        self._follow_ups.append(job)

    def _start_follow_ups(self, *, answered: bool) -> None:
        """Start the jobs the handler left, now that its answer is in the transport's
        buffer: whatever they send is written after it (one transport, in order)."""
        jobs, self._follow_ups = self._follow_ups, None
        if not jobs:
            return
        if not answered:
            log.info(
                "%s: the answer was an error; %d job(s) after it dropped",
                self.charger_id,
                len(jobs),
            )
            return
        tasks = self.gateway._hook_tasks
        loop = asyncio.get_running_loop()
        for job in jobs:
            task = loop.create_task(self._follow_up(job))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _follow_up(self, job: FollowUp) -> None:
        try:
            await job(self._call_charger)
        except Exception:
            log.exception("a job after an answer to %s failed", self.charger_id)

    async def _call_charger(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.call(action, payload, timeout=self.gateway.settings.ocpp.call_timeout)


#: Seconds a charger refused while the database is unreachable is asked to wait (a short
#: outage is over by then; the pool reconnects by itself).
RETRY_AFTER_SECONDS = 10


def _retry_later(connection: WebSocketConnection) -> Response:
    """503 with Retry-After (RFC 9110 §10.2.3): not the charger's fault, and soon over."""
    response = connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "try again later\n")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


#: The answer to an Authorize beyond CSMS_RATE_LIMIT_AUTHORIZE: a refusal, never a
#: CALLERROR (the charger would retry it), given without asking the database.
_AUTHORIZE_REFUSED: dict[OCPPVersion, dict[str, Any]] = {
    OCPPVersion.V16: {"idTagInfo": {"status": "Invalid"}},
    OCPPVersion.V201: {"idTokenInfo": {"status": "Invalid"}},
}
#: security_events kinds of the throttles (details hold counts and addresses, no secret).
AUTH_THROTTLED_EVENT = "ChargerAuthThrottled"
AUTHORIZE_THROTTLED_EVENT = "AuthorizeThrottled"


def _offered_subprotocols(headers: Headers) -> list[str]:
    offered: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(p.strip() for p in value.split(",") if p.strip())
    return offered


def _basic_credentials(headers: Headers) -> tuple[str, str] | None:
    value = headers.get("Authorization")
    if not value:
        return None
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    return username, password


def identity_from_path(path: str) -> str:
    """The charger identity: the last path segment, percent-decoded."""
    return unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])


class Gateway:
    """WebSocket server for chargers; also the local ``CommandRouter``."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        handlers: Mapping[OCPPVersion, Mapping[str, Handler]],
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.handlers = handlers
        #: The wss listener's context (csms.tls.server_context); None: ws only.
        self.tls = tls
        self._tls_listener: asyncio.Server | None = None
        # (charger id, reason) -> loop time of the last ConnectionRefused event stored:
        # a charger retrying the wrong way every few seconds makes one event per while.
        self._refusals_recorded: dict[tuple[str, str], float] = {}
        self.subprotocols = [v.value for v in handlers]
        self.connections: dict[str, ChargerConnection] = {}
        self._server: WebSocketServer | None = None
        self._workers: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._loop_time: Callable[[], float] = time.monotonic
        # Successful Basic-auth checks, so a reconnect storm does not pay scrypt each time:
        # charger id -> (stored hash, sha256 of the presented password).
        self._verified: dict[str, tuple[str, bytes]] = {}
        #: Called with the charger id when a charger has connected (run as tasks).
        self.connect_hooks: list[Callable[[str], Coroutine[Any, Any, None]]] = []
        #: Signs chargers' CSRs with csms's CA ($CSMS_HOME/ca, read when a CSR comes in).
        self.signer: CsrSigner | None = CsrSigner(
            home=settings.home, organization=settings.tls.cert_org, days=settings.tls.cert_days
        )
        self._hook_tasks: set[asyncio.Task[None]] = set()
        # Throttling guesses (csms/ratelimit.py): charger passwords per source address
        # and per identity; Authorize requests per charger.
        self._password_guesses = GuessThrottle(settings.ocpp.rate_limit_charger_auth)
        rate = settings.ocpp.rate_limit_authorize
        self._authorize_rate = RateLimiter(rate) if rate is not None else None

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        server = WebSocketServer(
            process_request=self._process_request,
            on_open=self._open,
            subprotocols=self.subprotocols,
            max_size=self.settings.ocpp.max_frame_bytes,
            ping_interval=self.settings.ocpp.ping_interval,
            ping_timeout=self.settings.ocpp.ping_interval,
            open_timeout=self.settings.ocpp.handshake_timeout,
        )
        await server.listen(self.settings.ocpp.host, self.settings.ocpp.port)
        if self.tls is not None:
            try:
                self._tls_listener = await server.listen(
                    self.settings.ocpp.host, self.settings.tls.port, ssl=self.tls
                )
            except BaseException:
                await server.close()
                raise
        self._loop_time = asyncio.get_running_loop().time
        self._stopping = False
        self._server = server

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def tls_port(self) -> int | None:
        """The wss listener's port; None without TLS."""
        if self._tls_listener is None:
            return None
        return int(self._tls_listener.sockets[0].getsockname()[1])

    async def stop(self, *, grace: float | None = None) -> None:
        """Stop without dropping an answer: stop accepting connections and reading frames,
        answer every CALL already read (waiting at most ``grace`` seconds, default
        ``CSMS_SHUTDOWN_GRACE``), then close every connection with 1001 (going away)."""
        server = self._server
        if server is None:
            return
        grace = self.settings.ocpp.shutdown_grace if grace is None else grace
        self._stopping = True
        server.quiesce()
        # Busy workers end once they have answered what was read (see _work); idle ones
        # end when their connection closes.
        busy = [
            handler._worker
            for ws in server.connections
            if isinstance(handler := ws.handler, ChargerConnection)
            and handler._busy
            and handler._worker is not None
        ]
        if busy:
            log.info("stopping: answering %d charger(s) whose messages are in hand", len(busy))
            _, late = await asyncio.wait(busy, timeout=grace)
            if late:
                log.warning(
                    "stopping: %d charger(s) still waiting for an answer after %g s; "
                    "closing their connections anyway",
                    len(late),
                    grace,
                )
        for task in list(self._hook_tasks):
            task.cancel()
        await server.close()
        for worker in list(self._workers):
            worker.cancel()  # past the grace: what they still await is not answered
        while self._workers:
            await asyncio.wait(list(self._workers))
        self._server = None
        self._tls_listener = None

    # -- CommandRouter ----------------------------------------------------------------

    def is_connected(self, charger_id: str) -> bool:
        return charger_id in self.connections

    def ocpp_version(self, charger_id: str) -> str | None:
        conn = self.connections.get(charger_id)
        return conn.version.value if conn else None

    async def send(
        self, charger_id: str, action: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> CommandResult:
        conn = self.connections.get(charger_id)
        if conn is None:
            raise ChargerNotConnected(
                f"charger {charger_id} is not connected: check `csms chargers show {charger_id}`"
            )
        answer = await conn.call(
            action, payload, timeout=timeout or self.settings.ocpp.call_timeout
        )
        return CommandResult(charger_id=charger_id, action=action, payload=answer)

    def disconnect(self, charger_id: str, *, reason: str) -> bool:
        """Close a charger's connection (1008, ``reason``); False if it has none."""
        conn = self.connections.get(charger_id)
        if conn is None:
            return False
        log.info("closing the connection of charger %s: %s", charger_id, reason)
        conn.ws.close(1008, reason)
        return True

    # -- handshake ------------------------------------------------------------------

    async def _process_request(
        self, connection: WebSocketConnection, request: Request
    ) -> Response | None:
        identity = identity_from_path(request.path)
        problem = validate_identity(identity)
        if problem:
            return connection.respond(
                HTTPStatus.NOT_FOUND, f"invalid charger identity: {problem}\n"
            )
        offered = _offered_subprotocols(request.headers)
        if not any(p in self.subprotocols for p in offered):
            log.info("refused %s: no supported subprotocol offered (%s)", identity, offered)
            return connection.respond(
                HTTPStatus.BAD_REQUEST,
                f"no supported OCPP subprotocol offered; this server speaks "
                f"{', '.join(self.subprotocols)}\n",
            )
        try:
            charger = await self.db.read(lambda uow: uow.chargers.get(identity))
        except DatabaseUnavailable as exc:
            log.warning("refused %s for now: %s", identity, exc)
            return _retry_later(connection)
        except StorageError:
            log.exception("database unavailable during handshake of %s", identity)
            return _retry_later(connection)
        if charger is None:
            charger = await self._unknown_charger(identity)
            if charger is None:
                log.info("refused unknown charger %s from %s", identity, connection.remote_address)
                return connection.respond(HTTPStatus.NOT_FOUND, "unknown charger\n")
        if charger.archived_at is not None:
            log.info("refused archived charger %s from %s", identity, connection.remote_address)
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown charger\n")
        profile = await self._admitted_profile(charger, connection, request.headers)
        if profile is None:
            return _unauthorized(connection)
        if profile == 3:  # the client certificate is the credential: no password
            await self._admit(charger, connection, profile)
            return None
        if charger.password_hash is None and charger.pending_password_hash is not None:
            await self._confirm_issued_password(charger, request.headers)
        elif charger.password_hash is not None and not await self._throttled_credentials_ok(
            charger, connection, request.headers
        ):
            log.warning(
                "refused %s from %s: wrong or missing credentials",
                identity,
                connection.remote_address,
            )
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "authentication required\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="csms", charset="UTF-8"'
            return response
        await self._admit(charger, connection, profile)
        return None

    async def _log_connection(self, charger_id: str, remote_address: Any) -> None:
        """Keep who connected from where (purged after 21 days: ``csms retention run``).
        A failure here never keeps a charger from connecting."""
        address = remote_address[0] if isinstance(remote_address, tuple) else remote_address
        now = _utcnow()
        try:
            await self.db.write(
                lambda uow: uow.connection_log.add(
                    charger_id=charger_id,
                    remote_address=None if address is None else str(address)[:64],
                    connected_at=now,
                )
            )
        except StorageError as exc:
            log.warning("connection of %s not logged: %s", charger_id, exc)

    async def _unknown_charger(self, identity: str) -> ChargerRecord | None:
        policy = self.settings.ocpp.unknown_chargers
        if policy == "reject":
            return None
        status = RegistrationStatus.ACCEPTED if policy == "accept" else RegistrationStatus.PENDING
        now = _utcnow()
        charger = await self.db.write(
            lambda uow: register_unknown_charger(uow, charger_id=identity, status=status, now=now)
        )
        log.info("registered unknown charger %s as %s", identity, charger.registration_status)
        return charger

    async def _throttled_credentials_ok(
        self, charger: ChargerRecord, connection: WebSocketConnection, headers: Headers
    ) -> bool:
        """:meth:`_credentials_ok`, held back once a source or an identity is over
        CSMS_RATE_LIMIT_CHARGER_AUTH: the check waits (growing, at most 5 s) whether
        the password is right or not, so that the wait tells a guesser nothing; the
        right password still gets in. The first attempt over the rate records a
        security event for the charger."""
        remote = connection.remote_address
        address = str(remote[0] if isinstance(remote, tuple) else remote)
        keys = (("source", address), ("identity", charger.id))
        decision = self._password_guesses.begin(*keys)
        if not decision.allowed:
            if decision.excess == 1:
                await self._record_security_event(
                    charger.id,
                    AUTH_THROTTLED_EVENT,
                    {"source": address[:64], "rate": str(self._password_guesses.rate)},
                )
            await self._hold(connection, growing_delay(decision.excess))
        ok = await self._credentials_ok(charger, headers)
        if ok:
            self._password_guesses.succeeded(*keys)
        return ok

    async def _hold(self, connection: WebSocketConnection, seconds: float) -> None:
        """Wait ``seconds``, or less if the peer hangs up or the server stops."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        server = self._server
        while (left := until - loop.time()) > 0:
            transport = connection.transport
            if transport is None or transport.is_closing():
                return
            if server is not None and not server.is_serving():
                return
            await asyncio.sleep(min(0.1, left))

    async def _record_security_event(
        self, charger_id: str, kind: str, details: dict[str, Any]
    ) -> None:
        now = _utcnow()
        log.warning("charger %s: %s (%s)", charger_id, kind, details)
        try:
            await self.db.write(
                lambda uow: uow.security_events.add(
                    kind=kind, details=details, created_at=now, charger_id=charger_id
                )
            )
        except StorageError as exc:
            log.warning("security event %s of %s not stored: %s", kind, charger_id, exc)

    async def _authorize_allowed(self, conn: ChargerConnection) -> bool:
        """Whether an Authorize of ``conn`` is within CSMS_RATE_LIMIT_AUTHORIZE; the first
        one beyond it records a security event (once per burst)."""
        limiter = self._authorize_rate
        if limiter is None:
            return True
        decision = limiter.take(conn.charger_id)
        if decision.allowed:
            return True
        if decision.excess == 1:
            await self._record_security_event(
                conn.charger_id, AUTHORIZE_THROTTLED_EVENT, {"rate": str(limiter.rate)}
            )
        return False

    async def _credentials_ok(self, charger: ChargerRecord, headers: Headers) -> bool:
        """Basic auth with the charger's password, or with the new one of a rotation not
        completed yet (both are valid until the charger connects with the new one: see
        stations.rotate_password). Connecting with the new one completes the rotation.

        The cache of verified passwords is keyed by the stored hash it was verified
        against, so a password the rotation dropped (the hash changed) is checked afresh,
        and refused."""
        credentials = _basic_credentials(headers)
        if credentials is None or credentials[0] != charger.id:
            return False
        assert charger.password_hash is not None
        presented = hashlib.sha256(credentials[1].encode()).digest()
        if self._verified.get(charger.id) == (charger.password_hash, presented):
            return True
        ok = await asyncio.to_thread(verify_password, credentials[1], charger.password_hash)
        if ok:
            self._verified[charger.id] = (charger.password_hash, presented)
            return True
        pending = charger.pending_password_hash
        if pending is None:
            return False
        if not await asyncio.to_thread(verify_password, credentials[1], pending):
            return False
        now = _utcnow()
        try:
            completed = await self.db.write(
                lambda uow: complete_password_rotation(
                    uow, charger.id, pending_hash=pending, now=now
                )
            )
        except StorageError as exc:
            # It proved the new password as stored a moment ago: let it in; the rotation
            # completes at a connection when the database takes the write again.
            log.warning("rotation of %s not completed for now: %s", charger.id, exc)
            return True
        if not completed:  # rotated again or dropped since the charger was read
            return False
        log.info("charger %s connected with its new password: the old one is refused", charger.id)
        self._verified[charger.id] = (pending, presented)
        return True

    async def _confirm_issued_password(self, charger: ChargerRecord, headers: Headers) -> None:
        """A charger issued a password it has not confirmed yet may still connect without
        it; connecting with it makes it the one enforced from now on."""
        credentials = _basic_credentials(headers)
        if credentials is None or credentials[0] != charger.id:
            return
        assert charger.pending_password_hash is not None
        if not await asyncio.to_thread(
            verify_password, credentials[1], charger.pending_password_hash
        ):
            return
        now = _utcnow()
        detail = "the charger connected with it"
        if await self.db.write(
            lambda uow: confirm_password(uow, charger.id, now=now, detail=detail)
        ):
            log.info("charger %s connected with its new password: now enforced", charger.id)

    # -- connection -----------------------------------------------------------------

    def _open(self, ws: WebSocketConnection) -> ChargerConnection:
        charger: ChargerRecord = ws.context
        version = OCPPVersion(str(ws.subprotocol))
        session = OCPPSession(
            version=version,
            role="csms",
            call_timeout=self.settings.ocpp.call_timeout,
            # A charger accepted before may reconnect without booting again (1.6 chargers
            # usually boot only at power-up): it keeps its accepted state.
            accepted=charger.registration_status == RegistrationStatus.ACCEPTED.value,
        )
        remote = ws.remote_address[0] if ws.remote_address else None
        context = CallContext(
            charger_id=charger.id,
            db=self.db,
            heartbeat_interval=self.settings.ocpp.heartbeat_interval,
            set_accepted=_boot_gate(session),
            signer=self.signer,
        )
        conn = ChargerConnection(
            charger_id=charger.id,
            version=version,
            ws=ws,
            session=session,
            connected_at=_utcnow(),
            remote_address=remote,
            gateway=self,
            handlers=self.handlers[version],
            context=context,
            security_profile=charger.security_profile,
        )
        conn.context = replace(context, after_answer=conn.after_answer)
        previous = self.connections.get(charger.id)
        self.connections[charger.id] = conn
        if previous is not None:
            log.warning(
                "charger %s connected again from %s; replacing its connection from %s",
                charger.id,
                remote,
                previous.remote_address,
            )
            previous._resolve(None, ChargerNotConnected("connection replaced"))
            previous.ws.close(1000, "replaced by a new connection")
        log.info("charger %s connected (%s) from %s", charger.id, version.value, remote)
        for hook in self.connect_hooks:
            task = asyncio.get_running_loop().create_task(hook(charger.id))
            self._hook_tasks.add(task)
            task.add_done_callback(self._hook_tasks.discard)
        return conn

    # -- security profiles (csms.domain.security.profiles) ---------------------------

    async def _admitted_profile(
        self, charger: ChargerRecord, connection: WebSocketConnection, headers: Headers
    ) -> int | None:
        """The profile the connection is let in under (its password, for profiles 1 and 2,
        is checked after this), or None after recording why it is refused.

        A pending higher profile the connection satisfies wins (the charger is then raised to
        it, in :meth:`Gateway._admit`); otherwise the charger's current profile applies."""
        ssl_object = connection.ssl_object
        tls = ssl_object is not None
        current = charger.security_profile
        pending = charger.pending_security_profile
        if pending is not None and pending <= current:
            pending = None
        cn = certificate_identity(ssl_object) if tls else None
        if pending is not None and not profile_refusal(
            pending, tls=tls, certificate_identity=cn, identity=charger.id
        ):
            return pending
        if current < 3 and not profile_refusal(
            3, tls=tls, certificate_identity=cn, identity=charger.id
        ):
            # A verified client certificate for this identity proves more than a password
            # does: a profile 1 or 2 charger that has one (csms's CA signed its CSR) is let
            # in on it, so it can move to profile 3 before an operator raises it.
            return 3
        reason = profile_refusal(current, tls=tls, certificate_identity=cn, identity=charger.id)
        if reason is None:
            return current
        remote = connection.remote_address
        address = str(remote[0] if isinstance(remote, tuple) else remote)[:64]
        details: dict[str, Any] = {
            "reason": reason,
            "source": address,
            "transport": "wss" if tls else "ws",
        }
        if not tls and headers.get("Authorization"):
            # The password crossed the network in clear text: worth rotating.
            details["credentials_sent_in_clear"] = True
        key = (charger.id, reason)
        now = self._loop_time()
        last = self._refusals_recorded.get(key)
        if last is not None and now - last < REFUSAL_EVENT_INTERVAL:
            log.warning("refused %s from %s: %s", charger.id, address, reason)
            return None
        if len(self._refusals_recorded) >= _MAX_REFUSALS_REMEMBERED:
            self._refusals_recorded.clear()
        self._refusals_recorded[key] = now
        await self._record_security_event(charger.id, CONNECTION_REFUSED_EVENT, details)
        return None

    async def _admit(
        self, charger: ChargerRecord, connection: WebSocketConnection, profile: int
    ) -> None:
        """Let the connection in under ``profile``: raise the charger to it when it was the
        pending one, log the connection, hand the charger to ``_open``."""
        if profile > charger.security_profile and profile == charger.pending_security_profile:
            now = _utcnow()
            try:
                raised = await self.db.write(
                    lambda uow: raise_security_profile(uow, charger.id, to=profile, now=now)
                )
            except StorageError as exc:
                log.warning("security profile of %s not raised to %d: %s", charger.id, profile, exc)
            else:
                if raised:
                    log.info(
                        "charger %s connected with security profile %d: now required (was %d)",
                        charger.id,
                        profile,
                        charger.security_profile,
                    )
            charger.pending_security_profile = None
        # What the connection was admitted under (ChargerConnection.security_profile): this
        # record is the handshake's own copy.
        charger.security_profile = profile
        await self._log_connection(charger.id, connection.remote_address)
        connection.context = charger  # for _open


def _unauthorized(connection: WebSocketConnection) -> Response:
    response = connection.respond(HTTPStatus.UNAUTHORIZED, "authentication required\n")
    response.headers["WWW-Authenticate"] = 'Basic realm="csms", charset="UTF-8"'
    return response


#: Seconds between two ConnectionRefused events stored for the same charger and reason
#: (each refusal is still logged).
REFUSAL_EVENT_INTERVAL = 300.0
_MAX_REFUSALS_REMEMBERED = 10_000
