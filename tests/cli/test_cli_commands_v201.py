"""One CLI for both versions: the same ``csms`` commands reach a 1.6 charger and a 2.0.1
station on one running server, each in its own version's terms."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from tests.api.conftest import add_session
from tests.api.station201 import Station201, connect_station201
from tests.cli.conftest import run_cli
from tests.gateway.conftest import basic_auth


async def _add(cli_env: dict[str, str], charger_id: str) -> str:
    added = await run_cli(cli_env, "chargers", "add", charger_id, "--json")
    assert added.code == 0, added.err
    return str(added.json()["password"])


async def test_config_get_and_set_speak_each_chargers_version(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    password16 = await _add(cli_env, "CP1")
    password201 = await _add(cli_env, "CP2")
    async with (
        connect(
            f"{csms_server.ocpp_url}/CP1",
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers=basic_auth("CP1", password16),
        ) as ws16,
        connect_station201(csms_server, "CP2", password=password201) as station,
    ):
        await ws16.send(
            json.dumps(
                [2, "b", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "M"}]
            )
        )
        assert json.loads(await ws16.recv())[2]["status"] == "Accepted"

        # 1.6: ChangeConfiguration with the plain key
        cli = asyncio.create_task(
            run_cli(cli_env, "chargers", "config", "set", "CP1", "HeartbeatInterval", "120")
        )
        call = json.loads(await asyncio.wait_for(ws16.recv(), timeout=10))
        await ws16.send(json.dumps([3, call[1], {"status": "Accepted"}]))
        result = await cli
        assert call[2:] == ["ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}]
        assert result.out.strip() == "CP1: ChangeConfiguration Accepted"

        # 2.0.1: SetVariables with Component.Variable
        result = await run_cli(
            cli_env, "chargers", "config", "set", "CP2", "OCPPCommCtrlr.HeartbeatInterval", "120"
        )
        assert result.code == 0, result.err
        assert await station.next_call() == (
            "SetVariables",
            {
                "setVariableData": [
                    {
                        "attributeType": "Actual",
                        "attributeValue": "120",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
        )
        assert result.out.strip() == "CP2: SetVariables Accepted"

        result = await run_cli(
            cli_env,
            "chargers",
            "config",
            "get",
            "CP2",
            "OCPPCommCtrlr.HeartbeatInterval",
            "OCPPCommCtrlr.Nope",
        )
        action, _ = await station.next_call()
        assert action == "GetVariables"
        lines = result.out.splitlines()
        assert lines[0].split() == ["KEY", "VALUE", "READONLY"]
        assert lines[1].split() == ["OCPPCommCtrlr.HeartbeatInterval", "120", "-"]
        assert lines[2] == "unknown keys: OCPPCommCtrlr.Nope"


async def test_ocpp16_key_on_a_201_station_fails_and_shows_the_component_variable_form(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    password = await _add(cli_env, "CP2")
    async with connect_station201(csms_server, "CP2", password=password) as station:
        result = await run_cli(
            cli_env, "chargers", "config", "set", "CP2", "HeartbeatInterval", "5"
        )
        assert result.code == 1
        assert "OCPPCommCtrlr.HeartbeatInterval" in result.err
        assert result.out == ""
        result = await run_cli(cli_env, "chargers", "config", "get", "CP2")
        assert result.code == 1
        assert "csms chargers report ID --type config" in result.err
        assert station.received.empty()


async def _cli_and_call(
    cli_env: dict[str, str], station: Station201, *args: str, exit_code: int = 0
) -> tuple[Any, tuple[str, dict[str, Any]]]:
    result = await run_cli(cli_env, *args)
    assert result.code == exit_code, result.err
    return result, await station.next_call()


async def test_charger_commands_reach_a_201_station_in_its_terms(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    password = await _add(cli_env, "CP2")
    async with connect_station201(csms_server, "CP2", password=password) as station:
        result, call = await _cli_and_call(cli_env, station, "chargers", "reset", "CP2", "--hard")
        assert call == ("Reset", {"type": "Immediate"})
        assert result.out.strip() == "CP2: Reset Accepted"

        _, call = await _cli_and_call(cli_env, station, "chargers", "reset", "CP2")
        assert call == ("Reset", {"type": "OnIdle"})

        result, call = await _cli_and_call(
            cli_env, station, "chargers", "unlock", "CP2", "--connector", "1"
        )
        assert call == ("UnlockConnector", {"evseId": 1, "connectorId": 1})
        assert result.out.strip() == "CP2: UnlockConnector Unlocked"

        _, call = await _cli_and_call(
            cli_env, station, "chargers", "availability", "CP2", "inoperative", "--evse", "1"
        )
        assert call == (
            "ChangeAvailability",
            {"operationalStatus": "Inoperative", "evse": {"id": 1}},
        )

        station.answers["TriggerMessage"] = {
            "status": "Rejected",
            "statusInfo": {"reasonCode": "NoTransaction"},
        }
        result, call = await _cli_and_call(
            cli_env,
            station,
            "chargers",
            "trigger",
            "CP2",
            "TransactionEvent",
            "--evse",
            "1",
            exit_code=1,  # refused by the station
        )
        assert call == (
            "TriggerMessage",
            {"requestedMessage": "TransactionEvent", "evse": {"id": 1}},
        )
        assert result.out.strip() == "CP2: TriggerMessage Rejected (NoTransaction)"

        _, call = await _cli_and_call(cli_env, station, "chargers", "clear-cache", "CP2")
        assert call == ("ClearCache", {})


async def test_report_asks_for_a_base_report_and_names_its_request_id(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    password = await _add(cli_env, "CP2")
    async with connect_station201(csms_server, "CP2", password=password) as station:
        result, (action, payload) = await _cli_and_call(
            cli_env, station, "chargers", "report", "CP2", "--type", "config", "--json"
        )
        answer = result.json()
        assert action == "GetBaseReport"
        assert payload == {
            "requestId": answer["request_id"],
            "reportBase": "ConfigurationInventory",
        }

        result, (action, payload) = await _cli_and_call(
            cli_env, station, "chargers", "report", "CP2", "EVSE", "--criteria", "problem,enabled"
        )
        assert action == "GetReport"
        assert payload["componentVariable"] == [{"component": {"name": "EVSE"}}]
        assert payload["componentCriteria"] == ["Problem", "Enabled"]
        assert result.out.splitlines()[0] == "CP2: GetReport Accepted"
        assert f"report request {payload['requestId']}" in result.out

        result = await run_cli(cli_env, "chargers", "report", "CP2", "EVSE", "--type", "full")
        assert result.code == 2
        assert "--type" in result.err
        assert station.received.empty()


async def test_sessions_start_on_a_201_station_sends_a_central_token(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    password = await _add(cli_env, "CP2")
    async with connect_station201(csms_server, "CP2", password=password) as station:
        result, (action, payload) = await _cli_and_call(
            cli_env, station, "sessions", "start", "CP2", "--id-tag", "APP-1", "--connector", "1"
        )
        assert action == "RequestStartTransaction"
        assert payload["idToken"] == {"idToken": "APP-1", "type": "Central"}
        assert payload["evseId"] == 1
        assert result.out.splitlines() == [
            "CP2: RequestStartTransaction Accepted",
            f"remote start id: {payload['remoteStartId']}",
        ]


async def test_sessions_status_of_a_station_asks_whether_messages_are_queued(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    """2.0.1 E14.FR.06 (OCTT TC_E_33/E_34): GetTransactionStatus without a transactionId."""
    password = await _add(cli_env, "CP2")
    async with connect_station201(csms_server, "CP2", password=password) as station:
        station.answers["GetTransactionStatus"] = {"messagesInQueue": False}
        result, (action, payload) = await _cli_and_call(
            cli_env, station, "sessions", "status", "--charger", "CP2"
        )
        assert (action, payload) == ("GetTransactionStatus", {})
        assert result.code == 0, result.err
        assert "CP2: GetTransactionStatus" in result.out


@pytest.mark.parametrize("args", [[], ["7", "--charger", "CP2"]])
async def test_sessions_status_needs_a_session_or_a_charger_not_both(
    cli_env: dict[str, str], args: list[str]
) -> None:
    result = await run_cli(cli_env, "sessions", "status", *args)
    assert result.code == 2
    assert "give a session id" in result.err and "--charger ID" in result.err


async def test_sessions_status_on_a_16_charger_says_it_is_201_only(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    password = await _add(cli_env, "CP1")
    async with connect(
        f"{csms_server.ocpp_url}/CP1",
        subprotocols=[Subprotocol("ocpp1.6")],
        additional_headers=basic_auth("CP1", password),
    ) as ws16:
        await ws16.send(
            json.dumps(
                [2, "b", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "M"}]
            )
        )
        await ws16.recv()
        session_id = await add_session(csms_server.db, "CP1")
        result = await run_cli(cli_env, "sessions", "status", str(session_id))
        assert result.code == 1
        assert "OCPP 2.0.1 only" in result.err and "csms sessions show" in result.err


async def test_chargers_show_includes_the_reported_device_model_of_a_201_station(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    """Issue scope 4: ``chargers show`` summarises what NotifyReport (B07) stored."""
    password = await _add(cli_env, "CP2")
    report = {
        "requestId": 7,
        "generatedAt": "2026-11-22T10:00:00Z",
        "seqNo": 0,
        "tbc": False,
        "reportData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "variableAttribute": [{"type": "Actual", "value": "120"}],
            },
            {
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "SecurityProfile"},
                "variableAttribute": [{"type": "Actual", "value": "1"}],
            },
        ],
    }
    async with connect_station201(csms_server, "CP2", password=password) as station:
        answer = await station.call("NotifyReport", report)
        assert answer[0] == 3 and answer[2] == {}
        shown = await run_cli(cli_env, "chargers", "show", "CP2", "--json")
        people = await run_cli(cli_env, "chargers", "show", "CP2")
    model = shown.json()["device_model"]
    assert model["values"]["OCPPCommCtrlr.HeartbeatInterval"] == "120"
    assert model["values"]["SecurityCtrlr.SecurityProfile"] == "1"
    assert model["variables"] == 2
    assert "device model:" in people.out
    assert "OCPPCommCtrlr.HeartbeatInterval:" in people.out
