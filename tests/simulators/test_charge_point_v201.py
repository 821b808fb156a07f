"""The 2.0.1 charging station's own behaviour: boot, TransactionEvent sessions, seqNo,
chargingState, the offline queue."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from protocol import OCPPVersion
from simulators import ChargePoint201, ChargingPlan, NotAccepted, StationOffline
from tests.simulators.fake_csms import FakeCSMS, Received

Factory = Callable[..., ChargePoint201]
PLAN = ChargingPlan(energy_wh=1000, power_w=36_000)  # 100 simulated s = 1 real s


def _events(csms: FakeCSMS, identity: str = "CS1") -> list[dict[str, Any]]:
    return [r.payload for r in csms.of("TransactionEvent", identity)]


def _statuses(csms: FakeCSMS) -> list[str]:
    return [r.payload["connectorStatus"] for r in csms.of("StatusNotification")]


def _energy(event: dict[str, Any]) -> float:
    for sample in event["meterValue"][0]["sampledValue"]:
        if sample["measurand"] == "Energy.Active.Import.Register":
            return float(sample["value"])
    raise AssertionError("no energy register sample")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_full_session_sends_boot_statuses_authorize_and_transaction_events(
    csms: FakeCSMS, make_cs: Factory
) -> None:
    async with make_cs(serial_number="SN-1") as cs:
        await cs.boot()
        result = await cs.charge(id_tag="CARD1", plan=PLAN)

    assert csms.versions["CS1"] is OCPPVersion.V201
    assert csms.refused == []  # every message passed the official 2.0.1 schemas
    boot = csms.of("BootNotification")[0].payload
    assert boot == {
        "reason": "PowerUp",
        "chargingStation": {
            "vendorName": "csms-sim",
            "model": "SimCharger-201",
            "firmwareVersion": "1.0.0",
            "serialNumber": "SN-1",
        },
    }
    updates = len(_events(csms)) - 2
    assert csms.actions() == [
        "BootNotification",
        "StatusNotification",  # Available
        "Authorize",
        "StatusNotification",  # Occupied: cable plugged in
        "TransactionEvent",  # Started
        *["TransactionEvent"] * updates,
        "TransactionEvent",  # Ended
        "StatusNotification",  # Available: the EV left
    ]
    assert _statuses(csms) == ["Available", "Occupied", "Available"]
    first_status = csms.of("StatusNotification")[0].payload
    assert (first_status["evseId"], first_status["connectorId"]) == (1, 1)
    assert csms.of("Authorize")[0].payload == {"idToken": {"idToken": "CARD1", "type": "ISO14443"}}

    events = _events(csms)
    started, *middle, ended = events
    transaction_id = started["transactionInfo"]["transactionId"]
    assert uuid.UUID(transaction_id) and result.transaction_id == transaction_id
    assert {e["transactionInfo"]["transactionId"] for e in events} == {transaction_id}
    # 2.0.1 E01: seqNo starts at 0 and counts every event of the transaction.
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert [e["eventType"] for e in events] == ["Started", *["Updated"] * len(middle), "Ended"]
    assert "offline" not in started

    assert started["triggerReason"] == "CablePluggedIn"
    assert started["transactionInfo"]["chargingState"] == "EVConnected"
    assert started["idToken"] == {"idToken": "CARD1", "type": "ISO14443"}
    assert started["evse"] == {"id": 1, "connectorId": 1}
    begin = started["meterValue"][0]["sampledValue"]
    assert begin == [
        {
            "value": 0,
            "context": "Transaction.Begin",
            "measurand": "Energy.Active.Import.Register",
            "location": "Outlet",
            "unitOfMeasure": {"unit": "Wh"},
        }
    ]

    charging, *periodic, suspended = middle
    assert (charging["triggerReason"], charging["transactionInfo"]["chargingState"]) == (
        "ChargingStateChanged",
        "Charging",
    )
    assert len(periodic) >= 2
    readings = []
    for event in periodic:
        assert event["triggerReason"] == "MeterValuePeriodic"
        assert "chargingState" not in event["transactionInfo"]  # only sent when it changes
        samples = event["meterValue"][0]["sampledValue"]
        assert [(s["measurand"], s["context"], s["unitOfMeasure"]["unit"]) for s in samples] == [
            ("Energy.Active.Import.Register", "Sample.Periodic", "Wh"),
            ("Power.Active.Import", "Sample.Periodic", "W"),
        ]
        assert samples[1]["value"] == 36_000
        readings.append(_energy(event))
    assert readings == sorted(readings) and 0 < readings[0] < readings[-1] < 1000
    # The battery is full: the EV stops drawing power while still plugged in.
    assert (suspended["triggerReason"], suspended["transactionInfo"]["chargingState"]) == (
        "ChargingStateChanged",
        "SuspendedEV",
    )

    assert ended["triggerReason"] == "StopAuthorized"
    assert ended["transactionInfo"]["stoppedReason"] == "Local"
    assert ended["idToken"] == {"idToken": "CARD1", "type": "ISO14443"}
    end = ended["meterValue"][0]["sampledValue"]
    assert [(s["context"], s["value"]) for s in end] == [("Transaction.End", 1000)]
    assert result.ok and result.energy_wh == 1000 and result.stop_reason == "Local"
    assert result.id_tag_status == "Accepted"


async def test_seq_no_restarts_at_zero_for_each_transaction_with_a_new_transaction_id(
    csms: FakeCSMS, make_cs: Factory
) -> None:
    async with make_cs(energy_wh=5000) as cs:
        await cs.boot()
        first = await cs.charge(id_tag="CARD1", plan=ChargingPlan(energy_wh=200, power_w=36_000))
        second = await cs.charge(id_tag="CARD1", plan=ChargingPlan(energy_wh=300, power_w=36_000))

    assert first.transaction_id != second.transaction_id
    by_tx: dict[str, list[int]] = {}
    for event in _events(csms):
        by_tx.setdefault(event["transactionInfo"]["transactionId"], []).append(event["seqNo"])
    assert list(by_tx) == [first.transaction_id, second.transaction_id]
    for seq_nos in by_tx.values():
        assert seq_nos == list(range(len(seq_nos)))
    starts = [_energy(e) for e in _events(csms) if e["eventType"] == "Started"]
    ends = [_energy(e) for e in _events(csms) if e["eventType"] == "Ended"]
    assert (starts, ends) == ([5000, 5200], [5200, 5500])  # the register carries over


async def test_events_produced_offline_are_replayed_in_order_flagged_offline_with_their_own_times(
    csms: FakeCSMS, make_cs: Factory
) -> None:
    """2.0.1 E04: queued while offline, sent in order with offline=true, the original
    timestamps and seqNos."""
    async with make_cs() as cs:
        await cs.boot()
        tx = await cs.start_transaction(id_tag="CARD1")
        await cs.set_charging_state(tx, "Charging", wait=True)
        await cs.go_offline()
        for _ in range(3):
            cs.deliver_energy(1, 500, power_w=11_000)
            await cs.send_transaction_update(tx, wait=False)
            await asyncio.sleep(0.01)
        await cs.stop_transaction(tx, reason="EVDisconnected", wait=False)
        assert [p["seqNo"] for _, p in cs.queued_messages] == [2, 3, 4, 5]
        await asyncio.sleep(0.1)
        reconnect_at = datetime.now().astimezone()
        await cs.go_online(timeout=10)
        assert await cs.wait_queue_empty(timeout=10)

    events = _events(csms)
    assert [e["seqNo"] for e in events] == [0, 1, 2, 3, 4, 5]
    online, offline = events[:2], events[2:]
    assert all("offline" not in e for e in online)
    assert all(e["offline"] is True for e in offline)
    assert [e["eventType"] for e in offline] == ["Updated", "Updated", "Updated", "Ended"]
    times = [_time(e["timestamp"]) for e in offline]
    assert times == sorted(times) and times[-1] < reconnect_at
    assert [_energy(e) for e in offline] == [500, 1000, 1500, 1500]
    ended = offline[-1]
    assert ended["triggerReason"] == "EVDeparted"
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert ended["transactionInfo"]["chargingState"] == "Idle"
    # What the station recorded is what went over the wire.
    assert cs.transaction_events(tx) == events


async def test_transaction_started_offline_is_authorized_from_the_cache_and_sent_later(
    csms: FakeCSMS, make_cs: Factory
) -> None:
    async with make_cs() as cs:
        await cs.boot()
        assert (await cs.authorize("CARD1"))["status"] == "Accepted"
        await cs.go_offline()
        # C12 LocalAuthorizeOffline: the cached Accepted answer lets the driver charge.
        assert (await cs.authorize("CARD1"))["status"] == "Accepted"
        with pytest.raises(StationOffline):  # an unknown card offline
            await cs.authorize("UNKNOWN")
        tx = await cs.start_transaction(id_tag="CARD1")
        assert not tx.confirmed
        cs.deliver_energy(1, 700, power_w=11_000)
        await cs.stop_transaction(tx, wait=False)
        await cs.go_online(timeout=10)
        assert await cs.wait_queue_empty(timeout=10)
        await tx.wait_confirmed(timeout=5)

    started, ended = _events(csms)
    assert started["offline"] is True and ended["offline"] is True
    assert started["eventType"] == "Started" and started["idToken"]["idToken"] == "CARD1"
    assert _energy(ended) - _energy(started) == 700
    assert tx.id_tag_status == "Accepted"


async def test_no_other_call_before_the_boot_is_accepted_and_pending_boot_is_retried(
    csms: FakeCSMS, make_cs: Factory
) -> None:
    """2.0.1 B02: while Pending only BootNotification goes out, retried after the
    interval; the station answers the CSMS's calls meanwhile."""
    answers = iter(["Pending", "Pending", "Accepted"])

    def boot(identity: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"status": next(answers), "currentTime": "2030-01-01T00:00:00Z", "interval": 30}

    csms.rules["BootNotification"] = boot
    async with make_cs() as cs:
        booting = asyncio.create_task(cs.boot())
        await csms.wait_for("BootNotification")
        with pytest.raises(NotAccepted):
            await cs.call("Heartbeat", {})
        with pytest.raises(NotAccepted):
            await cs.call("StatusNotification", {
                "timestamp": "2030-01-01T00:00:00Z", "connectorStatus": "Available",
                "evseId": 1, "connectorId": 1,
            })  # fmt: skip
        answer = await csms.call(
            "CS1",
            "GetVariables",
            {"getVariableData": [{"component": {"name": "OCPPCommCtrlr"},
                                  "variable": {"name": "HeartbeatInterval"}}]},
        )  # fmt: skip
        assert answer["getVariableResult"][0]["attributeStatus"] == "Accepted"
        await asyncio.wait_for(booting, 5)
        assert cs.accepted

    actions = csms.actions()
    assert actions[:3] == ["BootNotification"] * 3
    assert actions[3] == "StatusNotification"
    boots = csms.of("BootNotification")
    # 30 simulated seconds at speed 100: at least 0.3 s between attempts.
    assert boots[1].at - boots[0].at >= 0.29 and boots[2].at - boots[1].at >= 0.29


