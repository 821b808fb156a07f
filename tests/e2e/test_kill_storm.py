"""``kill -9`` under load, twenty times: no meter value stored twice, none acknowledged lost.

Issue 18 item 2. ``csms serve`` runs as its own process while chargers send 1.6
MeterValues one after the other. A charger that gets no answer (the server died between
its commit and the CALLRESULT, or before the commit) reconnects and sends the same
message again, as real firmware and ``csms-sim``'s offline queue do (1.6: a
transaction-related message is delivered until it is answered, up to
TransactionMessageAttempts). The server is killed with SIGKILL twenty times, each time
once it has answered at least ``ANSWERS_PER_RUN`` messages and its successor is up
(started meanwhile, so that the storm is not twenty Python start-ups in a row); the
chargers reconnect to the successor. Afterwards every acknowledged sample is in the
database, exactly once, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, WebSocketException

from bench.processes import free_port, run_checked, start_process
from storage.database import Database

CSMS = str(Path(sys.executable).with_name("csms"))
KILLS = 20
CHARGERS = 8
#: Messages each server answers (all chargers together) before it is killed.
ANSWERS_PER_RUN = 20
#: Servers started ahead of the one under load.
PREFETCH = 2
#: How long a run may take to answer them before the test gives up (a stuck server).
RUN_PATIENCE = 30.0
T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


class ResendingCharger:
    """A 1.6 charger with one transaction that sends MeterValues one after the other; a
    message that got no answer is sent again, unchanged, after reconnecting."""

    def __init__(self, endpoint: list[str], identity: str, on_answer: Any) -> None:
        self.endpoint = endpoint
        self.identity = identity
        self.on_answer = on_answer
        self.transaction_id: int | None = None
        #: Sequence numbers of the MeterValues the server acknowledged.
        self.acknowledged: list[int] = []
        self.resent = 0
        self._ws: ClientConnection | None = None
        self._ids = itertools.count()

    async def _connection(self) -> ClientConnection:
        while self._ws is None:
            try:
                self._ws = await connect(
                    f"{self.endpoint[0]}/{self.identity}",
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    open_timeout=5,
                    ping_interval=None,
                )
            except (OSError, InvalidHandshake, TimeoutError):
                await asyncio.sleep(0.02)  # the server is not back yet (firmware backs off)
        return self._ws

    async def _deliver(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send until answered; the answer's payload."""
        attempts = 0
        while True:
            ws = await self._connection()
            attempts += 1
            message_id = f"{self.identity}-{next(self._ids)}"
            try:
                await ws.send(json.dumps([2, message_id, action, payload]))
                answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
            except (WebSocketException, OSError, TimeoutError):
                with contextlib.suppress(Exception):
                    await ws.close()
                self._ws = None
                continue
            assert answer[:2] == [3, message_id], answer
            self.resent += attempts - 1
            return dict(answer[2])

    async def start_transaction(self) -> None:
        answer = await self._deliver(
            "StartTransaction",
            {"connectorId": 1, "idTag": "STORM", "meterStart": 0, "timestamp": _time(0)},
        )
        self.transaction_id = int(answer["transactionId"])

    async def run(self, stop: asyncio.Event) -> None:
        for seq in itertools.count(1):
            if stop.is_set():
                return
            await self._deliver(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": self.transaction_id,
                    "meterValue": [
                        {
                            "timestamp": _time(seq),
                            "sampledValue": [
                                {"value": str(seq * 10), "unit": "Wh"},
                                {"value": "7400", "measurand": "Power.Active.Import"},
                            ],
                        }
                    ],
                },
            )
            self.acknowledged.append(seq)
            self.on_answer()

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


def _time(seq: int) -> str:
    return (T0 + timedelta(seconds=seq)).isoformat().replace("+00:00", "Z")


