"""A stuck session can be closed without the charger (issue 18 item 11).

A charger goes offline for good in the middle of a session: ``csms sessions close`` ends
it (meter stop from the last meter value, stop reason ``closed_by_operator``, who closed
it), it is billed through the normal completion path (``session.completed``, once), and
the card starts a session elsewhere at once (no ConcurrentTx). When the charger comes back
and replays its stop (1.6 StopTransaction, 2.0.1 TransactionEvent Ended), that is
acknowledged and kept, and nothing is billed twice. Simulators over real sockets, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from csms.config import Settings
from csms.domain.billing.tariffs import add_tariff, assign_tariff
from csms.domain.charging.stations import add_charger
from simulators import ChargePoint16, ChargePoint201
from simulators.station import Station
from storage.sql import tables as t
from tests.cli.conftest import run_cli
from tests.waiting import eventually

CARD = "04C105ED01"


@pytest.fixture
async def server(
    settings_factory: Callable[..., Settings], database_url: str
) -> AsyncIterator[Any]:
    from csms.server import running_server

    async with running_server(settings_factory(database_url=database_url)) as running:
        yield running


@pytest.fixture
def env(server: Any) -> dict[str, str]:
    return {
        "CSMS_HOME": str(server.settings.home),
        "CSMS_API_URL": server.api_url,
        "CSMS_DATABASE_URL": server.settings.database.url,
    }


async def _provision(server: Any, *charger_ids: str) -> dict[str, str]:
    now = datetime.now(UTC)

    def run(uow: Any) -> dict[str, str]:
        passwords = {cid: add_charger(uow, charger_id=cid, now=now)[1] for cid in charger_ids}
        uow.id_tags.add(uid=CARD, status="active", created_at=now)
        add_tariff(uow, name="standard", per_kwh="0.40", now=now)
        assign_tariff(uow, "standard", charger_id=None, now=now)
        return passwords

    return dict(await server.db.write(run))


def _station(server: Any, version: str, identity: str, password: str) -> Station:
    cls = ChargePoint16 if version == "1.6" else ChargePoint201
    return cls(
        url=server.ocpp_url,
        identity=identity,
        password=password,
        speed=3600,
        reconnect_delays=(0.05,),
    )


async def _start(station: Station, version: str) -> Any:
    if isinstance(station, ChargePoint16):
        tx = await station.start_transaction(id_tag=CARD)
        station.deliver_energy(1, 4200)
        await station.send_meter_values(1)
        return tx
    assert isinstance(station, ChargePoint201)
    tx = await station.start_transaction(id_tag=CARD)
    station.deliver_energy(1, 4200)
    await station.send_transaction_update(tx)
    return tx


async def _stop(station: Station, tx: Any) -> None:
    if isinstance(station, ChargePoint16):
        await station.stop_transaction(tx, wait=False)
    else:
        assert isinstance(station, ChargePoint201)
        await station.stop_transaction(tx, wait=False)


async def _count(server: Any, table: Any, *conditions: Any) -> int:
    query = select(func.count()).select_from(table).where(*conditions)
    return int(await server.db.read(lambda uow: uow.conn.execute(query).scalar()))


async def _billed(server: Any, pk: int) -> Any:
    return await server.db.read(lambda uow: uow.invoices.by_transaction(pk))


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_session_on_a_charger_gone_offline_is_closed_and_the_card_charges_elsewhere(
    server: Any, env: dict[str, str], version: str
) -> None:
    passwords = await _provision(server, "STUCK", "OTHER")
    stuck = _station(server, version, "STUCK", passwords["STUCK"])
    async with stuck:
        await stuck.boot()
        tx = await _start(stuck, version)
        [session] = await server.db.read(lambda uow: uow.transactions.list(charger_id="STUCK"))
        assert session.meter_start_wh is not None
        await stuck.go_offline()
        await _stop(stuck, tx)  # queued in the charger: the CSMS never hears of it
        await eventually(lambda: not server.router.is_connected("STUCK"))

        # While the session is open the card is busy everywhere (ConcurrentTx) ...
        async with _station(server, version, "OTHER", passwords["OTHER"]) as other:
            await other.boot()
            answer = await other.authorize(CARD)
            assert "ConcurrentTx" in str(answer)

            result = await run_cli(
                env, "sessions", "close", str(session.id), "--reason", "charger dead", "--json"
            )
            assert result.code == 0, result.err
            closed = result.json()
            assert closed["status"] == "completed"
            assert closed["stop_reason"] == "closed_by_operator"
            assert closed["stop_note"] == "charger dead"
            assert closed["closed_by"] == "admin"
            # the last meter value, 4200 Wh after the start
            assert closed["meter_stop_wh"] == session.meter_start_wh + 4200
            assert closed["energy_wh"] == 4200
            assert closed["stopped_at"] is not None

            # ... and free again once it is closed.
            again = await _start(other, version)
            assert again.id_tag_status == "Accepted"

        invoice = await eventually(lambda: _billed(server, session.id))
        assert invoice.total_minor == 168  # 4.2 kWh at 0.40
        completed = t.outbox.c.key == f"session.completed:{session.id}"
        assert await _count(server, t.outbox, completed) == 1

        # The charger comes back and replays the stop: acknowledged, kept, not billed again.
        await stuck.go_online(timeout=10)
        assert await stuck.wait_queue_empty(timeout=10)
    after = await server.db.read(lambda uow: uow.transactions.by_pk(session.id))
    assert after.stop_reason == "closed_by_operator"
    assert after.energy_wh == 4200 and after.closed_by == "admin"
    assert await _count(server, t.outbox, completed) == 1
    assert await _count(server, t.invoices, t.invoices.c.transaction_pk == session.id) == 1
    if version == "1.6":
        kept = await server.db.read(lambda uow: uow.unreconciled.list(charger_id="STUCK"))
        assert [r.action for r in kept] == ["StopTransaction"]
    else:
        events = await server.db.read(
            lambda uow: uow.transaction_events.for_transaction(
                "STUCK", str(session.station_transaction_id)
            )
        )
        assert "Ended" in [e.event_type for e in events]


async def test_a_closed_session_cannot_be_closed_again_and_a_bad_meter_stop_changes_nothing(
    server: Any, env: dict[str, str]
) -> None:
    passwords = await _provision(server, "CP1")
    async with _station(server, "1.6", "CP1", passwords["CP1"]) as cp:
        await cp.boot()
        await _start(cp, "1.6")
    [session] = await server.db.read(lambda uow: uow.transactions.list(charger_id="CP1"))
    below = str(session.meter_start_wh - 1) if session.meter_start_wh else "0"
    if session.meter_start_wh:
        refused = await run_cli(env, "sessions", "close", str(session.id), "--meter-stop", below)
        assert refused.code == 1 and "below the session's meter start" in refused.err
        still = await server.db.read(lambda uow: uow.transactions.by_pk(session.id))
        assert still.status == "active"
    done = await run_cli(env, "sessions", "close", str(session.id), "--meter-stop", "99999")
    assert done.code == 0, done.err
    assert f"closed session {session.id}" in done.out
    again = await run_cli(env, "sessions", "close", str(session.id))
    assert again.code == 1 and "already completed" in again.err
    shown = await run_cli(env, "sessions", "show", str(session.id))
    assert "closed_by_operator" in shown.out and "admin" in shown.out
