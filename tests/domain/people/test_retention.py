"""Retention (SPEC "Personal data"): what a run deletes and keeps, exactly at the limits,
on SQLite and PostgreSQL; and the server's daily run."""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from csms.config import Settings
from csms.domain.people.customers import add_customer
from csms.domain.people.retention import run_retention, run_retention_and_vacuum, years_before
from csms.domain.people.rights import erase_customer
from csms.server import running_server
from storage.database import Database
from storage.migrate import upgrade
from storage.records import (
    ChargerEventRecord,
    ChargerRecord,
    TransactionRecord,
    UnreconciledRecord,
)
from storage.sql.repositories import SqlUnitOfWork

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
ADDRESS_LIMIT = NOW - timedelta(days=21)
SESSION_LIMIT = datetime(2019, 11, 22, 10, 0, tzinfo=UTC)  # 7 years before NOW


def _charger(uow: SqlUnitOfWork, charger_id: str = "CP1") -> None:
    uow.chargers.add(
        ChargerRecord(id=charger_id, registration_status="Accepted", created_at=NOW - 3650 * DAY)
    )


def _session(
    uow: SqlUnitOfWork,
    *,
    key: str,
    customer_id: int | None,
    started_at: datetime,
    stopped_at: datetime | None,
    id_tag: str = "CARD-R",
) -> int:
    tx = uow.transactions.add(
        TransactionRecord(
            id=0,
            transaction_id=zlib.crc32(key.encode()) % 2_000_000_000,
            charger_id="CP1",
            connector_id=1,
            start_key=f"CP1|{key}",
            started_at=started_at,
            meter_start_wh=0,
            status="completed" if stopped_at is not None else "active",
            created_at=started_at,
            updated_at=stopped_at or started_at,
            stopped_at=stopped_at,
            meter_stop_wh=5000 if stopped_at is not None else None,
            energy_wh=5000 if stopped_at is not None else None,
            id_tag=id_tag,
            stop_id_tag=id_tag if stopped_at is not None else None,
            customer_id=customer_id,
            auth_method="card",
        )
    )
    return tx.id


def test_years_before_keeps_the_calendar_date() -> None:
    assert years_before(NOW, 7) == SESSION_LIMIT
    assert years_before(datetime(2028, 2, 29, 12, tzinfo=UTC), 1) == datetime(
        2027, 2, 28, 12, tzinfo=UTC
    )


async def test_connection_addresses_are_kept_21_days_to_the_second(db: Database) -> None:
    def seed(uow: SqlUnitOfWork) -> None:
        for charger, when in (
            ("OLD", ADDRESS_LIMIT - SECOND),
            ("EDGE", ADDRESS_LIMIT),
            ("NEW", NOW - DAY),
        ):
            uow.connection_log.add(
                charger_id=charger, remote_address="192.0.2.7", connected_at=when
            )

    await db.write(seed)
    report = await db.write(lambda uow: run_retention(uow, now=NOW, retention_years=7))
    assert report.connection_log_deleted == 1
    kept = await db.read(lambda uow: uow.connection_log.list())
    assert sorted(r.charger_id for r in kept) == ["EDGE", "NEW"]


async def test_app_login_addresses_cleared_after_21_days_and_expired_logins_deleted(
    db: Database,
) -> None:
    def seed(uow: SqlUnitOfWork) -> int:
        customer = add_customer(uow, name="Ret Ention", email="ret@example.com", now=NOW)
        for token, created, expires in (
            ("old-address", ADDRESS_LIMIT - SECOND, NOW + DAY),
            ("edge-address", ADDRESS_LIMIT, NOW + DAY),
            ("expired", NOW - DAY, NOW - SECOND),
            ("expires-now", NOW - DAY, NOW),
        ):
            uow.customer_tokens.add(
                customer_id=customer.id,
                token_hash=token,
                created_at=created,
                expires_at=expires,
                created_ip="198.51.100.9",
            )
        return customer.id

    customer_id = await db.write(seed)
    report = await db.write(lambda uow: run_retention(uow, now=NOW, retention_years=7))
    assert (report.app_logins_deleted, report.login_addresses_cleared) == (1, 1)
    logins = await db.read(lambda uow: uow.customer_tokens.list(customer_id))
    assert {t.token_hash: t.created_ip for t in logins} == {
        "old-address": None,
        "edge-address": "198.51.100.9",
        "expires-now": "198.51.100.9",
    }


