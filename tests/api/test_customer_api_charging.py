"""Charging from the app against simulated chargers over real sockets.

The customer starts and stops sessions with ``POST /api/app/me/sessions`` and
``.../{id}/stop``; the charger receives the customer's app token (1.6
RemoteStartTransaction, 2.0.1 RequestStartTransaction with an idToken of type Central),
and the session it starts is the customer's. The app token itself never reaches the app.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from csms.domain.charging.stations import add_charger
from simulators import ChargePoint16, ChargePoint201, ChargingPlan
from simulators.station import MessageRecord
from tests.api.test_customer_api import AppCustomer, AppUsers
from tests.waiting import eventually

#: Long enough that a session runs until the app stops it.
LONG_PLAN = ChargingPlan(energy_wh=50_000, power_w=11_000)


@pytest.fixture
async def users(csms_server: Any) -> AsyncIterator[AppUsers]:
    async with AppUsers.open(csms_server) as opened:
        yield opened


async def _provision(server: Any, charger_id: str) -> str:
    now = datetime.now(UTC)
    _, password = await server.db.write(
        lambda uow: add_charger(uow, charger_id=charger_id, now=now, password=None)
    )
    return str(password)


def _calls_received(station: Any, action: str) -> list[MessageRecord]:
    return [
        r
        for r in station.history
        if r.direction == "received" and r.kind == "call" and r.action == action
    ]


async def _running_session(customer: AppCustomer) -> dict[str, Any]:
    for _ in range(200):
        listed = (await customer.app.get("/api/app/me/sessions", params={"active": "true"})).json()
        if listed:
            (session,) = listed
            return dict(session)
        await asyncio.sleep(0.05)
    raise AssertionError("no session started")


async def _completed(customer: AppCustomer, session_id: int) -> dict[str, Any]:
    for _ in range(200):
        shown = (await customer.app.get(f"/api/app/me/sessions/{session_id}")).json()
        if shown["status"] == "completed":
            return dict(shown)
        await asyncio.sleep(0.05)
    raise AssertionError(f"session {session_id} did not complete")


async def test_app_start_on_an_ocpp16_charger_charges_on_the_customers_account(
    csms_server: Any, users: AppUsers
) -> None:
    password = await _provision(csms_server, "CP16")
    ann = await users.register()
    async with ChargePoint16(
        url=csms_server.ocpp_url,
        identity="CP16",
        password=password,
        speed=60,
        meter_interval=60,
        charging_plan=LONG_PLAN,
    ) as cp:
        await cp.boot()
        answer = await ann.app.post("/api/app/me/sessions", json={"charger_id": "CP16"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "Accepted"
        assert "starting your session" in answer.json()["message"]
        (start,) = _calls_received(cp, "RemoteStartTransaction")
        app_token = start.payload["idTag"]
        assert app_token.startswith("APP") and len(app_token) <= 20

        session = await _running_session(ann)
        assert session["customer_number"] == ann.number
        assert session["charger_id"] == "CP16"

        stop = await ann.app.post(f"/api/app/me/sessions/{session['id']}/stop")
        assert stop.status_code == 200, stop.text
        assert stop.json()["status"] == "Accepted"
        (remote_stop,) = _calls_received(cp, "RemoteStopTransaction")
        assert remote_stop.payload["transactionId"] == session["transaction_id"]
        shown = await _completed(ann, session["id"])
        assert shown["stop_reason"] == "Remote" and shown["meter_values"]

        # The charger frees its connector once its own side of the stop is done (after the
        # StopTransaction answer): a start sent before that is rightly Rejected.
        await eventually(lambda: cp.connectors[1].free)
        again = await ann.app.post("/api/app/me/sessions", json={"charger_id": "CP16"})
        assert again.json()["status"] == "Accepted"
        second_start = _calls_received(cp, "RemoteStartTransaction")[-1]
        # issue 13: a new single-use start token for every app start
        assert second_start.payload["idTag"] != app_token
        assert second_start.payload["idTag"].startswith("APP")
    assert not users.saw(app_token)
    assert session["auth_method"] == "app"


async def test_app_start_on_an_ocpp201_station_sends_a_central_id_token(
    csms_server: Any, users: AppUsers
) -> None:
    password = await _provision(csms_server, "CS201")
    ann = await users.register()
    async with ChargePoint201(
        url=csms_server.ocpp_url,
        identity="CS201",
        password=password,
        speed=60,
        meter_interval=60,
        charging_plan=LONG_PLAN,
        reconnect_delays=(0.05,),
    ) as cs:
        await cs.boot()
        answer = await ann.app.post(
            "/api/app/me/sessions", json={"charger_id": "CS201", "connector_id": 1}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "Accepted"
        (start,) = _calls_received(cs, "RequestStartTransaction")
        id_token = start.payload["idToken"]
        assert id_token["type"] == "Central" and id_token["idToken"].startswith("APP")
        assert start.payload["evseId"] == 1

        session = await _running_session(ann)
        assert session["customer_number"] == ann.number
        assert session["auth_method"] == "app"

        stop = await ann.app.post(f"/api/app/me/sessions/{session['id']}/stop")
        assert stop.json()["status"] == "Accepted", stop.text
        (request_stop,) = _calls_received(cs, "RequestStopTransaction")
        assert request_stop.payload["transactionId"] == session["transaction_id"]
        shown = await _completed(ann, session["id"])
        assert shown["stop_reason"] == "Remote"
    assert not users.saw(id_token["idToken"])


async def test_second_app_start_while_one_is_charging_is_409_and_not_sent(
    csms_server: Any, users: AppUsers
) -> None:
    password = await _provision(csms_server, "CP16")
    await _provision(csms_server, "CP16B")
    ann = await users.register()
    async with ChargePoint16(
        url=csms_server.ocpp_url,
        identity="CP16",
        password=password,
        speed=60,
        meter_interval=60,
        charging_plan=LONG_PLAN,
    ) as cp:
        await cp.boot()
        await ann.app.post("/api/app/me/sessions", json={"charger_id": "CP16"})
        await _running_session(ann)
        second = await ann.app.post("/api/app/me/sessions", json={"charger_id": "CP16"})
        assert second.status_code == 409
        assert "stop it before starting another" in second.json()["error"]
        assert len(_calls_received(cp, "RemoteStartTransaction")) == 1


async def test_charger_refusing_the_start_is_told_to_the_driver(
    csms_server: Any, users: AppUsers
) -> None:
    password = await _provision(csms_server, "CP16")
    ann = await users.register()
    async with ChargePoint16(
        url=csms_server.ocpp_url, identity="CP16", password=password, speed=60
    ) as cp:
        await cp.boot()
        answer = await ann.app.post(
            "/api/app/me/sessions", json={"charger_id": "CP16", "connector_id": 9}
        )
    assert answer.status_code == 200
    assert answer.json()["status"] == "Rejected"
    assert "try another connector" in answer.json()["message"]


async def test_start_at_an_unknown_or_offline_charger_says_so_in_the_drivers_words(
    csms_server: Any, users: AppUsers
) -> None:
    await _provision(csms_server, "SLEEPY")
    ann = await users.register()
    unknown = await ann.app.post("/api/app/me/sessions", json={"charger_id": "NOPE"})
    assert unknown.status_code == 404
    assert "charger NOPE not found" in unknown.json()["error"]
    offline = await ann.app.post("/api/app/me/sessions", json={"charger_id": "SLEEPY"})
    assert offline.status_code == 503
    message = offline.json()["error"]
    assert "offline" in message and "try again later" in message
    assert "csms " not in message  # no operator commands in answers to drivers


async def test_stopping_a_session_that_ended_is_409(csms_server: Any, users: AppUsers) -> None:
    from tests.api.conftest import add_charger_for, add_session

    ann = await users.register()
    await ann.app.post("/api/app/me/cards", json={"uid": "04ENDED00001"})
    await add_charger_for(csms_server.db, "CP1")
    session_id = await add_session(csms_server.db, "CP1", id_tag="04ENDED00001", stop=True)
    response = await ann.app.post(f"/api/app/me/sessions/{session_id}/stop")
    assert response.status_code == 409
    assert "already ended" in response.json()["error"]
