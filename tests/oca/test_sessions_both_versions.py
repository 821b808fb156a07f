"""One domain for both versions: a 1.6 and a 2.0.1 session on one running server look the
same through the HTTP API (what `csms sessions list --json` prints)."""

from __future__ import annotations

from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from csms.domain.charging.stations import add_charger
from tests.gateway.conftest import PASSWORD, RawCharger, basic_auth
from tests.oca.conftest import T0, Station, add_card, energy, event

SIGNED = {
    "signedMeterData": "AAEC",
    "signingMethod": "ECDSA-secp256r1-SHA256",
    "encodingMethod": "OCMF",
    "publicKey": "BAUG",
}


async def _session_16(server: Any) -> None:
    await server.db.write(
        lambda uow: add_charger(uow, charger_id="CP16", now=T0, password=PASSWORD)
    )
    async with connect(
        f"{server.ocpp_url}/CP16",
        subprotocols=[Subprotocol("ocpp1.6")],
        additional_headers=basic_auth("CP16", PASSWORD),
    ) as ws:
        charger = RawCharger(ws)
        await charger.boot()
        start = await charger.call(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "CARD16",
                "meterStart": 2_000,
                "timestamp": "2026-11-22T10:00:00Z",
            },
        )
        stop = await charger.call(
            "StopTransaction",
            {
                "transactionId": start[2]["transactionId"],
                "meterStop": 9_200,
                "timestamp": "2026-11-22T11:00:00Z",
            },
        )
        assert stop[0] == 3


async def _session_201(station: Station) -> None:
    token = {"idToken": "CARD201", "type": "ISO14443"}
    kwh = {"unitOfMeasure": {"unit": "kWh"}}
    await station.transaction(
        event(
            "Started",
            "0b7d1f2e-4c1a-4f7e-9a51-3c2d8e6f0a11",
            0,
            "Authorized",
            idToken=token,
            charging_state="Charging",
            meter=[energy(10.5, "Transaction.Begin", **kwh)],
        )
    )
    await station.transaction(
        event(
            "Updated",
            "0b7d1f2e-4c1a-4f7e-9a51-3c2d8e6f0a11",
            1,
            "MeterValuePeriodic",
            minutes=30,
            meter=[energy(14.25, minutes=30, signedMeterValue=SIGNED, **kwh)],
        )
    )
    await station.transaction(
        event(
            "Ended",
            "0b7d1f2e-4c1a-4f7e-9a51-3c2d8e6f0a11",
            2,
            "EVDeparted",
            minutes=60,
            stopped_reason="EVDisconnected",
            meter=[energy(18.0, "Transaction.End", minutes=60, **kwh)],
        )
    )


async def test_16_and_201_sessions_are_listed_with_the_same_fields_and_energy(
    station: Station, server: Any, api: httpx.AsyncClient
) -> None:
    await add_card(server.db, "CARD16")
    await add_card(server.db, "CARD201")
    await _session_16(server)
    await _session_201(station)
    response = await api.get("/api/sessions")
    assert response.status_code == 200, response.text
    sessions = {s["charger_id"]: s for s in response.json()}
    v16, v201 = sessions["CP16"], sessions["CS1"]
    assert set(v16) == set(v201)
    assert isinstance(v16["transaction_id"], int)
    assert v201["transaction_id"] == "0b7d1f2e-4c1a-4f7e-9a51-3c2d8e6f0a11"
    assert (v16["energy_wh"], v201["energy_wh"]) == (7_200, 7_500)
    assert (v201["meter_start_wh"], v201["meter_stop_wh"]) == (10_500, 18_000)
    for session in (v16, v201):
        assert session["status"] == "completed"
        assert session["connector_id"] == 1
        assert session["auth_method"] == "card"
        assert session["started_at"] == "2026-11-22T10:00:00Z"
        assert session["stopped_at"] == "2026-11-22T11:00:00Z"
    detail = (await api.get(f"/api/sessions/{v201['id']}")).json()
    signed = [m for m in detail["meter_values"] if m.get("signed_meter_value")]
    assert [(m["value"], m["unit"], m["signed_meter_value"]) for m in signed] == [
        ("14.25", "kWh", SIGNED)
    ]