async def test_login_tokens_are_deleted_a_day_after_they_expired_cards_never(
    db: Database,
) -> None:
    def seed(uow: SqlUnitOfWork) -> None:
        for uid, kind, expires in (
            ("LOGIN-OLD", "login", NOW - DAY - SECOND),
            ("LOGIN-EDGE", "login", NOW - DAY),
            ("LOGIN-FRESH", "login", NOW + DAY),
            ("CARD-EXPIRED", "card", NOW - 400 * DAY),
        ):
            uow.id_tags.add(
                uid=uid, status="active", created_at=NOW - 500 * DAY, expires_at=expires, kind=kind
            )

    await db.write(seed)
    report = await db.write(lambda uow: run_retention(uow, now=NOW, retention_years=7))
    assert report.login_tokens_deleted == 1
    left = await db.read(lambda uow: uow.id_tags.list(kind=None))
    assert [t.uid for t in left] == ["CARD-EXPIRED", "LOGIN-EDGE", "LOGIN-FRESH"]


async def test_expired_login_token_of_a_session_still_running_is_kept_until_it_ends(
    db: Database,
) -> None:
    """The charger stops a session with the idTag that started it (1.6 §4.10): a login
    token is kept while its session runs, however long ago it expired."""

    def seed(uow: SqlUnitOfWork) -> int:
        _charger(uow)
        uow.id_tags.add(
            uid="LOGIN-LONG",
            status="active",
            created_at=NOW - 3 * DAY,
            expires_at=NOW - 2 * DAY,
            kind="login",
        )
        return _session(
            uow,
            key="long",
            customer_id=None,
            started_at=NOW - 2 * DAY,
            stopped_at=None,
            id_tag="LOGIN-LONG",
        )

    pk = await db.write(seed)
    report = await db.write(lambda uow: run_retention(uow, now=NOW, retention_years=7))
    assert report.login_tokens_deleted == 0
    assert await db.read(lambda uow: uow.id_tags.by_uid("LOGIN-LONG")) is not None
    await db.write(lambda uow: uow.transactions.update(pk, status="completed", stopped_at=NOW))
    report = await db.write(lambda uow: run_retention(uow, now=NOW, retention_years=7))
    assert report.login_tokens_deleted == 1
    assert await db.read(lambda uow: uow.id_tags.by_uid("LOGIN-LONG")) is None


async def test_sessions_past_the_retention_years_lose_their_link_to_a_person(
    db: Database,
) -> None:
    def seed(uow: SqlUnitOfWork) -> dict[str, int]:
        _charger(uow)
        customer = add_customer(uow, name="Old Timer", email="old@example.com", now=NOW)
        ids = {
            "old": _session(
                uow,
                key="old",
                customer_id=customer.id,
                started_at=SESSION_LIMIT - DAY,
                stopped_at=SESSION_LIMIT - SECOND,
            ),
            "edge": _session(
                uow,
                key="edge",
                customer_id=customer.id,
                started_at=SESSION_LIMIT - DAY,
                stopped_at=SESSION_LIMIT,
            ),
            "running": _session(
                uow,
                key="running",
                customer_id=customer.id,
                started_at=SESSION_LIMIT - 30 * DAY,
                stopped_at=None,
                id_tag="CARD-RUN",
            ),
        }
        return ids

    ids = await db.write(seed)
    report = await db.write(lambda uow: run_retention(uow, now=NOW, retention_years=7))
    assert report.sessions_anonymized == 1
    assert report.session_cutoff == SESSION_LIMIT

    def read(uow: SqlUnitOfWork) -> dict[str, TransactionRecord]:
        found = {name: uow.transactions.by_pk(pk) for name, pk in ids.items()}
        return {name: tx for name, tx in found.items() if tx is not None}

    sessions = await db.read(read)
    old = sessions["old"]
    assert (old.customer_id, old.id_tag, old.stop_id_tag) == (None, None, None)
    assert (old.energy_wh, old.stopped_at) == (5000, SESSION_LIMIT - SECOND)  # the books stay
    assert sessions["edge"].customer_id is not None and sessions["edge"].id_tag == "CARD-R"
    assert sessions["running"].customer_id is not None  # never while it runs
    again = await db.write(lambda uow: run_retention(uow, now=NOW, retention_years=7))
    assert sum(again.counts().values()) == 0


async def test_retention_years_is_the_configured_number(db: Database) -> None:
    def seed(uow: SqlUnitOfWork) -> None:
        _charger(uow)
        customer = add_customer(uow, name="Two Years", email="two@example.com", now=NOW)
        ended = years_before(NOW, 2) - SECOND
        _session(uow, key="two", customer_id=customer.id, started_at=ended, stopped_at=ended)

    await db.write(seed)
    seven = await db.write(lambda uow: run_retention(uow, now=NOW, retention_years=7))
    assert seven.sessions_anonymized == 0
    two = await db.write(lambda uow: run_retention(uow, now=NOW, retention_years=2))
    assert two.sessions_anonymized == 1


