"""Charger commands from the CLI through the API and the gateway to a connected charger."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.cli.conftest import Result, answer_one_call, run_cli
from tests.gateway.conftest import basic_auth


async def test_reset_reaches_the_charger_and_prints_its_answer(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    added = (await run_cli(cli_env, "chargers", "add", "CP1", "--json")).json()
    async with connect(
        f"{csms_server.ocpp_url}/CP1",
        subprotocols=[Subprotocol("ocpp1.6")],
        additional_headers=basic_auth("CP1", added["password"]),
    ) as ws:
        await ws.send(
            json.dumps(
                [
                    2,
                    "b1",
                    "BootNotification",
                    {"chargePointVendor": "Acme", "chargePointModel": "W"},
                ]
            )
        )
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"

        shown = (await run_cli(cli_env, "chargers", "show", "CP1", "--json")).json()
        assert shown["connected"] is True and shown["ocpp_version"] == "1.6"

        cli = asyncio.create_task(run_cli(cli_env, "chargers", "reset", "CP1", "--hard"))
        call = await answer_one_call(ws, {"status": "Accepted"})
        result: Result = await cli
        assert call[2:] == ["Reset", {"type": "Hard"}]
        assert result.code == 0, result.err
        assert result.out.strip() == "CP1: Reset Accepted"

        cli = asyncio.create_task(
            run_cli(cli_env, "chargers", "config", "get", "CP1", "HeartbeatInterval", "--json")
        )
        call = await answer_one_call(
            ws,
            {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]},
        )
        result = await cli
        assert call[2:] == ["GetConfiguration", {"key": ["HeartbeatInterval"]}]
        assert result.json()["configuration"] == [
            {"key": "HeartbeatInterval", "value": "300", "readonly": False}
        ]

        cli = asyncio.create_task(
            run_cli(cli_env, "sessions", "start", "CP1", "--id-tag", "CARD1", "--connector", "1")
        )
        call = await answer_one_call(ws, {"status": "Rejected"})
        result = await cli
        assert call[2:] == ["RemoteStartTransaction", {"idTag": "CARD1", "connectorId": 1}]
        assert result.out.strip() == "CP1: RemoteStartTransaction Rejected"
