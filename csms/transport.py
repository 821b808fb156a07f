"""A lean WebSocket server: the sans-I/O ``websockets.server.ServerProtocol`` under asyncio.

``websockets.asyncio.server`` gives every connection a handler task, a message assembler,
futures for each ``recv`` and an async context manager around each ``send``: about half of
the gateway's CPU time per OCPP message went there. This module keeps what matters of
``websockets`` (the RFC 6455 state machine in ``ServerProtocol``: the opening handshake,
frame parsing, close and ping/pong handling) and replaces its asyncio layer by callbacks:

- each complete message is handed to the connection's :class:`MessageHandler`
  **synchronously**, from ``data_received``; nothing to await, no task per message;
- :meth:`WebSocketConnection.send_text` writes the frame to the transport at once;
  :meth:`~WebSocketConnection.drain` waits while the transport's write buffer is above its
  high-water mark, and reading is paused meanwhile (a peer that does not read our answers
  does not get to send more requests);
- the opening handshake runs in one task per connection (``process_request`` may await a
  database or a password check), then the connection is accepted or refused through the
  sans-I/O protocol;
- keepalive pings, the opening timeout and the closing timeout share one timer handle per
  connection.

**Fast path.** ``ServerProtocol`` parses frames with generators, about 8 µs per message. Once
the connection is open, this module finds the frame boundaries itself: an unfragmented,
masked text or binary frame (FIN set, no RSV bits, within ``max_size``, no fragmented
message in progress) is unmasked and delivered directly, and every other frame (control
frames, fragments, anything malformed) is passed **whole** to the protocol, which handles
it exactly as before. The protocol's parser therefore always sits at a frame boundary when
it is given data. Text frames sent by the server are written directly too (servers do not
mask; no extension is ever negotiated). After a close frame, a failure, or a client that
pipelined frames behind its handshake request, all bytes go through the protocol. The fast
path is off when the ``websockets`` logger is at DEBUG (its frame log stays complete) or
with ``fast_path=False``.

**Bounded handshakes.** The request head (request line and headers) may be at most
``max_head_size`` bytes (16 KiB): a longer one is answered 431 and nothing more of it is
kept, whatever ``websockets`` would parse (up to 128 header lines of 8 KiB each), so a
crowd of unfinished handshakes holds at most that much each, and ``open_timeout`` drops
them.

**TLS.** A listener given an ``ssl.SSLContext`` (wss) wraps each connection in asyncio's TLS
protocol (``asyncio.sslproto.SSLProtocol``, what ``create_server(ssl=...)`` uses, on any
event loop) and learns how its handshake ended: a failed one (an old TLS version, a refused
client certificate, plain HTTP on the TLS port) is one log line with the peer's address,
never a traceback, and a stalled one is dropped after ``open_timeout``, or when the server
stops. Once TLS is up the connection is the same as on ws: ``data_received`` gets plaintext,
and the fast path, the limits and the timers work unchanged.
:attr:`WebSocketConnection.ssl_object` gives the TLS session (the client certificate).

**Stopping.** :meth:`WebSocketServer.quiesce` stops listening and stops reading every
connection (no new connection, no new message) while what was read can still be
answered; :meth:`WebSocketServer.close` then closes the connections.

Behaviour follows ``websockets.asyncio.server`` where this server relies on it: no
``Server`` header, ``max_size`` (close 1009), pings every ``ping_interval`` and close 1011
"keepalive ping timeout" when no pong comes back within ``ping_timeout``, ``open_timeout``
for the whole handshake, ``close_timeout`` for the closing handshake, 503 for handshakes
that complete while the server is closing, close 1001 for open connections when it closes.
Differences: a text message that is not valid UTF-8 closes the connection with 1007 (RFC
6455 §8.1) rather than 1011, and an exception in the message handler closes it with 1011.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import random
import ssl
import struct
from asyncio import sslproto
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, cast

from websockets.frames import BINARY, CONT, PONG, TEXT, CloseCode, Frame
from websockets.http11 import Request, Response
from websockets.protocol import CLOSED, CONNECTING, OPEN, State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = [
    "ConnectionNotOpen",
    "MessageHandler",
    "WebSocketConnection",
    "WebSocketServer",
]

log = logging.getLogger(__name__)

#: Frames a client may pipeline behind its handshake request before we answer it.
MAX_EARLY_FRAMES = 16
#: The longest request head (request line + headers + the blank line) accepted.
MAX_HEAD_SIZE = 16 * 1024

_PAUSED_BY_WRITES = 1
_PAUSED_BY_HANDLER = 2
_PAUSED_BY_SERVER = 4  # the server is stopping: for good
_END_OF_HEADERS = b"\r\n\r\n"
_NO_LIMIT = 2**63

_header_short = struct.Struct("!BB").pack
_header_medium = struct.Struct("!BBH").pack
_header_long = struct.Struct("!BBQ").pack


class ConnectionNotOpen(Exception):
    """The WebSocket connection is closing or closed: nothing can be sent any more."""


class MessageHandler(Protocol):
    """What a connection reports to once it is open (see :class:`WebSocketServer`)."""

    def message_received(self, message: str | bytes) -> None:
        """One complete message: ``str`` from a text frame, ``bytes`` from a binary one."""

    def connection_lost(self) -> None:
        """The TCP connection is gone; called once, after the last ``message_received``."""


ProcessRequest = Callable[["WebSocketConnection", Request], Awaitable[Response | None]]
OnOpen = Callable[["WebSocketConnection"], MessageHandler]


class WebSocketServer:
    """Listens, runs the opening handshake, and keeps the set of live connections.

    ``process_request(connection, request)`` returns an HTTP response to refuse the
    connection (build it with :meth:`WebSocketConnection.respond`) or ``None`` to accept
    it; it may stash what it learned in ``connection.context``. ``on_open(connection)``
    is called once the ``101`` is written and returns the connection's
    :class:`MessageHandler`.
    """

    def __init__(
        self,
        *,
        process_request: ProcessRequest,
        on_open: OnOpen,
        subprotocols: Iterable[str],
        max_size: int | None = 2**20,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        open_timeout: float | None = 10.0,
        close_timeout: float = 10.0,
        max_head_size: int = MAX_HEAD_SIZE,
        write_limit: int = 2**15,
        fast_path: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        self.process_request = process_request
        self.on_open = on_open
        self.subprotocols = [Subprotocol(p) for p in subprotocols]
        self.max_size = max_size
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        self.max_head_size = max_head_size
        self.write_limit = write_limit
        self.fast_path = fast_path
        #: The sans-I/O protocols' logger (``websockets.server`` by default, as before).
        self.logger = logger or logging.getLogger("websockets.server")
        self.connections: set[WebSocketConnection] = set()
        self._server: asyncio.Server | None = None
        #: Every listener (the first one is ``_server``): ws, and wss beside it.
        self._listeners: list[asyncio.Server] = []
        #: Connections still in their TLS handshake (not in ``connections`` yet).
        self._tls_handshakes: set[_TlsProtocol] = set()
        self._closing = False
        self._all_closed: asyncio.Event | None = None

    async def listen(
        self,
        host: str | None,
        port: int,
        *,
        ssl: ssl.SSLContext | None = None,
        **kwargs: Any,
    ) -> asyncio.Server:
        """Start accepting connections (``kwargs`` go to ``loop.create_server``); may be
        called again for another port. With ``ssl``, connections speak TLS first (see
        the module docstring)."""
        loop = asyncio.get_running_loop()
        context = ssl
        if context is None:
            listener = await loop.create_server(
                lambda: WebSocketConnection(self), host, port, **kwargs
            )
        else:
            listener = await loop.create_server(
                lambda: _TlsProtocol.accept(self, context), host, port, **kwargs
            )
        self._listeners.append(listener)
        if self._server is None:
            self._server = listener
        return listener

    @property
    def sockets(self) -> tuple[Any, ...]:
        """The first listener's sockets (see :meth:`listen`)."""
        return tuple(self._server.sockets) if self._server is not None else ()

    def is_serving(self) -> bool:
        return self._server is not None and not self._closing

    def quiesce(self) -> None:
        """Stop listening and stop reading: no new connection, no new message.

        The first step of a graceful stop: messages already handed to the application can
        still be answered (``send_text`` works), nothing more is read, and :meth:`close`
        finishes the job. A handshake still being checked is answered 503 when the check
        completes; a connection that has not sent its request yet, or was refused and has
        not hung up yet, is dropped.
        """
        self._stop_listening(WebSocketConnection.stop_reading)

    async def close(self, code: int = CloseCode.GOING_AWAY, reason: str = "") -> None:
        """Stop listening, close every connection, return once all TCP connections are gone.

        Open connections get a close frame with ``code``; otherwise as :meth:`quiesce`.
        """
        self._stop_listening(lambda connection: connection.close(code, reason))
        if self.connections:
            if self._all_closed is None:
                self._all_closed = asyncio.Event()
            await self._all_closed.wait()
        for listener in self._listeners:
            await listener.wait_closed()
        self._listeners.clear()
        self._server = None

    def _stop_listening(self, end_open: Callable[[WebSocketConnection], None]) -> None:
        """Close the listening sockets, ``end_open`` each open connection, and drop the
        connections still waiting for (or refused at) their opening handshake; a handshake
        being checked is left to finish (it is answered 503)."""
        self._closing = True
        for listener in self._listeners:
            listener.close()
        for handshake in list(self._tls_handshakes):
            handshake.drop()
        for connection in list(self.connections):
            state = connection.protocol.state
            if state is OPEN:
                end_open(connection)
            elif state is CONNECTING and connection._handshake is None:
                connection.abort()

    def _forget(self, connection: WebSocketConnection) -> None:
        self.connections.discard(connection)
        if not self.connections and self._all_closed is not None:
            self._all_closed.set()


