"""A running csms (OCPP + HTTP API, SQLite) and raw OCPP 2.0.1 stations over real sockets.

The tests of this directory mirror the OCA conformance test cases for a CSMS (OCTT,
"TC_<block>_<nn>_CSMS"): the test plays the charging station, the system under test is the
real server. Every answer the station gets is checked against the official 2.0.1 response
schema here as well (the server checks it before sending, too).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from csms.domain.charging.stations import add_charger
from protocol import OCPPVersion
from protocol.validation import validator_for
from storage.database import Database
from tests.gateway.conftest import PASSWORD, basic_auth

__all__ = [
    "STATION",
    "T0",
    "Station",
    "add_card",
    "at",
    "connect_station",
    "energy",
    "event",
]

STATION = "CS1"
#: The station's clock at the start of each scenario.
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

_VALIDATOR = validator_for(OCPPVersion.V201)


def at(minutes: float) -> str:
    """The RFC 3339 time ``minutes`` after :data:`T0`."""
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def energy(wh: float, context: str = "Sample.Periodic", minutes: float = 0, **extra: Any) -> dict:
    """A meterValue with one Energy.Active.Import.Register sampled value."""
    return {
        "timestamp": at(minutes),
        "sampledValue": [
            {
                "value": wh,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                **extra,
            }
        ],
    }


def event(
    event_type: str,
    transaction_id: str,
    seq_no: int,
    trigger_reason: str,
    *,
    minutes: float = 0,
    evse: int | None = 1,
    meter: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A TransactionEventRequest; ``fields`` go into the request, except ``charging_state``,
    ``stopped_reason`` and ``remote_start_id`` which go into transactionInfo."""
    info: dict[str, Any] = {"transactionId": transaction_id}
    for name, key in (
        ("charging_state", "chargingState"),
        ("stopped_reason", "stoppedReason"),
        ("remote_start_id", "remoteStartId"),
    ):
        if name in fields:
            info[key] = fields.pop(name)
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": at(minutes),
        "triggerReason": trigger_reason,
        "seqNo": seq_no,
        "transactionInfo": info,
        **fields,
    }
    if evse is not None:
        payload["evse"] = {"id": evse, "connectorId": 1}
    if meter is not None:
        payload["meterValue"] = meter
    return payload


class Station:
    """A bare OCPP 2.0.1 station: sends exactly the CALLs a test gives it, one at a time."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call_raw(self, action: str, payload: dict[str, Any]) -> list[Any]:
        unique_id = f"s{next(self._ids)}"
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        answer = json.loads(await self.ws.recv())
        assert answer[1] == unique_id, answer
        return list(answer)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The CALLRESULT payload; fails on a CALLERROR or an answer the schema refuses."""
        answer = await self.call_raw(action, payload)
        assert answer[0] == 3, f"{action} answered with an error: {answer}"
        _VALIDATOR.validate_response(action, answer[2])
        return dict(answer[2])

    async def boot(self, reason: str = "PowerUp") -> dict[str, Any]:
        return await self.call(
            "BootNotification",
            {
                "reason": reason,
                "chargingStation": {
                    "vendorName": "Acme",
                    "model": "Wallbox 2",
                    "serialNumber": "SN-201",
                    "firmwareVersion": "2.0.1-7",
                },
            },
        )

    async def transaction(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.call("TransactionEvent", payload)


async def connect_station(url: str, identity: str = STATION) -> ClientConnection:
    return await connect(
        f"{url}/{identity}",
        subprotocols=[Subprotocol("ocpp2.0.1")],
        additional_headers=basic_auth(identity, PASSWORD),
    )


async def add_card(db: Database, uid: str, **fields: Any) -> None:
    await db.write(lambda uow: uow.id_tags.add(uid=uid, status="active", created_at=T0, **fields))


@pytest.fixture
async def server(csms_server: Any) -> Any:
    """The running csms with station CS1 provisioned (password :data:`PASSWORD`)."""
    await csms_server.db.write(
        lambda uow: add_charger(uow, charger_id=STATION, now=T0, password=PASSWORD)
    )
    return csms_server


@pytest.fixture
async def station(server: Any) -> AsyncIterator[Station]:
    """Station CS1 connected over ``ocpp2.0.1`` and booted (Accepted)."""
    ws = await connect_station(server.ocpp_url)
    try:
        connected = Station(ws)
        assert (await connected.boot())["status"] == "Accepted"
        yield connected
    finally:
        await ws.close()


@pytest.fixture
async def api(server: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The server's HTTP API with the admin token."""
    async with httpx.AsyncClient(
        base_url=server.api_url, headers={"Authorization": f"Bearer {server.admin_token}"}
    ) as client:
        yield client
