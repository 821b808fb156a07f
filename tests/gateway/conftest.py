"""A running OCPP gateway over a migrated SQLite database, and a raw OCPP-J client."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from csms.adapters.v16 import inbound as v16
from csms.config import Settings
from csms.domain.charging.stations import add_charger
from csms.gateway import Gateway
from protocol import OCPPVersion
from storage.database import Database

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PASSWORD = "correct-horse-battery"


class RawCharger:
    """A bare OCPP-J client: sends exactly the frames a test gives it."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        unique_id = f"m{next(self._ids)}"
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        answer = json.loads(await self.ws.recv())
        assert answer[1] == unique_id, answer
        return list(answer)

    async def send_raw(self, text: str) -> list[Any]:
        await self.ws.send(text)
        return list(json.loads(await self.ws.recv()))

    async def boot(self) -> list[Any]:
        return await self.call(
            "BootNotification", {"chargePointVendor": "Acme", "chargePointModel": "Wallbox 1"}
        )


def basic_auth(identity: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{identity}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
async def gateway(
    sqlite_db: Database, settings_factory: Callable[..., Settings]
) -> AsyncIterator[Gateway]:
    settings = settings_factory()
    await sqlite_db.write(
        lambda uow: add_charger(uow, charger_id="CP1", now=NOW, password=PASSWORD)
    )
    gw = Gateway(db=sqlite_db, settings=settings, handlers={OCPPVersion.V16: v16.HANDLERS})
    await gw.start()
    yield gw
    await gw.stop()


@pytest.fixture
def ocpp_url(gateway: Gateway) -> str:
    return f"ws://127.0.0.1:{gateway.port}/ocpp"


@pytest.fixture
async def charger(ocpp_url: str) -> AsyncIterator[RawCharger]:
    async with connect(
        f"{ocpp_url}/CP1", subprotocols=["ocpp1.6"], additional_headers=basic_auth("CP1", PASSWORD)
    ) as ws:  # type: ignore[list-item]
        yield RawCharger(ws)
