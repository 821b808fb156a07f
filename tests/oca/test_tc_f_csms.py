"""OCPP 2.0.1 remote control (functional block F, use cases F01-F06) with the CSMS under
test, in the shape of the OCA test tool's CSMS test cases (OCPP 2.0.1 Part 6): the test
plays the charging station (``Station201``, which checks every CSMS request against the
official schema), the operator's "manual action" is an HTTP API call, and each test
checks what the tool validates: the CSMS's requests and its answers to the station.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.api.station201 import Station201, connect_station201, status_notification

STATION = "CP201"
VALID_ID_TOKEN = "CAFE0001"  # <Configured valid_idtoken_idtoken>, a provisioned card
EVSE_ID, CONNECTOR_ID = 1, 1  # <Configured evseId>, <Configured connectorId>
STATION_TX = "3c1f6e0a-7f53-4d1a-9d07-2f6a3b1c0de1"  # <Generated transactionId>


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def api(csms_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    now = datetime.now(UTC)
    await csms_server.db.write(
        lambda uow: uow.id_tags.add(uid=VALID_ID_TOKEN, status="active", created_at=now)
    )
    headers = {"Authorization": f"Bearer {csms_server.admin_token}"}
    async with httpx.AsyncClient(base_url=csms_server.api_url, headers=headers, timeout=20) as c:
        yield c


@pytest.fixture
async def station(csms_server: Any) -> AsyncIterator[Station201]:
    async with connect_station201(csms_server, STATION) as connected:
        frame = await connected.call(
            "StatusNotification", status_notification(EVSE_ID, CONNECTOR_ID, "Available")
        )
        assert frame[0] == 3, frame
        yield connected


def transaction_event(
    event_type: str,
    seq_no: int,
    trigger_reason: str,
    *,
    charging_state: str | None = None,
    id_token: dict[str, str] | None = None,
    remote_start_id: int | None = None,
    stopped_reason: str | None = None,
    meter_wh: int | None = None,
    context: str = "Sample.Periodic",
) -> dict[str, Any]:
    """A 2.0.1 TransactionEventRequest for the station's one transaction on EVSE 1."""
    info: dict[str, Any] = {"transactionId": STATION_TX}
    if charging_state is not None:
        info["chargingState"] = charging_state
    if remote_start_id is not None:
        info["remoteStartId"] = remote_start_id
    if stopped_reason is not None:
        info["stoppedReason"] = stopped_reason
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": _now(),
        "triggerReason": trigger_reason,
        "seqNo": seq_no,
        "transactionInfo": info,
    }
    if event_type == "Started":
        payload["evse"] = {"id": EVSE_ID, "connectorId": CONNECTOR_ID}
    if id_token is not None:
        payload["idToken"] = id_token
    if meter_wh is not None:
        payload["meterValue"] = [
            {
                "timestamp": _now(),
                "sampledValue": [
                    {
                        "value": meter_wh,
                        "measurand": "Energy.Active.Import.Register",
                        "context": context,
                        "unitOfMeasure": {"unit": "Wh"},
                    }
                ],
            }
        ]
    return payload


