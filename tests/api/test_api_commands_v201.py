"""Charger commands to an OCPP 2.0.1 station: a real csms, a real WebSocket station.

Every request the station receives is checked against the official 2.0.1 request schema
(``Station201``), and each test asserts the exact payload the CSMS sent and the
version-neutral answer the API gives back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from csms.config import Settings
from tests.api.conftest import add_session
from tests.api.station201 import Station201, connect_station201


@pytest.fixture
async def api_client(csms_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {csms_server.admin_token}"}
    async with httpx.AsyncClient(
        base_url=csms_server.api_url, headers=headers, timeout=20
    ) as client:
        yield client


@pytest.fixture
async def station(csms_server: Any) -> AsyncIterator[Station201]:
    async with connect_station201(csms_server, "CP2") as connected:
        yield connected


async def _command(
    client: httpx.AsyncClient, station: Station201, path: str, body: dict[str, Any] | None
) -> tuple[httpx.Response, tuple[str, dict[str, Any]]]:
    """POST the command; the API's answer and the request the station received."""
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response, await station.next_call()


@pytest.mark.parametrize(
    ("path", "body", "action", "payload"),
    [
        # 2.0.1 B11/B12: soft → OnIdle, hard → Immediate
        ("reset", {}, "Reset", {"type": "OnIdle"}),
        ("reset", {"type": "hard"}, "Reset", {"type": "Immediate"}),
        ("reset", {"type": "hard", "evse_id": 2}, "Reset", {"type": "Immediate", "evseId": 2}),
        # 2.0.1 F05: a connector alone is that EVSE's connector 1
        ("unlock", {"connector_id": 2}, "UnlockConnector", {"evseId": 2, "connectorId": 1}),
        (
            "unlock",
            {"evse_id": 1, "connector_id": 2},
            "UnlockConnector",
            {"evseId": 1, "connectorId": 2},
        ),
        # 2.0.1 G03 (station), G04 (EVSE, connector)
        (
            "availability",
            {"state": "inoperative"},
            "ChangeAvailability",
            {"operationalStatus": "Inoperative"},
        ),
        (
            "availability",
            {"state": "operative", "connector_id": 1},
            "ChangeAvailability",
            {"operationalStatus": "Operative", "evse": {"id": 1}},
        ),
        (
            "availability",
            {"state": "inoperative", "evse_id": 1},
            "ChangeAvailability",
            {"operationalStatus": "Inoperative", "evse": {"id": 1}},
        ),
        (
            "availability",
            {"state": "inoperative", "evse_id": 1, "connector_id": 2},
            "ChangeAvailability",
            {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 2}},
        ),
        # 2.0.1 F06: names mapped from 1.6, 2.0.1-only names allowed
        ("trigger", {"message": "heartbeat"}, "TriggerMessage", {"requestedMessage": "Heartbeat"}),
        (
            "trigger",
            {"message": "DiagnosticsStatusNotification"},
            "TriggerMessage",
            {"requestedMessage": "LogStatusNotification"},
        ),
        (
            "trigger",
            {"message": "TransactionEvent", "evse_id": 1},
            "TriggerMessage",
            {"requestedMessage": "TransactionEvent", "evse": {"id": 1}},
        ),
        (
            "trigger",
            {"message": "SignChargingStationCertificate"},
            "TriggerMessage",
            {"requestedMessage": "SignChargingStationCertificate"},
        ),
        (
            "trigger",
            {"message": "StatusNotification", "evse_id": 1, "connector_id": 1},
            "TriggerMessage",
            {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
        ),
        ("clear-cache", None, "ClearCache", {}),  # 2.0.1 C11
    ],
)
async def test_command_is_sent_as_its_ocpp201_request(
    api_client: httpx.AsyncClient,
    station: Station201,
    path: str,
    body: dict[str, Any] | None,
    action: str,
    payload: dict[str, Any],
) -> None:
    response, received = await _command(api_client, station, f"/api/chargers/CP2/{path}", body)
    assert received == (action, payload)
    answer = response.json()
    assert answer["action"] == action and answer["ocpp_version"] == "2.0.1"
    assert answer["status"] == ("Unlocked" if action == "UnlockConnector" else "Accepted")


