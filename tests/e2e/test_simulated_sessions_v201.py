"""2.0.1 stations (``simulators.ChargePoint201``, the code behind ``csms-sim --protocol
ocpp2.0.1``) against a running csms over real sockets, beside a 1.6 charger.

A session from either version must look the same to operators: same fields in
``csms sessions list --json``, energy from the meter readings, the station's own
transactionId as ``transaction_id`` for 2.0.1.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from csms.cli import main as csms_main
from csms.domain.charging.stations import add_charger
from simulators import ChargePoint16, ChargePoint201, ChargingPlan

CARD = "04A1B2C3D4"
CARD2 = "04F5E6D7C8"
SPEED = 3600.0


async def _provision(server: Any, charger_id: str, card: str = CARD) -> str:
    now = datetime.now(UTC)
    _, password = await server.db.write(
        lambda uow: add_charger(uow, charger_id=charger_id, now=now, password=None)
    )
    if await server.db.read(lambda uow: uow.id_tags.by_uid(card)) is None:
        await server.db.write(
            lambda uow: uow.id_tags.add(uid=card, status="active", created_at=now)
        )
    return str(password)


def _station(server: Any, charger_id: str, password: str, **options: Any) -> ChargePoint201:
    defaults: dict[str, Any] = {
        "speed": SPEED,
        "meter_interval": 60,
        "charging_plan": ChargingPlan(energy_wh=3000, power_w=11_000),
        "reconnect_delays": (0.05,),
    }
    return ChargePoint201(
        url=server.ocpp_url,
        identity=charger_id,
        password=password,
        **(defaults | options),
    )


async def _sessions_via_cli(server: Any) -> list[dict[str, Any]]:
    """``csms sessions list --json`` against the running server."""
    env = {
        "CSMS_HOME": str(server.settings.home),
        "CSMS_API_URL": server.api_url,
        "CSMS_DATABASE_URL": server.settings.database.url,
    }
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(
        csms_main, ["sessions", "list", "--json"], stdout=out, stderr=err, env=env
    )
    assert code == 0, err.getvalue()
    sessions: list[dict[str, Any]] = json.loads(out.getvalue())
    return sessions


def _api(server: Any) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    return httpx.AsyncClient(base_url=server.api_url, headers=headers)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_16_and_a_201_charger_each_complete_a_session_listed_with_the_same_fields(
    csms_server: Any,
) -> None:
    """Issue 3, first "done when": one server, both versions, same session fields."""
    password16 = await _provision(csms_server, "CP16")
    password201 = await _provision(csms_server, "CS201", CARD2)
    plan16 = ChargingPlan(energy_wh=2000, power_w=11_000)
    plan201 = ChargingPlan(energy_wh=3000, power_w=11_000)
    async with (
        ChargePoint16(
            url=csms_server.ocpp_url,
            identity="CP16",
            password=password16,
            speed=SPEED,
            meter_interval=60,
        ) as cp,
        _station(csms_server, "CS201", password201) as cs,
    ):
        await asyncio.gather(cp.boot(), cs.boot())
        result16, result201 = await asyncio.gather(
            cp.charge(id_tag=CARD, plan=plan16), cs.charge(id_tag=CARD2, plan=plan201)
        )
        assert await cs.wait_queue_empty(timeout=10)
        assert await cp.wait_queue_empty(timeout=10)
    assert result16.ok and result201.ok

    listed = await _sessions_via_cli(csms_server)
    by_charger = {s["charger_id"]: s for s in listed}
    assert set(by_charger) == {"CP16", "CS201"}
    s16, s201 = by_charger["CP16"], by_charger["CS201"]
    assert set(s16) == set(s201)  # the same fields for both versions
    assert s16["energy_wh"] == 2000 and s201["energy_wh"] == 3000
    assert s201["transaction_id"] == result201.transaction_id  # the station's own id
    assert (s201["meter_start_wh"], s201["meter_stop_wh"]) == (0, 3000)
    assert s201["status"] == s16["status"] == "completed"
    assert s201["stop_reason"] == "Local"
    assert s201["connector_id"] == 1
    assert s201["auth_method"] == s16["auth_method"] == "card"
    started_at = cs.transactions[0].started_at  # the Started event's own timestamp
    assert abs(_time(s201["started_at"]) - started_at) < timedelta(milliseconds=1)

    async with _api(csms_server) as api:
        charger = (await api.get("/api/chargers/CS201")).json()
    assert charger["ocpp_version"] == "2.0.1" and charger["vendor"] == "csms-sim"


async def test_201_every_sampled_value_of_the_session_is_stored(csms_server: Any) -> None:
    password = await _provision(csms_server, "CS1")
    async with _station(csms_server, "CS1", password) as cs:
        await cs.boot()
        result = await cs.charge(id_tag=CARD)
        assert await cs.wait_queue_empty(timeout=10)
    sent = sum(
        len(mv["sampledValue"])
        for event in cs.transaction_events()
        for mv in event.get("meterValue", [])
    )
    async with _api(csms_server) as api:
        (session,) = (await api.get("/api/sessions", params={"charger": "CS1"})).json()
        shown = (await api.get(f"/api/sessions/{session['id']}")).json()
    assert session["transaction_id"] == result.transaction_id
    assert session["energy_wh"] == result.energy_wh == 3000
    assert len(shown["meter_values"]) == sent > 0


async def test_201_events_queued_offline_are_replayed_and_the_session_keeps_their_times(
    csms_server: Any,
) -> None:
    """2.0.1 E04: offline=true events are stored by their own timestamps."""
    password = await _provision(csms_server, "CS1")
    async with _station(csms_server, "CS1", password) as cs:
        await cs.boot()
        assert (await cs.authorize(CARD))["status"] == "Accepted"
        tx = await cs.start_transaction(id_tag=CARD)
        await cs.set_charging_state(tx, "Charging", wait=True)
        await cs.go_offline()
        for _ in range(3):
            cs.deliver_energy(1, 500, power_w=11_000)
            await cs.send_transaction_update(tx, wait=False)
        await cs.stop_transaction(tx, reason="EVDisconnected", wait=False)
        await asyncio.sleep(0.3)  # the replay comes visibly later than the events
        assert await cs.wait_queue_empty(timeout=0.01) is False
        await cs.go_online(timeout=10)
        assert await cs.wait_queue_empty(timeout=10)

    ended = cs.transaction_events(tx)[-1]
    assert ended["offline"] is True
    async with _api(csms_server) as api:
        (session,) = (await api.get("/api/sessions", params={"charger": "CS1"})).json()
    assert session["status"] == "completed"
    assert session["stop_reason"] == "EVDisconnected"
    assert session["energy_wh"] == 1500
    assert _time(session["stopped_at"]) == _time(ended["timestamp"])


async def test_201_app_start_and_operator_stop_through_the_api(csms_server: Any) -> None:
    """RequestStartTransaction (idToken type Central) and RequestStopTransaction."""
    password = await _provision(csms_server, "CS1")
    long_plan = ChargingPlan(energy_wh=50_000, power_w=11_000)
    async with (
        _station(csms_server, "CS1", password, charging_plan=long_plan) as cs,
        _api(csms_server) as api,
    ):
        await cs.boot()
        answer = await api.post("/api/sessions/start", json={"charger_id": "CS1", "id_tag": CARD})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "Accepted"
        for _ in range(200):
            listed = (await api.get("/api/sessions", params={"active": "true"})).json()
            if listed:
                break
            await asyncio.sleep(0.05)
        (session,) = listed
        started = cs.sent("TransactionEvent")[0].payload
        assert started["triggerReason"] == "RemoteStart"
        assert "remoteStartId" in started["transactionInfo"]
        stop = await api.post(f"/api/sessions/{session['id']}/stop")
        assert stop.status_code == 200, stop.text
        await cs.wait_sessions(1, timeout=10)
        assert await cs.wait_queue_empty(timeout=10)
        shown = (await api.get(f"/api/sessions/{session['id']}")).json()
    ended = cs.sent("TransactionEvent")[-1].payload
    assert ended["transactionInfo"]["stoppedReason"] == "Remote"
    assert shown["status"] == "completed" and shown["stop_reason"] == "Remote"
    assert shown["transaction_id"] == started["transactionInfo"]["transactionId"]
    assert shown["energy_wh"] > 0
