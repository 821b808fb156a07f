"""Interoperability over OCPP 2.0.1: ``ocpp-rpc`` in strict mode as a foreign station.

``charger201.mjs`` validates every request and answer in both directions against the
official OCPP 2.0.1 JSON schemas. It boots, reports status, authorizes a card, runs a
transaction (TransactionEvent Started and Updated) and then, while the transaction runs,
answers the operator commands this test sends through the HTTP API (the same path as
``csms chargers ...``): GetVariables, SetVariables, GetBaseReport, ChangeAvailability,
UnlockConnector, ClearCache, TriggerMessage, GetTransactionStatus, RequestStartTransaction,
RequestStopTransaction and Reset. Then it ends the transaction (TransactionEvent Ended).

Needs ``node`` and ``npm install`` run in ``tests/interop`` (CI does both); without them
the test fails, never skips.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.interop.node import start_node_charger

CHARGER_ID = "RPC201"
CARD = "CAFE0201"
#: The whole node run is bounded by its own 20 s limit; this is the test's outer guard.
RUN_TIMEOUT = 30.0


async def _operator_commands(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Commands through the HTTP API while the node station's transaction runs."""
    (session,) = (await api.get("/api/sessions", params={"charger": CHARGER_ID})).json()
    charger = f"/api/chargers/{CHARGER_ID}"
    commands: list[tuple[str, dict[str, Any] | None]] = [
        (
            f"{charger}/config/get",
            {"keys": ["OCPPCommCtrlr.HeartbeatInterval", "OCPPCommCtrlr.Nope", "Nope.Nope"]},
        ),
        (f"{charger}/config/set", {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "120"}),
        (f"{charger}/config/set", {"key": "SecurityCtrlr.SecurityProfile", "value": "2"}),
        (f"{charger}/config/get", {"keys": ["OCPPCommCtrlr.HeartbeatInterval"]}),
        (
            f"{charger}/config/get",
            {"keys": ["AuthCtrlr.AuthorizeRemoteStart"], "attribute": "Target"},
        ),
        (f"{charger}/report", {"type": "config"}),
        (f"{charger}/availability", {"state": "inoperative", "evse_id": 1}),
        (f"{charger}/unlock", {"connector_id": 1}),
        (f"{charger}/clear-cache", None),
        (f"{charger}/trigger", {"message": "Heartbeat"}),
        (f"{charger}/trigger", {"message": "TransactionEvent", "evse_id": 1}),
        (f"/api/sessions/{session['id']}/status", None),
        ("/api/sessions/start", {"charger_id": CHARGER_ID, "id_tag": "APP-0201", "evse_id": 1}),
        (f"/api/sessions/{session['id']}/stop", None),
        (f"{charger}/reset", {"type": "hard"}),
        (f"{charger}/reset", {}),
    ]
    answers = []
    for path, body in commands:
        response = await api.post(path, json=body)
        assert response.status_code == 200, f"{path}: {response.text}"
        answers.append(response.json())
    return answers


async def test_ocpp_rpc_strict_201_station_completes_a_session_and_answers_commands(
    csms_server: Any,
) -> None:
    charger = await start_node_charger(
        csms_server, "charger201.mjs", charger_id=CHARGER_ID, card=CARD
    )
    headers = {"Authorization": f"Bearer {csms_server.admin_token}"}
    try:
        async with (
            asyncio.timeout(RUN_TIMEOUT),
            httpx.AsyncClient(base_url=csms_server.api_url, headers=headers, timeout=10) as api,
        ):
            ready = await charger.wait_for("ready")
            assert ready["ok"], f"the session failed: {charger.failures()}"
            station_tx = ready["transactionId"]
            answers = await _operator_commands(api)
            await charger.send_line("end")
            ended = await charger.wait_for("ended")
            assert ended["ok"], f"ending the session failed: {charger.failures()}"
            status, stderr = await charger.finish()
    finally:
        if charger.proc.returncode is None:
            charger.proc.kill()
            await charger.proc.wait()
    assert status == 0, f"charger201.mjs exited {status}: {charger.failures()}\n{stderr}"
    assert charger.failures() == []

    # The station's own session, as an independent 2.0.1 implementation saw it.
    assert charger.step("connect")["protocol"] == "ocpp2.0.1"
    boot = charger.step("boot")["answer"]
    assert boot["status"] == "Accepted" and boot["interval"] > 0
    assert charger.step("authorize")["answer"]["idTokenInfo"]["status"] == "Accepted"
    missing = charger.step("invalid: Authorize without idToken")["frame"]
    assert missing[2] == "OccurrenceConstraintViolation"
    wrong_type = charger.step("invalid: StatusNotification with a string evseId")["frame"]
    assert wrong_type[2] == "TypeConstraintViolation"

    # Every command reached it as a schema-valid 2.0.1 request (ocpp-rpc checked each one
    # before its handler ran) and came back as the version-neutral answer.
    received = [(call["action"], call["request"]) for call in charger.step("done")["csmsCalls"]]
    assert [action for action, _ in received] == [
        "GetVariables",
        "SetVariables",
        "SetVariables",
        "GetVariables",
        "GetVariables",
        "GetBaseReport",
        "ChangeAvailability",
        "UnlockConnector",
        "ClearCache",
        "TriggerMessage",
        "TriggerMessage",
        "GetTransactionStatus",
        "RequestStartTransaction",
        "RequestStopTransaction",
        "Reset",
        "Reset",
    ]
    assert answers[0]["configuration"] == [
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "300", "readonly": None}
    ]
    assert answers[0]["unknown_keys"] == ["OCPPCommCtrlr.Nope", "Nope.Nope"]
    assert answers[1]["status"] == "Accepted"
    assert answers[2]["status"] == "Rejected"  # ReadOnly
    assert answers[3]["configuration"][0]["value"] == "120"
    assert answers[4]["rejected_keys"] == [
        {
            "key": "AuthCtrlr.AuthorizeRemoteStart",
            "status": "NotSupportedAttributeType",
            "reason": None,
        }
    ]
    assert answers[5]["status"] == "Accepted"
    assert received[5][1] == {
        "requestId": answers[5]["request_id"],
        "reportBase": "ConfigurationInventory",
    }
    assert [a["status"] for a in answers[6:11]] == [
        "Accepted",
        "Unlocked",
        "Accepted",
        "Accepted",
        "NotImplemented",  # this station does not send triggered TransactionEvents
    ]
    assert (answers[11]["ongoing"], answers[11]["messages_in_queue"]) == (True, False)
    assert received[11][1] == {"transactionId": station_tx}
    assert received[12][1]["idToken"] == {"idToken": "APP-0201", "type": "Central"}
    assert answers[12]["status"] == "Accepted"
    assert received[13][1] == {"transactionId": station_tx}
    assert answers[13]["status"] == "Accepted"
    assert [
        (r[1]["type"], a["status"]) for r, a in zip(received[14:], answers[14:], strict=True)
    ] == [
        ("Immediate", "Scheduled"),
        ("OnIdle", "Accepted"),
    ]
    # Follow-ups the station sent after answering were answered validly.
    assert charger.step("triggered Heartbeat")["answer"]["currentTime"]
    assert charger.step(f"report {answers[5]['request_id']}")["ok"]

    # The transaction as stored: the same fields as a 1.6 session.
    (tx,) = await csms_server.db.read(lambda uow: uow.transactions.list(charger_id=CHARGER_ID))
    assert tx.station_transaction_id == station_tx
    assert tx.status == "completed"
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (1000, 4500, 3500)
