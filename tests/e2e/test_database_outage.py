"""A short PostgreSQL outage is held, not refused (issue 18 item 4).

csms reaches PostgreSQL through a loopback TCP proxy that the test cuts: while cut, the
proxy's port refuses connections and every connection it carried is dropped, as when
the database server stops; then it is restored. The shared server itself is never
touched.

- A transaction message sent during the outage is answered (CALLRESULT, not CALLERROR)
  once the database is back, within ``CSMS_DB_OUTAGE_HOLD``, and stored once.
- A charger connecting during the outage gets HTTP 503 with ``Retry-After``.
- An outage longer than the hold gets the error answer (InternalError: the charger
  keeps the message and sends it again), and the next attempt after recovery succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from csms.config import Settings
from csms.domain.charging.stations import add_charger
from csms.server import CsmsServer, running_server
from storage.migrate import upgrade
from tests.conftest import make_settings
from tests.gateway.conftest import NOW, PASSWORD, basic_auth

T0 = "2026-12-03T10:00:00Z"


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 in front of a server, which a test can cut and restore."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    def cut(self) -> None:
        """Refuse new connections (the port is closed) and drop the ones carried."""
        assert self._server is not None
        self._server.close()
        self._server = None
        for transport in list(self._transports):
            transport.abort()  # RST: the database server is gone
        self._transports.clear()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self._server is not None:
            self.cut()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer.transport, up_writer.transport)
        self._transports.update(pair)
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._pipes.discard(task)
            self._transports.difference_update(pair)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()


class DatabaseLog(logging.Handler):
    """Events for the database's outage log lines, so the test waits for what happened."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.loop = asyncio.get_running_loop()
        self.unreachable = asyncio.Event()
        self.reachable = asyncio.Event()
        self.given_up = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for text, event in (
            ("database unreachable (", self.unreachable),
            ("database reachable again", self.reachable),
            ("writes given up", self.given_up),
        ):
            if message.startswith(text) or text in message:
                self.loop.call_soon_threadsafe(event.set)


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[CuttableProxy]:
    await asyncio.to_thread(upgrade, postgres_url)
    url = make_url(postgres_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
def db_log() -> Iterator[Callable[[], DatabaseLog]]:
    logger = logging.getLogger("storage.database")
    handlers: list[DatabaseLog] = []

    def attach() -> DatabaseLog:
        handler = DatabaseLog()
        logger.addHandler(handler)
        handlers.append(handler)
        return handler

    yield attach
    for handler in handlers:
        logger.removeHandler(handler)


@contextlib.asynccontextmanager
async def _csms(
    tmp_path: Path, postgres_url: str, proxy: CuttableProxy, hold: str
) -> AsyncIterator[CsmsServer]:
    through_proxy = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    settings: Settings = make_settings(
        tmp_path / "home", database_url=through_proxy.render_as_string(hide_password=False)
    )
    settings = settings.with_overrides(db_outage_hold=_seconds(hold))
    async with running_server(settings, migrate=False) as server:
        assert server.db is not None and server.db.outage_hold == _seconds(hold)
        for identity in ("CP-OUT", "CS-OUT"):
            await server.db.write(
                lambda uow, i=identity: add_charger(uow, charger_id=i, now=NOW, password=PASSWORD)
            )
        yield server


def _seconds(hold: str) -> float:
    from csms.config import load_settings

    return load_settings(
        {"CSMS_DB_OUTAGE_HOLD": hold}, config_file=Path("absent.toml")
    ).database.outage_hold


@contextlib.asynccontextmanager
async def _charger(
    server: CsmsServer, identity: str = "CP-OUT", protocol: str = "ocpp1.6"
) -> AsyncIterator[ClientConnection]:
    async with connect(
        f"{server.ocpp_url}/{identity}",
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers=basic_auth(identity, PASSWORD),
    ) as ws:
        yield ws


async def _call(ws: ClientConnection, message_id: str, action: str, payload: Any) -> list[Any]:
    await ws.send(json.dumps([2, message_id, action, payload]))
    return list(json.loads(await ws.recv()))


def _meter_values(tx_id: int, value: str) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "transactionId": tx_id,
        "meterValue": [{"timestamp": "2026-12-03T10:05:00Z", "sampledValue": [{"value": value}]}],
    }


async def _stored_values(server: CsmsServer) -> list[str]:
    assert server.db is not None
    query = sa.text("SELECT value FROM meter_values ORDER BY id")
    return list(await server.db.read(lambda uow: [r[0] for r in uow.conn.execute(query)]))


async def _started(ws: ClientConnection) -> int:
    boot = await _call(
        ws, "b", "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "W1"}
    )
    assert boot[2]["status"] == "Accepted"
    start = await _call(
        ws,
        "s",
        "StartTransaction",
        {"connectorId": 1, "idTag": "CARD1", "meterStart": 0, "timestamp": T0},
    )
    return int(start[2]["transactionId"])


