"""``CallContext.after_answer`` over a real socket: a job a handler leaves runs only once
its answer has been written, so the charger reads the answer before csms's own CALL; a
handler that fails leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from csms.adapters.v16 import inbound as v16
from csms.config import Settings
from csms.domain.charging.stations import add_charger
from csms.gateway import CallContext, ChargerCall, Gateway
from protocol import OCPPVersion
from storage.database import Database
from tests.gateway.conftest import NOW, PASSWORD, basic_auth

answers: list[dict[str, Any]] = []


async def data_transfer(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    async def clear_cache(call: ChargerCall) -> None:
        answers.append(await call("ClearCache", {}))

    assert ctx.after_answer is not None
    ctx.after_answer(clear_cache)
    if p.get("messageId") == "fail":
        raise RuntimeError("the handler failed after leaving a job")
    return {"status": "Accepted"}


@pytest.fixture
async def ws(
    sqlite_db: Database, settings_factory: Callable[..., Settings]
) -> AsyncIterator[ClientConnection]:
    answers.clear()
    await sqlite_db.write(
        lambda uow: add_charger(uow, charger_id="CP1", now=NOW, password=PASSWORD)
    )
    handlers = {**v16.HANDLERS, "DataTransfer": data_transfer}
    gw = Gateway(db=sqlite_db, settings=settings_factory(), handlers={OCPPVersion.V16: handlers})
    await gw.start()
    try:
        async with connect(
            f"ws://127.0.0.1:{gw.port}/ocpp/CP1",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic_auth("CP1", PASSWORD),
        ) as client:
            boot = {"chargePointVendor": "Acme", "chargePointModel": "Wallbox 1"}
            await client.send(json.dumps([2, "b", "BootNotification", boot]))
            assert json.loads(await client.recv())[2]["status"] == "Accepted"
            yield client
    finally:
        await gw.stop()


async def test_the_job_runs_after_the_answer_is_written(ws: ClientConnection) -> None:
    await ws.send(json.dumps([2, "d1", "DataTransfer", {"vendorId": "x"}]))
    assert json.loads(await ws.recv()) == [3, "d1", {"status": "Accepted"}]
    call = json.loads(await ws.recv())
    assert call[0] == 2 and call[2:] == ["ClearCache", {}]
    await ws.send(json.dumps([3, call[1], {"status": "Accepted"}]))
    await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
    assert json.loads(await ws.recv())[1] == "h1"
    assert answers == [{"status": "Accepted"}]


async def test_a_failed_handler_answers_an_error_and_its_job_is_dropped(
    ws: ClientConnection,
) -> None:
    await ws.send(json.dumps([2, "d1", "DataTransfer", {"vendorId": "x", "messageId": "fail"}]))
    error = json.loads(await ws.recv())
    assert error[:3] == [4, "d1", "InternalError"]
    await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
    # The next frame is the Heartbeat's answer, not a ClearCache.
    assert json.loads(await ws.recv())[:2] == [3, "h1"]
    assert answers == []