async def test_pin_login_authorizes_a_key_code_id_token_carrying_the_login(
    csms: FakeCSMS, make_cs: Factory
) -> None:
    async with make_cs() as cs:
        await cs.boot()
        key = cs.pin_token("driver@example.com", "4711")
        result = await cs.charge(id_tag=key, plan=ChargingPlan(energy_wh=100, power_w=36_000))
    expected = {
        "idToken": "4711",
        "type": "KeyCode",
        "additionalInfo": [{"additionalIdToken": "driver@example.com", "type": "Login"}],
    }
    assert csms.of("Authorize")[0].payload == {"idToken": expected}
    assert _events(csms)[0]["idToken"] == expected
    assert result.ok


async def test_id_token_type_is_configurable(csms: FakeCSMS, make_cs: Factory) -> None:
    async with make_cs(id_token_type="ISO15693") as cs:
        await cs.boot()
        await cs.charge(id_tag="E0040100", plan=ChargingPlan(energy_wh=100, power_w=36_000))
    assert csms.of("Authorize")[0].payload["idToken"]["type"] == "ISO15693"
    assert _events(csms)[0]["idToken"]["type"] == "ISO15693"
    with pytest.raises(ValueError):
        make_cs(id_token_type="Barcode")


async def test_started_answered_invalid_ends_the_transaction_deauthorized(
    csms: FakeCSMS, make_cs: Factory
) -> None:
    """2.0.1 E05: StopTxOnInvalidId, the CSMS refuses the idToken of the Started event."""

    def refuse(identity: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"idTokenInfo": {"status": "Invalid"}} if "idToken" in payload else {}

    csms.rules["TransactionEvent"] = refuse
    async with make_cs() as cs:
        await cs.boot()
        result = await cs.charge(id_tag="CARD1", authorize=False, plan=PLAN)
    started, ended = _events(csms)
    assert started["eventType"] == "Started"
    assert (ended["triggerReason"], ended["transactionInfo"]["stoppedReason"]) == (
        "Deauthorized",
        "DeAuthorized",
    )
    assert result.id_tag_status == "Invalid" and not result.ok


async def test_energy_is_reported_as_numbers_not_strings(csms: FakeCSMS, make_cs: Factory) -> None:
    """2.0.1 SampledValueType.value is a decimal (1.6 sent strings)."""
    async with make_cs() as cs:
        await cs.boot()
        tx = await cs.start_transaction(id_tag="CARD1")
        cs.deliver_energy(1, 1234.4, power_w=7_400)
        await cs.send_transaction_update(tx)
    update: Received = csms.of("TransactionEvent")[-1]
    values = [s["value"] for s in update.payload["meterValue"][0]["sampledValue"]]
    assert values == [1234, 7400]
