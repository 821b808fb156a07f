"""Issue 18 item 15: invoice numbers gapless per calendar year (UTC), ``2026-000001``,
taken in the commit that stores the invoice: no gap when a session is billed twice or a
commit is rolled back, no duplicate under concurrent billing on PostgreSQL; invoices of an
earlier version are numbered by the migration in creation order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from csms.domain.billing.tariffs import add_tariff, assign_tariff
from csms.domain.outbox_events import enqueue_session_completed
from notify.billing import bill_session
from storage.database import Database
from storage.migrate import upgrade
from storage.ports import UnitOfWork
from storage.records import ChargerRecord, TransactionRecord
from storage.sql.repositories import SqlUnitOfWork

T0 = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
NEW_YEAR = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)


def _prices(uow: UnitOfWork) -> None:
    uow.chargers.add(ChargerRecord(id="CP-N", registration_status="Accepted", created_at=T0))
    tariff = add_tariff(uow, name="n", per_kwh="0.30", now=T0)
    assign_tariff(uow, tariff.name, charger_id=None, now=T0)


def _session(uow: UnitOfWork, n: int) -> TransactionRecord:
    started = T0 + timedelta(hours=n + 1)
    tx = uow.transactions.add(
        TransactionRecord(
            id=0,
            transaction_id=1000 + n,
            charger_id="CP-N",
            connector_id=1,
            start_key=f"CP-N|{n}",
            started_at=started,
            stopped_at=started + timedelta(minutes=30),
            meter_start_wh=0,
            meter_stop_wh=5_000,
            energy_wh=5_000,
            status="completed",
            created_at=started,
            updated_at=started,
        )
    )
    enqueue_session_completed(uow, tx, now=started)
    return tx


def _priced_sessions(uow: UnitOfWork, count: int) -> list[int]:
    _prices(uow)
    return [_session(uow, n).id for n in range(count)]


def _bill(uow: UnitOfWork, tx_pk: int, now: datetime) -> str | None:
    """Bill session ``tx_pk`` at ``now``; the invoice's number."""
    [record] = [r for r in uow.outbox.list() if r.key == f"session.completed:{tx_pk}"]
    bill_session(uow, record, now, payments_enabled=False)
    invoice = uow.invoices.by_transaction(tx_pk)
    assert invoice is not None
    return invoice.number


async def test_invoice_numbers_run_per_calendar_year_without_gaps(db: Database) -> None:
    def run(uow: UnitOfWork) -> list[str | None]:
        _prices(uow)
        txs = [_session(uow, n) for n in range(4)]
        late = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
        return [
            _bill(uow, txs[0].id, late - timedelta(days=300)),
            _bill(uow, txs[1].id, late),
            _bill(uow, txs[1].id, late),  # billed again: the same invoice, no new number
            _bill(uow, txs[2].id, NEW_YEAR),
            _bill(uow, txs[3].id, NEW_YEAR + timedelta(hours=1)),
        ]

    assert await db.write(run) == [
        "2026-000001",
        "2026-000002",
        "2026-000002",
        "2027-000001",
        "2027-000002",
    ]
    shown = await db.read(lambda uow: [i.number for i in uow.invoices.list()])
    assert shown == ["2027-000002", "2027-000001", "2026-000002", "2026-000001"]


async def test_a_rolled_back_billing_gives_its_number_back(db: Database) -> None:
    txs = await db.write(lambda uow: _priced_sessions(uow, 2))

    def fails(uow: UnitOfWork) -> None:
        _bill(uow, txs[0], T0 + timedelta(days=1))
        raise RuntimeError("the commit never happens")

    with pytest.raises(RuntimeError):
        await db.write(fails)
    numbers = await db.write(
        lambda uow: [_bill(uow, pk, T0 + timedelta(days=1)) for pk in reversed(txs)]
    )
    assert numbers == ["2026-000001", "2026-000002"]


async def test_concurrent_billing_on_postgresql_numbers_every_invoice_once(
    postgres_url: str,
) -> None:
    """Four processes' worth of connections bill 60 sessions at once: the numbers are
    exactly 1 to 60, each once."""
    await asyncio.to_thread(upgrade, postgres_url)
    setup = Database(postgres_url)
    try:
        pks = await setup.write(lambda uow: _priced_sessions(uow, 60))
    finally:
        await setup.close()
    billers = [Database(postgres_url) for _ in range(4)]
    try:
        when = T0 + timedelta(days=2)
        numbers = await asyncio.gather(
            *(
                billers[i % len(billers)].write(lambda uow, pk=pk: _bill(uow, pk, when))
                for i, pk in enumerate(pks)
            )
        )
    finally:
        for biller in billers:
            await biller.close()
    assert sorted(n or "" for n in numbers) == [f"2026-{k:06d}" for k in range(1, 61)]


async def test_the_migration_numbers_existing_invoices_in_creation_order(
    database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, database_url, "0006")
    old = Database(database_url)
    created = [
        datetime(2026, 1, 2, 9, 0, tzinfo=UTC),  # invoice 1
        datetime(2025, 12, 31, 23, 0, tzinfo=UTC),  # invoice 2: the year before
        datetime(2026, 1, 1, 8, 0, tzinfo=UTC),  # invoice 3: before invoice 1
    ]

    def seed(uow: SqlUnitOfWork) -> None:
        conn = uow.conn
        conn.execute(
            text(
                "INSERT INTO chargers (id, registration_status, security_profile, created_at) "
                "VALUES ('CP-OLD', 'Accepted', 1, :t)"
            ),
            {"t": created[1]},
        )
        for n, at in enumerate(created, start=1):
            conn.execute(
                text(
                    "INSERT INTO transactions (transaction_id, charger_id, connector_id, "
                    "start_key, started_at, stopped_at, status, created_at, updated_at, offline) "
                    "VALUES (:n, 'CP-OLD', 1, :k, :t, :t, 'completed', :t, :t, :f)"
                ),
                {"n": n, "k": f"CP-OLD|{n}", "t": at, "f": False},
            )
            conn.execute(
                text(
                    "INSERT INTO invoices (transaction_pk, currency, lines, net_minor, tax_rate, "
                    "tax_minor, total_minor, payment_status, declines, created_at, updated_at) "
                    "SELECT id, 'EUR', :lines, 100, '0', 0, 100, 'paid', 0, :t, :t "
                    "FROM transactions WHERE transaction_id = :n"
                ),
                {"n": n, "t": at, "lines": "[]"},
            )

    await old.write(seed)
    await old.close()
    await asyncio.to_thread(upgrade, database_url)
    new = Database(database_url)
    try:
        numbers = await new.read(lambda uow: sorted((i.id, i.number) for i in uow.invoices.list()))
        assert numbers == [(1, "2026-000002"), (2, "2025-000001"), (3, "2026-000001")]

        def bill_another(uow: UnitOfWork) -> str | None:
            _prices(uow)
            return _bill(uow, _session(uow, 9).id, datetime(2026, 3, 1, tzinfo=UTC))

        assert await new.write(bill_another) == "2026-000003"
    finally:
        await new.close()