async def test_config_get_sends_get_variables_with_actual_attribute(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    """2.0.1 B06: one GetVariableData per name; attributeType Actual unless asked."""
    response, received = await _command(
        api_client,
        station,
        "/api/chargers/CP2/config/get",
        {"keys": ["OCPPCommCtrlr.HeartbeatInterval", "AuthCtrlr.AuthorizeRemoteStart"]},
    )
    assert received == (
        "GetVariables",
        {
            "getVariableData": [
                {
                    "attributeType": "Actual",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
                {
                    "attributeType": "Actual",
                    "component": {"name": "AuthCtrlr"},
                    "variable": {"name": "AuthorizeRemoteStart"},
                },
            ]
        },
    )
    answer = response.json()
    assert answer["configuration"] == [
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "300", "readonly": None},
        {"key": "AuthCtrlr.AuthorizeRemoteStart", "value": "true", "readonly": None},
    ]
    assert answer["unknown_keys"] == []


async def test_config_get_names_instances_and_evse_and_other_attributes(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    _, (_, payload) = await _command(
        api_client,
        station,
        "/api/chargers/CP2/config/get",
        {
            "keys": [
                "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
                "Connector@1:2.AvailabilityState",
                "SmartChargingCtrlr[Main].Enabled",
            ],
            "attribute": "Target",
        },
    )
    assert payload["getVariableData"] == [
        {
            "attributeType": "Target",
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "MessageAttempts", "instance": "TransactionEvent"},
        },
        {
            "attributeType": "Target",
            "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 2}},
            "variable": {"name": "AvailabilityState"},
        },
        {
            "attributeType": "Target",
            "component": {"name": "SmartChargingCtrlr", "instance": "Main"},
            "variable": {"name": "Enabled"},
        },
    ]


async def test_config_get_answer_separates_unknown_and_rejected_variables(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    station.answers["GetVariables"] = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "attributeValue": "1",
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Power"},
            },
            {
                "attributeStatus": "UnknownVariable",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "Nope"},
            },
            {
                "attributeStatus": "Rejected",
                "attributeStatusInfo": {"reasonCode": "WriteOnly"},
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            },
        ]
    }
    response, _ = await _command(
        api_client,
        station,
        "/api/chargers/CP2/config/get",
        {
            "keys": [
                "EVSE@1.Power",
                "OCPPCommCtrlr.Nope",
                "SecurityCtrlr.BasicAuthPassword",
            ]
        },
    )
    answer = response.json()
    assert answer["configuration"] == [{"key": "EVSE@1.Power", "value": "1", "readonly": None}]
    assert answer["unknown_keys"] == ["OCPPCommCtrlr.Nope"]
    assert answer["rejected_keys"] == [
        {"key": "SecurityCtrlr.BasicAuthPassword", "status": "Rejected", "reason": "WriteOnly"}
    ]


async def test_config_set_sends_set_variables_and_answers_the_attribute_status(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    """2.0.1 B05."""
    response, received = await _command(
        api_client,
        station,
        "/api/chargers/CP2/config/set",
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "120"},
    )
    assert received == (
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
    assert response.json()["status"] == "Accepted"
    assert station.variables[("OCPPCommCtrlr", "HeartbeatInterval")] == "120"


async def test_config_set_reports_reboot_required_with_its_reason(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    def reboot(payload: dict[str, Any]) -> dict[str, Any]:
        data = payload["setVariableData"][0]
        return {
            "setVariableResult": [
                {
                    "attributeStatus": "RebootRequired",
                    "attributeStatusInfo": {"reasonCode": "NeedsReboot", "additionalInfo": "x"},
                    "component": data["component"],
                    "variable": data["variable"],
                }
            ]
        }

    station.answers["SetVariables"] = reboot
    response, _ = await _command(
        api_client,
        station,
        "/api/chargers/CP2/config/set",
        {"key": "SecurityCtrlr.OrganizationName", "value": "ACME"},
    )
    answer = response.json()
    assert (answer["status"], answer["reason"]) == ("RebootRequired", "NeedsReboot: x")


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval"),
        ("MeterValueSampleInterval", "SampledDataCtrlr.TxUpdatedInterval"),
        ("VendorSpecificThing", "Component.Variable"),
    ],
)
async def test_ocpp16_key_on_a_201_station_is_400_with_the_201_name(
    api_client: httpx.AsyncClient, station: Station201, key: str, hint: str
) -> None:
    response = await api_client.post(
        "/api/chargers/CP2/config/set", json={"key": key, "value": "60"}
    )
    assert response.status_code == 400
    assert hint in response.json()["error"]
    assert station.received.empty()


