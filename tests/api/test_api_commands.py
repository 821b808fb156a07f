"""Charger commands through the API: translation to OCPP 1.6 and error mapping."""

from __future__ import annotations

from typing import Any

import pytest

from csms.routing import ChargerNotConnected, CommandError, CommandTimeout
from tests.api.conftest import Api, add_charger_for, add_session


@pytest.fixture
async def online(api: Api) -> Api:
    await add_charger_for(api.db, "CP1")
    api.router.connected["CP1"] = "ocpp1.6"
    return api


@pytest.mark.parametrize(
    ("path", "body", "action", "payload"),
    [
        ("reset", {}, "Reset", {"type": "Soft"}),
        ("reset", {"type": "hard"}, "Reset", {"type": "Hard"}),
        ("unlock", {"connector_id": 2}, "UnlockConnector", {"connectorId": 2}),
        (
            "availability",
            {"state": "inoperative"},
            "ChangeAvailability",
            {"connectorId": 0, "type": "Inoperative"},
        ),
        (
            "availability",
            {"state": "operative", "connector_id": 1},
            "ChangeAvailability",
            {"connectorId": 1, "type": "Operative"},
        ),
        ("config/get", {}, "GetConfiguration", {}),
        (
            "config/get",
            {"keys": ["HeartbeatInterval"]},
            "GetConfiguration",
            {"key": ["HeartbeatInterval"]},
        ),
        (
            "config/set",
            {"key": "HeartbeatInterval", "value": "60"},
            "ChangeConfiguration",
            {"key": "HeartbeatInterval", "value": "60"},
        ),
        (
            "trigger",
            {"message": "StatusNotification", "connector_id": 1},
            "TriggerMessage",
            {"requestedMessage": "StatusNotification", "connectorId": 1},
        ),
        ("trigger", {"message": "heartbeat"}, "TriggerMessage", {"requestedMessage": "Heartbeat"}),
        ("clear-cache", None, "ClearCache", {}),
    ],
)
async def test_command_is_sent_as_its_ocpp16_action(
    online: Api, path: str, body: dict[str, Any] | None, action: str, payload: dict[str, Any]
) -> None:
    response = await online.operator.post(f"/api/chargers/CP1/{path}", json=body)
    assert response.status_code == 200, response.text
    assert online.router.sent == [("CP1", action, payload)]
    answer = response.json()
    assert answer["charger_id"] == "CP1" and answer["action"] == action
    assert answer["ocpp_version"] == "1.6"


async def test_answer_status_is_the_chargers(online: Api) -> None:
    online.router.answers["Reset"] = {"status": "Rejected"}
    answer = (await online.operator.post("/api/chargers/CP1/reset", json={})).json()
    assert answer["status"] == "Rejected"
    assert answer["response"] == {"status": "Rejected"}


async def test_config_get_answer_lists_keys_and_unknown_keys(online: Api) -> None:
    online.router.answers["GetConfiguration"] = {
        "configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
        ],
        "unknownKey": ["Nope"],
    }
    response = await online.operator.post(
        "/api/chargers/CP1/config/get", json={"keys": ["HeartbeatInterval", "Nope"]}
    )
    answer = response.json()
    assert answer["configuration"] == [
        {"key": "HeartbeatInterval", "value": "300", "readonly": False},
        {"key": "NumberOfConnectors", "value": "2", "readonly": True},
    ]
    assert answer["unknown_keys"] == ["Nope"]


async def test_trigger_of_unknown_message_lists_the_valid_ones(online: Api) -> None:
    response = await online.operator.post("/api/chargers/CP1/trigger", json={"message": "Coffee"})
    assert response.status_code == 400
    assert "BootNotification" in response.json()["error"]
    assert online.router.sent == []


async def test_unlock_needs_a_connector_number_above_zero(online: Api) -> None:
    response = await online.operator.post("/api/chargers/CP1/unlock", json={"connector_id": 0})
    assert response.status_code == 422
    assert "connector_id" in response.json()["error"]


async def test_command_to_unknown_charger_is_404_and_nothing_is_sent(api: Api) -> None:
    response = await api.operator.post("/api/chargers/NOPE/reset", json={})
    assert response.status_code == 404
    assert api.router.sent == []


