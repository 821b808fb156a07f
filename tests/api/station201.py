"""A small raw OCPP 2.0.1 charging station for tests against a running csms.

It connects with subprotocol ``ocpp2.0.1``, boots, and answers every CALL the CSMS sends.
Each CSMS request is checked against the official 2.0.1 request schema (the same compiled
validators ``protocol.validation`` uses) before it is answered, so a test that reads a
request with :meth:`Station201.next_call` knows it was schema-valid. Answers come from
``answers`` (a payload or a function of the request) or from defaults that a simple
station would give.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from protocol import OCPPError, OCPPVersion
from protocol.validation import validator_for
from tests.gateway.conftest import basic_auth

__all__ = ["Station201", "connect_station201", "provision"]

Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]

#: How long a test waits for the CSMS's next CALL.
CALL_WAIT = 10.0


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Station201:
    """The station side of one connection; see the module docstring."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.variables: dict[tuple[str, str], str] = {
            ("OCPPCommCtrlr", "HeartbeatInterval"): "300",
            ("AuthCtrlr", "AuthorizeRemoteStart"): "true",
        }
        self.answers: dict[str, Answer] = {}
        #: action → (error code, description): answer that action with a CALLERROR
        self.errors: dict[str, tuple[str, str]] = {}
        self.received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.invalid: list[tuple[str, str]] = []
        self._validator = validator_for(OCPPVersion.V201)
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    # -- the station's own CALLs ---------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send a CALL; the CSMS's whole answer frame (CALLRESULT or CALLERROR)."""
        unique_id = f"s{next(self._ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(future, CALL_WAIT)

    async def boot(self) -> dict[str, Any]:
        frame = await self.call(
            "BootNotification",
            {
                "reason": "PowerUp",
                "chargingStation": {
                    "vendorName": "Acme",
                    "model": "Station 2",
                    "serialNumber": "S2",
                },
            },
        )
        assert frame[0] == 3 and frame[2]["status"] == "Accepted", frame
        return dict(frame[2])

    # -- the CSMS's CALLs ----------------------------------------------------------------

    async def next_call(self) -> tuple[str, dict[str, Any]]:
        """The next request the CSMS sent (already answered), schema-checked."""
        action, payload = await asyncio.wait_for(self.received.get(), CALL_WAIT)
        assert not self.invalid, f"the CSMS sent requests that break the schema: {self.invalid}"
        return action, payload

    def _answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self.answers.get(action)
        if answer is not None:
            return answer(payload) if callable(answer) else answer
        match action:
            case "GetVariables":
                return {"getVariableResult": [self._get(d) for d in payload["getVariableData"]]}
            case "SetVariables":
                return {"setVariableResult": [self._set(d) for d in payload["setVariableData"]]}
            case "UnlockConnector":
                return {"status": "Unlocked"}
            case "GetTransactionStatus":
                return {"ongoingIndicator": True, "messagesInQueue": False}
        return {"status": "Accepted"}

    def _get(self, data: dict[str, Any]) -> dict[str, Any]:
        component, variable = data["component"], data["variable"]
        value = self.variables.get((component["name"], variable["name"]))
        result: dict[str, Any] = {"component": component, "variable": variable}
        if value is None:
            known = {c for c, _ in self.variables}
            unknown = "UnknownVariable" if component["name"] in known else "UnknownComponent"
            result["attributeStatus"] = unknown
        else:
            result["attributeStatus"] = "Accepted"
            result["attributeValue"] = value
        return result

    def _set(self, data: dict[str, Any]) -> dict[str, Any]:
        component, variable = data["component"], data["variable"]
        key = (component["name"], variable["name"])
        result: dict[str, Any] = {"component": component, "variable": variable}
        if key in self.variables:
            self.variables[key] = data["attributeValue"]
            result["attributeStatus"] = "Accepted"
        else:
            result["attributeStatus"] = "UnknownVariable"
        return result

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if frame[0] == 2:
                _, unique_id, action, payload = frame
                try:
                    self._validator.validate_request(action, payload)
                except OCPPError as exc:
                    self.invalid.append((action, exc.description))
                    error = [4, unique_id, exc.code.value, exc.description, {}]
                    await self.ws.send(json.dumps(error))
                else:
                    if action in self.errors:
                        code, description = self.errors[action]
                        reply = [4, unique_id, code, description, {}]
                    else:
                        reply = [3, unique_id, self._answer(action, payload)]
                    await self.ws.send(json.dumps(reply))
                await self.received.put((action, payload))
            else:
                future = self._pending.pop(frame[1], None)
                if future is not None and not future.done():
                    future.set_result(frame)

    async def stop_answering(self) -> None:
        """Read nothing more (a station that hangs)."""
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self.ws.close()


async def provision(server: Any, charger_id: str) -> str:
    """Add the charger to the server's database; its password."""
    from csms.domain.charging.stations import add_charger

    now = datetime.now(UTC)
    _, password = await server.db.write(
        lambda uow: add_charger(uow, charger_id=charger_id, now=now, password=None)
    )
    return str(password)


@contextlib.asynccontextmanager
async def connect_station201(
    server: Any, charger_id: str, *, password: str | None = None, boot: bool = True
) -> AsyncIterator[Station201]:
    """A connected (and booted) 2.0.1 station ``charger_id``, provisioned when no password
    is given."""
    if password is None:
        password = await provision(server, charger_id)
    async with connect(
        f"{server.ocpp_url}/{charger_id}",
        subprotocols=[Subprotocol("ocpp2.0.1")],
        additional_headers=basic_auth(charger_id, password),
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        station = Station201(ws)
        try:
            if boot:
                await station.boot()
            yield station
        finally:
            await station.close()


def status_notification(evse_id: int, connector_id: int, status: str) -> dict[str, Any]:
    """A 2.0.1 StatusNotificationRequest."""
    return {
        "timestamp": _now(),
        "connectorStatus": status,
        "evseId": evse_id,
        "connectorId": connector_id,
    }