class WebSocketConnection(asyncio.Protocol):
    """One WebSocket connection (an asyncio protocol driving a sans-I/O ``ServerProtocol``)."""

    __slots__ = (
        "_buffer",
        "_clean",
        "_closing",
        "_drain_waiter",
        "_early",
        "_failed",
        "_fast",
        "_fragments",
        "_fragments_text",
        "_framing",
        "_handler",
        "_handshake",
        "_head",
        "_head_open",
        "_limit",
        "_loop",
        "_paused",
        "_ping_payload",
        "_ping_sent_at",
        "_timer",
        "context",
        "protocol",
        "remote_address",
        "server",
        "transport",
    )

    def __init__(self, server: WebSocketServer) -> None:
        self.server = server
        self.protocol = protocol = ServerProtocol(
            subprotocols=server.subprotocols,
            max_size=server.max_size,
            logger=server.logger,
        )
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.remote_address: Any = None
        #: Free for ``process_request`` to hand information to ``on_open``.
        self.context: Any = None
        self._loop = asyncio.get_running_loop()
        self._handler: MessageHandler | None = None
        self._handshake: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._early: list[Frame] | None = None
        self._fragments: list[bytes] | None = None
        self._fragments_text = False
        self._closing = False
        self._failed = False
        self._paused = 0
        self._drain_waiter: asyncio.Future[None] | None = None
        self._ping_payload: bytes | None = None
        self._ping_sent_at = 0.0
        # Fast path (module docstring): on when the protocol would not log every frame.
        self._fast = server.fast_path and not protocol.debug
        self._framing = False  # frame boundaries found here, not in the protocol
        self._buffer: bytearray | None = None  # an incomplete frame, while framing
        self._head: bytearray | None = bytearray()  # the request head's bytes, while read
        self._head_open = True  # the end of the request head has not been seen yet
        self._clean = False  # the request was followed by nothing: the parser is at a boundary
        self._limit = server.max_size if server.max_size is not None else _NO_LIMIT

    # -- what the application uses --------------------------------------------------------

    @property
    def state(self) -> State:
        return self.protocol.state

    @property
    def subprotocol(self) -> str | None:
        return self.protocol.subprotocol

    @property
    def close_code(self) -> int | None:
        """The close code received from the peer (1006 without one); ``None`` until closed."""
        return self.protocol.close_code

    @property
    def writing_paused(self) -> bool:
        """The transport's write buffer is above its high-water mark: :meth:`drain`."""
        return bool(self._paused & _PAUSED_BY_WRITES)

    def respond(self, status: http.HTTPStatus | int, text: str) -> Response:
        """A plain-text HTTP response refusing the handshake (for ``process_request``)."""
        return self.protocol.reject(status, text)

    def send_text(self, text: str | bytes) -> None:
        """Send one text message now. Raises :class:`ConnectionNotOpen` once closing."""
        protocol = self.protocol
        if protocol.state is not OPEN:
            raise ConnectionNotOpen
        data = text.encode() if type(text) is str else cast(bytes, text)
        if not self._fast:
            protocol.send_text(data)
            self._write_pending()
            return
        # The frame ServerProtocol.send_text would make: FIN + text, unmasked.
        length = len(data)
        if length < 126:
            self.transport.write(_header_short(0x81, length) + data)
        elif length < 65536:
            self.transport.write(_header_medium(0x81, 126, length) + data)
        else:
            self.transport.write(_header_long(0x81, 127, length) + data)

    async def drain(self) -> None:
        """Wait until the write buffer is below its low-water mark (or the connection gone)."""
        if self._paused & _PAUSED_BY_WRITES and self.protocol.state is not CLOSED:
            waiter = self._drain_waiter
            if waiter is None:
                waiter = self._drain_waiter = self._loop.create_future()
            await asyncio.shield(waiter)

    def pause_reading(self) -> None:
        """Stop reading from the socket until :meth:`resume_reading` (handler back-pressure)."""
        self._set_paused(self._paused | _PAUSED_BY_HANDLER)

    def resume_reading(self) -> None:
        self._set_paused(self._paused & ~_PAUSED_BY_HANDLER)

    def stop_reading(self) -> None:
        """Read nothing more from the socket, for good (the server is stopping); sending
        still works until :meth:`close`. Keepalive stops too: a pong could not be read."""
        if not self._closing:
            self._cancel_timer()
        self._set_paused(self._paused | _PAUSED_BY_SERVER)

    def fail(self, code: int, reason: str = "") -> None:
        """Close the connection because the peer broke the rules: a close frame with
        ``code`` now, and no message received after this one reaches the handler."""
        self._fail(code, reason)

    @property
    def ssl_object(self) -> ssl.SSLObject | None:
        """The TLS session of a wss connection (None on ws)."""
        if self.transport is None:
            return None
        return cast("ssl.SSLObject | None", self.transport.get_extra_info("ssl_object"))

    @property
    def handler(self) -> MessageHandler | None:
        """What ``on_open`` returned (``None`` before the 101 and after the TCP connection
        is gone)."""
        return self._handler

    @property
    def head_bytes(self) -> int:
        """Bytes of an unfinished request head held for this connection (0 once the
        request is read): at most ``max_head_size`` plus one read."""
        head = self._head
        return len(head) if head is not None and self._head_open else 0

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake; the TCP connection is dropped after
        ``close_timeout`` if the peer does not complete it."""
        if self.protocol.state is not OPEN:
            return
        self.protocol.send_close(code, reason)
        self._write_pending()
        self._expect_close()
        if self._paused & _PAUSED_BY_SERVER:
            # Stopped for good: nothing more reaches the handler, but the peer's close
            # frame must be read to end the closing handshake.
            self._failed = True
            self._set_paused(self._paused & _PAUSED_BY_WRITES)

    def abort(self) -> None:
        """Drop the TCP connection now."""
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(self.server.write_limit)
        self.remote_address = transport.get_extra_info("peername")
        self.server.connections.add(self)
        if self.server.open_timeout is not None:
            self._timer = self._loop.call_later(self.server.open_timeout, self._open_timed_out)

    def data_received(self, data: bytes) -> None:
        if self._framing:
            self._frames_received(data)
        else:
            self._feed(data)

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._write_pending()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._framing = False
        self._buffer = self._head = None
        self.protocol.receive_eof()  # idempotent; the state is now CLOSED
        self._cancel_timer()
        if self._handshake is not None:
            self._handshake.cancel()
            self._handshake = None
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)
        handler, self._handler = self._handler, None  # no reference cycle left behind
        try:
            if handler is not None:
                handler.connection_lost()
        except Exception:
            log.exception("connection_lost handler failed")
        finally:
            self.server._forget(self)

    def pause_writing(self) -> None:
        self._set_paused(self._paused | _PAUSED_BY_WRITES)

    def resume_writing(self) -> None:
        self._set_paused(self._paused & ~_PAUSED_BY_WRITES)
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- incoming bytes -----------------------------------------------------------------------

    def _feed(self, data: bytes | bytearray) -> None:
        """Give bytes to the sans-I/O protocol and act on what it makes of them."""
        protocol = self.protocol
        if self._handler is None:
            if self._handshake is not None:
                self._clean = False  # bytes after the request, before the answer
            elif self._head_open and not self._read_head(data):
                return
        protocol.receive_data(data)
        events = protocol.events_received()
        self._write_pending()  # automatic answers: pong, close echo, failure close
        if protocol.state is not OPEN and protocol.close_expected():
            self._expect_close()
        if not events:
            return
        if self._handler is None:
            self._before_open(events)
            return
        for event in events:
            self._on_frame(cast(Frame, event))

    def _read_head(self, data: bytes | bytearray) -> bool:
        """Keep the request head's bytes until its end; ``False``: it is too long, and
        the request has been refused with 431 (nothing more of it is kept)."""
        head = self._head
        assert head is not None
        start = max(len(head) - 3, 0)  # the end marker may straddle two reads
        head += data
        end = head.find(_END_OF_HEADERS, start)
        limit = self.server.max_head_size
        if end < 0 and len(head) <= limit:
            return True
        if end < 0 or end + len(_END_OF_HEADERS) > limit:
            self._refuse_head(len(head) if end < 0 else end + len(_END_OF_HEADERS))
            return False
        self._head_open = False
        if not self._fast:
            self._head = None
        return True

    def _refuse_head(self, size: int) -> None:
        limit = self.server.max_head_size
        self._head_open = False
        self._head = None
        if self.protocol.eof_sent:
            return  # the protocol refused the request already (not HTTP)
        log.info(
            "refused the handshake from %s: request head of %d bytes or more, over %d",
            self.remote_address,
            size,
            limit,
        )
        protocol = self.protocol
        response = protocol.reject(
            http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            f"Request header fields too large: the limit is {limit} bytes.\n",
        )
        # Whatever the peer sends after this is read and dropped (the protocol's parser
        # discards it) until it hangs up or the closing timeout drops it.
        protocol.send_response(response)
        self._write_pending()
        self._expect_close()

    def _frames_received(self, data: bytes) -> None:
        """Fast path: find frame boundaries, deliver plain data frames, pass the rest on."""
        buffer = self._buffer
        if buffer is not None:
            buffer += data
            view: bytes | bytearray = buffer
        else:
            view = data
        size = len(view)
        pos = 0
        while True:
            if size - pos < 2:
                break  # need more bytes
            first = view[pos]
            second = view[pos + 1]
            length = second & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (view[pos + 2] << 8) | view[pos + 3]
                start += 2
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(view[pos + 2 : pos + 10], "big")
                start += 8
            if length > self._limit:
                self._stop_framing(view[pos:])  # the protocol refuses it (1009)
                return
            masked = second & 0x80
            if masked:
                start += 4
            end = start + length
            if end > size:
                break
            opcode = first & 0x0F
            if (
                first & 0xF0 == 0x80  # FIN, no RSV bits
                and (opcode == 1 or opcode == 2)  # text, binary
                and masked
                and self._fragments is None
            ):
                self._deliver(apply_mask(view[start:end], view[start - 4 : start]), opcode == 1)
            else:
                self._feed(view[pos:end])  # a whole frame: the parser stays at a boundary
            pos = end
            if self.protocol.state is not OPEN:
                self._stop_framing(view[pos:])  # the protocol takes (and discards) the rest
                return
        # Keep what is left of an incomplete frame for the next call.
        if pos == size:
            self._buffer = None
        elif buffer is None:
            self._buffer = bytearray(view[pos:])
        elif pos:
            del buffer[:pos]

    def _stop_framing(self, rest: bytes | bytearray) -> None:
        """From now on, all bytes go through the protocol (from a frame boundary)."""
        self._framing = False
        self._buffer = None
        if rest:
            self._feed(rest)

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        data = cast(bytes, frame.data)  # the parser makes bytes
        if opcode is TEXT or opcode is BINARY:
            if not frame.fin:
                self._fragments = [data]
                self._fragments_text = opcode is TEXT
                return
        elif opcode is CONT:
            fragments = self._fragments
            if fragments is None:  # pragma: no cover - the protocol refuses this
                return
            fragments.append(data)
            if not frame.fin:
                return
            self._fragments = None
            data = b"".join(fragments)
            opcode = TEXT if self._fragments_text else BINARY  # the first fragment's type
        elif opcode is PONG:
            self._on_pong(data)
            return
        else:  # PING (answered by the protocol) and CLOSE (handled by the protocol)
            return
        self._deliver(data, opcode is TEXT)

    def _deliver(self, data: bytes, text: bool) -> None:
        if self._failed:
            return  # failed by us: nothing more reaches the application
        if text:
            try:
                message: str | bytes = data.decode()
            except UnicodeDecodeError as exc:
                self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
                return
        else:
            message = data
        handler = self._handler
        assert handler is not None
        try:
            handler.message_received(message)
        except Exception:
            log.exception("message handler failed")
            self._fail(CloseCode.INTERNAL_ERROR)

    # -- outgoing bytes -----------------------------------------------------------------------

    def _fail(self, code: int, reason: str = "") -> None:
        protocol = self.protocol
        if protocol.state is CLOSED:
            return
        self._failed = True
        protocol.fail(code, reason)
        self._write_pending()
        self._expect_close()

    def _write_pending(self) -> None:
        transport = self.transport
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                with contextlib.suppress(Exception):  # e.g. the socket is already gone
                    transport.write_eof()
            else:  # pragma: no cover - TLS
                transport.close()

    def _set_paused(self, paused: int) -> None:
        was = self._paused
        self._paused = paused
        if bool(was) == bool(paused) or self.transport is None:
            return
        if paused:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    # -- timers: opening, keepalive, closing --------------------------------------------------

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _open_timed_out(self) -> None:
        self._timer = None
        log.info("opening handshake from %s timed out", self.remote_address)
        self.abort()

    def _expect_close(self) -> None:
        """The closing handshake has started: drop the TCP connection if it drags on."""
        if self._closing or self.protocol.state is CLOSED:
            return
        self._closing = True
        self._cancel_timer()  # no more keepalive pings
        self._timer = self._loop.call_later(self.server.close_timeout, self.abort)

    def _schedule_ping(self, delay: float) -> None:
        self._timer = self._loop.call_later(delay, self._send_ping)

    def _send_ping(self) -> None:
        self._timer = None
        if self.protocol.state is not OPEN:
            return
        payload = struct.pack("!I", random.getrandbits(32))
        self.protocol.send_ping(payload)
        self._write_pending()
        self._ping_payload = payload
        self._ping_sent_at = self._loop.time()
        timeout = self.server.ping_timeout
        if timeout is not None:
            self._timer = self._loop.call_later(timeout, self._ping_timed_out)
        elif self.server.ping_interval is not None:  # no deadline for pongs: just ping on
            self._schedule_ping(self.server.ping_interval)

    def _ping_timed_out(self) -> None:
        self._timer = None
        log.info("no pong from %s: closing the connection", self.remote_address)
        self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")

    def _on_pong(self, payload: bytes) -> None:
        expected = self._ping_payload
        if expected is None or self._closing or payload != expected:
            return  # unsolicited pong: "A response to an unsolicited Pong frame is not expected."
        self._ping_payload = None
        if self.server.ping_timeout is None:
            return  # the next ping is already scheduled
        self._cancel_timer()
        interval = self.server.ping_interval
        if interval is not None:
            latency = self._loop.time() - self._ping_sent_at
            self._schedule_ping(max(interval - latency, 0.0))

    # -- opening handshake --------------------------------------------------------------------

    def _before_open(self, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, Request):
                if self._handshake is None and self.protocol.state is CONNECTING:
                    head, self._head = self._head, None
                    # The fast path may start at the first byte after the request only if
                    # the protocol has seen nothing beyond it (then its parser waits at a
                    # frame boundary).
                    self._clean = (
                        head is not None
                        and len(events) == 1
                        and head.find(_END_OF_HEADERS) + len(_END_OF_HEADERS) == len(head)
                    )
                    self._handshake = self._loop.create_task(self._run_handshake(event))
            else:
                early = self._early
                if early is None:
                    early = self._early = []
                early.append(event)
                if len(early) > MAX_EARLY_FRAMES:
                    self.abort()
                    return

    async def _run_handshake(self, request: Request) -> None:
        server = self.server
        protocol = self.protocol
        try:
            try:
                response = await server.process_request(self, request)
            except Exception:
                log.exception("handshake check failed for %s", request.path)
                response = protocol.reject(
                    http.HTTPStatus.INTERNAL_SERVER_ERROR,
                    "Failed to open a WebSocket connection.\n"
                    "See server log for more information.\n",
                )
            if response is None:
                response = protocol.accept(request)
            if response.status_code == 101 and server._closing:
                response = protocol.reject(
                    http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n"
                )
        finally:
            self._handshake = None
        if protocol.state is not CONNECTING or protocol.eof_sent or self.transport.is_closing():
            self.abort()  # the peer went away or broke the protocol meanwhile
            return
        self._cancel_timer()
        protocol.send_response(response)
        self._write_pending()
        if protocol.state is not OPEN:
            self.context = None
            self._expect_close()
            return
        try:
            self._handler = server.on_open(self)
        except Exception:
            log.exception("opening the connection from %s failed", self.remote_address)
            self._fail(CloseCode.INTERNAL_ERROR)
            return
        finally:
            self.context = None
        if server.ping_interval is not None:
            self._schedule_ping(server.ping_interval)
        early, self._early = self._early, None
        for frame in early or ():
            self._on_frame(frame)
        self._framing = self._fast and self._clean and protocol.state is OPEN


# -- TLS ----------------------------------------------------------------------------------


class _TlsProtocol(sslproto.SSLProtocol):
    """asyncio's TLS protocol around a :class:`WebSocketConnection` (which it calls
    ``connection_made`` on once the TLS handshake is done), told the peer's address so
    that a handshake that fails is logged with it, and known to the server until then
    (so that stopping drops it)."""

    @classmethod
    def accept(cls, server: WebSocketServer, context: ssl.SSLContext) -> _TlsProtocol:
        """The protocol of one accepted wss connection."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        protocol = cls(
            loop,
            WebSocketConnection(server),
            context,
            waiter,
            server_side=True,
            # (a float works; the stubs say int)
            ssl_handshake_timeout=cast(Any, server.open_timeout or None),
        )
        protocol._ws_server = server
        protocol._ws_peer = None
        protocol._ws_raw = None
        waiter.add_done_callback(protocol._ws_handshake_done)
        return protocol

    _ws_server: WebSocketServer
    _ws_peer: Any
    _ws_raw: asyncio.Transport | None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._ws_peer = transport.get_extra_info("peername")
        self._ws_raw = cast(asyncio.Transport, transport)
        self._ws_server._tls_handshakes.add(self)
        super().connection_made(transport)

    def drop(self) -> None:
        """Drop the TCP connection (the server is stopping mid-handshake)."""
        if self._ws_raw is not None:
            self._ws_raw.abort()

    def _ws_handshake_done(self, waiter: asyncio.Future[None]) -> None:
        self._ws_server._tls_handshakes.discard(self)
        self._ws_raw = None
        if waiter.cancelled():
            return
        exc = waiter.exception()
        if exc is not None:
            _log_tls_failure(self._ws_peer, exc)


