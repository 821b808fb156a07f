"""The OCPP side hands completed sessions and "charging done" moments to billing and
notification in the commit that records them, once per fact, on both versions
(docs/adr/0008-outbox.md)."""

from __future__ import annotations

from datetime import timedelta

from csms.domain.charging.stations import record_status
from csms.domain.charging.transaction_events import record_transaction_event
from csms.domain.charging.transactions import start_transaction, stop_transaction
from csms.domain.people.customers import add_customer
from storage.database import Database
from storage.ports import UnitOfWork
from tests.domain.charging.test_transaction_events import T0, _event, _session, _setup


async def _keys(db: Database) -> list[str]:
    return sorted(r.key for r in await db.read(lambda uow: uow.outbox.list(limit=1000)))


async def _link_card_to_a_customer(db: Database) -> None:
    def run(uow: UnitOfWork) -> None:
        customer = add_customer(uow, name="Ola Outbox", email="ola@example.com", now=T0)
        uow.id_tags.update("CARD1", customer_id=customer.id)

    await db.write(run)


def _status(uow: UnitOfWork, status: str, minute: int) -> None:
    record_status(
        uow,
        charger_id="CP16",
        connector_id=1,
        status=status,
        error_code="NoError",
        timestamp=T0 + timedelta(minutes=minute),
        now=T0 + timedelta(minutes=minute),
    )


async def test_a_1_6_session_s_stop_and_charging_done_are_each_enqueued_once_after_a_resume(
    db: Database,
) -> None:
    await _setup(db)
    await _link_card_to_a_customer(db)

    def start(uow: UnitOfWork) -> int:
        _status(uow, "Charging", 0)
        return start_transaction(
            uow,
            charger_id="CP16",
            connector_id=1,
            id_tag="CARD1",
            meter_start_wh=0,
            timestamp=T0,
            now=T0,
        ).transaction_id

    transaction_id = await db.write(start)
    await db.write(lambda uow: _status(uow, "SuspendedEV", 40))  # 1.6: Charging → SuspendedEV
    await db.write(lambda uow: _status(uow, "Charging", 45))
    await db.write(lambda uow: _status(uow, "SuspendedEV", 50))  # not a second "done"

    def stop(uow: UnitOfWork) -> bool:
        return stop_transaction(
            uow,
            charger_id="CP16",
            transaction_id=transaction_id,
            meter_stop_wh=7000,
            timestamp=T0 + timedelta(hours=1),
            now=T0 + timedelta(hours=1),
            reason=None,
            id_tag=None,
            samples=[],
            raw_payload={},
        ).recorded

    assert await db.write(stop) is True
    assert await db.write(stop) is False  # the charger sent it again
    [tx] = await db.read(lambda uow: uow.transactions.list())
    assert await _keys(db) == [f"charging.done:{tx.id}", f"session.completed:{tx.id}"]
    # it charged again at 45: done for good at 50, where the idle time starts
    assert tx.charging_done_at == T0 + timedelta(minutes=50)


async def test_a_session_without_a_customer_is_billed_but_nobody_is_told_it_is_done(
    db: Database,
) -> None:
    await _setup(db)  # CARD1 belongs to no customer
    for event in _session():
        await db.write(
            lambda uow, e=event: record_transaction_event(uow, charger_id="CS1", event=e, now=T0)
        )
    [tx] = await db.read(lambda uow: uow.transactions.list())
    assert await _keys(db) == [f"session.completed:{tx.id}"]


async def test_a_2_0_1_session_is_enqueued_once_whatever_order_its_events_come_in(
    db: Database,
) -> None:
    await _setup(db)
    await _link_card_to_a_customer(db)
    started, updated, suspended, ended = _session()
    # Ended before the rest (a replay after a connection loss), and Ended twice
    for event in (ended, started, updated, ended, suspended):
        await db.write(
            lambda uow, e=event: record_transaction_event(uow, charger_id="CS1", event=e, now=T0)
        )
    [tx] = await db.read(lambda uow: uow.transactions.list())
    assert tx.status == "completed" and tx.charging_done_at is not None
    # completed once; the SuspendedEV that arrived after the end tells nobody "done"
    assert await _keys(db) == [f"session.completed:{tx.id}"]


async def test_a_2_0_1_suspended_ev_while_charging_enqueues_charging_done(db: Database) -> None:
    await _setup(db)
    await _link_card_to_a_customer(db)
    started, updated, suspended, _ended = _session()
    for event in (started, updated, suspended, _event("Updated", 3, minutes=25, wh=4_000)):
        await db.write(
            lambda uow, e=event: record_transaction_event(uow, charger_id="CS1", event=e, now=T0)
        )
    [tx] = await db.read(lambda uow: uow.transactions.list())
    assert tx.status == "active"
    assert await _keys(db) == [f"charging.done:{tx.id}"]


async def test_a_2_0_1_ev_that_resumes_is_done_at_its_last_stop_and_announced_once(
    db: Database,
) -> None:
    await _setup(db)
    await _link_card_to_a_customer(db)
    started, updated, suspended, _ended = _session()  # SuspendedEV at minute 20
    resumed = _event(
        "Updated", 3, minutes=24, charging_state="Charging", trigger_reason="ChargingStateChanged"
    )
    stopped = _event(
        "Updated",
        4,
        minutes=28,
        charging_state="EVConnected",
        trigger_reason="ChargingStateChanged",
    )
    for event in (started, updated, suspended, resumed, stopped):
        await db.write(
            lambda uow, e=event: record_transaction_event(uow, charger_id="CS1", event=e, now=T0)
        )
    [tx] = await db.read(lambda uow: uow.transactions.list())
    assert tx.charging_done_at == T0 + timedelta(minutes=28)
    assert await _keys(db) == [f"charging.done:{tx.id}"]
