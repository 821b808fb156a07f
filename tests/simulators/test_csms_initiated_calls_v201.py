"""How the 2.0.1 station answers (and acts on) the CSMS's calls.

Every answer is checked against the official 2.0.1 response schema here (``_ask``), on top
of the fake CSMS's own session validation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from protocol import OCPPVersion, validator_for
from simulators import ChargePoint201, ChargingPlan, StationOffline
from tests.simulators.fake_csms import NO_ANSWER, CSMSCallError, FakeCSMS

Factory = Callable[..., ChargePoint201]
LONG = ChargingPlan(energy_wh=50_000, power_w=11_000)  # hours: runs until stopped
V201 = validator_for(OCPPVersion.V201)


@pytest.fixture
async def cs(make_cs: Factory) -> AsyncIterator[ChargePoint201]:
    station = make_cs(charging_plan=LONG)
    await station.connect()
    await station.boot()
    yield station


async def _ask(csms: FakeCSMS, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    answer = await csms.call("CS1", action, payload)
    V201.validate_response(action, answer)  # raises on any schema violation
    return answer


def _var(component: str, variable: str, **extra: Any) -> dict[str, Any]:
    return {"component": {"name": component}, "variable": {"name": variable}, **extra}


def _events(csms: FakeCSMS) -> list[dict[str, Any]]:
    return [r.payload for r in csms.of("TransactionEvent")]


def _statuses(csms: FakeCSMS) -> list[str]:
    return [r.payload["connectorStatus"] for r in csms.of("StatusNotification")]


def _report_complete(csms: FakeCSMS) -> bool:
    """The last part of a NotifyReport (tbc false) has arrived."""
    return any(not r.payload.get("tbc", False) for r in csms.of("NotifyReport"))


async def _remote_start(csms: FakeCSMS, **extra: Any) -> dict[str, Any]:
    payload = {"idToken": {"idToken": "APP-1", "type": "Central"}, "remoteStartId": 7, **extra}
    return await _ask(csms, "RequestStartTransaction", payload)


# -- device model: GetVariables, SetVariables, reports -------------------------------------


async def test_get_variables_answers_each_item_with_its_own_status(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 B06."""
    answer = await _ask(csms, "GetVariables", {"getVariableData": [
        _var("OCPPCommCtrlr", "HeartbeatInterval"),
        _var("SecurityCtrlr", "SecurityProfile"),
        _var("TxCtrlr", "EVConnectionTimeOut"),
        _var("SampledDataCtrlr", "TxUpdatedInterval"),
        {"component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}},
        _var("OCPPCommCtrlr", "MessageAttempts"),  # needs instance TransactionEvent
        _var("NoSuchCtrlr", "Enabled"),
        _var("TxCtrlr", "NoSuchVariable"),
        _var("OCPPCommCtrlr", "HeartbeatInterval", attributeType="Target"),
    ]})  # fmt: skip
    results = answer["getVariableResult"]
    assert [(r["attributeStatus"], r.get("attributeValue")) for r in results] == [
        ("Accepted", "86400"),  # the interval the CSMS gave at boot
        ("Accepted", "1"),
        ("Accepted", "120"),
        ("Accepted", "20"),
        ("Accepted", "22000"),
        ("UnknownVariable", None),
        ("UnknownComponent", None),
        ("UnknownVariable", None),
        ("NotSupportedAttributeType", None),
    ]
    assert results[0]["component"] == {"name": "OCPPCommCtrlr"}
    assert results[0]["variable"] == {"name": "HeartbeatInterval"}


async def test_get_variables_with_more_items_than_items_per_message_is_refused(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    items = [_var("OCPPCommCtrlr", "HeartbeatInterval")] * 21
    with pytest.raises(CSMSCallError) as error:
        await csms.call("CS1", "GetVariables", {"getVariableData": items})
    assert error.value.code == "OccurrenceConstraintViolation"


async def test_set_variables_changes_writable_values_and_refuses_the_rest(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 B05: per-item status; a new HeartbeatInterval takes effect at once."""
    answer = await _ask(csms, "SetVariables", {"setVariableData": [
        _var("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="3"),
        _var("SecurityCtrlr", "SecurityProfile", attributeValue="2"),
        _var("TxCtrlr", "EVConnectionTimeOut", attributeValue="soon"),
        _var("SampledDataCtrlr", "TxUpdatedMeasurands", attributeValue="Voltage,Frequency"),
        _var("TxCtrlr", "EVConnectionTimeOut", attributeValue="90"),
        _var("NoSuchCtrlr", "X", attributeValue="1"),
    ]})  # fmt: skip
    results = answer["setVariableResult"]
    assert [r["attributeStatus"] for r in results] == [
        "Accepted",
        "Rejected",
        "Rejected",
        "Rejected",
        "Accepted",
        "UnknownComponent",
    ]
    assert results[1]["attributeStatusInfo"] == {"reasonCode": "ReadOnly"}
    assert results[2]["attributeStatusInfo"] == {"reasonCode": "InvalidValue"}
    assert cs.heartbeat_interval == 3
    read = await _ask(csms, "GetVariables", {"getVariableData": [
        _var("OCPPCommCtrlr", "HeartbeatInterval"),
        _var("SecurityCtrlr", "SecurityProfile"),
        _var("TxCtrlr", "EVConnectionTimeOut"),
    ]})  # fmt: skip
    assert [r["attributeValue"] for r in read["getVariableResult"]] == ["3", "1", "90"]
    # 3 simulated seconds at speed 100: heartbeats follow within a fraction of a second.
    await csms.wait_for("Heartbeat", 2, timeout=3)


async def test_set_tx_updated_interval_changes_the_periodic_sampling(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    await _ask(csms, "SetVariables", {"setVariableData": [
        _var("SampledDataCtrlr", "TxUpdatedInterval", attributeValue="0"),
    ]})  # fmt: skip
    assert cs.meter_interval() == 0
    result = await cs.charge(id_tag="CARD1", plan=ChargingPlan(energy_wh=500, power_w=36_000))
    assert result.meter_values == 0
    assert all(e["triggerReason"] != "MeterValuePeriodic" for e in _events(csms))


async def test_get_base_report_is_accepted_then_sent_in_parts_with_seq_no_and_tbc(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 B07: Accepted, then NotifyReport seqNo 0..n, tbc on all parts but the last."""
    answer = await _ask(csms, "GetBaseReport", {"requestId": 42, "reportBase": "FullInventory"})
    assert answer == {"status": "Accepted"}
    await csms.wait_until(lambda: _report_complete(csms))
    parts = [r.payload for r in csms.of("NotifyReport")]
    assert len(parts) >= 3
    assert [p["seqNo"] for p in parts] == list(range(len(parts)))
    assert [p.get("tbc", False) for p in parts] == [True] * (len(parts) - 1) + [False]
    assert {p["requestId"] for p in parts} == {42}
    assert len({p["generatedAt"] for p in parts}) == 1
    assert all(len(p["reportData"]) <= 20 for p in parts)  # ItemsPerMessage.GetReport
    await cs.wait_idle(timeout=5)  # the report task has seen the answer to every part
    assert cs.reports_sent[42] == len(parts)
    items = [item for p in parts for item in p["reportData"]]
    names = {(i["component"]["name"], i["variable"]["name"]) for i in items}
    assert {
        ("OCPPCommCtrlr", "HeartbeatInterval"),
        ("SecurityCtrlr", "SecurityProfile"),
        ("TxCtrlr", "EVConnectionTimeOut"),
        ("SampledDataCtrlr", "TxUpdatedInterval"),
        ("Connector", "AvailabilityState"),
    } <= names
    heartbeat = next(i for i in items if i["variable"]["name"] == "HeartbeatInterval")
    assert heartbeat["variableAttribute"] == [
        {
            "type": "Actual",
            "value": "86400",
            "mutability": "ReadWrite",
            "persistent": True,
            "constant": False,
        }
    ]
    assert heartbeat["variableCharacteristics"]["dataType"] == "integer"


async def test_configuration_inventory_reports_only_writable_variables(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    answer = await _ask(
        csms, "GetBaseReport", {"requestId": 1, "reportBase": "ConfigurationInventory"}
    )
    assert answer == {"status": "Accepted"}
    await csms.wait_until(lambda: _report_complete(csms))
    parts = [r.payload for r in csms.of("NotifyReport")]
    items = [item for p in parts for item in p["reportData"]]
    assert items and {i["variableAttribute"][0]["mutability"] for i in items} == {"ReadWrite"}
    assert parts[-1].get("tbc", False) is False


async def test_get_report_filters_by_component_variable_and_criteria(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 B08: componentVariable and componentCriteria; nothing matching: EmptyResultSet."""
    answer = await _ask(csms, "GetReport", {
        "requestId": 5,
        "componentVariable": [
            {"component": {"name": "TxCtrlr"}},
            _var("OCPPCommCtrlr", "HeartbeatInterval"),
        ],
    })  # fmt: skip
    assert answer == {"status": "Accepted"}
    await csms.wait_until(lambda: _report_complete(csms))
    items = [i for r in csms.of("NotifyReport") for i in r.payload["reportData"]]
    names = {(i["component"]["name"], i["variable"]["name"]) for i in items}
    assert ("OCPPCommCtrlr", "HeartbeatInterval") in names
    assert {c for c, _ in names} == {"TxCtrlr", "OCPPCommCtrlr"}
    assert ("TxCtrlr", "TxStartPoint") in names and len(names) == 7

    empty = await _ask(csms, "GetReport", {
        "requestId": 6, "componentVariable": [{"component": {"name": "NoSuchCtrlr"}}]
    })  # fmt: skip
    assert empty == {"status": "EmptyResultSet"}
    enabled = await _ask(csms, "GetReport", {"requestId": 7, "componentCriteria": ["Enabled"]})
    assert enabled == {"status": "Accepted"}
    problem = await _ask(csms, "GetReport", {"requestId": 8, "componentCriteria": ["Problem"]})
    assert problem == {"status": "EmptyResultSet"}


async def test_base_report_while_pending_is_delivered_through_the_boot_gate(
    csms: FakeCSMS, make_cs: Factory
) -> None:
    """2.0.1 B02: a Pending station may send what the CSMS asked for (NotifyReport)."""
    csms.rules["BootNotification"] = lambda identity, payload: {
        "status": "Pending",
        "currentTime": "2030-01-01T00:00:00Z",
        "interval": 3600,
    }
    station = make_cs()
    await station.connect()
    await station.boot(retry=False)
    assert station.registration_status == "Pending"
    answer = await _ask(csms, "GetBaseReport", {"requestId": 3, "reportBase": "SummaryInventory"})
    assert answer == {"status": "Accepted"}
    await csms.wait_for("NotifyReport")
    items = csms.of("NotifyReport")[0].payload["reportData"]
    assert {i["variable"]["name"] for i in items} == {"AvailabilityState", "Available", "Problem"}
    assert csms.actions() == ["BootNotification", "NotifyReport"]


# -- transactions: RequestStart/Stop, GetTransactionStatus ---------------------------------


async def test_request_start_starts_a_transaction_with_trigger_remote_start_and_remote_start_id(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 F01: app start with an idToken of type Central, no Authorize by default."""
    assert await _remote_start(csms) == {"status": "Accepted"}
    started = (await csms.wait_for("TransactionEvent"))[0].payload
    assert started["eventType"] == "Started"
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 7
    assert started["idToken"] == {"idToken": "APP-1", "type": "Central"}
    assert csms.of("Authorize") == []  # AuthCtrlr.AuthorizeRemoteStart is false
    busy = await _remote_start(csms, evseId=1)
    unknown = await _remote_start(csms, evseId=9)
    assert busy == unknown == {"status": "Rejected"}


async def test_request_start_authorizes_first_when_authorize_remote_start_is_true(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    await _ask(csms, "SetVariables", {"setVariableData": [
        _var("AuthCtrlr", "AuthorizeRemoteStart", attributeValue="true"),
    ]})  # fmt: skip
    await _remote_start(csms)
    await csms.wait_for("TransactionEvent")
    actions = csms.actions()
    first = actions.index("Authorize")
    assert actions[first : first + 3] == ["Authorize", "StatusNotification", "TransactionEvent"]


async def test_request_stop_ends_the_transaction_with_reason_remote(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 F03."""
    await _remote_start(csms)
    await csms.wait_until(lambda: len(_events(csms)) >= 2)
    transaction_id = cs.transactions[0].transaction_id
    wrong = await _ask(csms, "RequestStopTransaction", {"transactionId": "nope"})
    assert wrong == {"status": "Rejected"}
    answer = await _ask(csms, "RequestStopTransaction", {"transactionId": transaction_id})
    assert answer == {"status": "Accepted"}
    ended = (await csms.wait_for("TransactionEvent", eventType="Ended"))[0].payload
    assert ended["triggerReason"] == "RemoteStop"
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    await cs.wait_sessions(1, timeout=5)
    assert cs.session_results[0].remote and _statuses(csms)[-1] == "Available"


async def test_get_transaction_status_reports_ongoing_and_queued_messages(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 E14."""
    tx = await cs.start_transaction(id_tag="CARD1")
    ongoing = await _ask(csms, "GetTransactionStatus", {"transactionId": tx.transaction_id})
    assert ongoing == {"ongoingIndicator": True, "messagesInQueue": False}
    unknown = await _ask(csms, "GetTransactionStatus", {"transactionId": "other"})
    assert unknown == {"ongoingIndicator": False, "messagesInQueue": False}
    assert await _ask(csms, "GetTransactionStatus", {}) == {"messagesInQueue": False}
    await cs.stop_transaction(tx)
    ended = await _ask(csms, "GetTransactionStatus", {"transactionId": tx.transaction_id})
    assert ended == {"ongoingIndicator": False, "messagesInQueue": False}


async def test_get_transaction_status_sees_events_waiting_in_the_queue(
    csms: FakeCSMS, make_cs: Factory
) -> None:
    station = make_cs(call_timeout=0.5)
    await station.connect()
    await station.boot()
    tx = await station.start_transaction(id_tag="CARD1")
    csms.rules["TransactionEvent"] = lambda identity, payload: NO_ANSWER
    await station.send_transaction_update(tx, wait=False)
    await csms.wait_for("TransactionEvent", 2)
    # The Updated event is unanswered: it stays queued and will be sent again.
    queued = await _ask(csms, "GetTransactionStatus", {"transactionId": tx.transaction_id})
    assert queued == {"ongoingIndicator": True, "messagesInQueue": True}
    assert await _ask(csms, "GetTransactionStatus", {}) == {"messagesInQueue": True}
    del csms.rules["TransactionEvent"]
    assert await station.wait_queue_empty(timeout=5)
    resent = [e for e in _events(csms) if e["eventType"] == "Updated"]
    assert len(resent) >= 2 and {e["seqNo"] for e in resent} == {1}  # same event again
    done = await _ask(csms, "GetTransactionStatus", {"transactionId": tx.transaction_id})
    assert done == {"ongoingIndicator": True, "messagesInQueue": False}


# -- reset, unlock, availability -------------------------------------------------------


async def test_immediate_reset_ends_the_transaction_then_boots_with_reason_remote_reset(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 B11."""
    await _remote_start(csms)
    await csms.wait_until(lambda: len(_events(csms)) >= 2)
    assert await _ask(csms, "Reset", {"type": "Immediate"}) == {"status": "Accepted"}
    ended = (await csms.wait_for("TransactionEvent", eventType="Ended"))[0].payload
    assert ended["triggerReason"] == "ResetCommand"
    assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
    boots = await csms.wait_for("BootNotification", 2)
    assert boots[1].payload["reason"] == "RemoteReset"
    assert csms.connects == ["CS1", "CS1"]
    await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"])


async def test_on_idle_reset_is_scheduled_until_the_transaction_ends(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 B12."""
    tx = await cs.start_transaction(id_tag="CARD1")
    assert await _ask(csms, "Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
    await asyncio.sleep(0.2)
    assert len(csms.of("BootNotification")) == 1
    await cs.end_session(tx, "Local")
    boots = await csms.wait_for("BootNotification", 2)
    assert boots[1].payload["reason"] == "RemoteReset"
    assert _events(csms)[-1]["transactionInfo"]["stoppedReason"] == "Local"


async def test_on_idle_reset_of_an_idle_station_reboots_at_once(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    assert await _ask(csms, "Reset", {"type": "OnIdle"}) == {"status": "Accepted"}
    await csms.wait_for("BootNotification", 2)
    assert await _ask(csms, "Reset", {"type": "Immediate", "evseId": 1}) == {"status": "Rejected"}


async def test_unlock_connector_refuses_during_an_authorized_transaction(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 F05."""
    assert await _ask(csms, "UnlockConnector", {"evseId": 1, "connectorId": 1}) == {
        "status": "Unlocked"
    }
    assert await _ask(csms, "UnlockConnector", {"evseId": 2, "connectorId": 1}) == {
        "status": "UnknownConnector"
    }
    await cs.start_transaction(id_tag="CARD1")
    assert await _ask(csms, "UnlockConnector", {"evseId": 1, "connectorId": 1}) == {
        "status": "OngoingAuthorizedTransaction"
    }


async def test_change_availability_applies_now_or_after_the_transaction(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 G03: Inoperative while charging is Scheduled; Unavailable once it ends."""
    idle = await _ask(csms, "ChangeAvailability", {"operationalStatus": "Inoperative"})
    assert idle == {"status": "Accepted"}
    await csms.wait_until(lambda: _statuses(csms)[-1] == "Unavailable")
    back = await _ask(
        csms, "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 1}}
    )
    assert back == {"status": "Accepted"}
    await csms.wait_until(lambda: _statuses(csms)[-1] == "Available")

    tx = await cs.start_transaction(id_tag="CARD1")
    busy = await _ask(
        csms,
        "ChangeAvailability",
        {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 1}},
    )
    assert busy == {"status": "Scheduled"}
    await cs.end_session(tx, "Local")
    assert _statuses(csms)[-1] == "Unavailable"
    wrong = await _ask(
        csms, "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 3}}
    )
    assert wrong == {"status": "Rejected"}


# -- TriggerMessage, ClearCache, DataTransfer ------------------------------------------


async def test_trigger_message_sends_what_was_asked_for(csms: FakeCSMS, cs: ChargePoint201) -> None:
    """2.0.1 F06."""
    boot = await _ask(csms, "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert boot == {"status": "Rejected"}  # already accepted
    for message in ("StatusNotification", "Heartbeat", "MeterValues"):
        before = len(csms.of(message))
        answer = await _ask(csms, "TriggerMessage", {"requestedMessage": message})
        assert answer == {"status": "Accepted"}
        await csms.wait_for(message, before + 1)
    meter = csms.of("MeterValues")[-1].payload
    assert meter["evseId"] == 1
    assert {s["context"] for s in meter["meterValue"][0]["sampledValue"]} == {"Trigger"}

    none = await _ask(csms, "TriggerMessage", {"requestedMessage": "TransactionEvent"})
    assert none == {"status": "Rejected"}  # no transaction to report
    await cs.start_transaction(id_tag="CARD1")
    answer = await _ask(
        csms, "TriggerMessage", {"requestedMessage": "TransactionEvent", "evse": {"id": 1}}
    )
    assert answer == {"status": "Accepted"}
    await csms.wait_until(lambda: len(_events(csms)) == 2)
    triggered = _events(csms)[-1]
    assert (triggered["eventType"], triggered["triggerReason"], triggered["seqNo"]) == (
        "Updated",
        "Trigger",
        1,
    )
    unsupported = await _ask(csms, "TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
    assert unsupported == {"status": "NotImplemented"}


async def test_triggered_boot_notification_while_pending_has_reason_triggered(
    csms: FakeCSMS, make_cs: Factory
) -> None:
    answers = iter(["Pending", "Accepted"])
    csms.rules["BootNotification"] = lambda identity, payload: {
        "status": next(answers),
        "currentTime": "2030-01-01T00:00:00Z",
        "interval": 3600,
    }
    station = make_cs()
    await station.connect()
    booting = asyncio.create_task(station.boot())
    await csms.wait_for("BootNotification")
    answer = await _ask(csms, "TriggerMessage", {"requestedMessage": "BootNotification"})
    assert answer == {"status": "Accepted"}
    await asyncio.wait_for(booting, 5)  # no need to wait out the 3600 s interval
    boots = csms.of("BootNotification")
    assert [b.payload["reason"] for b in boots] == ["PowerUp", "Triggered"]
    assert station.accepted


async def test_clear_cache_empties_the_authorization_cache(
    csms: FakeCSMS, cs: ChargePoint201
) -> None:
    """2.0.1 C11."""
    await cs.authorize("CARD1")
    assert cs.auth_cache
    assert await _ask(csms, "ClearCache", {}) == {"status": "Accepted"}
    assert cs.auth_cache == {}
    await cs.go_offline()
    with pytest.raises(StationOffline):
        await cs.authorize("CARD1")  # no longer cached: refused offline
    await cs.go_online(timeout=5)
    await _ask(csms, "SetVariables", {"setVariableData": [
        _var("AuthCacheCtrlr", "Enabled", attributeValue="false"),
    ]})  # fmt: skip
    assert await _ask(csms, "ClearCache", {}) == {"status": "Rejected"}


async def test_unknown_data_transfer_vendor_is_answered(csms: FakeCSMS, cs: ChargePoint201) -> None:
    answer = await _ask(csms, "DataTransfer", {"vendorId": "acme"})
    assert answer == {"status": "UnknownVendorId"}