async def test_command_to_disconnected_charger_is_503(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    response = await api.operator.post("/api/chargers/CP1/reset", json={})
    assert response.status_code == 503
    assert "CP1 is not connected" in response.json()["error"]


async def test_charger_disconnecting_during_the_command_is_503(online: Api) -> None:
    online.router.error = ChargerNotConnected("gone")
    response = await online.operator.post("/api/chargers/CP1/reset", json={})
    assert response.status_code == 503


async def test_command_timeout_is_504_and_says_to_retry(online: Api) -> None:
    online.router.error = CommandTimeout("no answer")
    response = await online.operator.post("/api/chargers/CP1/clear-cache")
    assert response.status_code == 504
    assert "did not answer ClearCache in time" in response.json()["error"]


async def test_charger_callerror_is_502_with_its_error_code(online: Api) -> None:
    online.router.error = CommandError("not here", error_code="NotImplemented")
    response = await online.operator.post("/api/chargers/CP1/clear-cache")
    assert response.status_code == 502
    assert "with an error NotImplemented: not here" in response.json()["error"]


async def test_unexpected_failure_is_500_without_internals(online: Api) -> None:
    online.router.error = RuntimeError("secret internal detail")
    response = await online.operator.post("/api/chargers/CP1/reset", json={})
    assert response.status_code == 500
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.json() == {"error": "internal server error: see the server log"}


async def test_device_model_report_to_ocpp16_charger_is_501_and_names_the_16_command(
    online: Api,
) -> None:
    response = await online.operator.post("/api/chargers/CP1/report", json={})
    assert response.status_code == 501
    assert "csms chargers config get" in response.json()["error"]
    assert online.router.sent == []


async def test_evse_on_an_ocpp16_charger_is_400_and_says_to_use_the_connector(
    online: Api,
) -> None:
    response = await online.operator.post(
        "/api/chargers/CP1/unlock", json={"connector_id": 1, "evse_id": 1}
    )
    assert response.status_code == 400
    assert "--connector" in response.json()["error"]
    assert online.router.sent == []


async def test_ocpp201_only_trigger_on_an_ocpp16_charger_is_400(online: Api) -> None:
    response = await online.operator.post(
        "/api/chargers/CP1/trigger", json={"message": "TransactionEvent"}
    )
    assert response.status_code == 400
    assert "OCPP 1.6" in response.json()["error"]
    assert online.router.sent == []


async def test_log_status_trigger_is_sent_as_diagnostics_status_to_ocpp16(online: Api) -> None:
    response = await online.operator.post(
        "/api/chargers/CP1/trigger", json={"message": "LogStatusNotification"}
    )
    assert response.status_code == 200, response.text
    assert online.router.sent == [
        ("CP1", "TriggerMessage", {"requestedMessage": "DiagnosticsStatusNotification"})
    ]


async def test_remote_start_sends_id_tag_and_connector(online: Api) -> None:
    response = await online.operator.post(
        "/api/sessions/start", json={"charger_id": "CP1", "id_tag": "CARD1", "connector_id": 2}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "Accepted"
    assert online.router.sent == [
        ("CP1", "RemoteStartTransaction", {"idTag": "CARD1", "connectorId": 2})
    ]


async def test_remote_start_with_too_long_id_tag_for_ocpp16_is_400(online: Api) -> None:
    response = await online.operator.post(
        "/api/sessions/start", json={"charger_id": "CP1", "id_tag": "X" * 21}
    )
    assert response.status_code == 400
    assert "20 characters" in response.json()["error"]
    assert online.router.sent == []


async def test_remote_start_on_unknown_charger_is_404(api: Api) -> None:
    response = await api.operator.post(
        "/api/sessions/start", json={"charger_id": "NOPE", "id_tag": "CARD1"}
    )
    assert response.status_code == 404


async def test_remote_stop_sends_the_sessions_transaction_id(online: Api) -> None:
    session_id = await add_session(online.db, "CP1")
    session = (await online.operator.get(f"/api/sessions/{session_id}")).json()
    response = await online.operator.post(f"/api/sessions/{session_id}/stop")
    assert response.status_code == 200
    assert online.router.sent == [
        ("CP1", "RemoteStopTransaction", {"transactionId": session["transaction_id"]})
    ]


async def test_remote_stop_of_completed_session_is_409(online: Api) -> None:
    session_id = await add_session(online.db, "CP1", stop=True)
    response = await online.operator.post(f"/api/sessions/{session_id}/stop")
    assert response.status_code == 409
    assert "already completed" in response.json()["error"]
    assert online.router.sent == []


async def test_remote_stop_of_unknown_session_is_404(online: Api) -> None:
    response = await online.operator.post("/api/sessions/999/stop")
    assert response.status_code == 404
    assert "csms sessions list" in response.json()["error"]
