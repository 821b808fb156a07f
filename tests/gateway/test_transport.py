"""The WebSocket transport under the gateway (csms/transport.py).

Two levels: a :class:`WebSocketConnection` fed bytes by hand through a fake asyncio
transport (the fast path must behave exactly like the sans-I/O protocol path, whatever the
chunking), and the gateway over real sockets (ordering, back-pressure, keepalive, close).
"""

from __future__ import annotations

import asyncio
import json
import random
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, Close, Frame, Opcode
from websockets.protocol import OPEN

from csms.adapters.v16 import inbound as v16
from csms.config import Settings
from csms.gateway import Gateway
from csms.transport import ConnectionNotOpen, WebSocketConnection, WebSocketServer
from protocol import OCPPVersion
from storage.database import Database
from tests.gateway.conftest import PASSWORD, RawCharger, basic_auth

REQUEST = (
    b"GET /ocpp/CP1 HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: ocpp1.6\r\n"
    b"\r\n"
)


# -- a connection fed by hand -----------------------------------------------------------------


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.eof = False
        self.closed = False
        self.reading_paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.eof, "write after write_eof"
        self.written += data

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False


class Recorder:
    """A MessageHandler that keeps what it gets."""

    def __init__(self) -> None:
        self.messages: list[str | bytes] = []
        self.lost = False

    def message_received(self, message: str | bytes) -> None:
        self.messages.append(message)

    def connection_lost(self) -> None:
        self.lost = True


async def _accept_all(connection: WebSocketConnection, request: Any) -> None:
    return None


async def open_connection(
    *, fast_path: bool = True, max_size: int = 2**20, after_request: bytes = b""
) -> tuple[WebSocketConnection, FakeTransport, Recorder]:
    """A connection past its handshake; ``after_request`` is sent with the request."""
    recorder = Recorder()
    server = WebSocketServer(
        process_request=_accept_all,
        on_open=lambda connection: recorder,
        subprotocols=["ocpp1.6"],
        max_size=max_size,
        ping_interval=None,
        fast_path=fast_path,
    )
    connection = WebSocketConnection(server)
    transport = FakeTransport()
    connection.connection_made(transport)
    connection.data_received(REQUEST + after_request)
    for _ in range(10):
        if connection.state is OPEN:
            break
        await asyncio.sleep(0)
    assert connection.state is OPEN
    assert transport.written.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"\r\nServer:" not in transport.written
    del transport.written[:]
    return connection, transport, recorder


