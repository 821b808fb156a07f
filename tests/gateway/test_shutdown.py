"""Stopping the gateway loses no answer (issue 18, item 3).

``Gateway.stop()`` stops accepting connections and reading frames, lets every CALL
already read finish and answers it, and only then closes the connections with 1001. The
MeterValues handler here is the real one behind a gate, so that a call is certainly in
hand when the stop begins.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.frames import CLOSE, TEXT, Close
from websockets.protocol import OPEN

from csms.adapters.v16 import inbound as v16
from csms.config import ConfigError, Settings, load_settings
from csms.domain.charging.stations import add_charger
from csms.gateway import CallContext, Gateway
from protocol import OCPPVersion
from storage.database import Database
from tests.gateway.conftest import NOW, PASSWORD
from tests.gateway.test_transport import RawSocket, client_frame, open_connection
from tests.waiting import eventually

METER_VALUES = json.dumps(
    [
        2,
        "mv",
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                {"timestamp": "2026-11-22T10:00:00Z", "sampledValue": [{"value": "1234"}]}
            ],
        },
    ]
)


CLOSE_ECHO = client_frame(CLOSE, Close(1001, "").serialize())


class Gate:
    """Holds the real MeterValues handler until released; tells when a call is inside."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def meter_values(self, ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
        self.entered.set()
        await self.release.wait()
        return await v16.meter_values(ctx, payload)


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def gated_gateway(
    sqlite_db: Database, settings_factory: Callable[..., Settings], gate: Gate
) -> AsyncIterator[Gateway]:
    await sqlite_db.write(
        lambda uow: add_charger(uow, charger_id="CP1", now=NOW, password=PASSWORD)
    )
    handlers = {**v16.HANDLERS, "MeterValues": gate.meter_values}
    gw = Gateway(
        db=sqlite_db,
        settings=settings_factory(ping_interval=None),
        handlers={OCPPVersion.V16: handlers},
    )
    await gw.start()
    yield gw
    gate.release.set()
    await gw.stop()


async def _complete_close(sock: RawSocket) -> None:
    """Answer the server's close frame and hang up once it has (RFC 6455 §7.1.1)."""
    sock.writer.write(CLOSE_ECHO)
    assert await asyncio.wait_for(sock.reader.read(), 5) == b""
    sock.writer.close()


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def _stored_meter_values(db: Database) -> int:
    from sqlalchemy import func, select

    from storage.sql.tables import meter_values

    def count(uow: Any) -> int:
        return int(uow.conn.execute(select(func.count()).select_from(meter_values)).scalar_one())

    return await db.read(count)


