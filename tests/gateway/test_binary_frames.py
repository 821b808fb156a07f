"""Binary WebSocket messages are refused (issue 18, item 9), over real sockets.

OCPP-J messages are JSON text (OCPP-J 1.6, 2.0.1 part 4): a binary frame is
answered with close code 1003 (unsupported data, RFC 6455 §7.4.1) and logged, on both
versions; what the charger sent before it is answered first, nothing after it is handled.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from websockets.frames import BINARY, CLOSE, TEXT, Close

from csms.adapters.v16 import inbound as v16
from csms.adapters.v201 import inbound as v201
from csms.config import Settings
from csms.domain.charging.stations import add_charger
from csms.gateway import Gateway
from protocol import OCPPVersion
from storage.database import Database
from tests.gateway.conftest import NOW, PASSWORD
from tests.gateway.test_transport import REQUEST, RawSocket, basic_auth, client_frame
from tests.waiting import eventually

HEARTBEAT = b'[2,"hb","Heartbeat",{}]'
VERSIONS = ["ocpp1.6", "ocpp2.0.1"]


@pytest.fixture
async def both_versions(
    sqlite_db: Database, settings_factory: Callable[..., Settings]
) -> AsyncIterator[Gateway]:
    await sqlite_db.write(
        lambda uow: add_charger(uow, charger_id="CP1", now=NOW, password=PASSWORD)
    )
    gw = Gateway(
        db=sqlite_db,
        settings=settings_factory(ping_interval=None),
        handlers={OCPPVersion.V201: v201.HANDLERS, OCPPVersion.V16: v16.HANDLERS},
    )
    await gw.start()
    yield gw
    await gw.stop()


async def _open(port: int, subprotocol: str) -> RawSocket:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    auth = basic_auth("CP1", PASSWORD)["Authorization"]
    request = REQUEST.replace(b"ocpp1.6", subprotocol.encode()).replace(
        b"\r\n\r\n", f"\r\nAuthorization: {auth}\r\n\r\n".encode()
    )
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 "), head
    assert f"Sec-WebSocket-Protocol: {subprotocol}".encode() in head
    return RawSocket(reader, writer)


async def _close_code(sock: RawSocket) -> int:
    opcode, payload = await sock.frame()
    assert opcode == CLOSE, (opcode, payload)
    return Close.parse(payload).code


@pytest.mark.parametrize("subprotocol", VERSIONS)
async def test_a_binary_frame_closes_the_connection_with_1003(
    both_versions: Gateway, subprotocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Even a binary frame holding a valid CALL: OCPP-J is text."""
    sock = await _open(both_versions.port, subprotocol)
    try:
        with caplog.at_level(logging.WARNING, logger="csms.gateway"):
            sock.writer.write(client_frame(BINARY, HEARTBEAT))
            assert await _close_code(sock) == 1003
        assert "CP1 sent a binary WebSocket message" in caplog.text
    finally:
        sock.close()
    await eventually(lambda: not both_versions.is_connected("CP1"), timeout=15)


@pytest.mark.parametrize("subprotocol", VERSIONS)
async def test_a_call_before_a_binary_frame_is_answered_and_nothing_after_it(
    both_versions: Gateway, subprotocol: str
) -> None:
    """In one write: a CALL, a binary frame, another CALL. The first is answered (its
    turn came before the refusal), then 1003; the last is never handled."""
    sock = await _open(both_versions.port, subprotocol)
    try:
        sock.writer.write(
            client_frame(TEXT, HEARTBEAT)
            + client_frame(BINARY, b"\x00\x01")
            + client_frame(TEXT, b'[2,"late","Heartbeat",{}]')
        )
        opcode, payload = await sock.frame()
        assert opcode == TEXT
        answer = json.loads(payload)
        assert answer[0] == 3 and answer[1] == "hb"
        assert await _close_code(sock) == 1003
    finally:
        sock.close()


@pytest.mark.parametrize("subprotocol", VERSIONS)
async def test_text_frames_are_still_answered(both_versions: Gateway, subprotocol: str) -> None:
    sock = await _open(both_versions.port, subprotocol)
    try:
        sock.send(HEARTBEAT.decode())
        answer = await sock.answer()
        assert answer[0] == 3 and answer[1] == "hb"
    finally:
        sock.close()
