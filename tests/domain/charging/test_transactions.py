"""Transactions in the domain: idempotent start and stop, nothing dropped.

Run on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from csms.domain.charging.authorization import authorize_id_tag
from csms.domain.charging.stations import add_charger
from csms.domain.charging.transactions import (
    MAX_TRANSACTION_ID,
    record_meter_values,
    start_transaction,
    stop_transaction,
)
from csms.domain.model import AuthorizationStatus, MeterSample
from storage.database import Database
from storage.sql.repositories import SqlUnitOfWork

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def _setup(db: Database, *chargers: str, card: str = "CARD1", **card_fields: object) -> None:
    def run(uow: SqlUnitOfWork) -> None:
        for charger_id in chargers:
            add_charger(uow, charger_id=charger_id, now=NOW, password="password-123")
        uow.id_tags.add(uid=card, status="active", created_at=NOW, **card_fields)  # type: ignore[arg-type]

    await db.write(run)


async def _start(db: Database, charger: str = "CP1", tag: str = "CARD1", meter: int = 1000, **kw):  # type: ignore[no-untyped-def]
    return await db.write(
        lambda uow: start_transaction(
            uow,
            charger_id=charger,
            connector_id=kw.get("connector", 1),
            id_tag=tag,
            meter_start_wh=meter,
            timestamp=kw.get("timestamp", NOW),
            now=NOW,
        )
    )


async def _stop(db: Database, transaction_id: int, meter: int, charger: str = "CP1", **kw):  # type: ignore[no-untyped-def]
    return await db.write(
        lambda uow: stop_transaction(
            uow,
            charger_id=charger,
            transaction_id=transaction_id,
            meter_stop_wh=meter,
            timestamp=NOW + timedelta(hours=1),
            now=NOW + timedelta(hours=1),
            reason=kw.get("reason"),
            id_tag=kw.get("id_tag"),
            samples=kw.get("samples", []),
            raw_payload={"transactionId": transaction_id, "meterStop": meter},
        )
    )


async def test_replayed_start_transaction_gets_same_id_and_creates_nothing(db: Database) -> None:
    """1.6 §4.8: a StartTransaction retried after a lost answer maps to the same transaction."""
    await _setup(db, "CP1")
    first = await _start(db)
    again = await _start(db)
    assert first.created and not again.created
    assert again.transaction_id == first.transaction_id
    assert again.id_token_info.status is AuthorizationStatus.ACCEPTED
    assert len(await db.read(lambda uow: uow.transactions.list())) == 1


async def test_transaction_ids_are_unique_positive_int32_and_not_sequential(db: Database) -> None:
    await _setup(db, "CP1", "CP2")
    ids = []
    for i in range(20):
        result = await _start(db, charger="CP1" if i % 2 else "CP2", meter=i, connector=i + 1)
        ids.append(result.transaction_id)
    assert len(set(ids)) == 20
    assert all(0 < i <= MAX_TRANSACTION_ID for i in ids)
    steps = {b - a for a, b in itertools.pairwise(ids)}
    assert steps != {1}


async def test_start_with_unknown_card_is_answered_invalid_and_kept(db: Database) -> None:
    """The charger may have started offline: the transaction is recorded whatever the status."""
    await _setup(db, "CP1")
    result = await _start(db, tag="UNKNOWN")
    assert result.id_token_info.status is AuthorizationStatus.INVALID
    tx = await db.read(lambda uow: uow.transactions.by_transaction_id(result.transaction_id))
    assert tx is not None and tx.status == "active" and tx.auth_status == "Invalid"


async def test_card_in_running_transaction_is_concurrent_tx(db: Database) -> None:
    await _setup(db, "CP1", "CP2")
    await _start(db, charger="CP1")
    second = await _start(db, charger="CP2")
    assert second.id_token_info.status is AuthorizationStatus.CONCURRENT_TX
    info = await db.read(lambda uow: authorize_id_tag(uow, "CARD1", now=NOW))
    assert info.status is AuthorizationStatus.CONCURRENT_TX


async def test_blocked_and_expired_cards(db: Database) -> None:
    await _setup(db, "CP1", card="BLOCKED")
    await db.write(lambda uow: uow.id_tags.update("BLOCKED", status="blocked"))
    await db.write(
        lambda uow: uow.id_tags.add(
            uid="OLD", status="active", created_at=NOW, expires_at=NOW - timedelta(days=1)
        )
    )
    blocked = await db.read(lambda uow: authorize_id_tag(uow, "BLOCKED", now=NOW))
    expired = await db.read(lambda uow: authorize_id_tag(uow, "OLD", now=NOW))
    assert blocked.status is AuthorizationStatus.BLOCKED
    assert expired.status is AuthorizationStatus.EXPIRED
    assert expired.expiry_date == NOW - timedelta(days=1)


async def test_stop_computes_energy_and_a_repeated_stop_counts_once(db: Database) -> None:
    await _setup(db, "CP1")
    started = await _start(db, meter=1000)
    first = await _stop(db, started.transaction_id, 8500, reason="EVDisconnected")
    repeat = await _stop(db, started.transaction_id, 9999, reason="Local")
    assert first.recorded and not repeat.recorded
    tx = await db.read(lambda uow: uow.transactions.by_transaction_id(started.transaction_id))
    assert tx is not None
    assert (tx.status, tx.energy_wh, tx.meter_stop_wh, tx.stop_reason) == (
        "completed",
        7500,
        8500,
        "EVDisconnected",
    )


async def test_stop_without_reason_records_local(db: Database) -> None:
    """1.6 §7.44: an absent reason means Local."""
    await _setup(db, "CP1")
    started = await _start(db)
    await _stop(db, started.transaction_id, 2000)
    tx = await db.read(lambda uow: uow.transactions.by_transaction_id(started.transaction_id))
    assert tx is not None and tx.stop_reason == "Local"


async def test_stop_for_unknown_or_minus_one_transaction_is_kept_for_reconciliation(
    db: Database,
) -> None:
    await _setup(db, "CP1")
    sample = MeterSample(timestamp=NOW, value="4242", context="Transaction.End")
    for tx_id in (-1, 123456):
        outcome = await _stop(db, tx_id, 5000, samples=[sample])
        assert outcome.transaction is None and outcome.recorded
    kept = await db.read(lambda uow: uow.unreconciled.list(charger_id="CP1"))
    assert [k.payload["transactionId"] for k in kept] == [-1, 123456]
    assert await db.read(lambda uow: uow.meter_samples.count()) == 2


async def test_stop_by_other_charger_does_not_touch_the_transaction(db: Database) -> None:
    await _setup(db, "CP1", "CP2")
    started = await _start(db, charger="CP1")
    await _stop(db, started.transaction_id, 5000, charger="CP2")
    tx = await db.read(lambda uow: uow.transactions.by_transaction_id(started.transaction_id))
    assert tx is not None and tx.status == "active"


async def test_meter_values_are_linked_to_their_transaction_with_every_field(db: Database) -> None:
    await _setup(db, "CP1")
    started = await _start(db)
    samples = [
        MeterSample(timestamp=NOW, value="1234.5", measurand="Energy.Active.Import.Register"),
        MeterSample(
            timestamp=NOW,
            value="230.1",
            measurand="Voltage",
            phase="L1-N",
            unit="V",
            context="Sample.Clock",
            location="Inlet",
        ),
    ]
    await db.write(
        lambda uow: record_meter_values(
            uow,
            charger_id="CP1",
            connector_id=1,
            transaction_id=started.transaction_id,
            samples=samples,
            now=NOW,
        )
    )
    tx = await db.read(lambda uow: uow.transactions.by_transaction_id(started.transaction_id))
    assert tx is not None
    stored = await db.read(lambda uow: uow.meter_samples.for_transaction(tx.id))
    assert [(s.value, s.measurand, s.phase, s.unit, s.context, s.location) for s in stored] == [
        ("1234.5", "Energy.Active.Import.Register", None, "Wh", "Sample.Periodic", "Outlet"),
        ("230.1", "Voltage", "L1-N", "V", "Sample.Clock", "Inlet"),
    ]


async def test_meter_values_outside_a_transaction_are_kept_on_the_connector(db: Database) -> None:
    await _setup(db, "CP1")
    await db.write(
        lambda uow: record_meter_values(
            uow,
            charger_id="CP1",
            connector_id=2,
            transaction_id=None,
            samples=[MeterSample(timestamp=NOW, value="1")],
            now=NOW,
        )
    )
    assert await db.read(lambda uow: uow.meter_samples.count()) == 1