async def _seeded_home(settings: Settings) -> None:
    """The server's database, migrated, with a charger connection 30 days old."""
    await asyncio.to_thread(upgrade, settings.database.url, keys=settings.key_ring())
    database = Database(settings.database.url, keys=settings.key_ring())
    long_ago = datetime.now(UTC) - timedelta(days=30)
    try:
        await database.write(
            lambda uow: uow.connection_log.add(
                charger_id="CP-OLD", remote_address="192.0.2.1", connected_at=long_ago
            )
        )
    finally:
        await database.close()


async def _wait_for(check: Callable[[], bool], *, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_server_runs_retention_shortly_after_start(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    await _seeded_home(settings)
    async with running_server(settings, retention_first_delay=0.05) as server:
        await _wait_for(lambda: server.last_retention is not None)
        assert server.last_retention is not None
        assert server.last_retention.connection_log_deleted == 1
        assert server.db is not None
        assert await server.db.read(lambda uow: uow.connection_log.list()) == []


async def test_failed_retention_run_is_logged_and_the_server_keeps_serving(
    settings_factory: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    # 0 years cannot be configured (CSMS_RETENTION_YEARS must be positive): the run fails.
    settings = settings_factory(retention_years=0)
    caplog.set_level(logging.ERROR, logger="csms.server")
    async with running_server(
        settings, retention_first_delay=0.01, retention_interval=0.05
    ) as server:
        await _wait_for(lambda: len(_failures(caplog.records)) >= 2)
        async with httpx.AsyncClient() as client:
            health = await client.get(f"{server.api_url}/api/health")
        assert health.status_code == 200
    assert server.last_retention is None


def _failures(records: list[Any]) -> list[Any]:
    return [r for r in records if r.getMessage().startswith("retention run failed")]


# -- events (issue 13 point 6) ----------------------------------------------------------

EVENT_LIMIT = NOW - timedelta(days=180)


async def test_events_and_unreconciled_messages_are_kept_180_days_to_the_second(
    db: Database,
) -> None:
    """Security events, charger events and unreconciled messages (resolved or not) older
    than CSMS_EVENT_RETENTION_DAYS (default 180) are deleted; at the limit they stay."""

    def seed(uow: SqlUnitOfWork) -> None:
        for name, when in (("old", EVENT_LIMIT - SECOND), ("edge", EVENT_LIMIT), ("new", NOW)):
            uow.security_events.add(kind=name, details={}, created_at=when)
            uow.charger_events.add(
                ChargerEventRecord(charger_id="CP1", kind=name, payload={}, received_at=when)
            )
            for resolved in (None, when):
                uow.unreconciled.add(
                    UnreconciledRecord(
                        charger_id="CP1",
                        action=name,
                        reason="no such transaction",
                        payload={"idTag": "04SECRET"},
                        received_at=when,
                        resolved_at=resolved,
                    )
                )

    await db.write(seed)
    report = await db.write(lambda uow: run_retention(uow, now=NOW, retention_years=7))
    assert report.event_cutoff == EVENT_LIMIT
    assert (
        report.security_events_deleted,
        report.charger_events_deleted,
        report.unreconciled_deleted,
    ) == (1, 1, 2)

    def kept(uow: SqlUnitOfWork) -> tuple[list[str], list[str], list[str]]:
        return (
            sorted(e.kind for e in uow.security_events.list()),
            sorted(e.kind for e in uow.charger_events.list("CP1")),
            sorted({m.action for m in uow.unreconciled.list()}),
        )

    assert await db.read(kept) == (["edge", "new"], ["edge", "new"], ["edge", "new"])


async def test_the_event_period_is_configurable(db: Database) -> None:
    await db.write(
        lambda uow: uow.security_events.add(kind="k", details={}, created_at=NOW - 8 * DAY)
    )
    week = await db.write(
        lambda uow: run_retention(uow, now=NOW, retention_years=7, event_retention_days=7)
    )
    assert week.security_events_deleted == 1
    with pytest.raises(ValueError, match="event_retention_days"):
        await db.write(
            lambda uow: run_retention(uow, now=NOW, retention_years=7, event_retention_days=0)
        )


async def test_the_server_deletes_events_past_csms_event_retention_days(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(event_retention_days=30)
    await _seeded_home(settings)
    database = Database(settings.database.url, keys=settings.key_ring())
    try:
        old = datetime.now(UTC) - 31 * DAY
        await database.write(
            lambda uow: uow.security_events.add(kind="old", details={}, created_at=old)
        )
    finally:
        await database.close()
    async with running_server(settings, retention_first_delay=0.05) as server:
        await _wait_for(lambda: server.last_retention is not None)
        assert server.last_retention is not None
        assert server.last_retention.security_events_deleted == 1


# -- VACUUM after erasure (issue 13 point 6) --------------------------------------------------


async def test_vacuum_refuses_a_name_that_is_not_a_csms_table(db: Database) -> None:
    with pytest.raises(ValueError, match="not a csms table"):
        await db.vacuum(["customers; DROP TABLE customers"])


async def test_on_sqlite_nothing_is_vacuumed_secure_delete_overwrites_instead(
    sqlite_db: Database,
) -> None:
    report = await run_retention_and_vacuum(sqlite_db, now=NOW, retention_years=7)
    assert report.vacuumed == ()


def _tuples_holding(conn: Any, table: str, needle: bytes) -> int:
    """How many tuples (live or dead) in ``table``'s heap pages hold ``needle`` in their
    data, read straight from the pages with pageinspect."""
    pages = conn.exec_driver_sql(
        f"SELECT pg_relation_size('{table}') / current_setting('block_size')::int"
    ).scalar()
    found = 0
    for page in range(int(pages)):
        found += conn.execute(
            text(
                f"SELECT count(*) FROM heap_page_items(get_raw_page('{table}', {page})) "
                "WHERE t_data IS NOT NULL AND position(CAST(:n AS bytea) IN t_data) > 0"
            ),
            {"n": needle},
        ).scalar()
    return found


async def test_after_an_erasure_the_retention_run_leaves_no_old_row_with_its_ciphertext(
    postgres_url: str,
) -> None:
    """PostgreSQL keeps the version of a row an UPDATE or DELETE replaced as a dead tuple
    in the table's page, ciphertext and all, until a VACUUM prunes it. After an erasure
    the retention run VACUUMs: no tuple of the table's pages holds the erased
    ciphertext afterwards (pageinspect reads the pages themselves)."""
    await asyncio.to_thread(upgrade, postgres_url)
    db = Database(postgres_url)
    try:

        def has_pageinspect(uow: SqlUnitOfWork) -> bool:
            conn = uow.conn
            available = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'pageinspect'"
            ).scalar()
            return bool(available)

        if not await db.read(has_pageinspect):
            pytest.skip("the PostgreSQL server has no pageinspect extension (contrib)")
        await db.write(
            lambda uow: uow.conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pageinspect")
        )
        # No autovacuum in between: the dead tuples stay until the retention run's VACUUM.
        for table in ("customers", "id_tags"):
            await db.write(
                lambda uow, table=table: uow.conn.exec_driver_sql(
                    f"ALTER TABLE {table} SET (autovacuum_enabled = false)"
                )
            )

        def seed(uow: SqlUnitOfWork) -> tuple[int, bytes, bytes]:
            customer = add_customer(
                uow, name="Vera Vacuum", email="vera@example.com", phone="+4930999000", now=NOW
            )
            uow.id_tags.add(
                uid="04VACUUM0001", status="active", created_at=NOW, customer_id=customer.id
            )
            row = uow.conn.exec_driver_sql(
                f"SELECT name_enc FROM customers WHERE id = {customer.id}"
            ).one()
            tag = uow.conn.exec_driver_sql(
                f"SELECT uid_enc FROM id_tags WHERE customer_id = {customer.id}"
            ).one()
            return customer.customer_number, row[0].encode(), tag[0].encode()

        number, name_ciphertext, uid_ciphertext = await db.write(seed)
        await db.write(lambda uow: erase_customer(uow, number, now=NOW))

        def holding(uow: SqlUnitOfWork) -> tuple[int, int]:
            return (
                _tuples_holding(uow.conn, "customers", name_ciphertext),
                _tuples_holding(uow.conn, "id_tags", uid_ciphertext),
            )

        # Erased, yet the old row versions are still in the pages: what VACUUM is for.
        assert await db.read(holding) == (1, 1)
        report = await run_retention_and_vacuum(db, now=NOW, retention_years=7)
        assert {"customers", "id_tags", "transactions", "payment_methods"} <= set(report.vacuumed)
        assert await db.read(holding) == (0, 0)
    finally:
        await db.close()
