"""OCPP 1.6 Core profile, CSMS side, over a real WebSocket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect

from csms.gateway import Gateway
from csms.routing import ChargerNotConnected, CommandError, CommandTimeout
from storage.database import Database
from tests.gateway.conftest import NOW, RawCharger

T0 = "2026-11-22T10:00:00Z"


def _meter(value: str, ts: str = T0, **extra: Any) -> dict[str, Any]:
    return {"timestamp": ts, "sampledValue": [{"value": value, **extra}]}


async def _add_card(db: Database, uid: str = "CARD1") -> None:
    await db.write(lambda uow: uow.id_tags.add(uid=uid, status="active", created_at=NOW))


async def test_boot_is_accepted_with_heartbeat_interval_and_stored(
    charger: RawCharger, sqlite_db: Database
) -> None:
    answer = await charger.call(
        "BootNotification",
        {
            "chargePointVendor": "Acme",
            "chargePointModel": "Wallbox 1",
            "chargePointSerialNumber": "SN-1",
            "firmwareVersion": "1.2.3",
        },
    )
    assert answer[0] == 3 and answer[2]["status"] == "Accepted"
    assert answer[2]["interval"] == 300
    stored = await sqlite_db.read(lambda uow: uow.chargers.get("CP1"))
    assert stored is not None
    assert (stored.vendor, stored.model, stored.serial_number, stored.firmware_version) == (
        "Acme",
        "Wallbox 1",
        "SN-1",
        "1.2.3",
    )


async def test_heartbeat_answers_current_time(charger: RawCharger) -> None:
    answer = await charger.call("Heartbeat", {})
    assert answer[2]["currentTime"].endswith("Z")


async def test_full_session_persists_every_meter_value_and_energy(
    charger: RawCharger, sqlite_db: Database
) -> None:
    await _add_card(sqlite_db)
    await charger.boot()
    auth = await charger.call("Authorize", {"idTag": "CARD1"})
    assert auth[2] == {"idTagInfo": {"status": "Accepted"}}
    start = await charger.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "CARD1", "meterStart": 1000, "timestamp": T0},
    )
    tx_id = start[2]["transactionId"]
    assert start[2]["idTagInfo"]["status"] == "Accepted"
    values = [
        {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
        {"value": "16.1", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
    ]
    answer = await charger.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [{"timestamp": "2026-11-22T10:05:00Z", "sampledValue": values}],
        },
    )
    assert answer == [3, answer[1], {}]
    stop = await charger.call(
        "StopTransaction",
        {
            "transactionId": tx_id,
            "meterStop": 9000,
            "timestamp": "2026-11-22T11:00:00Z",
            "idTag": "CARD1",
            "reason": "EVDisconnected",
            "transactionData": [_meter("9000", "2026-11-22T11:00:00Z", context="Transaction.End")],
        },
    )
    assert stop[2] == {"idTagInfo": {"status": "Accepted"}}
    tx = await sqlite_db.read(lambda uow: uow.transactions.by_transaction_id(tx_id))
    assert tx is not None and tx.energy_wh == 8000 and tx.status == "completed"
    samples = await sqlite_db.read(lambda uow: uow.meter_samples.for_transaction(tx.id))
    assert [(s.value, s.measurand, s.phase) for s in samples] == [
        ("1500", "Energy.Active.Import.Register", None),
        ("11000", "Power.Active.Import", None),
        ("16.1", "Current.Import", "L1"),
        ("9000", "Energy.Active.Import.Register", None),
    ]


async def test_transaction_message_is_committed_before_its_answer(
    charger: RawCharger, sqlite_db: Database
) -> None:
    """DESIGN rule: the CALLRESULT goes out only after the commit, so a reader sees it."""
    await charger.boot()
    start = await charger.call(
        "StartTransaction", {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": T0}
    )
    fresh = Database(sqlite_db.url)
    try:
        tx = await fresh.read(
            lambda uow: uow.transactions.by_transaction_id(start[2]["transactionId"])
        )
    finally:
        await fresh.close()
    assert tx is not None


async def test_duplicate_stop_transaction_is_acknowledged_once(
    charger: RawCharger, sqlite_db: Database
) -> None:
    await charger.boot()
    start = await charger.call(
        "StartTransaction", {"connectorId": 1, "idTag": "X", "meterStart": 100, "timestamp": T0}
    )
    tx_id = start[2]["transactionId"]
    stop = {"transactionId": tx_id, "meterStop": 600, "timestamp": "2026-11-22T10:30:00Z"}
    first = await charger.call("StopTransaction", stop)
    second = await charger.call("StopTransaction", {**stop, "meterStop": 700})
    assert first[0] == second[0] == 3
    tx = await sqlite_db.read(lambda uow: uow.transactions.by_transaction_id(tx_id))
    assert tx is not None and tx.energy_wh == 500


@pytest.mark.parametrize("tx_id", [-1, 987654])
async def test_stop_for_unknown_transaction_is_acknowledged_and_kept(
    charger: RawCharger, sqlite_db: Database, tx_id: int
) -> None:
    """A CALLERROR would make the charger retry and then drop the billing data."""
    await charger.boot()
    answer = await charger.call(
        "StopTransaction", {"transactionId": tx_id, "meterStop": 5, "timestamp": T0}
    )
    assert answer[0] == 3
    kept = await sqlite_db.read(lambda uow: uow.unreconciled.list(charger_id="CP1"))
    assert [k.payload["transactionId"] for k in kept] == [tx_id]


async def test_replayed_start_transaction_gets_the_same_id(charger: RawCharger) -> None:
    await charger.boot()
    payload = {"connectorId": 1, "idTag": "X", "meterStart": 7, "timestamp": T0}
    first = await charger.call("StartTransaction", payload)
    second = await charger.call("StartTransaction", payload)
    assert first[2]["transactionId"] == second[2]["transactionId"]


async def test_status_notifications_keep_current_status_and_history(
    charger: RawCharger, sqlite_db: Database
) -> None:
    await charger.boot()
    for status in ("Available", "Preparing", "Charging"):
        answer = await charger.call(
            "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": status}
        )
        assert answer[2] == {}
    await charger.call(
        "StatusNotification",
        {"connectorId": 2, "errorCode": "GroundFailure", "status": "Faulted", "info": "RCD"},
    )
    connectors = await sqlite_db.read(lambda uow: uow.connectors.for_charger("CP1"))
    assert [(c.connector_id, c.status, c.error_code) for c in connectors] == [
        (1, "Charging", "NoError"),
        (2, "Faulted", "GroundFailure"),
    ]
    history = await sqlite_db.read(lambda uow: uow.status_events.for_charger("CP1"))
    assert [h.status for h in reversed(history)] == [
        "Available",
        "Preparing",
        "Charging",
        "Faulted",
    ]


async def test_suspended_ev_after_charging_marks_charging_done(
    charger: RawCharger, sqlite_db: Database
) -> None:
    await charger.boot()
    start = await charger.call(
        "StartTransaction", {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": T0}
    )
    for status in ("Charging", "SuspendedEV"):
        await charger.call(
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": T0},
        )
    tx = await sqlite_db.read(
        lambda uow: uow.transactions.by_transaction_id(start[2]["transactionId"])
    )
    assert tx is not None and tx.charging_done_at is not None


async def test_data_transfer_for_unknown_vendor_is_unknown_vendor_id(charger: RawCharger) -> None:
    await charger.boot()
    answer = await charger.call("DataTransfer", {"vendorId": "com.example", "messageId": "x"})
    assert answer[2] == {"status": "UnknownVendorId"}


async def test_diagnostics_and_firmware_status_are_recorded(
    charger: RawCharger, sqlite_db: Database
) -> None:
    await charger.boot()
    await charger.call("DiagnosticsStatusNotification", {"status": "Uploaded"})
    await charger.call("FirmwareStatusNotification", {"status": "Installed"})
    stored = await sqlite_db.read(lambda uow: uow.chargers.get("CP1"))
    assert stored is not None
    assert (stored.diagnostics_status, stored.firmware_status) == ("Uploaded", "Installed")
    events = await sqlite_db.read(lambda uow: uow.charger_events.list("CP1"))
    assert [e.kind for e in events] == [
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
    ]


# -- bad input: the right CALLERROR, and the connection stays up --------------------------


async def test_non_json_frame_gets_protocol_error_and_connection_stays_up(
    charger: RawCharger,
) -> None:
    answer = await charger.send_raw("this is not json")
    assert answer[0] == 4 and answer[2] in ("ProtocolError", "FormationViolation")
    assert (await charger.call("Heartbeat", {}))[0] == 3


async def test_unknown_action_gets_not_implemented(charger: RawCharger) -> None:
    await charger.boot()
    answer = await charger.call("FlyToTheMoon", {})
    assert answer[0] == 4 and answer[2] == "NotImplemented"


async def test_a_security_event_notification_is_answered_and_kept_not_refused(
    charger: RawCharger, sqlite_db: Database
) -> None:
    # 1.6 security extension N02: a charger's security event is answered (it used to get
    # NotImplemented) and kept as a charger event.
    await charger.boot()
    answer = await charger.call(
        "SecurityEventNotification", {"type": "StartupOfTheDevice", "timestamp": T0}
    )
    assert answer[0] == 3 and answer[2] == {}
    events = await sqlite_db.read(
        lambda uow: uow.charger_events.list("CP1", kind="SecurityEventNotification")
    )
    assert [e.payload for e in events] == [{"type": "StartupOfTheDevice", "timestamp": T0}]


async def test_schema_violations_get_the_1_6_error_codes(charger: RawCharger) -> None:
    await charger.boot()
    missing = await charger.call("StartTransaction", {"connectorId": 1, "idTag": "X"})
    assert missing[2] == "OccurenceConstraintViolation"
    wrong_type = await charger.call(
        "StartTransaction",
        {"connectorId": "one", "idTag": "X", "meterStart": 0, "timestamp": T0},
    )
    assert wrong_type[2] == "TypeConstraintViolation"
    too_long = await charger.call("Authorize", {"idTag": "X" * 21})
    assert too_long[2] == "PropertyConstraintViolation"


async def test_call_before_accepted_boot_gets_security_error(
    ocpp_url: str, sqlite_db: Database
) -> None:
    """A Pending charger may only send BootNotification (1.6 §4.2)."""
    await sqlite_db.write(lambda uow: uow.chargers.update("CP1", registration_status="Pending"))
    from tests.gateway.conftest import PASSWORD, basic_auth

    async with connect(
        f"{ocpp_url}/CP1",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth("CP1", PASSWORD),  # type: ignore[list-item]
    ) as ws:
        raw = RawCharger(ws)
        early = await raw.call("Heartbeat", {})
        assert early[0] == 4 and early[2] == "SecurityError"
        boot = await raw.boot()
        assert boot[2]["status"] == "Pending" and boot[2]["interval"] > 0
        still = await raw.call("Heartbeat", {})
        assert still[2] == "SecurityError"


# -- operator commands through the router ------------------------------------------------


async def _answer_next_call(raw: RawCharger, payload: dict[str, Any]) -> list[Any]:
    frame = json.loads(await raw.ws.recv())
    await raw.ws.send(json.dumps([3, frame[1], payload]))
    return list(frame)


async def test_command_reaches_charger_and_returns_its_answer(
    charger: RawCharger, gateway: Gateway
) -> None:
    await charger.boot()
    sent = asyncio.create_task(gateway.send("CP1", "Reset", {"type": "Soft"}, timeout=5))
    frame = await _answer_next_call(charger, {"status": "Accepted"})
    assert frame[0] == 2 and frame[2] == "Reset" and frame[3] == {"type": "Soft"}
    result = await sent
    assert result.payload == {"status": "Accepted"}


async def test_command_charger_answers_with_callerror_raises_command_error(
    charger: RawCharger, gateway: Gateway
) -> None:
    await charger.boot()
    sent = asyncio.create_task(gateway.send("CP1", "ClearCache", {}, timeout=5))
    frame = json.loads(await charger.ws.recv())
    await charger.ws.send(json.dumps([4, frame[1], "NotSupported", "no cache", {}]))
    with pytest.raises(CommandError, match="NotSupported"):
        await sent


async def test_command_without_answer_times_out_and_next_command_works(
    charger: RawCharger, gateway: Gateway
) -> None:
    await charger.boot()
    with pytest.raises(CommandTimeout):
        await gateway.send("CP1", "ClearCache", {}, timeout=0.2)
    await charger.ws.recv()  # the unanswered ClearCache
    sent = asyncio.create_task(gateway.send("CP1", "ClearCache", {}, timeout=5))
    await _answer_next_call(charger, {"status": "Accepted"})
    assert (await sent).payload == {"status": "Accepted"}


async def test_command_with_invalid_payload_is_refused_before_sending(
    charger: RawCharger, gateway: Gateway
) -> None:
    with pytest.raises(CommandError):
        await gateway.send("CP1", "Reset", {"type": "Sideways"}, timeout=1)


async def test_command_to_disconnected_charger_raises_not_connected(gateway: Gateway) -> None:
    with pytest.raises(ChargerNotConnected, match="not connected"):
        await gateway.send("CP1", "Reset", {"type": "Soft"})


async def test_timestamp_without_offset_or_in_lowercase_is_read_as_utc(
    charger: RawCharger, sqlite_db: Database
) -> None:
    """Field firmware sends these; refusing a StartTransaction would lose it."""
    await charger.boot()
    first = await charger.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "X", "meterStart": 0, "timestamp": "2026-11-22T10:00:00"},
    )
    second = await charger.call(
        "StartTransaction",
        {"connectorId": 2, "idTag": "Y", "meterStart": 0, "timestamp": "2026-11-22t10:00:00z"},
    )
    assert first[0] == second[0] == 3
    for answer in (first, second):
        tx = await sqlite_db.read(
            lambda uow, a=answer: uow.transactions.by_transaction_id(a[2]["transactionId"])
        )
        assert tx is not None and tx.started_at == NOW
