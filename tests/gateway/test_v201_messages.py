"""OCPP 2.0.1, CSMS side, over a real WebSocket: every message a station sends besides
the transaction ones (tests/oca has those) is answered, schema-valid, and kept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from csms.adapters.v16 import inbound as v16
from csms.adapters.v201 import inbound as v201
from csms.config import Settings
from csms.domain.charging.stations import add_charger
from csms.gateway import CallContext, Gateway
from protocol import OCPPVersion
from protocol.validation import validator_for
from storage.database import Database
from tests.gateway.conftest import NOW, PASSWORD, basic_auth
from tests.oca.conftest import Station

T = "2026-11-22T10:00:00Z"
VALIDATOR = validator_for(OCPPVersion.V201)


@pytest.fixture
async def gateway201(
    sqlite_db: Database, settings_factory: Callable[..., Settings]
) -> AsyncIterator[Gateway]:
    await sqlite_db.write(
        lambda uow: add_charger(uow, charger_id="CS1", now=NOW, password=PASSWORD)
    )
    gw = Gateway(
        db=sqlite_db,
        settings=settings_factory(),
        handlers={OCPPVersion.V201: v201.HANDLERS, OCPPVersion.V16: v16.HANDLERS},
    )
    await gw.start()
    yield gw
    await gw.stop()


@pytest.fixture
async def station(gateway201: Gateway) -> AsyncIterator[Station]:
    async with connect(
        f"ws://127.0.0.1:{gateway201.port}/ocpp/CS1",
        subprotocols=[Subprotocol("ocpp2.0.1")],
        additional_headers=basic_auth("CS1", PASSWORD),
    ) as ws:
        yield Station(ws)


async def test_status_notification_is_kept_per_evse_with_its_connector(
    station: Station, sqlite_db: Database
) -> None:
    """2.0.1 G01: connector N shown to operators is EVSE N; the connectorId is kept."""
    payload = {"timestamp": T, "connectorStatus": "Occupied", "evseId": 2, "connectorId": 1}
    assert await station.call("StatusNotification", payload) == {}
    (connector,) = await sqlite_db.read(lambda uow: uow.connectors.for_charger("CS1"))
    assert (connector.connector_id, connector.evse_connector_id, connector.status) == (
        2,
        1,
        "Occupied",
    )
    (history,) = await sqlite_db.read(lambda uow: uow.status_events.for_charger("CS1"))
    assert (history.connector_id, history.evse_connector_id, history.status) == (2, 1, "Occupied")


async def test_an_evse_with_two_connectors_shows_its_busy_one(
    station: Station, sqlite_db: Database
) -> None:
    """2.0.1 G01: when a car takes connector 1, the station reports connector 2 of the same
    EVSE Unavailable; the EVSE is Occupied, whatever order the two reports come in, and
    Available again once connector 1 is free."""

    async def report(connector: int, status: str) -> str:
        payload = {"timestamp": T, "connectorStatus": status, "evseId": 1, "connectorId": connector}
        assert await station.call("StatusNotification", payload) == {}
        (evse,) = await sqlite_db.read(lambda uow: uow.connectors.for_charger("CS1"))
        return evse.status

    assert await report(1, "Available") == "Available"
    assert await report(2, "Available") == "Available"
    assert await report(1, "Occupied") == "Occupied"
    assert await report(2, "Unavailable") == "Occupied"
    assert await report(1, "Available") == "Available"
    assert await report(2, "Available") == "Available"
    assert await report(2, "Unavailable") == "Available"
    assert await report(1, "Unavailable") == "Unavailable"


async def test_meter_values_of_the_main_meter_are_stored_for_evse_0(
    station: Station, sqlite_db: Database
) -> None:
    """2.0.1 J01: MeterValues per EVSE; evseId 0 is the station's main meter. Every
    sampled value is stored with its unit and multiplier."""
    sampled = [
        {"value": 1234.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 0}},
        {"value": 230, "measurand": "Voltage", "phase": "L1-N", "unitOfMeasure": {"unit": "V"}},
    ]
    payload = {"evseId": 0, "meterValue": [{"timestamp": T, "sampledValue": sampled}]}
    assert await station.call("MeterValues", payload) == {}

    def stored(uow: Any) -> list[tuple[Any, ...]]:
        from sqlalchemy import select

        from storage.sql.tables import meter_values as mv

        query = select(mv.c.connector_id, mv.c.value, mv.c.measurand, mv.c.unit, mv.c.multiplier)
        return [tuple(r) for r in uow.conn.execute(query.order_by(mv.c.id))]

    assert await sqlite_db.read(stored) == [
        (0, "1234.5", "Energy.Active.Import.Register", "kWh", 0),
        (0, "230", "Voltage", "V", 0),
    ]


@pytest.mark.parametrize(
    ("action", "payload", "field", "value"),
    [
        (
            "FirmwareStatusNotification",
            {"status": "Installed", "requestId": 4},
            "firmware_status",
            "Installed",
        ),
        (
            "LogStatusNotification",
            {"status": "Uploaded", "requestId": 3},
            "diagnostics_status",
            "Uploaded",
        ),
    ],
)
async def test_status_reports_are_recorded_with_the_latest_status(
    station: Station, sqlite_db: Database, action: str, payload: dict, field: str, value: str
) -> None:
    """2.0.1 L01 and N01: recorded like 1.6's status reports; the latest stays on the charger."""
    assert await station.call(action, payload) == {}
    charger = await sqlite_db.read(lambda uow: uow.chargers.get("CS1"))
    assert getattr(charger, field) == value
    events = await sqlite_db.read(lambda uow: uow.charger_events.list("CS1", kind=action))
    assert [e.payload for e in events] == [payload]


