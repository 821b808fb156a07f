"""Migrations build exactly the schema the code declares (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from storage.crypto import KeyRing
from storage.database import Database
from storage.migrate import head_revision, revision_of, upgrade
from storage.records import TransactionRecord
from storage.sql.repositories import SqlUnitOfWork
from storage.sql.tables import metadata


def _insert_old_charger(conn: Connection, when: datetime) -> None:
    """Charger CP-OLD, as an earlier schema version stored it."""
    conn.execute(
        text(
            "INSERT INTO chargers (id, registration_status, security_profile, created_at) "
            "VALUES ('CP-OLD', 'Accepted', 1, :t)"
        ),
        {"t": when},
    )


async def test_migrated_database_matches_the_table_definitions(db: Database) -> None:
    def differences(uow: SqlUnitOfWork) -> list[object]:
        conn: Connection = uow.conn
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    assert await db.read(differences) == []


async def test_migrated_database_is_at_the_head_revision(db: Database) -> None:
    assert await db.read(lambda uow: revision_of(uow.conn)) == head_revision() == "0013"


async def test_every_migration_replayed_builds_the_declared_schema(database_url: str) -> None:
    """A new database is built from the table definitions in one step; this replays the
    migrations one by one instead, as an existing database goes through them."""
    await asyncio.to_thread(upgrade, database_url, replay_migrations=True)
    replayed = Database(database_url)
    try:

        def differences(uow: SqlUnitOfWork) -> list[object]:
            context = MigrationContext.configure(uow.conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        assert await replayed.read(differences) == []
        assert await replayed.read(lambda uow: revision_of(uow.conn)) == head_revision()
    finally:
        await replayed.close()


async def test_personal_data_of_an_earlier_version_is_encrypted_by_the_upgrade(
    database_url: str,
) -> None:
    """0004: customers, cards and idTags stored in plain text before are encrypted (and
    found by keyed hash) after `csms db upgrade`; the 1.6 start key loses its idTag."""
    await asyncio.to_thread(upgrade, database_url, "0003")
    old = Database(database_url)
    when = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def seed(uow: SqlUnitOfWork) -> None:
        conn = uow.conn
        conn.execute(
            text(
                "INSERT INTO customers (customer_number, name, email, created_at) "
                "VALUES (12345678, 'Greta Old', 'greta@example.com', :t)"
            ),
            {"t": when},
        )
        conn.execute(
            text(
                "INSERT INTO id_tags (uid, customer_id, status, created_at) "
                "SELECT '04OLDCARD', id, 'active', :t FROM customers"
            ),
            {"t": when},
        )
        _insert_old_charger(conn, when)
        conn.execute(
            text(
                "INSERT INTO transactions (transaction_id, charger_id, connector_id, id_tag, "
                "customer_id, start_key, started_at, status, created_at, updated_at, offline) "
                "SELECT 77, 'CP-OLD', 1, '04OLDCARD', id, "
                "'CP-OLD|1|04OLDCARD|2026-01-05T12:00:00+00:00|100', :t, 'active', :t, :t, "
                ":f FROM customers"
            ),
            {"t": when, "f": False},
        )

    await old.write(seed)
    await old.close()
    keys = KeyRing([KeyRing.generate()])
    await asyncio.to_thread(upgrade, database_url, keys=keys)
    new = Database(database_url, keys=keys)
    try:

        def check(uow: SqlUnitOfWork) -> None:
            customer = uow.customers.by_email("GRETA@example.com")
            assert customer is not None and customer.name == "Greta Old"
            card = uow.id_tags.by_uid("04OLDCARD")
            assert card is not None and card.customer_id == customer.id
            (tx,) = uow.transactions.active_for_id_tag("04OLDCARD")
            assert tx.id_tag == "04OLDCARD"
            assert tx.start_key == "CP-OLD|1|2026-01-05T12:00:00+00:00|100"

        await new.read(check)
    finally:
        await new.close()


async def test_upgrade_of_plain_text_personal_data_without_keys_is_refused(
    sqlite_url: str,
) -> None:
    await asyncio.to_thread(upgrade, sqlite_url, "0003")
    old = Database(sqlite_url)
    await old.write(
        lambda uow: uow.conn.execute(
            text(
                "INSERT INTO customers (customer_number, name, email, created_at) "
                "VALUES (12345678, 'Greta Old', 'greta@example.com', '2026-01-05 12:00:00')"
            )
        )
    )
    await old.close()
    with pytest.raises(RuntimeError, match="csms db upgrade"):
        await asyncio.to_thread(upgrade, sqlite_url)


async def test_charger_events_of_an_earlier_version_are_encrypted_by_the_upgrade(
    database_url: str,
) -> None:
    """0005: what stations reported (a NotifyCustomerInformation naming a customer) was kept
    in plain text before; after `csms db upgrade` it is encrypted and still reads back."""
    await asyncio.to_thread(upgrade, database_url, "0004", keys=KeyRing([KeyRing.generate()]))
    old = Database(database_url)
    await old.write(
        lambda uow: uow.conn.execute(
            text(
                "INSERT INTO charger_events (charger_id, kind, payload, received_at) "
                "VALUES ('CP-OLD', 'NotifyCustomerInformation', :p, :t)"
            ),
            {"p": '{"data": "Greta Old, card 04OLDCARD"}', "t": datetime(2026, 1, 5, tzinfo=UTC)},
        )
    )
    await old.close()
    keys = KeyRing([KeyRing.generate()])
    await asyncio.to_thread(upgrade, database_url, keys=keys)
    new = Database(database_url, keys=keys)
    try:
        raw = await new.read(
            lambda uow: uow.conn.execute(text("SELECT payload FROM charger_events")).scalar()
        )
        assert "Greta" not in str(raw) and "encrypted" in str(raw)
        [event] = await new.read(lambda uow: uow.charger_events.list("CP-OLD"))
        assert event.payload == {"data": "Greta Old, card 04OLDCARD"}
    finally:
        await new.close()


async def test_signed_meter_values_of_an_earlier_version_are_encrypted_by_the_upgrade(
    database_url: str,
) -> None:
    """0006: signed meter values (OCMF names the card) kept in plain text before, in
    meter_values and in a TransactionEvent's samples, are encrypted and read back."""
    keys = KeyRing([KeyRing.generate()])
    await asyncio.to_thread(upgrade, database_url, "0005", keys=keys)
    old = Database(database_url)
    when = datetime(2026, 1, 5, tzinfo=UTC)
    signed = '{"signedMeterData": "OCMF|{\\"ID\\":\\"04OLDCARD\\"}|{}"}'
    sample = ["2026-01-05T00:00:00+00:00", "5", "Energy.Active.Import.Register", None, "Wh"]
    samples = json.dumps([[*sample, None, None, None, None, signed]])

    def seed(uow: SqlUnitOfWork) -> None:
        conn = uow.conn
        _insert_old_charger(conn, when)
        conn.execute(
            text(
                "INSERT INTO transactions (transaction_id, charger_id, connector_id, start_key, "
                "started_at, status, created_at, updated_at, offline, station_transaction_id) "
                "VALUES (77, 'CP-OLD', 1, 'CP-OLD|2.0.1|old', :t, 'active', :t, :t, :f, 'old')"
            ),
            {"t": when, "f": False},
        )
        conn.execute(
            text(
                "INSERT INTO meter_values (charger_id, connector_id, transaction_pk, timestamp, "
                "value, measurand, signed_meter_value, source, received_at) "
                "SELECT 'CP-OLD', 1, id, :t, '5', 'Energy.Active.Import.Register', :s, "
                "'MeterValues', :t FROM transactions"
            ),
            {"t": when, "s": signed},
        )
        conn.execute(
            text(
                "INSERT INTO transaction_events (charger_id, station_transaction_id, seq_no, "
                "transaction_pk, event_type, trigger_reason, timestamp, offline, samples, "
                "received_at) SELECT 'CP-OLD', 'old', 0, id, 'Started', 'Authorized', :t, :f, "
                ":s, :t FROM transactions"
            ),
            {"t": when, "f": False, "s": samples},
        )

    await old.write(seed)
    await old.close()
    await asyncio.to_thread(upgrade, database_url, keys=keys)
    new = Database(database_url, keys=keys)
    try:
        raw = await new.read(
            lambda uow: [
                str(v)
                for v in uow.conn.execute(
                    text(
                        "SELECT signed_meter_value FROM meter_values UNION ALL "
                        "SELECT samples FROM transaction_events"
                    )
                ).scalars()
            ]
        )
        assert len(raw) == 2 and not [v for v in raw if "04OLDCARD" in v]
        [tx] = await new.read(lambda uow: uow.transactions.list())
        values = await new.read(lambda uow: uow.meter_samples.for_transaction(tx.id))
        assert [v.signed_meter_value for v in values] == [signed, signed]
    finally:
        await new.close()