class AnswerCounter:
    """Answers so far, and a wait for the next ``n`` of them (an event, not a sleep)."""

    def __init__(self) -> None:
        self.count = 0
        self._waiter: tuple[int, asyncio.Future[None]] | None = None

    def __call__(self) -> None:
        self.count += 1
        if self._waiter is not None and self.count >= self._waiter[0]:
            self._waiter[1].set_result(None)
            self._waiter = None

    async def more(self, n: int, *, timeout: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._waiter = (self.count + n, future)
        async with asyncio.timeout(timeout):
            await future


def _stored_samples(db: Database) -> Any:
    def rows(uow: Any) -> list[tuple[str, str, str, str]]:
        query = sa.text(
            "SELECT charger_id, measurand, value, CAST(timestamp AS VARCHAR(40)) "
            "FROM meter_values WHERE source = 'MeterValues'"
        )
        return [tuple(r) for r in uow.conn.execute(query)]

    return db.read(rows)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_kill_storm_stores_every_acknowledged_meter_value_exactly_once(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    home = tmp_path / "home"
    database_url = (
        f"sqlite+aiosqlite:///{home}/csms.sqlite3"
        if backend == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    env = {
        **os.environ,
        "CSMS_HOME": str(home),
        "CSMS_DATABASE_URL": database_url,
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_UNKNOWN_CHARGERS": "accept",
        "CSMS_PING_INTERVAL": "0",
        "CSMS_LOG_LEVEL": "WARNING",
    }
    env.pop("CSMS_API_TOKEN", None)
    await run_checked([CSMS, "db", "upgrade"], env=env, log_path=tmp_path / "upgrade.log")
    answers = AnswerCounter()
    endpoint = ["ws://127.0.0.1:1/ocpp"]  # where the chargers (re)connect: the live server
    chargers = [ResendingCharger(endpoint, f"STORM-{n:02d}", answers) for n in range(CHARGERS)]
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    servers: list[Any] = []  # (context manager, ServerProcess) of each started server

    async def started(run: int) -> Any:
        ocpp_port, api_port = free_port(), free_port()
        manager = start_process(
            "csms",
            [CSMS, "serve"],
            port=api_port,  # (the API listens last: the server is all up)
            env={**env, "CSMS_OCPP_PORT": str(ocpp_port), "CSMS_API_PORT": str(api_port)},
            log_path=tmp_path / f"serve-{run}.log",
        )
        servers.append((manager, await manager.__aenter__()))
        return servers[-1][1], ocpp_port

    # The next servers start while the live one is under load, so that the storm is not
    # twenty Python start-ups in a row; only the live one is known to the chargers.
    starting = deque(asyncio.create_task(started(run)) for run in range(1 + PREFETCH))
    try:
        for run in range(KILLS + 1):
            server, ocpp_port = await starting.popleft()
            endpoint[0] = f"ws://127.0.0.1:{ocpp_port}/ocpp"
            if run == 0:
                await asyncio.gather(*(c.start_transaction() for c in chargers))
                tasks = [asyncio.create_task(c.run(stop)) for c in chargers]
            elif run + PREFETCH <= KILLS:
                starting.append(asyncio.create_task(started(run + PREFETCH)))
            await answers.more(ANSWERS_PER_RUN, timeout=RUN_PATIENCE)
            if run == KILLS:  # the last server: let every charger finish, then stop it
                stop.set()
                async with asyncio.timeout(RUN_PATIENCE):
                    await asyncio.gather(*tasks)
                break
            following = starting[0]
            await asyncio.wait([following], timeout=RUN_PATIENCE)
            if following.done() and not following.exception():
                endpoint[0] = f"ws://127.0.0.1:{following.result()[1]}/ocpp"
            server.process.kill()  # SIGKILL under load: no clean stop, nothing flushed
            await server.process.wait()
    finally:
        stop.set()
        for task in [*tasks, *starting]:
            task.cancel()
        await asyncio.gather(*tasks, *starting, return_exceptions=True)
        for charger in chargers:
            with contextlib.suppress(Exception):
                await charger.close()
        for manager, _ in servers:
            await manager.__aexit__(None, None, None)
    db = Database(database_url)
    try:
        stored = Counter(await _stored_samples(db))
    finally:
        await db.close()
    duplicates = {key: n for key, n in stored.items() if n > 1}
    acknowledged = {(c.identity, str(seq * 10)) for c in chargers for seq in c.acknowledged}
    energy = {(key[0], key[2]) for key in stored if key[1] == "Energy.Active.Import.Register"}
    missing = acknowledged - energy
    resent = sum(c.resent for c in chargers)
    assert answers.count >= ANSWERS_PER_RUN * (KILLS + 1)
    assert resent > 0, "no message was ever resent: the storm tested nothing"
    assert duplicates == {}, f"{len(duplicates)} samples stored twice ({resent} resends)"
    assert missing == set()