RECORDED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "NotifyEvent",
        {
            "generatedAt": T,
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": T,
                    "trigger": "Delta",
                    "actualValue": "true",
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "ConnectorPlugRetentionLock"},
                    "variable": {"name": "Problem"},
                }
            ],
        },
        {},
    ),
    (
        "SecurityEventNotification",
        {"type": "FirmwareUpdated", "timestamp": T, "techInfo": "v2"},
        {},
    ),
    ("NotifyMonitoringReport", {"requestId": 1, "seqNo": 0, "generatedAt": T}, {}),
    ("NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS"}}, {}),
    ("ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1}, {}),
    (
        "ReportChargingProfiles",
        {
            "requestId": 1,
            "chargingLimitSource": "CSO",
            "evseId": 1,
            "chargingProfile": [
                {
                    "id": 1,
                    "stackLevel": 0,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": [
                        {
                            "id": 1,
                            "chargingRateUnit": "A",
                            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
                        }
                    ],
                }
            ],
        },
        {},
    ),
    (
        "NotifyEVChargingNeeds",
        {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}},
        {"status": "Rejected"},
    ),
    (
        "NotifyEVChargingSchedule",
        {
            "timeBase": T,
            "evseId": 1,
            "chargingSchedule": {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
            },
        },
        {"status": "Accepted"},
    ),
    ("NotifyDisplayMessages", {"requestId": 1}, {}),
    (
        "NotifyCustomerInformation",
        {"data": "none", "seqNo": 0, "generatedAt": T, "requestId": 1},
        {},
    ),
    ("ReservationStatusUpdate", {"reservationId": 1, "reservationUpdateStatus": "Expired"}, {}),
    ("PublishFirmwareStatusNotification", {"status": "Idle"}, {}),
    (
        "Get15118EVCertificate",
        {
            "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
            "action": "Install",
            "exiRequest": "AAAA",
        },
        {"status": "Failed", "exiResponse": ""},
    ),
    (
        "GetCertificateStatus",
        {
            "ocspRequestData": {
                "hashAlgorithm": "SHA256",
                "issuerNameHash": "a1",
                "issuerKeyHash": "b2",
                "serialNumber": "c3",
                "responderURL": "http://ocsp.example",
            }
        },
        {"status": "Failed"},
    ),
]


@pytest.mark.parametrize(("action", "payload", "expected"), RECORDED, ids=[r[0] for r in RECORDED])
async def test_other_station_messages_are_recorded_and_answered_schema_valid(
    station: Station, sqlite_db: Database, action: str, payload: dict, expected: dict
) -> None:
    VALIDATOR.validate_request(action, payload)  # the test's own payload is a valid request
    assert await station.call(action, payload) == expected  # checked against the response schema
    events = await sqlite_db.read(lambda uow: uow.charger_events.list("CS1", kind=action))
    assert [e.payload for e in events] == [payload]


async def test_data_transfer_to_an_unknown_vendor_is_unknown_vendor_id(
    station: Station, sqlite_db: Database
) -> None:
    """2.0.1 P01: UnknownVendorId unless a vendor handler claims the vendorId."""
    answer = await station.call("DataTransfer", {"vendorId": "org.example", "messageId": "Hi"})
    assert answer == {"status": "UnknownVendorId"}
    (recorded,) = await sqlite_db.read(
        lambda uow: uow.charger_events.list("CS1", kind="DataTransfer")
    )
    assert recorded.payload == {"vendorId": "org.example", "messageId": "Hi"}


async def test_data_transfer_vendor_handlers_answer_on_both_versions(
    station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One registry (csms.adapters.shared_handlers.VENDOR_HANDLERS): a handler written for
    1.6, such as the touchscreen PinLogin, answers a 2.0.1 station too."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def echo(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
        seen.append((ctx.charger_id, p))
        return {"status": "Accepted", "data": '{"idTag": "ONE-TIME"}'}

    monkeypatch.setitem(v16.VENDOR_HANDLERS, "csms", echo)
    payload = {
        "vendorId": "csms",
        "messageId": "PinLogin",
        "data": '{"login": "a@b.c", "pin": "1234"}',
    }
    answer = await station.call("DataTransfer", payload)
    assert answer == {"status": "Accepted", "data": '{"idTag": "ONE-TIME"}'}
    assert seen == [("CS1", payload)]


async def test_authorize_answer_passes_the_response_schema_for_every_status(
    station: Station, sqlite_db: Database
) -> None:
    """The session checks each answer against AuthorizeResponse before sending it (an
    invalid one would come back as InternalError): every status the domain gives is valid."""
    await sqlite_db.write(
        lambda uow: uow.id_tags.add(uid="OK", status="active", created_at=NOW, parent_id_tag="G")
    )
    await sqlite_db.write(lambda uow: uow.id_tags.add(uid="NO", status="blocked", created_at=NOW))
    for uid, status in (("OK", "Accepted"), ("NO", "Blocked"), ("UNKNOWN", "Invalid")):
        answer = await station.call_raw(
            "Authorize", {"idToken": {"idToken": uid, "type": "ISO14443"}}
        )
        assert answer[0] == 3, answer
        VALIDATOR.validate_response("Authorize", answer[2])
        assert answer[2]["idTokenInfo"]["status"] == status