async def test_config_get_of_everything_on_a_201_station_points_to_the_report(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    response = await api_client.post("/api/chargers/CP2/config/get", json={})
    assert response.status_code == 400
    assert "csms chargers report ID --type config" in response.json()["error"]
    assert station.received.empty()


@pytest.mark.parametrize(
    ("body", "report_base"),
    [
        ({}, "FullInventory"),
        ({"type": "config"}, "ConfigurationInventory"),
        ({"type": "summary"}, "SummaryInventory"),
    ],
)
async def test_report_sends_get_base_report_with_a_request_id(
    api_client: httpx.AsyncClient, station: Station201, body: dict[str, Any], report_base: str
) -> None:
    """2.0.1 B07: the answer carries the requestId that the NotifyReports will carry."""
    response, (action, payload) = await _command(
        api_client, station, "/api/chargers/CP2/report", body
    )
    answer = response.json()
    assert action == "GetBaseReport"
    assert payload == {"requestId": answer["request_id"], "reportBase": report_base}
    assert answer["request_id"] > 0 and answer["status"] == "Accepted"


async def test_report_of_some_components_sends_get_report(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    """2.0.1 B08."""
    station.answers["GetReport"] = {"status": "EmptyResultSet"}
    response, (action, payload) = await _command(
        api_client,
        station,
        "/api/chargers/CP2/report",
        {"names": ["OCPPCommCtrlr", "EVSE@1.AvailabilityState"], "criteria": ["problem"]},
    )
    answer = response.json()
    assert action == "GetReport"
    assert payload == {
        "requestId": answer["request_id"],
        "componentVariable": [
            {"component": {"name": "OCPPCommCtrlr"}},
            {
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "AvailabilityState"},
            },
        ],
        "componentCriteria": ["Problem"],
    }
    assert answer["status"] == "EmptyResultSet"


async def test_report_with_type_and_names_is_400(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    response = await api_client.post(
        "/api/chargers/CP2/report", json={"type": "full", "names": ["OCPPCommCtrlr"]}
    )
    assert response.status_code == 400
    assert station.received.empty()


async def test_remote_start_sends_a_central_id_token_and_a_fresh_remote_start_id(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    """2.0.1 F01/F02: RequestStartTransaction; remoteStartId generated by the CSMS."""
    station.answers["RequestStartTransaction"] = {"status": "Accepted", "transactionId": "tx-9"}
    response = await api_client.post(
        "/api/sessions/start", json={"charger_id": "CP2", "id_tag": "APP-123", "connector_id": 1}
    )
    assert response.status_code == 200, response.text
    action, payload = await station.next_call()
    answer = response.json()
    assert action == "RequestStartTransaction"
    assert payload == {
        "idToken": {"idToken": "APP-123", "type": "Central"},
        "remoteStartId": answer["remote_start_id"],
        "evseId": 1,
    }
    assert answer["status"] == "Accepted"
    assert answer["station_transaction_id"] == "tx-9"

    second = await api_client.post("/api/sessions/start", json={"charger_id": "CP2", "id_tag": "A"})
    _, again = await station.next_call()
    assert "evseId" not in again
    assert again["remoteStartId"] == second.json()["remote_start_id"] != answer["remote_start_id"]


async def test_remote_start_with_a_card_token_type(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    response = await api_client.post(
        "/api/sessions/start",
        json={"charger_id": "CP2", "id_tag": "04A1B2C3", "evse_id": 2, "token_type": "ISO14443"},
    )
    assert response.status_code == 200, response.text
    _, payload = await station.next_call()
    assert payload["idToken"] == {"idToken": "04A1B2C3", "type": "ISO14443"}
    assert payload["evseId"] == 2


async def test_remote_start_with_a_too_long_id_token_is_400(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    response = await api_client.post(
        "/api/sessions/start", json={"charger_id": "CP2", "id_tag": "X" * 37}
    )
    assert response.status_code == 400
    assert "36 characters" in response.json()["error"]
    assert station.received.empty()


async def test_remote_start_naming_a_connector_of_an_evse_is_400(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    """RequestStartTransaction has evseId only: a connector asked for is refused rather
    than silently dropped (F01)."""
    response = await api_client.post(
        "/api/sessions/start",
        json={"charger_id": "CP2", "id_tag": "04A1B2C3", "evse_id": 1, "connector_id": 2},
    )
    assert response.status_code == 400
    assert "--evse N alone" in response.json()["error"]
    assert station.received.empty()


async def test_remote_stop_of_a_session_without_station_transaction_id_is_400(
    csms_server: Any, api_client: httpx.AsyncClient, station: Station201
) -> None:
    session_id = await add_session(csms_server.db, "CP2")
    response = await api_client.post(f"/api/sessions/{session_id}/stop")
    assert response.status_code == 400
    assert "no transaction id from the station" in response.json()["error"]
    assert station.received.empty()


async def test_session_status_asks_the_station_with_its_transaction_id(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    """2.0.1 E14: GetTransactionStatus names the station's own transactionId."""
    started = {
        "eventType": "Started",
        "timestamp": "2026-11-22T10:00:00Z",
        "triggerReason": "CablePluggedIn",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-42", "chargingState": "EVConnected"},
        "evse": {"id": 1, "connectorId": 1},
    }
    frame = await station.call("TransactionEvent", started)
    assert frame[0] == 3, frame
    (session,) = (await api_client.get("/api/sessions", params={"charger": "CP2"})).json()

    station.answers["GetTransactionStatus"] = {"ongoingIndicator": False, "messagesInQueue": True}
    response = await api_client.post(f"/api/sessions/{session['id']}/status")
    assert response.status_code == 200, response.text
    assert await station.next_call() == ("GetTransactionStatus", {"transactionId": "tx-42"})
    answer = response.json()
    assert (answer["ongoing"], answer["messages_in_queue"]) == (False, True)


async def test_transaction_status_of_a_station_asks_without_a_transaction_id(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    """2.0.1 E14.FR.06 (OCTT TC_E_33/E_34): without a transactionId the station answers
    whether it holds any transaction messages not delivered yet."""
    station.answers["GetTransactionStatus"] = {"messagesInQueue": True}
    response = await api_client.post("/api/chargers/CP2/transaction-status")
    assert response.status_code == 200, response.text
    assert await station.next_call() == ("GetTransactionStatus", {})
    assert response.json()["messages_in_queue"] is True


async def test_session_status_without_station_transaction_id_is_409(
    csms_server: Any, api_client: httpx.AsyncClient, station: Station201
) -> None:
    session_id = await add_session(csms_server.db, "CP2")
    response = await api_client.post(f"/api/sessions/{session_id}/status")
    assert response.status_code == 409
    assert station.received.empty()


async def test_station_callerror_is_502_with_the_201_error_code(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    station.errors["ClearCache"] = ("NotSupported", "no cache here")
    response = await api_client.post("/api/chargers/CP2/clear-cache")
    assert await station.next_call() == ("ClearCache", {})
    assert response.status_code == 502
    assert "with an error NotSupported" in response.json()["error"]


async def test_station_answer_that_breaks_the_201_schema_is_502(
    api_client: httpx.AsyncClient, station: Station201
) -> None:
    station.answers["Reset"] = {"status": "Bogus"}  # not a ResetStatusEnumType
    response = await api_client.post("/api/chargers/CP2/reset", json={})
    await station.next_call()
    assert response.status_code == 502
    assert "status must be one of" in response.json()["error"]


async def test_station_that_does_not_answer_is_504(
    settings_factory: Callable[..., Settings],
) -> None:
    from csms.server import running_server

    async with (
        running_server(settings_factory(call_timeout=1)) as server,
        connect_station201(server, "CP2") as station,
    ):
        await station.stop_answering()
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        async with httpx.AsyncClient(base_url=server.api_url, headers=headers) as client:
            response = await client.post("/api/chargers/CP2/clear-cache")
        assert response.status_code == 504
        assert "did not answer ClearCache in time" in response.json()["error"]