#: OpenSSL's reasons for a refused TLS handshake that say what the peer got wrong.
_TLS_HINTS = {
    "HTTP_REQUEST": "a plain HTTP request on the TLS port: connect with wss://",
    "UNSUPPORTED_PROTOCOL": "the client offers only TLS versions below 1.2",
    "NO_SHARED_CIPHER": "no cipher suite in common (OCPP needs AES-GCM suites)",
    "WRONG_VERSION_NUMBER": "not a TLS client (plain ws:// on the TLS port?)",
    "TLSV1_ALERT_UNKNOWN_CA": "the client does not trust the server certificate "
    "(install the CA's certificate on it)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the client refused the server certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the client refused the server certificate",
}


def _log_tls_failure(peer: Any, exc: BaseException) -> None:
    """One line for a TLS handshake that failed: WARNING for a refused client
    certificate (a charger that cannot connect, or someone trying), INFO otherwise."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        log.warning(
            "TLS handshake from %s refused: client certificate not accepted (%s)",
            peer,
            exc.verify_message,
        )
    elif isinstance(exc, ssl.SSLError):
        reason = str(exc.reason or exc)
        log.info("TLS handshake from %s failed: %s", peer, _TLS_HINTS.get(reason, reason))
    elif isinstance(exc, ConnectionAbortedError):  # asyncio's ssl_handshake_timeout
        log.info("TLS handshake from %s timed out", peer)
    else:  # the peer hung up mid-handshake
        log.debug("TLS handshake from %s did not complete (%s)", peer, type(exc).__name__)