async def test_long_lived_app_tokens_are_retired_by_the_upgrade_and_still_stop_their_session(
    database_url: str,
) -> None:
    """0013 (issue 13 point 6): a customer's app token of before, valid for ever, no
    longer starts anything; the session it started still stops with it."""
    from csms.domain.charging.authorization import authorize_id_tag

    keys = KeyRing([KeyRing.generate()])
    await asyncio.to_thread(upgrade, database_url, "0012", keys=keys)
    old = Database(database_url, keys=keys)
    when = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def seed(uow: SqlUnitOfWork) -> None:
        _insert_old_charger(uow.conn, when)
        for uid in ("APPOLDTOKEN000000001", "APPOLDTOKEN000000002"):
            uow.id_tags.add(uid=uid, status="active", created_at=when, kind="app")
        uow.id_tags.add(uid="04CARD", status="active", created_at=when)
        uow.transactions.add(
            TransactionRecord(
                id=0,
                transaction_id=77,
                charger_id="CP-OLD",
                connector_id=1,
                id_tag="APPOLDTOKEN000000001",
                auth_method="app",
                start_key="CP-OLD|1|k",
                meter_start_wh=100,
                started_at=when,
                status="active",
                created_at=when,
                updated_at=when,
            )
        )

    await old.write(seed)
    await old.close()
    await asyncio.to_thread(upgrade, database_url, keys=keys)
    new = Database(database_url, keys=keys)
    try:
        later = datetime.now(UTC)

        def check(uow: SqlUnitOfWork) -> None:
            running, idle = (
                uow.id_tags.by_uid("APPOLDTOKEN000000001"),
                uow.id_tags.by_uid("APPOLDTOKEN000000002"),
            )
            assert running is not None and idle is not None
            assert running.used_at is not None and running.expires_at is not None
            assert authorize_id_tag(uow, idle.uid, now=later).status.value == "Invalid"
            tx = uow.transactions.by_transaction_id(77)
            assert tx is not None
            stop = authorize_id_tag(uow, running.uid, now=later, exclude_transaction_pk=tx.id)
            assert stop.status.value == "Accepted"
            card = uow.id_tags.by_uid("04CARD")
            assert card is not None and card.expires_at is None and card.used_at is None

        await new.read(check)
    finally:
        await new.close()
