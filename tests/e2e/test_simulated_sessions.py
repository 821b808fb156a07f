"""Simulator ↔ server over real sockets: sessions, offline replay, remote start, CLI.

These drive ``simulators.ChargePoint16`` (the same code as ``csms-sim``) against a
running csms (gateway, database and HTTP API in one process, SQLite).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from csms.domain.charging.stations import add_charger
from simulators import ChargePoint16, ChargingPlan, HandshakeFailed
from tests.waiting import eventually

CARD = "04A1B2C3D4"


async def _provision(server: Any, charger_id: str = "CP1") -> str:
    now = datetime.now(UTC)
    _, password = await server.db.write(
        lambda uow: add_charger(uow, charger_id=charger_id, now=now, password=None)
    )
    if await server.db.read(lambda uow: uow.id_tags.by_uid(CARD)) is None:
        await server.db.write(
            lambda uow: uow.id_tags.add(uid=CARD, status="active", created_at=now)
        )
    return str(password)


def _charge_point(server: Any, password: str, charger_id: str = "CP1", **kw: Any) -> ChargePoint16:
    options: dict[str, Any] = {
        "speed": 3600,
        "meter_interval": 60,
        "charging_plan": ChargingPlan(energy_wh=3000, power_w=11_000),
    }
    options.update(kw)
    return ChargePoint16(url=server.ocpp_url, identity=charger_id, password=password, **options)


async def _session(server: Any, transaction_id: int) -> Any:
    tx = await server.db.read(lambda uow: uow.transactions.by_transaction_id(transaction_id))
    assert tx is not None, f"transaction {transaction_id} not stored"
    samples = await server.db.read(lambda uow: uow.meter_samples.for_transaction(tx.id))
    return tx, samples


async def test_simulated_charger_completes_a_session_with_every_meter_value(
    csms_server: Any,
) -> None:
    password = await _provision(csms_server)
    async with _charge_point(csms_server, password) as cp:
        await cp.boot()
        result = await cp.charge(id_tag=CARD)
    assert result.id_tag_status == "Accepted"
    tx, samples = await _session(csms_server, int(result.transaction_id))  # type: ignore[arg-type]
    assert tx.status == "completed"
    assert tx.energy_wh == result.energy_wh == 3000
    sent = cp.sent("MeterValues")
    values_sent = sum(
        len(mv["sampledValue"]) for m in sent for mv in m.payload["meterValue"]
    ) + sum(
        len(mv["sampledValue"])
        for m in cp.sent("StopTransaction")
        for mv in m.payload.get("transactionData", [])
    )
    assert len(samples) == values_sent > 0
    charger = await csms_server.db.read(lambda uow: uow.chargers.get("CP1"))
    assert charger.vendor == "csms-sim" and charger.ocpp_version == "1.6"


async def test_messages_queued_offline_are_replayed_in_order_and_all_stored(
    csms_server: Any,
) -> None:
    """1.6 §4.8/§4.10: transaction messages survive a lost connection, in order."""
    password = await _provision(csms_server)
    async with _charge_point(csms_server, password) as cp:
        await cp.boot()
        await cp.set_status(1, "Charging")
        tx = await cp.start_transaction(id_tag=CARD)
        await cp.go_offline()
        for _ in range(3):
            cp.deliver_energy(1, 500, power_w=11_000)
            await cp.send_meter_values(1, wait=False)
        await cp.stop_transaction(tx, reason="EVDisconnected", wait=False)
        assert len(cp.queued_messages) == 4
        await cp.go_online(timeout=10)
        assert await cp.wait_queue_empty(timeout=10)
    stored, samples = await _session(csms_server, int(tx.transaction_id))  # type: ignore[arg-type]
    assert stored.status == "completed" and stored.stop_reason == "EVDisconnected"
    assert stored.energy_wh == 1500
    energies = [s.value for s in samples if s.measurand == "Energy.Active.Import.Register"]
    assert energies == sorted(energies, key=float) and len(energies) == 4


async def test_transaction_started_offline_gets_a_csms_id_and_later_messages_follow_it(
    csms_server: Any,
) -> None:
    password = await _provision(csms_server)
    async with _charge_point(csms_server, password) as cp:
        await cp.boot()
        await cp.go_offline()
        tx = await cp.start_transaction(id_tag=CARD, wait=False)
        cp.deliver_energy(1, 700, power_w=11_000)
        await cp.send_meter_values(1, wait=False)
        await cp.stop_transaction(tx, reason="Local", wait=False)
        await cp.go_online(timeout=10)
        assert await cp.wait_queue_empty(timeout=10)
    assert isinstance(tx.transaction_id, int) and tx.transaction_id > 0
    stored, samples = await _session(csms_server, tx.transaction_id)
    assert stored.status == "completed" and stored.energy_wh == 700
    assert len(samples) >= 2
    unreconciled = await csms_server.db.read(lambda uow: uow.unreconciled.list())
    assert unreconciled == []


async def test_wrong_password_is_refused_at_the_handshake(csms_server: Any) -> None:
    await _provision(csms_server)
    cp = _charge_point(csms_server, "not-the-password")
    with pytest.raises(HandshakeFailed) as failure:
        await cp.connect()
    assert failure.value.status == 401
    await cp.close()


async def test_operator_remote_start_and_stop_through_the_api(csms_server: Any) -> None:
    """Every step waits for what the one before caused, never for a time: on a busy
    machine a stop sent as soon as the session is listed may reach the charger before any
    energy has flowed (energy 0), and a plan that ends by itself within seconds ends with
    reason Local before the stop arrives."""
    password = await _provision(csms_server)
    headers = {"Authorization": f"Bearer {csms_server.admin_token}"}
    async with (
        _charge_point(
            csms_server,
            password,
            speed=600,  # a meter sample every 0.1 s; the plan lasts far longer than the test
            charging_plan=ChargingPlan(energy_wh=1_000_000, power_w=11_000),
        ) as cp,
        httpx.AsyncClient(
            base_url=csms_server.api_url, headers=headers, timeout=httpx.Timeout(60.0)
        ) as api,
    ):
        await cp.boot()
        answer = await api.post("/api/sessions/start", json={"charger_id": "CP1", "id_tag": CARD})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "Accepted"

        async def charging_session() -> dict[str, Any] | None:
            """The active session once csms has stored a meter value of it (energy flows)."""
            listed = (await api.get("/api/sessions", params={"active": "true"})).json()
            if not listed:
                return None
            shown: dict[str, Any] = (await api.get(f"/api/sessions/{listed[0]['id']}")).json()
            return shown if shown["meter_values"] else None

        session = await eventually(charging_session, timeout=60)
        stop = await api.post(f"/api/sessions/{session['id']}/stop")
        assert stop.status_code == 200, stop.text
        assert stop.json()["status"] == "Accepted"
        await cp.wait_sessions(1, timeout=60)
        assert await cp.wait_queue_empty(timeout=60)
        shown = (await api.get(f"/api/sessions/{session['id']}")).json()
    assert shown["status"] == "completed" and shown["stop_reason"] == "Remote"
    assert shown["energy_wh"] > 0 and shown["meter_values"]


async def test_pending_charger_is_accepted_at_once_when_the_operator_accepts_it(
    settings_factory: Any,
) -> None:
    """CSMS_UNKNOWN_CHARGERS=pending: Pending until `csms chargers accept`, which triggers
    a new BootNotification instead of waiting for the charger's retry interval."""
    from csms.server import running_server

    async with running_server(settings_factory(unknown_chargers="pending")) as server:
        cp = ChargePoint16(url=server.ocpp_url, identity="NEW1", speed=1)
        async with cp:
            boot = asyncio.create_task(cp.boot())
            for _ in range(100):
                if cp.registration_status == "Pending":
                    break
                await asyncio.sleep(0.02)
            assert cp.registration_status == "Pending"
            headers = {"Authorization": f"Bearer {server.admin_token}"}
            async with httpx.AsyncClient(base_url=server.api_url, headers=headers) as api:
                answer = await api.post("/api/chargers/NEW1/accept")
            assert answer.status_code == 200, answer.text
            await asyncio.wait_for(boot, 5)  # the retry interval is 60 s: the trigger did it
            assert cp.registration_status == "Accepted"
