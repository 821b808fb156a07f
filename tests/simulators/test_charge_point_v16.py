"""The 1.6 charge point's own behaviour: boot, a full session, offline queue, reconnects."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from simulators import ChargePoint16, ChargingPlan, HandshakeFailed, StationOffline, run_session
from tests.simulators.fake_csms import NO_ANSWER, FakeCSMS

Factory = Callable[..., ChargePoint16]
PLAN = ChargingPlan(energy_wh=1000, power_w=36_000)  # 100 simulated s = 1 real s


def _energy(meter_values_payload: dict[str, Any]) -> int:
    for sample in meter_values_payload["meterValue"][0]["sampledValue"]:
        if sample["measurand"] == "Energy.Active.Import.Register":
            return int(sample["value"])
    raise AssertionError("no energy register sample")


def _statuses(csms: FakeCSMS, connector_id: int = 1) -> list[str]:
    return [
        r.payload["status"]
        for r in csms.of("StatusNotification")
        if r.payload["connectorId"] == connector_id
    ]


async def test_full_session_sends_the_firmware_message_sequence(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    async with make_cp() as cp:
        await cp.boot()
        result = await cp.charge(id_tag="CARD1", plan=PLAN)

    actions = csms.actions()
    meter_count = actions.count("MeterValues")
    assert meter_count >= 2
    assert actions == [
        "BootNotification",
        "StatusNotification",  # connector 0
        "StatusNotification",  # connector 1
        "Authorize",
        "StatusNotification",  # Preparing
        "StartTransaction",
        "StatusNotification",  # Charging
        *["MeterValues"] * meter_count,
        "StatusNotification",  # SuspendedEV
        "StopTransaction",
        "StatusNotification",  # Finishing
        "StatusNotification",  # Available
    ]
    assert [r.payload["connectorId"] for r in csms.of("StatusNotification")][:2] == [0, 1]
    assert _statuses(csms) == [
        "Available",
        "Preparing",
        "Charging",
        "SuspendedEV",
        "Finishing",
        "Available",
    ]
    assert csms.refused == []  # every message passed the 1.6 schemas

    start = csms.of("StartTransaction")[0].payload
    assert start == {
        "connectorId": 1,
        "idTag": "CARD1",
        "meterStart": 0,
        "timestamp": start["timestamp"],
    }
    assert datetime.fromisoformat(start["timestamp"]).utcoffset() is not None
    transaction_id = result.transaction_id
    assert transaction_id == 1000

    readings = []
    for record in csms.of("MeterValues"):
        payload = record.payload
        assert payload["transactionId"] == transaction_id
        samples = payload["meterValue"][0]["sampledValue"]
        assert {s["measurand"] for s in samples} == {
            "Energy.Active.Import.Register",
            "Power.Active.Import",
        }
        assert {s["context"] for s in samples} == {"Sample.Periodic"}
        power = next(s for s in samples if s["measurand"] == "Power.Active.Import")
        assert (power["value"], power["unit"]) == ("36000", "W")
        readings.append(_energy(payload))
    assert readings == sorted(readings) and 0 < readings[0] < readings[-1] < 1000

    stop = csms.of("StopTransaction")[0].payload
    assert stop["transactionId"] == transaction_id
    assert stop["reason"] == "Local"
    assert stop["meterStop"] == 1000
    end = stop["transactionData"][0]["sampledValue"]
    assert end == [
        {
            "value": "1000",
            "context": "Transaction.End",
            "measurand": "Energy.Active.Import.Register",
            "location": "Outlet",
            "unit": "Wh",
        }
    ]
    assert result.ok and result.energy_wh == 1000 and result.stop_reason == "Local"


async def test_energy_register_carries_over_to_the_next_session(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    async with make_cp(energy_wh=5000) as cp:
        await cp.boot()
        first = await cp.charge(id_tag="CARD1", plan=ChargingPlan(energy_wh=200, power_w=36_000))
        second = await cp.charge(id_tag="CARD1", plan=ChargingPlan(energy_wh=300, power_w=36_000))

    starts = [r.payload["meterStart"] for r in csms.of("StartTransaction")]
    stops = [r.payload["meterStop"] for r in csms.of("StopTransaction")]
    assert starts == [5000, 5200]
    assert stops == [5200, 5500]
    assert (first.energy_wh, second.energy_wh) == (200, 300)
    assert first.transaction_id != second.transaction_id


async def test_basic_auth_header_carries_identity_and_password(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    async with make_cp("CP-7", password="s3cret") as cp:
        await cp.boot()
    expected = "Basic " + base64.b64encode(b"CP-7:s3cret").decode()
    assert csms.auth_headers == [expected]


async def test_boot_pending_is_retried_after_the_interval_while_answering_calls(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    answers = iter(["Pending", "Pending", "Accepted"])

    def boot(identity: str, payload: dict[str, Any]) -> dict[str, Any]:
        status = next(answers)
        return {"status": status, "currentTime": "2026-01-01T00:00:00Z", "interval": 30}

    csms.rules["BootNotification"] = boot
    cp = make_cp()
    await cp.connect()
    booting = asyncio.create_task(cp.boot())
    await csms.wait_for("BootNotification")
    # While Pending, the charger stays connected and answers the CSMS.
    answer = await csms.call("CP1", "GetConfiguration", {"key": ["NumberOfConnectors"]})
    assert answer["configurationKey"][0]["value"] == "1"
    assert csms.of("StatusNotification") == []  # nothing but boots until accepted
    response = await asyncio.wait_for(booting, 5)

    assert response["status"] == "Accepted"
    boots = csms.of("BootNotification")
    assert len(boots) == 3
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(boots)]
    assert all(gap >= 0.25 for gap in gaps)  # 30 simulated s at speed 100 = 0.3 s
    assert cp.accepted and csms.connects == ["CP1"]


async def test_boot_uses_the_heartbeat_interval_the_csms_gave(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    csms.heartbeat_interval = 20  # 0.2 s at speed 100
    async with make_cp() as cp:
        await cp.boot()
        await csms.wait_for("Heartbeat", 2, timeout=3)
        assert cp.configuration["HeartbeatInterval"] == "20"


async def test_offline_start_is_queued_and_replayed_in_order_with_the_csms_transaction_id(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    async with make_cp() as cp:
        await cp.boot()
        before = len(csms.received)
        await cp.go_offline()
        assert not cp.online

        tx = await cp.start_transaction(id_tag="CARD1")
        assert tx.transaction_id is None and tx.local_id < 0
        cp.deliver_energy(1, 100, power_w=11_000)
        await cp.send_meter_values(1)
        cp.deliver_energy(1, 100, power_w=11_000)
        await cp.send_meter_values(1)
        await cp.stop_transaction(tx, reason="Local")
        queued = cp.queued_messages
        assert [action for action, _ in queued] == [
            "StartTransaction",
            "MeterValues",
            "MeterValues",
            "StopTransaction",
        ]
        assert {payload["transactionId"] for _, payload in queued[1:]} == {tx.local_id}
        offline_stamps = [p["meterValue"][0]["timestamp"] for a, p in queued if a == "MeterValues"]
        assert len(csms.received) == before  # nothing went out

        await cp.go_online(timeout=5)
        assert await cp.wait_queue_empty(timeout=5)

    replayed = [r for r in csms.received[before:] if r.action != "StatusNotification"]
    assert [r.action for r in replayed] == [
        "StartTransaction",
        "MeterValues",
        "MeterValues",
        "StopTransaction",
    ]
    assert tx.transaction_id == 1000
    assert [r.payload["transactionId"] for r in replayed[1:]] == [1000, 1000, 1000]
    assert [_energy(r.payload) for r in replayed[1:3]] == [100, 200]
    # Samples keep the time they were taken, not the time they were sent.
    assert [r.payload["meterValue"][0]["timestamp"] for r in replayed[1:3]] == offline_stamps
    assert replayed[3].payload["meterStop"] == 200
    assert csms.connects == ["CP1", "CP1"]
    assert len(csms.of("BootNotification")) == 1  # a reconnect is not a reboot


async def test_meter_values_of_a_running_session_survive_an_outage(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    async with make_cp(meter_interval=10) as cp:
        await cp.boot()
        session = asyncio.create_task(
            cp.charge(id_tag="CARD1", plan=ChargingPlan(energy_wh=2000, power_w=36_000))
        )
        await csms.wait_for("MeterValues", 2)
        await cp.go_offline()
        await asyncio.sleep(0.5)  # 50 simulated seconds of charging while offline
        queued_meter_values = sum(1 for a, _ in cp.queued_messages if a == "MeterValues")
        assert queued_meter_values >= 2
        await cp.go_online(timeout=5)
        result = await asyncio.wait_for(session, 10)

    meter_values = csms.of("MeterValues")
    assert {r.payload["transactionId"] for r in meter_values} == {result.transaction_id}
    readings = [_energy(r.payload) for r in meter_values]
    assert readings == sorted(readings)  # replayed in order
    stop = csms.of("StopTransaction")
    assert len(stop) == 1 and stop[0].payload["meterStop"] == 2000
    assert result.energy_wh == 2000


async def test_status_changes_while_offline_are_reported_after_reconnecting(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    async with make_cp() as cp:
        await cp.boot()
        await cp.go_offline()
        await cp.set_status(1, "Preparing")
        await cp.set_status(1, "Unavailable")
        await cp.go_online(timeout=5)
        await csms.wait_until(lambda: _statuses(csms)[-1:] == ["Unavailable"])
    assert _statuses(csms) == ["Available", "Unavailable"]  # only the latest one


async def test_reconnects_with_backoff_after_the_server_drops_the_connection(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    async with make_cp(reconnect_delays=(0.2,)) as cp:
        await cp.boot()
        await csms.disconnect("CP1")
        dropped = asyncio.get_running_loop().time()
        await csms.wait_until(lambda: len(csms.connects) == 2, timeout=5)
        waited = asyncio.get_running_loop().time() - dropped
        await cp.wait_ready(timeout=5)
        await cp.heartbeat()
    assert waited >= 0.15
    assert len(csms.of("BootNotification")) == 1


async def test_calls_while_offline_raise_station_offline(csms: FakeCSMS, make_cp: Factory) -> None:
    async with make_cp() as cp:
        await cp.boot()
        await cp.go_offline()
        with pytest.raises(StationOffline):
            await cp.heartbeat()


async def test_authorize_offline_uses_the_authorization_cache(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    async with make_cp() as cp:
        await cp.boot()
        assert (await cp.authorize("KNOWN"))["status"] == "Accepted"
        await cp.go_offline()
        assert (await cp.authorize("KNOWN"))["status"] == "Accepted"
        with pytest.raises(StationOffline):
            await cp.authorize("NEVER-SEEN")


async def test_rejected_id_tag_at_start_stops_the_transaction_as_deauthorized(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    csms.rules["StartTransaction"] = lambda identity, payload: {
        "transactionId": 77,
        "idTagInfo": {"status": "Blocked"},
    }
    async with make_cp() as cp:
        await cp.boot()
        result = await cp.charge(id_tag="BLOCKED", plan=PLAN)

    assert not result.ok and result.id_tag_status == "Blocked"
    stop = csms.of("StopTransaction")[0].payload
    assert (stop["transactionId"], stop["reason"]) == (77, "DeAuthorized")
    assert csms.of("MeterValues") == []
    assert _statuses(csms)[-2:] == ["Finishing", "Available"]
    assert "Charging" not in _statuses(csms)


async def test_rejected_authorize_starts_no_transaction(csms: FakeCSMS, make_cp: Factory) -> None:
    csms.rules["Authorize"] = lambda identity, payload: {"idTagInfo": {"status": "Invalid"}}
    async with make_cp() as cp:
        await cp.boot()
        result = await cp.charge(id_tag="NOPE", plan=PLAN)
    assert result.id_tag_status == "Invalid" and result.transaction_id is None
    assert csms.of("StartTransaction") == []


async def test_unanswered_transaction_message_is_retried_then_given_up(
    csms: FakeCSMS, make_cp: Factory
) -> None:
    csms.rules["MeterValues"] = lambda identity, payload: NO_ANSWER
    async with make_cp(call_timeout=0.2, transaction_message_attempts=2) as cp:
        await cp.boot()
        tx = await cp.start_transaction(id_tag="CARD1")
        await cp.send_meter_values(1, wait=False)
        await cp.stop_transaction(tx, wait=False)
        assert await cp.wait_queue_empty(timeout=5)
    assert csms.actions()[-3:] == ["MeterValues", "MeterValues", "StopTransaction"]


async def test_unreachable_csms_fails_the_first_connect(make_cp: Factory) -> None:
    cp = make_cp(url="ws://127.0.0.1:9/ocpp")  # nothing listens on the discard port
    with pytest.raises(HandshakeFailed, match="cannot connect"):
        await cp.connect()


async def test_handshake_refusal_is_reported_with_the_http_status(make_cp: Factory) -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(HTTPStatus.UNAUTHORIZED, "no\n")

    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        cp = make_cp(url=f"ws://127.0.0.1:{port}/ocpp", password="wrong")
        with pytest.raises(HandshakeFailed, match="HTTP 401") as failure:
            await cp.connect()
    assert failure.value.status == 401


async def test_run_session_boots_charges_and_reports_the_outcome(csms: FakeCSMS) -> None:
    seen: list[int | str | None] = []
    outcome = await run_session(
        url=csms.url,
        identity="CP-RS",
        id_tag="CARD1",
        plan=ChargingPlan(energy_wh=300, power_w=36_000),
        speed=100,
        meter_interval=10,
        on_session=lambda result: seen.append(result.transaction_id),
    )
    assert outcome.ok and outcome.undelivered == 0
    [session] = outcome.sessions
    assert (session.energy_wh, session.transaction_id, session.stop_reason) == (300, 1000, "Local")
    assert seen == [1000]
    await csms.wait_until(lambda: "CP-RS" not in csms.connections)  # disconnected at the end


async def test_run_session_reports_a_refused_card(csms: FakeCSMS) -> None:
    csms.rules["Authorize"] = lambda identity, payload: {"idTagInfo": {"status": "Expired"}}
    outcome = await run_session(url=csms.url, identity="CP-RS", id_tag="OLD", speed=100)
    assert not outcome.ok
    assert outcome.error is not None and "Expired" in outcome.error
