"""2.0.1 TransactionEvents in the domain, on SQLite and PostgreSQL: stored once, in any
order, on the same transaction model as 1.6."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from csms.domain.charging.stations import add_charger
from csms.domain.charging.transaction_events import (
    EventOutcome,
    TransactionEvent,
    energy_wh,
    record_transaction_event,
)
from csms.domain.charging.transactions import start_transaction
from csms.domain.model import AuthorizationStatus, MeterSample
from storage.database import Database
from storage.records import TransactionRecord
from storage.sql.repositories import SqlUnitOfWork

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _event(
    event_type: str,
    seq_no: int,
    *,
    minutes: int = 0,
    wh: int | None = None,
    context: str = "Sample.Periodic",
    tx: str = "tx-1",
    **fields: Any,
) -> TransactionEvent:
    when = T0 + timedelta(minutes=minutes)
    samples = [MeterSample(when, str(wh), context=context)] if wh is not None else []
    details: dict[str, Any] = {"evse": {"id": 2, "connectorId": 1}}
    if "stopped_reason" in fields:
        details["transactionInfo"] = {"stoppedReason": fields.pop("stopped_reason")}
    return TransactionEvent(
        event_type=event_type,
        station_transaction_id=tx,
        seq_no=seq_no,
        timestamp=when,
        trigger_reason=fields.pop("trigger_reason", "MeterValuePeriodic"),
        details=details,
        samples=samples,
        **fields,
    )


async def _send(db: Database, event: TransactionEvent, charger: str = "CS1") -> EventOutcome:
    return await db.write(
        lambda uow: record_transaction_event(uow, charger_id=charger, event=event, now=T0)
    )


async def _tx(db: Database, tx: str = "tx-1") -> TransactionRecord:
    record = await db.read(lambda uow: uow.transactions.by_station_transaction_id("CS1", tx))
    assert record is not None
    return record


async def _setup(db: Database) -> None:
    def run(uow: SqlUnitOfWork) -> None:
        add_charger(uow, charger_id="CS1", now=T0, password="password-123")
        add_charger(uow, charger_id="CP16", now=T0, password="password-123")
        uow.id_tags.add(uid="CARD1", status="active", created_at=T0, parent_id_tag="GROUP1")

    await db.write(run)


def _session() -> list[TransactionEvent]:
    return [
        _event(
            "Started",
            0,
            wh=1_000,
            context="Transaction.Begin",
            id_token="CARD1",
            id_token_type="ISO14443",
            trigger_reason="Authorized",
            charging_state="Charging",
        ),
        _event("Updated", 1, minutes=10, wh=3_000),
        _event(
            "Updated",
            2,
            minutes=20,
            wh=4_000,
            charging_state="SuspendedEV",
            trigger_reason="ChargingStateChanged",
        ),
        _event(
            "Ended",
            3,
            minutes=30,
            wh=4_500,
            context="Transaction.End",
            stopped_reason="EVDisconnected",
        ),
    ]


def _final(tx: TransactionRecord) -> tuple[Any, ...]:
    return (
        tx.status,
        tx.connector_id,
        tx.started_at,
        tx.stopped_at,
        tx.meter_start_wh,
        tx.meter_stop_wh,
        tx.energy_wh,
        tx.stop_reason,
        tx.id_tag,
        tx.charging_done_at,
        tx.seq_no_gaps,
    )


EXPECTED = (
    "completed",
    2,
    T0,
    T0 + timedelta(minutes=30),
    1_000,
    4_500,
    3_500,
    "EVDisconnected",
    "CARD1",
    T0 + timedelta(minutes=20),
    0,
)


async def test_every_arrival_order_gives_the_same_completed_transaction(db: Database) -> None:
    """2.0.1 E11/E12 replays: any order of Started/Updated/Ended gives the same final row."""
    await _setup(db)
    events = _session()
    for n, order in enumerate(((0, 1, 2, 3), (3, 2, 1, 0), (1, 3, 0, 2), (0, 3, 1, 2))):
        tx_id = f"tx-{n}"
        for index in order:
            moved = events[index]
            await _send(db, _event_copy(moved, tx_id))
        assert _final(await _tx(db, tx_id)) == EXPECTED, order


def _copy_details(details: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in details.items()}


def _event_copy(event: TransactionEvent, tx_id: str) -> TransactionEvent:
    return TransactionEvent(
        event_type=event.event_type,
        station_transaction_id=tx_id,
        seq_no=event.seq_no,
        timestamp=event.timestamp,
        trigger_reason=event.trigger_reason,
        details=_copy_details(event.details),
        samples=event.samples,
        offline=event.offline,
        charging_state=event.charging_state,
        id_token=event.id_token,
        id_token_type=event.id_token_type,
    )


async def test_repeated_event_is_stored_once_on_both_backends(db: Database) -> None:
    """The duplicate insert must not fail (nor abort a PostgreSQL transaction): the unit of
    work goes on and commits, and nothing is stored twice."""
    await _setup(db)
    first = await _send(db, _session()[0])
    again = await _send(db, _session()[0])
    await _send(db, _session()[1])
    repeat = await _send(db, _session()[1])
    assert first.recorded and not again.recorded and not repeat.recorded
    assert again.id_token_info == first.id_token_info
    assert first.id_token_info is not None
    assert first.id_token_info.status is AuthorizationStatus.ACCEPTED

    def stored(uow: SqlUnitOfWork) -> tuple[int, int]:
        tx = uow.transactions.by_station_transaction_id("CS1", "tx-1")
        assert tx is not None
        events = uow.transaction_events.for_transaction("CS1", "tx-1")
        return len(events), len(uow.meter_samples.for_transaction(tx.id))

    assert await db.read(stored) == (2, 2)


async def test_late_update_never_reopens_a_completed_transaction(db: Database) -> None:
    await _setup(db)
    started, periodic, _, ended = _session()
    for event in (started, ended, periodic):
        await _send(db, event)
    tx = await _tx(db)
    assert (tx.status, tx.stopped_at) == ("completed", T0 + timedelta(minutes=30))


async def test_station_transaction_ids_are_per_station_and_get_a_csms_transaction_id(
    db: Database,
) -> None:
    """transactionId is unique per station only; each row also gets the CSMS integer id."""
    await _setup(db)
    await db.write(lambda uow: add_charger(uow, charger_id="CS2", now=T0, password="pw-12345678"))
    await _send(db, _session()[0], charger="CS1")
    await _send(db, _event("Started", 0), charger="CS2")
    rows = await db.read(lambda uow: uow.transactions.list())
    assert sorted((r.charger_id, r.station_transaction_id) for r in rows) == [
        ("CS1", "tx-1"),
        ("CS2", "tx-1"),
    ]
    assert len({r.transaction_id for r in rows}) == 2


async def test_card_in_a_running_16_transaction_is_concurrent_tx_for_a_201_start(
    db: Database,
) -> None:
    """One domain: a card charging on a 1.6 charger is busy for a 2.0.1 station too."""
    await _setup(db)
    await db.write(
        lambda uow: start_transaction(
            uow,
            charger_id="CP16",
            connector_id=1,
            id_tag="CARD1",
            meter_start_wh=0,
            timestamp=T0,
            now=T0,
        )
    )
    outcome = await _send(db, _session()[0])
    assert outcome.id_token_info is not None
    assert outcome.id_token_info.status is AuthorizationStatus.CONCURRENT_TX
    assert (await _tx(db)).auth_status == "ConcurrentTx"


async def test_charging_done_is_reported_once(db: Database) -> None:
    """Issue point 5: the outcome says when the moment was recorded, so it is sent once."""
    await _setup(db)
    started, periodic, done, _ = _session()
    outcomes = [await _send(db, e) for e in (started, periodic, done)]
    again = await _send(
        db,
        _event(
            "Updated",
            4,
            minutes=25,
            charging_state="EVConnected",
            trigger_reason="ChargingStateChanged",
        ),
    )
    assert [o.charging_done for o in outcomes] == [False, False, True]
    assert not again.charging_done


async def test_meter_values_inside_a_running_transaction_need_no_select(
    sqlite_db: Database,
) -> None:
    """The hot path (make bench): an Updated with meter values in a known running transaction
    is one insert (the event with its meter values), no query."""
    await _setup(sqlite_db)
    await _send(sqlite_db, _session()[0])
    statements: list[str] = []
    engine = sqlite_db._sync_writer  # one connection: the one the next write uses
    assert engine is not None
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
    assert raw is not None
    raw.set_trace_callback(statements.append)  # every statement, SQLAlchemy's or not
    try:
        outcome = await _send(sqlite_db, _session()[1])
    finally:
        raw.set_trace_callback(None)
    assert outcome.recorded
    assert not [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    inserts = [s.split()[2] for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert inserts == ["transaction_events"]  # the event, its sample inside
    tx = await _tx(sqlite_db)
    assert len(await sqlite_db.read(lambda uow: uow.meter_samples.for_transaction(tx.id))) == 2


def test_energy_register_values_are_converted_to_wh() -> None:
    """2.0.1 UnitOfMeasureType: value × 10^multiplier, in Wh or kWh; others are no energy."""

    def sample(value: str, unit: str | None, multiplier: int | None = None) -> MeterSample:
        return MeterSample(T0, value, unit=unit, multiplier=multiplier)

    assert energy_wh(sample("1500", "Wh")) == 1500
    assert energy_wh(sample("1500.4", None)) == 1500
    assert energy_wh(sample("12.5", "kWh")) == 12_500
    assert energy_wh(sample("125", "kWh", -1)) == 12_500
    assert energy_wh(sample("15", "Wh", 3)) == 15_000
    assert energy_wh(sample("230", "V")) is None
    assert energy_wh(sample("NaN", "Wh")) is None


async def test_numbers_beyond_32_bits_do_not_lose_the_event(db: Database) -> None:
    """The 2.0.1 schema bounds none of evse.id, reservationId, remoteStartId: a station
    sending a huge one still gets its transaction stored (PostgreSQL refused the whole
    message before); the value stays in the stored event."""
    await _setup(db)
    event = TransactionEvent(
        event_type="Started",
        station_transaction_id="tx-big",
        seq_no=0,
        timestamp=T0,
        trigger_reason="CablePluggedIn",
        details={
            "evse": {"id": 1, "connectorId": 2**40},
            "reservationId": 2**40,
            "transactionInfo": {"transactionId": "tx-big", "remoteStartId": 2**35},
        },
    )
    await _send(db, event)
    tx = await _tx(db, "tx-big")
    assert tx.connector_id == 1
    assert tx.evse_connector_id is None and tx.reservation_id is None
    assert tx.remote_start_id is None
    stored = await db.read(lambda uow: uow.transaction_events.for_transaction("CS1", "tx-big"))
    assert stored[0].details is not None and stored[0].details["reservationId"] == 2**40