def client_frame(opcode: Opcode, data: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    return Frame(opcode, data, fin).serialize(mask=mask)


def server_frames(data: bytes | bytearray) -> list[tuple[int, bytes]]:
    """Parse unmasked frames written by the server: (opcode, payload) pairs."""
    frames = []
    pos = 0
    while pos < len(data):
        opcode = data[pos] & 0x0F
        length = data[pos + 1] & 0x7F
        pos += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        frames.append((opcode, bytes(data[pos : pos + length])))
        pos += length
    return frames


def close_code(data: bytes | bytearray) -> int:
    closes = [payload for opcode, payload in server_frames(data) if opcode == CLOSE]
    assert closes, f"no close frame in {data!r}"
    return Close.parse(closes[-1]).code


BIG = ("x" * 300).encode()
HUGE = ("y" * 70_000).encode()
STREAM = b"".join(
    [
        client_frame(TEXT, b'[2,"1","Heartbeat",{}]'),
        client_frame(PING, b"p1"),
        client_frame(TEXT, b"he", fin=False),
        client_frame(PING, b"p2"),
        client_frame(CONT, b"ll", fin=False),
        client_frame(CONT, b"o", fin=True),
        client_frame(BINARY, b"\x00\x01\xff"),
        client_frame(TEXT, BIG),
        client_frame(TEXT, "prix: 3 €".encode()),
        client_frame(TEXT, b""),
        client_frame(PONG, b"unsolicited"),
        client_frame(TEXT, HUGE),
        client_frame(BINARY, b"b", fin=False),
        client_frame(CONT, b"c"),
        client_frame(TEXT, b"last"),
    ]
)
EXPECTED: list[str | bytes] = [
    '[2,"1","Heartbeat",{}]',
    "hello",
    b"\x00\x01\xff",
    BIG.decode(),
    "prix: 3 €",
    "",
    HUGE.decode(),
    b"bc",
    "last",
]


def _chunkings(data: bytes) -> list[list[bytes]]:
    rng = random.Random(6455)
    whole = [data]
    small = [data[i : i + 7] for i in range(0, len(data), 7)]
    ragged = []
    pos = 0
    while pos < len(data):
        step = rng.choice([1, 2, 3, 5, 64, 1000, 40_000])
        ragged.append(data[pos : pos + step])
        pos += step
    return [whole, small, ragged]


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "protocol"])
@pytest.mark.parametrize("chunking", range(3), ids=["whole", "7-byte", "ragged"])
async def test_messages_and_automatic_answers_are_the_same_on_both_paths(
    fast_path: bool, chunking: int
) -> None:
    connection, transport, recorder = await open_connection(fast_path=fast_path)
    assert connection._framing is fast_path
    for chunk in _chunkings(STREAM)[chunking]:
        connection.data_received(chunk)
    assert recorder.messages == EXPECTED
    assert server_frames(transport.written) == [(PONG, b"p1"), (PONG, b"p2")]
    assert connection.state is OPEN
    # A close frame: echoed, the TCP connection half-closed, nothing delivered after it.
    connection.data_received(
        client_frame(CLOSE, Close(1000, "bye").serialize()) + client_frame(TEXT, b"late")
    )
    assert close_code(transport.written) == 1000
    assert transport.eof
    assert recorder.messages == EXPECTED


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "protocol"])
@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536])
async def test_sent_text_frames_are_the_same_on_both_paths(fast_path: bool, length: int) -> None:
    connection, transport, _ = await open_connection(fast_path=fast_path)
    text = "é" * (length // 2) + "a" * (length % 2)
    connection.send_text(text)
    assert bytes(transport.written) == Frame(TEXT, text.encode()).serialize(mask=False)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "protocol"])
@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (client_frame(TEXT, b"\xff\xfe not utf-8"), 1007),
        (client_frame(TEXT, b"unmasked", mask=False), 1002),
        (client_frame(TEXT, b"z" * 2000), 1009),
        (client_frame(TEXT, b"z" * 70_000), 1009),
        (bytes([0x81 | 0x40]) + client_frame(TEXT, b"rsv1")[1:], 1002),
        (client_frame(CONT, b"no first fragment"), 1002),
    ],
    ids=["invalid-utf8", "unmasked", "too-big", "too-big-64bit", "rsv-bit", "stray-cont"],
)
async def test_broken_frames_close_the_connection_with_the_rfc_code(
    fast_path: bool, frame: bytes, code: int
) -> None:
    connection, transport, recorder = await open_connection(fast_path=fast_path, max_size=1024)
    connection.data_received(client_frame(TEXT, b"ok") + frame + client_frame(TEXT, b"after"))
    assert recorder.messages == ["ok"]
    assert close_code(transport.written) == code
    assert transport.eof
    with pytest.raises(ConnectionNotOpen):
        connection.send_text("too late")


async def test_frames_pipelined_behind_the_request_are_delivered_after_the_handshake() -> None:
    pipelined = client_frame(TEXT, b"early") + client_frame(TEXT, b"ear", fin=False)
    connection, _, recorder = await open_connection(after_request=pipelined)
    assert connection._framing is False  # the protocol's parser holds part of a frame
    connection.data_received(client_frame(CONT, b"ly"))
    connection.data_received(client_frame(TEXT, b"later"))
    assert recorder.messages == ["early", "early", "later"]


async def test_full_write_buffer_pauses_reading_and_holds_drain() -> None:
    connection, transport, _ = await open_connection()
    await connection.drain()  # not paused: returns at once
    connection.pause_writing()
    assert transport.reading_paused and connection.writing_paused
    drained = asyncio.ensure_future(connection.drain())
    await asyncio.sleep(0.01)
    assert not drained.done()
    connection.resume_writing()
    await asyncio.wait_for(drained, 1)
    assert not transport.reading_paused
    # Handler back-pressure and write back-pressure: reading resumes when both are over.
    connection.pause_reading()
    connection.pause_writing()
    connection.resume_writing()
    assert transport.reading_paused
    connection.resume_reading()
    assert not transport.reading_paused


