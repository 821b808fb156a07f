"""SIGTERM to ``csms serve`` while chargers are mid-call (issue 18, item 3).

Twenty 1.6 chargers each have a transaction message in the server's hands when SIGTERM
lands: ten StartTransaction, ten MeterValues. The database is held locked by the test so
that the calls are really in flight (each charger's ping after its CALL is answered only
once the server has read the CALL), and released only once the server has closed its
listener, i.e. once the stop is under way. Every committed call must get its CALLRESULT
before the close frame (1001), and the process must exit 0 without dropping an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.processes import free_port, run_checked, start_process
from tests.waiting import eventually

CSMS = str(Path(sys.executable).with_name("csms"))
CHARGERS = 20
T = "2026-11-22T10:00:00Z"


def _call(index: int) -> tuple[str, dict[str, Any]]:
    if index % 2:
        return "StartTransaction", {
            "connectorId": 1,
            "idTag": f"TAG{index:02d}",
            "meterStart": 1000 + index,
            "timestamp": T,
        }
    return "MeterValues", {
        "connectorId": 1,
        "meterValue": [{"timestamp": T, "sampledValue": [{"value": str(5000 + index)}]}],
    }


@contextlib.asynccontextmanager
async def _database_locked(database_url: str) -> AsyncIterator[None]:
    """Writers wait while the block runs (readers do not): SQLite's write lock, or
    PostgreSQL table locks on what these calls insert into."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            yield
            conn.execute("ROLLBACK")
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        transaction = pg.transaction()
        await transaction.start()
        await pg.execute("LOCK TABLE meter_values, transactions IN EXCLUSIVE MODE")
        yield
        await transaction.rollback()
    finally:
        await pg.close()


async def _count(database_url: str, table: str) -> int:
    query = f"SELECT count(*) FROM {table}"
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.split(":///", 1)[1])
        try:
            return int(conn.execute(query).fetchone()[0])
        finally:
            conn.close()
    pg = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await pg.fetchval(query))
    finally:
        await pg.close()


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def _boot(ws: ClientConnection) -> None:
    await ws.send(
        json.dumps(
            [2, "boot", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}]
        )
    )
    answer = json.loads(await ws.recv())
    assert answer[0] == 3 and answer[2]["status"] == "Accepted", answer


async def _answer_then_close_code(ws: ClientConnection) -> tuple[list[Any] | None, int | None]:
    """The next message (``None`` if the connection closed first), then the close code."""
    try:
        answer = json.loads(await ws.recv())
    except ConnectionClosed:
        return None, ws.close_code
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.recv()
    return answer, ws.close_code


async def test_sigterm_answers_every_committed_call_then_closes_with_1001(
    tmp_path: Path, database_url: str
) -> None:
    ocpp_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "CSMS_HOME": str(tmp_path / "home"),
        "CSMS_DATABASE_URL": database_url,
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_OCPP_PORT": str(ocpp_port),
        "CSMS_API_PORT": str(api_port),
        "CSMS_API_URL": f"http://127.0.0.1:{api_port}",
        "CSMS_UNKNOWN_CHARGERS": "accept",
        "CSMS_PING_INTERVAL": "0",
        "CSMS_SHUTDOWN_GRACE": "30s",
    }
    log_path = tmp_path / "serve.log"
    await run_checked([CSMS, "db", "upgrade"], env=env, log_path=tmp_path / "upgrade.log")
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(
            start_process("csms", [CSMS, "serve"], port=api_port, env=env, log_path=log_path)
        )
        chargers = [
            await stack.enter_async_context(
                connect(
                    f"ws://127.0.0.1:{ocpp_port}/ocpp/CP{index:02d}",
                    subprotocols=[Subprotocol("ocpp1.6")],
                    ping_interval=None,
                    close_timeout=30,
                )
            )
            for index in range(CHARGERS)
        ]
        await asyncio.gather(*(_boot(ws) for ws in chargers))
        async with _database_locked(database_url):
            for index, ws in enumerate(chargers):
                action, payload = _call(index)
                await ws.send(json.dumps([2, f"c{index}", action, payload]))
            # A pong comes back once the server has read what was sent before the ping:
            # every CALL is in the server's hands, waiting for the database.
            pongs = [await ws.ping() for ws in chargers]
            await asyncio.wait_for(asyncio.gather(*pongs), 10)
            server.process.send_signal(signal.SIGTERM)
            await eventually(lambda: _refused(ocpp_port), timeout=10)  # the stop has begun
            assert server.process.returncode is None
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(_answer_then_close_code(ws) for ws in chargers)), 30
        )
        code = await asyncio.wait_for(server.process.wait(), 30)
    log = log_path.read_text()
    assert code == 0, log[-2000:]
    for index, (answer, close_code) in enumerate(outcomes):
        assert answer is not None, f"charger {index} got no answer:\n{log[-2000:]}"
        assert answer[0] == 3 and answer[1] == f"c{index}", answer
        assert close_code == 1001, (index, close_code)
    assert "closed before the answer" not in log
    assert "Traceback" not in log
    # Every call was committed, and every committed call was answered.
    assert await _count(database_url, "transactions") == CHARGERS // 2
    assert await _count(database_url, "meter_values") == CHARGERS // 2
