"""How the 1.6 charge point answers (and acts on) the CSMS's calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from simulators import ChargePoint16, ChargingPlan
from tests.simulators.fake_csms import NO_ANSWER, CSMSCallError, FakeCSMS

Factory = Callable[..., ChargePoint16]
LONG = ChargingPlan(energy_wh=50_000, power_w=11_000)  # hours: runs until stopped


@pytest.fixture
async def cp(make_cp: Factory) -> AsyncIterator[ChargePoint16]:
    charge_point = make_cp(charging_plan=LONG)
    await charge_point.connect()
    await charge_point.boot()
    yield charge_point


def _statuses(csms: FakeCSMS, connector_id: int = 1) -> list[str]:
    return [
        r.payload["status"]
        for r in csms.of("StatusNotification")
        if r.payload["connectorId"] == connector_id
    ]


async def test_remote_start_is_accepted_and_starts_a_session_with_that_id_tag(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    answer = await csms.call("CP1", "RemoteStartTransaction", {"idTag": "APP-123"})
    assert answer == {"status": "Accepted"}
    start = (await csms.wait_for("StartTransaction"))[0].payload
    assert (start["idTag"], start["connectorId"]) == ("APP-123", 1)
    await csms.wait_until(lambda: "Charging" in _statuses(csms))
    assert csms.of("Authorize") == []  # AuthorizeRemoteTxRequests is false


async def test_remote_start_on_a_busy_or_unknown_connector_is_rejected(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    await csms.call("CP1", "RemoteStartTransaction", {"idTag": "A", "connectorId": 1})
    await csms.wait_for("StartTransaction")
    busy = await csms.call("CP1", "RemoteStartTransaction", {"idTag": "B", "connectorId": 1})
    unknown = await csms.call("CP1", "RemoteStartTransaction", {"idTag": "B", "connectorId": 5})
    assert busy == unknown == {"status": "Rejected"}


async def test_remote_start_authorizes_first_when_configured(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    await csms.call(
        "CP1", "ChangeConfiguration", {"key": "AuthorizeRemoteTxRequests", "value": "true"}
    )
    await csms.call("CP1", "RemoteStartTransaction", {"idTag": "APP-9"})
    await csms.wait_for("StartTransaction")
    actions = csms.actions()
    assert "Authorize" in actions
    first = actions.index("Authorize")
    assert actions[first : first + 3] == ["Authorize", "StatusNotification", "StartTransaction"]
    assert csms.of("Authorize")[0].payload == {"idTag": "APP-9"}


async def test_remote_stop_of_the_running_transaction_stops_it_with_reason_remote(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    await csms.call("CP1", "RemoteStartTransaction", {"idTag": "APP-123"})
    await csms.wait_for("MeterValues")
    transaction_id = cp.transactions[0].transaction_id
    assert transaction_id == 1000

    wrong = await csms.call("CP1", "RemoteStopTransaction", {"transactionId": 999})
    assert wrong == {"status": "Rejected"}
    answer = await csms.call("CP1", "RemoteStopTransaction", {"transactionId": transaction_id})
    assert answer == {"status": "Accepted"}

    stop = (await csms.wait_for("StopTransaction"))[0].payload
    assert (stop["transactionId"], stop["reason"]) == (transaction_id, "Remote")
    await cp.wait_sessions(1, timeout=5)
    assert _statuses(csms)[-2:] == ["Finishing", "Available"]
    assert cp.session_results[0].remote and cp.session_results[0].stop_reason == "Remote"


async def test_remote_stop_of_an_api_started_transaction_is_carried_out(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    tx = await cp.start_transaction(id_tag="CARD1")
    answer = await csms.call("CP1", "RemoteStopTransaction", {"transactionId": tx.transaction_id})
    assert answer == {"status": "Accepted"}
    await tx.wait_stopped(timeout=5)
    stop = (await csms.wait_for("StopTransaction"))[0].payload
    assert stop["reason"] == "Remote"


async def test_soft_reset_stops_the_transaction_then_reconnects_and_boots_again(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    await csms.call("CP1", "RemoteStartTransaction", {"idTag": "APP-1"})
    await csms.wait_for("MeterValues")

    assert await csms.call("CP1", "Reset", {"type": "Soft"}) == {"status": "Accepted"}

    stop = (await csms.wait_for("StopTransaction"))[0].payload
    assert stop["reason"] == "SoftReset"
    await csms.wait_for("BootNotification", 2)
    await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"])
    after_stop = csms.actions()[csms.actions().index("StopTransaction") + 1 :]
    assert after_stop[:3] == ["BootNotification", "StatusNotification", "StatusNotification"]
    assert csms.connects == ["CP1", "CP1"]
    assert "Finishing" not in _statuses(csms)


async def test_hard_reset_stops_with_reason_hard_reset(csms: FakeCSMS, cp: ChargePoint16) -> None:
    tx = await cp.start_transaction(id_tag="CARD1")
    assert await csms.call("CP1", "Reset", {"type": "Hard"}) == {"status": "Accepted"}
    stop = (await csms.wait_for("StopTransaction"))[0].payload
    assert (stop["transactionId"], stop["reason"]) == (tx.transaction_id, "HardReset")
    await csms.wait_for("BootNotification", 2)


async def test_unlock_connector_unlocks_and_ends_a_running_transaction(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    await csms.call("CP1", "RemoteStartTransaction", {"idTag": "APP-1"})
    await csms.wait_for("StartTransaction")
    assert await csms.call("CP1", "UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
    stop = (await csms.wait_for("StopTransaction"))[0].payload
    assert stop["reason"] == "UnlockCommand"
    unknown = await csms.call("CP1", "UnlockConnector", {"connectorId": 3})
    assert unknown == {"status": "NotSupported"}


async def test_change_availability_when_idle_is_accepted_and_reported(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    answer = await csms.call("CP1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert answer == {"status": "Accepted"}
    await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Unavailable"])
    back = await csms.call("CP1", "ChangeAvailability", {"connectorId": 0, "type": "Operative"})
    assert back == {"status": "Accepted"}
    await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Available"])
    # An inoperative connector refuses remote starts.
    await csms.call("CP1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    refused = await csms.call("CP1", "RemoteStartTransaction", {"idTag": "X"})
    assert refused == {"status": "Rejected"}
    unknown = await csms.call("CP1", "ChangeAvailability", {"connectorId": 4, "type": "Operative"})
    assert unknown == {"status": "Rejected"}


async def test_change_availability_while_charging_is_scheduled_until_the_end(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    tx = await cp.start_transaction(id_tag="CARD1")
    answer = await csms.call("CP1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert answer == {"status": "Scheduled"}
    await cp.end_session(tx, "Local")
    assert _statuses(csms)[-2:] == ["Finishing", "Unavailable"]


async def test_get_configuration_lists_keys_with_readonly_flags(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    everything = await csms.call("CP1", "GetConfiguration", {})
    keys = {item["key"]: item for item in everything["configurationKey"]}
    for name in (
        "HeartbeatInterval",
        "MeterValueSampleInterval",
        "MeterValuesSampledData",
        "NumberOfConnectors",
        "AuthorizeRemoteTxRequests",
        "SupportedFeatureProfiles",
    ):
        assert name in keys
    assert keys["NumberOfConnectors"]["readonly"] is True
    assert keys["HeartbeatInterval"]["readonly"] is False
    assert keys["MeterValueSampleInterval"]["value"] == "20"
    assert "unknownKey" not in everything

    some = await csms.call("CP1", "GetConfiguration", {"key": ["HeartbeatInterval", "Bogus"]})
    assert [item["key"] for item in some["configurationKey"]] == ["HeartbeatInterval"]
    assert some["unknownKey"] == ["Bogus"]


async def test_change_configuration_accepts_rejects_and_refuses_unknown_keys(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    async def change(key: str, value: str) -> str:
        answer = await csms.call("CP1", "ChangeConfiguration", {"key": key, "value": value})
        return str(answer["status"])

    assert await change("MeterValueSampleInterval", "30") == "Accepted"
    assert cp.meter_interval() == 30
    assert await change("NumberOfConnectors", "4") == "Rejected"  # readonly
    assert await change("HeartbeatInterval", "soon") == "Rejected"  # not an integer
    assert await change("MeterValuesSampledData", "Temperature") == "Rejected"  # not metered
    assert await change("NoSuchKey", "1") == "NotSupported"
    assert await change("MeterValuesSampledData", "Energy.Active.Import.Register,Voltage") == (
        "Accepted"
    )
    tx = await cp.start_transaction(id_tag="CARD1")
    await cp.send_meter_values(1)
    samples = csms.of("MeterValues")[-1].payload["meterValue"][0]["sampledValue"]
    assert [s["measurand"] for s in samples] == ["Energy.Active.Import.Register", "Voltage"]
    await cp.stop_transaction(tx)


async def test_changing_heartbeat_interval_applies_at_once(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    await csms.call("CP1", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "10"})
    await csms.wait_for("Heartbeat", 3, timeout=3)  # every 0.1 s at speed 100
    assert cp.heartbeat_interval == 10


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("Heartbeat", "Heartbeat"),
        ("BootNotification", "BootNotification"),
        ("StatusNotification", "StatusNotification"),
        ("MeterValues", "MeterValues"),
        ("DiagnosticsStatusNotification", "DiagnosticsStatusNotification"),
        ("FirmwareStatusNotification", "FirmwareStatusNotification"),
    ],
)
async def test_trigger_message_is_accepted_then_the_message_is_sent(
    csms: FakeCSMS, cp: ChargePoint16, requested: str, expected: str
) -> None:
    before = len(csms.of(expected))
    answer = await csms.call(
        "CP1", "TriggerMessage", {"requestedMessage": requested, "connectorId": 1}
    )
    assert answer == {"status": "Accepted"}
    await csms.wait_until(lambda: len(csms.of(expected)) > before)


async def test_triggered_meter_values_carry_the_trigger_context(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    tx = await cp.start_transaction(id_tag="CARD1")
    await csms.call("CP1", "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1})
    record = (await csms.wait_for("MeterValues"))[0]
    assert record.payload["transactionId"] == tx.transaction_id
    contexts = {s["context"] for s in record.payload["meterValue"][0]["sampledValue"]}
    assert contexts == {"Trigger"}
    bad = await csms.call(
        "CP1", "TriggerMessage", {"requestedMessage": "Heartbeat", "connectorId": 9}
    )
    assert bad == {"status": "Rejected"}


async def test_clear_cache_is_accepted_and_empties_the_cache(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    await cp.authorize("CARD1")
    assert "CARD1" in cp.auth_cache
    assert await csms.call("CP1", "ClearCache", {}) == {"status": "Accepted"}
    assert cp.auth_cache == {}


async def test_unsupported_feature_is_answered_with_not_supported(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    with pytest.raises(CSMSCallError) as error:
        await csms.call(
            "CP1",
            "ReserveNow",
            {
                "connectorId": 1,
                "expiryDate": "2030-01-01T00:00:00Z",
                "idTag": "X",
                "reservationId": 1,
            },
        )
    assert error.value.code == "NotSupported"


async def test_data_transfer_from_the_csms_gets_unknown_vendor(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    answer = await csms.call("CP1", "DataTransfer", {"vendorId": "acme"})
    assert answer == {"status": "UnknownVendorId"}


async def test_pin_login_returns_the_one_time_id_tag(csms: FakeCSMS, cp: ChargePoint16) -> None:
    csms.rules["DataTransfer"] = lambda identity, payload: (
        {"status": "Accepted", "data": '{"idTag": "OTP-1", "expiresAt": "2030-01-01T00:00:00Z"}'}
        if payload["data"] == '{"login": "ann@example.org", "pin": "1234"}'
        else {"status": "Rejected"}
    )
    assert await cp.pin_login("ann@example.org", "1234") == "OTP-1"
    assert await cp.pin_login("ann@example.org", "0000") is None
    sent = csms.of("DataTransfer")[0].payload
    assert (sent["vendorId"], sent["messageId"]) == ("csms", "PinLogin")


async def test_csms_calls_are_answered_while_a_call_of_ours_is_outstanding(
    csms: FakeCSMS, cp: ChargePoint16
) -> None:
    csms.rules["Heartbeat"] = lambda identity, payload: NO_ANSWER
    heartbeat = asyncio.create_task(cp.call("Heartbeat", {}, timeout=2))
    await csms.wait_for("Heartbeat")
    answer = await csms.call("CP1", "GetConfiguration", {"key": ["NumberOfConnectors"]})
    assert answer["configurationKey"][0]["value"] == "1"
    assert not heartbeat.done()  # ours is still waiting for its answer
    heartbeat.cancel()