async def test_connection_lost_releases_drain_and_reports_once() -> None:
    connection, _, recorder = await open_connection()
    connection.pause_writing()
    drained = asyncio.ensure_future(connection.drain())
    await asyncio.sleep(0)
    connection.connection_lost(None)
    await asyncio.wait_for(drained, 1)
    assert recorder.lost
    assert connection.close_code == 1006


# -- the gateway over real sockets ----------------------------------------------------------


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def _gateway(db: Database, settings: Settings) -> Gateway:
    gw = Gateway(db=db, settings=settings, handlers={OCPPVersion.V16: v16.HANDLERS})
    await gw.start()
    return gw


class RawSocket:
    """A WebSocket client by hand: sends what it is told, answers nothing by itself."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, path: str = "/ocpp/CP1") -> RawSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        auth = basic_auth("CP1", PASSWORD)["Authorization"]
        request = REQUEST.replace(b"/ocpp/CP1", path.encode()).replace(
            b"\r\n\r\n", f"\r\nAuthorization: {auth}\r\n\r\n".encode()
        )
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101 "), head
        return cls(reader, writer)

    def send(self, text: str) -> None:
        self.writer.write(client_frame(TEXT, text.encode()))

    async def frame(self, timeout: float = 5) -> tuple[int, bytes]:
        head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        length = head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return head[0] & 0x0F, await self.reader.readexactly(length)

    async def answer(self, timeout: float = 5) -> list[Any]:
        opcode, payload = await self.frame(timeout)
        assert opcode == TEXT, (opcode, payload)
        return list(json.loads(payload))

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def raw(gateway: Gateway) -> AsyncIterator[RawSocket]:
    sock = await RawSocket.open(gateway.port)
    yield sock
    sock.close()


async def test_pipelined_calls_are_answered_in_order(raw: RawSocket) -> None:
    raw.send('[2,"boot","BootNotification",{"chargePointVendor":"A","chargePointModel":"B"}]')
    assert (await raw.answer())[1] == "boot"
    ids = [f"m{i}" for i in range(12)]
    for unique_id in ids:  # all in one go, without waiting for answers
        raw.send(
            json.dumps(
                [
                    2,
                    unique_id,
                    "StatusNotification",
                    {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
                ]
            )
        )
    raw.send("not json")
    answers = [await raw.answer() for _ in range(len(ids) + 1)]
    assert [a[1] for a in answers] == [*ids, "-1"]
    assert [a[0] for a in answers] == [3] * len(ids) + [4]


async def test_call_pipelined_behind_an_accepted_boot_is_not_refused(
    ocpp_url: str, sqlite_db: Database, gateway: Gateway
) -> None:
    """The message behind a BootNotification goes through the session after the boot's
    answer, as if read after it: the boot's outcome applies to it."""
    await sqlite_db.write(lambda uow: uow.chargers.update("CP1", registration_status="Pending"))
    sock = await RawSocket.open(gateway.port)  # connects as a Pending charger
    try:
        await sqlite_db.write(
            lambda uow: uow.chargers.update("CP1", registration_status="Accepted")
        )
        sock.writer.write(
            client_frame(
                TEXT, b'[2,"b","BootNotification",{"chargePointVendor":"A","chargePointModel":"B"}]'
            )
            + client_frame(TEXT, b'[2,"h","Heartbeat",{}]')
        )
        boot, heartbeat = await sock.answer(), await sock.answer()
        assert boot[2]["status"] == "Accepted"
        assert heartbeat[0] == 3 and heartbeat[1] == "h"
    finally:
        sock.close()


async def test_charger_that_does_not_read_is_not_answered_until_it_does(
    raw: RawSocket, gateway: Gateway
) -> None:
    raw.send('[2,"1","Heartbeat",{}]')
    assert (await raw.answer())[1] == "1"
    ws = gateway.connections["CP1"].ws
    ws.pause_writing()  # as the transport does when its buffer passes the high-water mark
    raw.send('[2,"2","Heartbeat",{}]')
    with pytest.raises(TimeoutError):
        await raw.answer(timeout=0.3)
    ws.resume_writing()
    assert (await raw.answer())[1] == "2"