async def test_stop_answers_the_call_in_hand_before_closing_with_1001(
    gated_gateway: Gateway, gate: Gate, sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 18 item 3: listener closed and reading stopped first, the CALL in hand is
    committed and answered, then close 1001; a frame sent meanwhile is not handled."""
    gw = gated_gateway
    port = gw.port
    sock = await RawSocket.open(port)
    try:
        sock.send(METER_VALUES)
        await asyncio.wait_for(gate.entered.wait(), 5)
        stopping = asyncio.create_task(gw.stop())
        await eventually(lambda: _refused(port), timeout=5)  # no new connections
        sock.send('[2,"hb","Heartbeat",{}]')  # sent after the stop began: never read
        ws = gw.connections["CP1"].ws
        assert ws.state is OPEN  # still open: the answer is owed
        assert not stopping.done()
        with caplog.at_level(logging.INFO, logger="csms.gateway"):
            gate.release.set()
            answer = await sock.answer()
            assert answer == [3, "mv", {}]
            opcode, payload = await sock.frame()
            assert opcode == CLOSE
            assert Close.parse(payload).code == 1001
            await _complete_close(sock)
            await asyncio.wait_for(stopping, 5)
        assert await _stored_meter_values(sqlite_db) == 1
        assert "closed before the answer" not in caplog.text
        assert not gw.is_connected("CP1")
    finally:
        sock.close()


async def test_messages_read_before_the_stop_are_all_answered_and_reading_stays_stopped(
    gated_gateway: Gateway, gate: Gate
) -> None:
    """A CALL in hand and a backlog behind it (enough to pause reading): the backlog is
    answered in order during the stop, and draining it does not resume reading."""
    gw = gated_gateway
    sock = await RawSocket.open(gw.port)
    try:
        heartbeats = [f'[2,"hb{i}","Heartbeat",{{}}]' for i in range(5)]
        sock.writer.write(
            b"".join(client_frame(TEXT, text.encode()) for text in [METER_VALUES, *heartbeats])
        )
        await asyncio.wait_for(gate.entered.wait(), 5)
        await eventually(lambda: len(gw.connections["CP1"]._backlog or ()) == 5, timeout=5)
        port = gw.port
        stopping = asyncio.create_task(gw.stop())
        await eventually(lambda: _refused(port), timeout=5)
        sock.send('[2,"late","Heartbeat",{}]')
        gate.release.set()
        answers = [await sock.answer() for _ in range(6)]
        assert [a[1] for a in answers] == ["mv", *(f"hb{i}" for i in range(5))]
        opcode, payload = await sock.frame()
        assert opcode == CLOSE and Close.parse(payload).code == 1001
        await _complete_close(sock)
        await asyncio.wait_for(stopping, 5)
    finally:
        sock.close()


async def test_stop_reading_holds_whatever_the_handler_resumes() -> None:
    """Handler back-pressure ends while the server stops: reading stays stopped until the
    close, which reads again only to see the peer's close frame."""
    connection, transport, recorder = await open_connection()
    connection.pause_reading()
    connection.stop_reading()
    connection.resume_reading()
    assert transport.reading_paused
    connection.send_text("still answered")
    connection.close(1001)
    assert not transport.reading_paused
    connection.data_received(client_frame(TEXT, b"not delivered"))
    assert recorder.messages == []


async def test_stop_closes_with_1001_after_the_grace_when_a_call_does_not_finish(
    gated_gateway: Gateway, gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    """The wait is bounded: a handler stuck past ``CSMS_SHUTDOWN_GRACE`` does not keep the
    server from stopping; it says so."""
    gw = gated_gateway
    sock = await RawSocket.open(gw.port)
    try:
        sock.send(METER_VALUES)
        await asyncio.wait_for(gate.entered.wait(), 5)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with caplog.at_level(logging.INFO, logger="csms.gateway"):
            stopping = asyncio.create_task(gw.stop(grace=0.3))
            opcode, payload = await sock.frame()
            assert opcode == CLOSE and Close.parse(payload).code == 1001
            assert 0.3 <= loop.time() - started < 4  # once the grace is over
            await _complete_close(sock)
            await asyncio.wait_for(stopping, 5)
        assert "still waiting for an answer after 0.3 s" in caplog.text
    finally:
        sock.close()


async def test_idle_connections_are_closed_at_once_on_stop(
    gated_gateway: Gateway,
) -> None:
    """No CALL in hand: nothing to wait for, the stop takes no grace."""
    gw = gated_gateway
    sock = await RawSocket.open(gw.port)
    try:
        sock.send('[2,"hb","Heartbeat",{}]')
        assert (await sock.answer())[1] == "hb"
        loop = asyncio.get_running_loop()
        started = loop.time()
        stopping = asyncio.create_task(gw.stop())
        opcode, payload = await sock.frame()
        assert opcode == CLOSE and Close.parse(payload).code == 1001
        await _complete_close(sock)
        await asyncio.wait_for(stopping, 5)
        assert loop.time() - started < 2
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("CSMS_SHUTDOWN_GRACE", "20s", 20.0),
        ("CSMS_SHUTDOWN_GRACE", "0", 0.0),
        ("CSMS_SHUTDOWN_GRACE", "1m", 60.0),
        ("CSMS_HANDSHAKE_TIMEOUT", "3", 3.0),
        ("CSMS_HANDSHAKE_TIMEOUT", "2.5s", 2.5),
    ],
)
def test_shutdown_grace_and_handshake_timeout_take_durations(
    key: str, value: str, expected: float, tmp_path: Path
) -> None:
    settings = load_settings({key: value}, config_file=tmp_path / "absent.toml")
    assert getattr(settings.ocpp, key.removeprefix("CSMS_").lower()) == expected


def test_shutdown_grace_and_handshake_timeout_default_to_ten_seconds(tmp_path: Path) -> None:
    settings = load_settings({}, config_file=tmp_path / "absent.toml")
    assert settings.ocpp.shutdown_grace == 10.0
    assert settings.ocpp.handshake_timeout == 10.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CSMS_SHUTDOWN_GRACE", "soon"),
        ("CSMS_SHUTDOWN_GRACE", "-1"),
        ("CSMS_HANDSHAKE_TIMEOUT", "0"),
        ("CSMS_HANDSHAKE_TIMEOUT", "10x"),
    ],
)
def test_a_bad_shutdown_grace_or_handshake_timeout_stops_start_naming_the_variable(
    key: str, value: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({key: value}, config_file=tmp_path / "absent.toml")
    assert raised.value.key == key
    assert key in str(raised.value)


@pytest.mark.parametrize("key", ["CSMS_SHUTDOWN_GRACE", "CSMS_HANDSHAKE_TIMEOUT"])
def test_csms_serve_with_a_bad_duration_stops_with_a_message_naming_it(
    key: str, tmp_path: Path
) -> None:
    import io

    from csms.cli import main

    err = io.StringIO()
    config = tmp_path / "empty.toml"
    config.write_text("")
    env = {"CSMS_HOME": str(tmp_path / "home"), "CSMS_CONFIG": str(config)}
    code = main(["serve"], stderr=err, env={**env, key: "soon"})
    assert code == 2
    assert f"configuration error: {key}: 'soon' is not a duration" in err.getvalue()
    assert not (tmp_path / "home").exists()  # stopped before creating anything
