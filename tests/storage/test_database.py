"""Database: units of work, group commit, failure isolation — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from storage.database import Database, normalize_url
from storage.errors import ConflictError, StorageUnavailable
from storage.records import ChargerRecord
from storage.sql.repositories import SqlUnitOfWork

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _add(charger_id: str):  # type: ignore[no-untyped-def]
    def run(uow: SqlUnitOfWork) -> str:
        uow.chargers.add(
            ChargerRecord(id=charger_id, registration_status="Accepted", created_at=NOW)
        )
        return charger_id

    return run


async def test_write_returns_result_after_commit_and_read_sees_it(db: Database) -> None:
    assert await db.write(_add("CP1")) == "CP1"
    charger = await db.read(lambda uow: uow.chargers.get("CP1"))
    assert charger is not None and charger.created_at == NOW


async def test_concurrent_writes_are_all_committed(db: Database) -> None:
    ids = [f"CP{i}" for i in range(200)]
    assert await asyncio.gather(*(db.write(_add(i)) for i in ids)) == ids
    chargers = await db.read(lambda uow: uow.chargers.list())
    assert sorted(c.id for c in chargers) == sorted(ids)


async def test_failing_unit_of_work_does_not_cost_the_others_their_data(db: Database) -> None:
    """A batch with one bad unit of work is retried one by one: the good ones commit."""
    await db.write(_add("DUP"))
    results = await asyncio.gather(
        db.write(_add("A")), db.write(_add("DUP")), db.write(_add("B")), return_exceptions=True
    )
    assert results[0] == "A" and results[2] == "B"
    assert isinstance(results[1], ConflictError)
    chargers = await db.read(lambda uow: uow.chargers.list())
    assert [c.id for c in chargers] == ["A", "B", "DUP"]


async def test_exception_in_unit_of_work_rolls_back_its_changes(db: Database) -> None:
    def half_done(uow: SqlUnitOfWork) -> None:
        _add("HALF")(uow)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await db.write(half_done)
    assert await db.read(lambda uow: uow.chargers.get("HALF")) is None


async def test_timestamps_come_back_timezone_aware_utc(db: Database) -> None:
    await db.write(_add("TZ"))
    charger = await db.read(lambda uow: uow.chargers.get("TZ"))
    assert charger is not None and charger.created_at.tzinfo is not None
    assert charger.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_unsupported_database_url_is_refused_with_what_to_use() -> None:
    with pytest.raises(StorageUnavailable, match="sqlite"):
        normalize_url("mysql://root@localhost/csms")


def test_plain_driver_urls_are_mapped_to_the_async_drivers() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"


async def test_transaction_key_seen_in_rolled_back_unit_of_work_is_not_cached(
    db: Database,
) -> None:
    """The hot-path cache may only hold committed facts (a rolled-back row id is reused)."""
    from csms.domain.charging.transactions import start_transaction

    await db.write(_add("CP1"))

    def start_and_look_up(uow: SqlUnitOfWork) -> int:
        result = start_transaction(
            uow,
            charger_id="CP1",
            connector_id=1,
            id_tag="T",
            meter_start_wh=0,
            timestamp=NOW,
            now=NOW,
        )
        assert uow.transactions.key_for(result.transaction_id) is not None
        return result.transaction_id

    def start_then_fail(uow: SqlUnitOfWork) -> None:
        start_and_look_up(uow)
        raise RuntimeError("after the lookup")

    with pytest.raises(RuntimeError):
        await db.write(start_then_fail)
    assert db.cache.transaction_keys == {}

    def start(uow: SqlUnitOfWork) -> int:
        return start_and_look_up(uow)

    transaction_id = await db.write(start)
    pk, charger_id = db.cache.transaction_keys[transaction_id]
    stored = await db.read(lambda uow: uow.transactions.by_transaction_id(transaction_id))
    assert stored is not None and (stored.id, stored.charger_id) == (pk, charger_id)


async def test_meter_samples_round_trip_every_field_and_exact_utc_time(db: Database) -> None:
    """The SQLite fast insert path must store what the SQLAlchemy path reads back."""
    from datetime import timedelta, timezone

    from storage.records import SampledValue

    await db.write(_add("CP1"))
    local = datetime(2026, 11, 22, 12, 0, 1, 123456, tzinfo=timezone(timedelta(hours=2)))
    sample = SampledValue(
        timestamp=local,
        value="230.5",
        measurand="Voltage",
        phase="L2-N",
        unit="V",
        context="Sample.Clock",
        location="Inlet",
        format="Raw",
        multiplier=-1,
        signed_meter_value='{"signedMeterData":"QUJD"}',
    )
    await db.write(
        lambda uow: uow.meter_samples.add_many(
            [sample],
            charger_id="CP1",
            connector_id=2,
            transaction_pk=None,
            reported_transaction_id=77,
            source="MeterValues",
            received_at=NOW,
        )
    )

    def stored(uow: SqlUnitOfWork) -> list[tuple[object, ...]]:
        from sqlalchemy import select

        from storage.sql.tables import meter_values

        return [tuple(row) for row in uow.conn.execute(select(meter_values))]

    (row,) = await db.read(stored)
    assert row[1:] == (
        "CP1",
        2,
        None,
        77,
        datetime(2026, 11, 22, 10, 0, 1, 123456, tzinfo=UTC),
        "230.5",
        "Voltage",
        "L2-N",
        "V",
        "Sample.Clock",
        "Inlet",
        "Raw",
        -1,
        row[14],  # the signed value, sealed: checked below
        "MeterValues",
        NOW,
    )
    # A signed value (OCMF names the session's identification, a card UID) is sealed at
    # rest and reads back verbatim.
    assert "signedMeterData" not in row[14]
    assert db.vault.open(row[14], "meter_values.signed_meter_value") == sample.signed_meter_value


async def test_sqlite_write_waits_for_another_writer_without_blocking_the_event_loop(
    sqlite_db: Database,
) -> None:
    """While another process holds SQLite's write lock, the commit waits in the writer
    thread: the event loop (every charger's connection) keeps running."""
    import sqlite3
    import time

    path = sqlite_db.url.database
    assert path is not None
    await sqlite_db.write(_add("WARM"))  # a running server has its connection open
    sqlite_db._inline_pause = 0  # the next commit is tried on the loop thread first
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the write lock
    write = asyncio.create_task(sqlite_db.write(_add("LOCKED")))
    ticks = 0
    started = time.perf_counter()
    while time.perf_counter() - started < 0.3:
        await asyncio.sleep(0.01)
        ticks += 1
    assert not write.done()
    assert ticks >= 10, "the event loop was blocked by the lock"
    other.execute("COMMIT")
    other.close()
    assert await asyncio.wait_for(write, 10) == "LOCKED"


async def test_sqlite_meter_values_wait_for_another_writer_too(sqlite_db: Database) -> None:
    """The meter value insert bypasses SQLAlchemy (sqlite3's own errors): a lock held by
    another process must still mean "wait in the writer thread", never a lost sample."""
    import sqlite3

    from storage.records import SampledValue

    path = sqlite_db.url.database
    assert path is not None
    await sqlite_db.write(_add("CP1"))
    sqlite_db._inline_pause = 0
    sample = SampledValue(
        NOW, "1234", "Energy.Active.Import.Register", None, "Wh", "Sample.Periodic", "Outlet", "Raw"
    )
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    write = asyncio.create_task(
        sqlite_db.write(
            lambda uow: uow.meter_samples.add_many(
                [sample],
                charger_id="CP1",
                connector_id=1,
                transaction_pk=None,
                reported_transaction_id=None,
                source="MeterValues",
                received_at=NOW,
            )
        )
    )
    await asyncio.sleep(0.2)
    assert not write.done(), "the write gave up instead of waiting for the lock"
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(write, 10)
    assert await sqlite_db.read(lambda uow: uow.meter_samples.count()) == 1


async def test_sqlite_slow_commits_move_to_the_writer_thread_but_one_slow_commit_does_not(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits run on the event loop while the disk is fast. One slow COMMIT (a WAL
    checkpoint) is absorbed; a disk that is slow every time sends the next batches to
    the writer thread, so the loop does not keep stalling."""
    commit_seconds = 0.0
    original = Database._sync_transaction

    def with_disk_delay(self: Database, run: Any, **kw: Any) -> Any:
        result = original(self, run, **kw)
        self._last_commit = commit_seconds  # what the COMMIT would have taken on that disk
        return result

    monkeypatch.setattr(Database, "_sync_transaction", with_disk_delay)
    sqlite_db._inline_pause = 0
    for name in ("A", "B", "C"):
        await sqlite_db.write(_add(name))
    commit_seconds = 0.5  # one checkpoint-sized stall
    await sqlite_db.write(_add("D"))
    commit_seconds = 0.0005
    await sqlite_db.write(_add("E"))
    assert sqlite_db._inline_pause == 0, "one slow commit moved the writes off the loop"
    commit_seconds = 0.05  # every commit slow from now on
    for name in ("F", "G", "H", "I", "J", "K"):
        await sqlite_db.write(_add(name))
        if sqlite_db._inline_pause:
            break
    assert sqlite_db._inline_pause > 0, "a slow disk kept stalling the event loop"