async def test_keepalive_ping_without_pong_closes_with_1011(
    sqlite_db: Database, settings_factory: Callable[..., Settings], gateway: Gateway
) -> None:
    gw = await _gateway(sqlite_db, settings_factory(ping_interval=0.1))
    sock = await RawSocket.open(gw.port)
    try:
        opcode, payload = await sock.frame()
        assert opcode == PING and len(payload) == 4
        assert gw.is_connected("CP1")
        opcode, payload = await sock.frame(timeout=2)  # no pong: closed after ping_timeout
        assert opcode == CLOSE
        assert Close.parse(payload) == Close(1011, "keepalive ping timeout")
        assert await asyncio.wait_for(sock.reader.read(), 2) == b""  # then EOF
        sock.writer.close()
        await asyncio.sleep(0.05)
        assert not gw.is_connected("CP1")
    finally:
        sock.close()
        await gw.stop()


async def test_keepalive_pongs_keep_the_connection_open(
    sqlite_db: Database, settings_factory: Callable[..., Settings], gateway: Gateway
) -> None:
    gw = await _gateway(sqlite_db, settings_factory(ping_interval=0.05))
    try:
        async with connect(
            f"ws://127.0.0.1:{gw.port}/ocpp/CP1",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic_auth("CP1", PASSWORD),
        ) as ws:  # the websockets client answers pings by itself
            await asyncio.sleep(0.4)
            assert (await RawCharger(ws).call("Heartbeat", {}))[0] == 3
            assert gw.is_connected("CP1")
    finally:
        await gw.stop()


async def test_stop_closes_connections_with_1001(
    sqlite_db: Database, settings_factory: Callable[..., Settings], gateway: Gateway
) -> None:
    gw = await _gateway(sqlite_db, settings_factory())
    async with connect(
        f"ws://127.0.0.1:{gw.port}/ocpp/CP1",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=basic_auth("CP1", PASSWORD),
    ) as ws:
        await asyncio.wait_for(gw.stop(), 5)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1001
    assert not gw.is_connected("CP1")


async def test_handshake_completing_during_stop_gets_503_and_silent_clients_are_dropped() -> None:
    release = asyncio.Event()

    async def slow_check(connection: WebSocketConnection, request: Any) -> None:
        await release.wait()

    server = WebSocketServer(
        process_request=slow_check,
        on_open=lambda connection: Recorder(),
        subprotocols=["ocpp1.6"],
        ping_interval=None,
    )
    await server.listen("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST)
    silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", port)
    await eventually(  # both accepted, the first one's check under way
        lambda: len(server.connections) == 2 and any(c._handshake for c in server.connections)
    )
    closing = asyncio.ensure_future(server.close())
    assert await asyncio.wait_for(silent_reader.read(), 2) == b""  # dropped at once
    release.set()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    assert head.startswith(b"HTTP/1.1 503 ")
    writer.close()
    silent_writer.close()
    await asyncio.wait_for(closing, 5)
    assert not server.connections


async def test_silent_client_is_dropped_after_the_open_timeout() -> None:
    server = WebSocketServer(
        process_request=_accept_all,
        on_open=lambda connection: Recorder(),
        subprotocols=["ocpp1.6"],
        open_timeout=0.1,
    )
    await server.listen("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.sockets[0].getsockname()[1]
        )
        writer.write(REQUEST[:20])  # half a request line, then nothing
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
    finally:
        await server.close()


async def test_peer_that_ignores_our_close_is_dropped_after_the_close_timeout() -> None:
    server = WebSocketServer(
        process_request=_accept_all,
        on_open=lambda connection: Recorder(),
        subprotocols=["ocpp1.6"],
        ping_interval=None,
        close_timeout=0.1,
    )
    await server.listen("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", server.sockets[0].getsockname()[1]
        )
        writer.write(REQUEST)
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        (connection,) = server.connections
        connection.close(1000, "replaced by a new connection")
        data = await asyncio.wait_for(reader.read(), 2)  # close frame, then the drop
        assert close_code(data) == 1000
        writer.close()
        await eventually(lambda: not server.connections)
    finally:
        await server.close()
