"""B. Provisioning, CSMS side: boot (B01, B02) and the device model report (B07/B08)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from csms.domain.charging.device_model import device_model_summary
from csms.domain.charging.stations import accept_charger, register_unknown_charger, remove_charger
from csms.domain.model import RegistrationStatus
from csms.domain.views import charger_view
from tests.oca.conftest import STATION, T0, Station, connect_station


async def test_tc_b_01_csms_cold_boot_accepted(station: Station, server: Any) -> None:
    """2.0.1 B01 (OCTT TC_B_01_CSMS): Accepted with the heartbeat interval and the current
    time; what the station says about itself is stored; Heartbeat and StatusNotification
    are answered."""
    answer = await station.boot()
    assert answer["status"] == "Accepted" and answer["interval"] == 300
    current = datetime.fromisoformat(answer["currentTime"].replace("Z", "+00:00"))
    assert abs(current - datetime.now(UTC)) < timedelta(seconds=30)
    charger = await server.db.read(lambda uow: uow.chargers.get(STATION))
    assert (charger.ocpp_version, charger.vendor, charger.model) == ("2.0.1", "Acme", "Wallbox 2")
    assert (charger.serial_number, charger.firmware_version) == ("SN-201", "2.0.1-7")
    heartbeat = await station.call("Heartbeat", {})
    assert heartbeat["currentTime"].endswith("Z")
    status = {"timestamp": "2026-11-22T10:00:00Z", "connectorStatus": "Available"}
    assert await station.call("StatusNotification", {**status, "evseId": 1, "connectorId": 1}) == {}


async def test_tc_b_02_csms_cold_boot_pending_until_accepted(server: Any) -> None:
    """2.0.1 B02 (OCTT TC_B_02_CSMS): an unprovisioned station registered as Pending is
    answered Pending with a retry interval, and nothing but BootNotification is served
    (B02.FR.09: SecurityError); once an operator accepts it, its next boot is Accepted."""
    await server.db.write(
        lambda uow: register_unknown_charger(
            uow, charger_id="CS-NEW", status=RegistrationStatus.PENDING, now=T0
        )
    )
    ws = await connect_station(server.ocpp_url, "CS-NEW")
    try:
        station = Station(ws)
        pending = await station.boot()
        assert (pending["status"], pending["interval"]) == ("Pending", 60)
        refused = await station.call_raw("Heartbeat", {})
        assert refused[0] == 4 and refused[2] == "SecurityError"
        await server.db.write(lambda uow: accept_charger(uow, "CS-NEW"))
        assert (await station.boot())["status"] == "Accepted"
        assert (await station.call_raw("Heartbeat", {}))[0] == 3
    finally:
        await ws.close()


_BEFORE_ACCEPTANCE = (
    ("Heartbeat", {}),
    (
        "StatusNotification",
        {
            "timestamp": "2026-11-22T10:00:00Z",
            "connectorStatus": "Available",
            "evseId": 1,
            "connectorId": 1,
        },
    ),
    ("Authorize", {"idToken": {"idToken": "04A1B2C3", "type": "ISO14443"}}),
    (
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": "2026-11-22T10:00:00Z",
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "tx-b30"},
            "evse": {"id": 1, "connectorId": 1},
        },
    ),
)


async def test_tc_b_30_csms_pending_station_gets_security_error_for_anything_but_boot(
    server: Any,
) -> None:
    """2.0.1 TC_B_30_CSMS (B02.FR.09): while its boot is Pending, every other message of
    the station is answered SecurityError and changes nothing; the connection stays."""
    await server.db.write(
        lambda uow: register_unknown_charger(
            uow, charger_id="CS-B30", status=RegistrationStatus.PENDING, now=T0
        )
    )
    ws = await connect_station(server.ocpp_url, "CS-B30")
    try:
        station = Station(ws)
        assert (await station.boot())["status"] == "Pending"
        for action, payload in _BEFORE_ACCEPTANCE:
            answer = await station.call_raw(action, payload)
            assert (answer[0], answer[2]) == (4, "SecurityError"), (action, answer)
        assert await server.db.read(lambda uow: uow.transactions.list()) == []
        assert (await station.boot())["status"] == "Pending"  # still connected, still asked
    finally:
        await ws.close()


async def test_tc_b_30_csms_rejected_station_gets_security_error_for_anything_but_boot(
    station: Station, server: Any
) -> None:
    """2.0.1 TC_B_30_CSMS (B03.FR.07): a station removed by the operator while connected is
    answered Rejected at its next boot, and SecurityError to anything else."""
    assert (await station.boot())["status"] == "Accepted"
    await server.db.write(lambda uow: remove_charger(uow, STATION))
    assert (await station.boot())["status"] == "Rejected"
    for action, payload in _BEFORE_ACCEPTANCE:
        answer = await station.call_raw(action, payload)
        assert (answer[0], answer[2]) == (4, "SecurityError"), (action, answer)


async def test_b07_csms_device_model_report_in_parts_is_stored_and_summarised(
    station: Station, server: Any
) -> None:
    """2.0.1 B07/B08: a NotifyReport in two parts (seqNo 0 tbc, seqNo 1) is stored per
    station; the charger view of a 2.0.1 station carries its summary."""

    def data(component: str, variable: str, value: str, evse: int | None = None) -> dict:
        comp: dict[str, Any] = {"name": component}
        if evse is not None:
            comp["evse"] = {"id": evse}
        return {
            "component": comp,
            "variable": {"name": variable},
            "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
            "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": True},
        }

    base = {"requestId": 42, "generatedAt": "2026-11-22T10:00:00Z"}
    first = [data("OCPPCommCtrlr", "HeartbeatInterval", "300"), data("EVSE", "Power", "22000", 1)]
    second = [data("SecurityCtrlr", "SecurityProfile", "1")]
    answer = await station.call(
        "NotifyReport", {**base, "seqNo": 0, "tbc": True, "reportData": first}
    )
    assert answer == {}
    assert await station.call("NotifyReport", {**base, "seqNo": 1, "reportData": second}) == {}

    def view(uow: Any) -> dict[str, Any]:
        charger = uow.chargers.get(STATION)
        summary = device_model_summary(uow, STATION)
        return charger_view(charger, [], connected=True, device_model=summary)

    shown = (await server.db.read(view))["device_model"]
    assert (shown["components"], shown["variables"], shown["evses"]) == (3, 3, 1)
    assert shown["values"]["OCPPCommCtrlr.HeartbeatInterval"] == "300"
    assert shown["values"]["SecurityCtrlr.SecurityProfile"] == "1"
    assert shown["last_report_complete"] is True and shown["last_report_at"].endswith("Z")