async def _accepted(station: Station201, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send a station message; the CSMS must answer it with a CALLRESULT (not an error)."""
    frame = await station.call(action, payload)
    assert frame[0] == 3, f"the CSMS answered {action} with {frame}"
    return dict(frame[2])


async def _transaction_event(station: Station201, payload: dict[str, Any]) -> dict[str, Any]:
    answer = await _accepted(station, "TransactionEvent", payload)
    if "idToken" in payload:  # the CSMS reports on every idToken it is sent
        assert answer["idTokenInfo"]["status"] == "Accepted", answer
    return answer


async def _remote_start(
    api: httpx.AsyncClient, station: Station201, *, token_type: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Manual action: trigger the CSMS to start a transaction; its answer and request."""
    response = await api.post(
        "/api/sessions/start",
        json={
            "charger_id": STATION,
            "id_tag": VALID_ID_TOKEN,
            "evse_id": EVSE_ID,
            "token_type": token_type,
        },
    )
    assert response.status_code == 200, response.text
    action, request = await station.next_call()
    assert action == "RequestStartTransaction"
    # Tool validation, step 1: idToken is the configured valid idToken
    assert request["idToken"] == {"idToken": VALID_ID_TOKEN, "type": token_type}
    assert request["remoteStartId"] == response.json()["remote_start_id"]
    return response.json(), request


async def _sessions(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await api.get("/api/sessions", params={"charger": STATION})
    assert response.status_code == 200, response.text
    return list(response.json())


# -- F01/F02: remote start ----------------------------------------------------------


async def test_tc_f_01_csms_remote_start_transaction_cable_plugin_first(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_01_CSMS (F01). Before: EVConnectedPreSession (cable plugged in, transaction
    started without an idToken). The CSMS sends RequestStartTransaction; the station
    answers with the already started transactionId and continues it as a remote start."""
    await _accepted(
        station, "StatusNotification", status_notification(EVSE_ID, CONNECTOR_ID, "Occupied")
    )
    await _transaction_event(
        station,
        transaction_event(
            "Started", 0, "CablePluggedIn", charging_state="EVConnected", meter_wh=1000
        ),
    )

    station.answers["RequestStartTransaction"] = {"status": "Accepted", "transactionId": STATION_TX}
    answer, request = await _remote_start(api, station, token_type="Central")
    assert answer["status"] == "Accepted"
    assert answer["station_transaction_id"] == STATION_TX

    await _transaction_event(
        station,
        transaction_event(
            "Updated",
            1,
            "RemoteStart",
            id_token=request["idToken"],
            remote_start_id=request["remoteStartId"],
        ),
    )
    # Reusable state EnergyTransferStarted
    await _transaction_event(
        station, transaction_event("Updated", 2, "ChargingStateChanged", charging_state="Charging")
    )
    sessions = await _sessions(api)
    assert [(s["charger_id"], s["status"]) for s in sessions] == [(STATION, "active")]


async def _remote_start_first(
    api: httpx.AsyncClient, station: Station201, *, authorize: bool
) -> dict[str, Any]:
    """TC_F_02/TC_F_03 main scenario up to the started transaction."""
    answer, request = await _remote_start(api, station, token_type="ISO14443")
    assert answer["status"] == "Accepted" and answer["station_transaction_id"] is None
    if authorize:  # AuthorizeRemoteStart is true: the station authorizes like a local start
        authorized = await _accepted(station, "Authorize", {"idToken": request["idToken"]})
        assert authorized["idTokenInfo"]["status"] == "Accepted"
    await _transaction_event(
        station,
        transaction_event(
            "Started",
            0,
            "RemoteStart",
            id_token=request["idToken"],
            remote_start_id=request["remoteStartId"],
            meter_wh=1000,
            context="Transaction.Begin",
        ),
    )
    return request


async def test_tc_f_02_csms_remote_start_first_authorize_remote_start_is_true(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_02_CSMS (F02, F02.FR.01, F01.FR.01)."""
    await _remote_start_first(api, station, authorize=True)
    await _accepted(
        station, "StatusNotification", status_notification(EVSE_ID, CONNECTOR_ID, "Occupied")
    )
    await _transaction_event(
        station,
        transaction_event("Updated", 1, "CablePluggedIn", charging_state="EVConnected"),
    )
    await _transaction_event(
        station, transaction_event("Updated", 2, "ChargingStateChanged", charging_state="Charging")
    )
    sessions = await _sessions(api)
    assert [(s["charger_id"], s["status"]) for s in sessions] == [(STATION, "active")]


async def test_tc_f_03_csms_remote_start_first_authorize_remote_start_is_false(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_03_CSMS (F02): no AuthorizeRequest; the CSMS learns the idToken from the
    TransactionEvent and must still answer with its authorization status."""
    await _remote_start_first(api, station, authorize=False)
    await _transaction_event(
        station, transaction_event("Updated", 1, "ChargingStateChanged", charging_state="Charging")
    )
    sessions = await _sessions(api)
    assert [(s["charger_id"], s["status"]) for s in sessions] == [(STATION, "active")]


async def test_tc_f_04_csms_remote_start_first_cable_plugin_timeout(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_04_CSMS (F02, E03.FR.05): the EV is not connected in time; the station
    deauthorizes the transaction and ends it; the CSMS accepts both messages."""
    await _remote_start_first(api, station, authorize=False)
    await _transaction_event(station, transaction_event("Updated", 1, "EVConnectTimeout"))
    await _transaction_event(
        station,
        transaction_event("Ended", 2, "EVConnectTimeout", stopped_reason="Timeout", meter_wh=1000),
    )
    sessions = await _sessions(api)
    assert [(s["charger_id"], s["status"]) for s in sessions] == [(STATION, "completed")]


# -- F03: remote stop ---------------------------------------------------------------


async def test_tc_e_21_csms_remote_stop_transaction_request_stop_with_station_transaction_id(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_E_21_CSMS (E06 and F03: F03.FR.01, F03.FR.09): RequestStopTransaction carries
    the transactionId the station gave; the station ends the transaction as RemoteStop."""
    await _remote_start_first(api, station, authorize=False)
    await _transaction_event(
        station, transaction_event("Updated", 1, "ChargingStateChanged", charging_state="Charging")
    )
    (session,) = await _sessions(api)

    response = await api.post(f"/api/sessions/{session['id']}/stop")
    assert response.status_code == 200, response.text
    # Tool validation, step 1: transactionId is the one the station provided
    assert await station.next_call() == ("RequestStopTransaction", {"transactionId": STATION_TX})
    assert response.json()["status"] == "Accepted"

    await _transaction_event(
        station,
        transaction_event(
            "Ended",
            2,
            "RemoteStop",
            stopped_reason="Remote",
            meter_wh=4500,
            context="Transaction.End",
        ),
    )
    (stopped,) = await _sessions(api)
    assert stopped["status"] == "completed" and stopped["stop_reason"] == "Remote"
    assert stopped["energy_wh"] == 3500


# -- F05: unlock connector ----------------------------------------------------------


async def test_tc_f_06_csms_remote_unlock_connector_without_ongoing_transaction_accepted(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_06_CSMS (F05)."""
    response = await api.post(
        f"/api/chargers/{STATION}/unlock", json={"evse_id": EVSE_ID, "connector_id": CONNECTOR_ID}
    )
    assert response.status_code == 200, response.text
    # Tool validation, step 1: evseId and connectorId as configured
    assert await station.next_call() == (
        "UnlockConnector",
        {"evseId": EVSE_ID, "connectorId": CONNECTOR_ID},
    )
    assert response.json()["status"] == "Unlocked"


# -- F06: trigger message -----------------------------------------------------------


async def _trigger(
    api: httpx.AsyncClient, station: Station201, body: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    response = await api.post(f"/api/chargers/{STATION}/trigger", json=body)
    assert response.status_code == 200, response.text
    action, request = await station.next_call()
    assert action == "TriggerMessage"
    return response.json(), request


def _meter_values(context: str) -> dict[str, Any]:
    return {
        "evseId": EVSE_ID,
        "meterValue": [
            {
                "timestamp": _now(),
                "sampledValue": [
                    {
                        "value": 1234,
                        "measurand": "Energy.Active.Import.Register",
                        "context": context,
                        "unitOfMeasure": {"unit": "Wh"},
                    }
                ],
            }
        ],
    }


async def test_tc_f_11_csms_trigger_message_meter_values_specific_evse(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_11_CSMS (F06.FR.01, F06.FR.02)."""
    _, request = await _trigger(api, station, {"message": "MeterValues", "evse_id": EVSE_ID})
    assert request == {"requestedMessage": "MeterValues", "evse": {"id": EVSE_ID}}
    await _accepted(station, "MeterValues", _meter_values("Trigger"))


async def test_tc_f_12_csms_trigger_message_meter_values_all_evse(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_12_CSMS (F06.FR.01): no evse in the request; the station answers for each."""
    _, request = await _trigger(api, station, {"message": "MeterValues"})
    assert request == {"requestedMessage": "MeterValues"}
    await _accepted(station, "MeterValues", _meter_values("Trigger"))


async def test_tc_f_13_csms_trigger_message_transaction_event_specific_evse(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_13_CSMS (F06.FR.01, F06.FR.02): during a transaction the station answers the
    trigger with a TransactionEvent Updated, triggerReason Trigger."""
    await _remote_start_first(api, station, authorize=False)
    _, request = await _trigger(api, station, {"message": "TransactionEvent", "evse_id": EVSE_ID})
    assert request == {"requestedMessage": "TransactionEvent", "evse": {"id": EVSE_ID}}
    await _transaction_event(
        station,
        transaction_event(
            "Updated", 1, "Trigger", charging_state="Charging", meter_wh=2000, context="Trigger"
        ),
    )


async def test_tc_f_15_csms_trigger_message_log_status_notification_idle(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_15_CSMS (F06.FR.01)."""
    _, request = await _trigger(api, station, {"message": "LogStatusNotification"})
    assert request == {"requestedMessage": "LogStatusNotification"}
    await _accepted(station, "LogStatusNotification", {"status": "Idle"})


async def test_tc_f_20_csms_trigger_message_heartbeat(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_20_CSMS (F06.FR.01)."""
    answer, request = await _trigger(api, station, {"message": "Heartbeat"})
    assert request == {"requestedMessage": "Heartbeat"}
    assert answer["status"] == "Accepted"
    heartbeat = await _accepted(station, "Heartbeat", {})
    sent = datetime.fromisoformat(heartbeat["currentTime"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - sent).total_seconds()) < 60


@pytest.mark.parametrize(
    "status",
    [
        "Available",  # TC_F_23_CSMS
        "Occupied",  # TC_F_24_CSMS
    ],
)
async def test_tc_f_23_24_csms_trigger_message_status_notification_specific_evse(
    api: httpx.AsyncClient, station: Station201, status: str
) -> None:
    """TC_F_23_CSMS / TC_F_24_CSMS (F06.FR.01, F06.FR.02): StatusNotification for one
    connector; what the station then reports (Available, Occupied) is the EVSE's status."""
    _, request = await _trigger(
        api,
        station,
        {"message": "StatusNotification", "evse_id": EVSE_ID, "connector_id": CONNECTOR_ID},
    )
    assert request == {
        "requestedMessage": "StatusNotification",
        "evse": {"id": EVSE_ID, "connectorId": CONNECTOR_ID},
    }
    await _accepted(
        station, "StatusNotification", status_notification(EVSE_ID, CONNECTOR_ID, status)
    )
    charger = (await api.get(f"/api/chargers/{STATION}")).json()
    assert [(c["id"], c["status"]) for c in charger["connectors"]] == [(EVSE_ID, status)]


async def test_tc_f_27_csms_trigger_message_not_implemented(
    api: httpx.AsyncClient, station: Station201
) -> None:
    """TC_F_27_CSMS (F06.FR.08): the CSMS handles a station that does not implement the
    requested message: the operator sees NotImplemented, the connection stays usable."""
    station.answers["TriggerMessage"] = {"status": "NotImplemented"}
    answer, _ = await _trigger(api, station, {"message": "SignChargingStationCertificate"})
    assert answer["status"] == "NotImplemented"
    await asyncio.wait_for(_accepted(station, "Heartbeat", {}), 5)