async def test_a_transaction_message_sent_during_a_short_outage_is_answered_and_stored_once(
    tmp_path: Path,
    postgres_url: str,
    proxy: CuttableProxy,
    db_log: Callable[[], DatabaseLog],
) -> None:
    """The commit is retried while PostgreSQL is unreachable; the charger sees a slower
    CALLRESULT, never a CALLERROR (DESIGN: a transaction message is committed before its
    answer; an error would make a 1.6 charger resend it, then drop it after
    TransactionMessageAttempts)."""
    log = db_log()
    async with _csms(tmp_path, postgres_url, proxy, "15s") as server, _charger(server) as ws:
        tx_id = await _started(ws)
        proxy.cut()
        await ws.send(json.dumps([2, "mv", "MeterValues", _meter_values(tx_id, "1234")]))
        answer = asyncio.ensure_future(ws.recv())
        held = asyncio.ensure_future(log.unreachable.wait())
        # (whichever comes first: the commit failed and the write is held, or an answer)
        await asyncio.wait([answer, held], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert not answer.done(), f"answered during the outage: {answer.result()}"
        assert held.done()
        await proxy.restore()
        async with asyncio.timeout(15):
            reply = json.loads(await answer)
        assert reply == [3, "mv", {}]
        assert log.reachable.is_set() and not log.given_up.is_set()
        assert await _stored_values(server) == ["1234"]
        # The pool reconnected by itself: the next message goes straight through.
        again = await _call(ws, "mv2", "MeterValues", _meter_values(tx_id, "1300"))
        assert again == [3, "mv2", {}]
        assert await _stored_values(server) == ["1234", "1300"]


async def test_a_charger_connecting_during_an_outage_gets_503_with_retry_after(
    tmp_path: Path, postgres_url: str, proxy: CuttableProxy
) -> None:
    """The database cannot say who the charger is: try again later (not 500); once the
    database is back the same charger connects."""
    async with _csms(tmp_path, postgres_url, proxy, "15s") as server:
        proxy.cut()
        with pytest.raises(InvalidStatus) as refused:
            async with _charger(server):
                pass
        assert refused.value.response.status_code == 503
        assert int(refused.value.response.headers["Retry-After"]) > 0
        await proxy.restore()
        async with _charger(server) as ws:
            assert (await _started(ws)) > 0


async def test_an_outage_longer_than_the_hold_is_answered_with_an_error(
    tmp_path: Path,
    postgres_url: str,
    proxy: CuttableProxy,
    db_log: Callable[[], DatabaseLog],
) -> None:
    """Held for CSMS_DB_OUTAGE_HOLD, then InternalError; the charger resends after the
    outage and that is stored once."""
    log = db_log()
    async with _csms(tmp_path, postgres_url, proxy, "1.5s") as server, _charger(server) as ws:
        tx_id = await _started(ws)
        proxy.cut()
        sent = time.monotonic()
        reply = await asyncio.wait_for(
            _call(ws, "mv", "MeterValues", _meter_values(tx_id, "1234")), 10
        )
        waited = time.monotonic() - sent
        assert reply[0] == 4 and reply[1] == "mv" and reply[2] == "InternalError", reply
        assert waited >= 1.4, f"answered after {waited:.2f} s, before the hold ran out"
        assert log.given_up.is_set()
        await proxy.restore()
        resent = await _call(ws, "mv-again", "MeterValues", _meter_values(tx_id, "1234"))
        assert resent == [3, "mv-again", {}]
        assert await _stored_values(server) == ["1234"]


async def test_a_201_transaction_event_sent_during_a_short_outage_is_answered_and_stored_once(
    tmp_path: Path,
    postgres_url: str,
    proxy: CuttableProxy,
    db_log: Callable[[], DatabaseLog],
) -> None:
    """2.0.1 E01/E02: the same hold for TransactionEvent (and any other write)."""
    log = db_log()
    async with (
        _csms(tmp_path, postgres_url, proxy, "15s") as server,
        _charger(server, "CS-OUT", "ocpp2.0.1") as ws,
    ):
        boot = await _call(
            ws,
            "b",
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"vendorName": "Acme", "model": "W2"}},
        )
        assert boot[2]["status"] == "Accepted"
        proxy.cut()
        event = {
            "eventType": "Started",
            "timestamp": T0,
            "triggerReason": "CablePluggedIn",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "tx-outage", "chargingState": "EVConnected"},
            "evse": {"id": 1, "connectorId": 1},
        }
        await ws.send(json.dumps([2, "te", "TransactionEvent", event]))
        answer = asyncio.ensure_future(ws.recv())
        held = asyncio.ensure_future(log.unreachable.wait())
        await asyncio.wait([answer, held], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        assert not answer.done(), f"answered during the outage: {answer.result()}"
        await proxy.restore()
        async with asyncio.timeout(15):
            reply = json.loads(await answer)
        assert reply[:2] == [3, "te"], reply
        assert server.db is not None
        query = sa.text("SELECT count(*) FROM transaction_events WHERE charger_id = 'CS-OUT'")
        assert await server.db.read(lambda uow: uow.conn.execute(query).scalar_one()) == 1
