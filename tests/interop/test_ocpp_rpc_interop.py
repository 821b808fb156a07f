"""Interoperability: the npm package ``ocpp-rpc`` in strict mode, as a foreign 1.6J charger.

``ocpp-rpc`` validates every request it sends and every answer it receives against the
official OCPP 1.6 JSON schemas, so a session that completes proves that an independent
OCPP-J implementation accepts what this server answers, and that the requests the server
sends (operator commands) are valid 1.6 too. The charger is ``charger16.mjs``; it prints
one JSON line per step (see the top of that file).

Needs ``node`` and ``npm install`` run in ``tests/interop`` (CI does both); without them
the test fails, never skips.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.interop.node import NodeCharger, start_node_charger

CHARGER_ID = "RPC1"
CARD = "CAFE0001"
#: The whole node run is bounded by its own 20 s limit; this is the test's outer guard.
RUN_TIMEOUT = 30.0


async def _operator_commands(server: Any) -> dict[str, dict[str, Any]]:
    """Commands sent through the router while the node charger is connected."""
    commands: list[tuple[str, dict[str, Any]]] = [
        ("GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]}),
        ("GetConfiguration", {}),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}),
        ("ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}),
        ("UnlockConnector", {"connectorId": 1}),
        ("ClearCache", {}),
        ("RemoteStartTransaction", {"connectorId": 1, "idTag": CARD}),
        ("RemoteStopTransaction", {"transactionId": 999999}),
        ("TriggerMessage", {"requestedMessage": "Heartbeat"}),
        ("Reset", {"type": "Soft"}),
    ]
    answers: dict[str, dict[str, Any]] = {}
    for index, (action, payload) in enumerate(commands):
        result = await server.router.send(CHARGER_ID, action, payload, timeout=5)
        answers[f"{index}:{action}"] = dict(result.payload)
    return answers


async def _run_session(server: Any) -> tuple[NodeCharger, dict[str, dict[str, Any]]]:
    charger = await start_node_charger(server, "charger16.mjs", charger_id=CHARGER_ID, card=CARD)
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            ready = await charger.wait_for("ready")
            assert ready["ok"], f"the session failed: {charger.failures()}"
            answers = await _operator_commands(server)
            status, stderr = await charger.finish()
    finally:
        if charger.proc.returncode is None:
            charger.proc.kill()
            await charger.proc.wait()
    assert status == 0, f"charger16.mjs exited {status}: {charger.failures()}\n{stderr}"
    return charger, answers


async def test_ocpp_rpc_strict_client_completes_a_1_6_session(csms_server: Any) -> None:
    charger, _ = await _run_session(csms_server)

    assert charger.failures() == []
    assert charger.step("connect")["protocol"] == "ocpp1.6"
    boot = charger.step("boot")["answer"]
    assert boot["status"] == "Accepted" and boot["interval"] > 0
    assert charger.step("authorize")["answer"]["idTagInfo"]["status"] == "Accepted"
    tx_id = charger.step("start transaction")["answer"]["transactionId"]
    assert charger.step("data transfer unknown vendor")["answer"] == {"status": "UnknownVendorId"}
    missing = charger.step("invalid: Authorize without idTag")["frame"]
    assert missing[2] == "OccurenceConstraintViolation"
    wrong_type = charger.step("invalid: StatusNotification with a string connectorId")["frame"]
    assert wrong_type[2] == "TypeConstraintViolation"

    transactions = await csms_server.db.read(lambda uow: uow.transactions.list())
    assert [(t.transaction_id, t.charger_id) for t in transactions] == [(tx_id, CHARGER_ID)]
    tx = transactions[0]
    assert tx.status == "completed"
    assert (tx.meter_start_wh, tx.meter_stop_wh, tx.energy_wh) == (1000, 4500, 3500)
    assert (tx.id_tag, tx.stop_reason) == (CARD, "Local")
    samples = await csms_server.db.read(lambda uow: uow.meter_samples.for_transaction(tx.id))
    stored = sorted((s.source, s.measurand, s.value, s.unit) for s in samples)
    assert stored == [
        ("MeterValues", "Energy.Active.Import.Register", "2500", "Wh"),
        ("MeterValues", "Power.Active.Import", "7400", "W"),
        ("StopTransaction", "Energy.Active.Import.Register", "4500", "Wh"),
    ]
    assert {s.context for s in samples if s.source == "StopTransaction"} == {"Transaction.End"}
    assert all(s.transaction_pk == tx.id for s in samples)


async def test_ocpp_rpc_strict_client_accepts_operator_commands(csms_server: Any) -> None:
    charger, answers = await _run_session(csms_server)

    assert answers["0:GetConfiguration"] == {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": ["NoSuchKey"],
    }
    assert len(answers["1:GetConfiguration"]["configurationKey"]) == 6
    assert answers["2:ChangeConfiguration"] == {"status": "Accepted"}
    assert answers["3:ChangeAvailability"] == {"status": "Accepted"}
    assert answers["4:UnlockConnector"] == {"status": "Unlocked"}
    assert answers["5:ClearCache"] == {"status": "Accepted"}
    assert answers["6:RemoteStartTransaction"] == {"status": "Accepted"}
    assert answers["7:RemoteStopTransaction"] == {"status": "Rejected"}  # no such transaction
    assert answers["8:TriggerMessage"] == {"status": "Accepted"}
    assert answers["9:Reset"] == {"status": "Accepted"}
    # ocpp-rpc validated each request against the 1.6 schema before its handler ran.
    received = [call["action"] for call in charger.step("done")["csmsCalls"]]
    assert received == [
        "GetConfiguration",
        "GetConfiguration",
        "ChangeConfiguration",
        "ChangeAvailability",
        "UnlockConnector",
        "ClearCache",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "TriggerMessage",
        "Reset",
    ]
    # The triggered Heartbeat went out after the answer and was answered validly.
    assert charger.step("triggered Heartbeat")["answer"]["currentTime"]
