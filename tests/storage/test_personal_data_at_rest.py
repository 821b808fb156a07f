"""Personal data never reaches the database in plain text (SPEC "Personal data").

A customer with every identity field, a card, a transaction started and stopped with that
card, a 2.0.1 TransactionEvent carrying it and an unreconciled message naming it are
written; then the raw SQLite files (database, WAL) and a ``pg_dump`` of the PostgreSQL
database are searched for each value. Each must be absent, while the same values read
back through the repositories.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.database import Database
from storage.sql.repositories import SqlUnitOfWork
from tests.personal_data import Person, write_person_everywhere
from tests.postgres import find_server_binaries

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
NAME = "Philippa Quartermaine-Zed"
EMAIL = "philippa.quartermaine@example.org"
PHONE = "+4915771234987"
ADDRESS = "Quellenweg 17, 12345 Zwieselstadt"
VEHICLE = "Zeekrmobil/Xylo/2024"
CARD_UID = "04A1B2C3D4E5F6"
PIN = "4826"
PASSWORD = "correct horse battery"

SECRETS = {
    "name": NAME,
    "email": EMAIL,
    "phone": PHONE,
    "address": ADDRESS,
    "vehicle make": "Zeekrmobil",
    "card UID": CARD_UID,
    "password": PASSWORD,
}


def _write_everything(uow: SqlUnitOfWork) -> int:
    person = Person(NAME, EMAIL, PHONE, ADDRESS, VEHICLE, CARD_UID, PIN, PASSWORD)
    customer = write_person_everywhere(
        uow, person, charger_id="CP-AT-REST", station_transaction_id="tx-1", now=NOW
    )
    return customer.customer_number


async def _written(db: Database) -> int:
    number = await db.write(_write_everything)

    def read_back(uow: SqlUnitOfWork) -> None:
        customer = uow.customers.by_email(EMAIL.upper())
        assert customer is not None and customer.customer_number == number
        assert (customer.name, customer.phone, customer.address) == (NAME, PHONE, ADDRESS)
        card = uow.id_tags.by_uid(CARD_UID)
        assert card is not None and card.customer_id == customer.id
        [tx] = uow.transactions.active_for_id_tag(CARD_UID) or uow.transactions.list()
        assert tx.id_tag == CARD_UID
        [event] = uow.transaction_events.for_transaction("CP-AT-REST", "tx-1")
        assert event.id_token == CARD_UID
        [message] = uow.unreconciled.list()
        assert message.payload["idTag"] == CARD_UID

    await db.read(read_back)
    return number


def _found_in(data: bytes) -> list[str]:
    text = data.decode("latin-1")
    return [what for what, value in SECRETS.items() if value in text or value.lower() in text]


async def test_sqlite_file_holds_no_identity_card_uid_or_password(sqlite_url: str) -> None:
    from storage.migrate import upgrade

    await asyncio.to_thread(upgrade, sqlite_url)
    db = Database(sqlite_url)
    try:
        await _written(db)
        path = Path(make_url(sqlite_url).database or "")
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert len(raw) > 10_000  # the data is there, in some form
        assert _found_in(raw) == []
    finally:
        await db.close()


def _pg_dump() -> str:
    found = shutil.which("pg_dump")
    if found:
        return found
    binaries = find_server_binaries()
    if binaries is None or not (binaries.bindir / "pg_dump").exists():
        pytest.fail("pg_dump not found: install PostgreSQL's client programs (postgresql-client)")
    return str(binaries.bindir / "pg_dump")


async def test_postgresql_dump_holds_no_identity_card_uid_or_password(postgres_url: str) -> None:
    from storage.migrate import upgrade

    await asyncio.to_thread(upgrade, postgres_url)
    db = Database(postgres_url)
    try:
        await _written(db)
    finally:
        await db.close()
    url = make_url(postgres_url).set(drivername="postgresql")
    dump = (
        await asyncio.to_thread(
            subprocess.run,
            [_pg_dump(), "--data-only", "--no-owner", url.render_as_string(hide_password=False)],
            capture_output=True,
            timeout=60,
            check=True,
        )
    ).stdout
    assert b"COPY public.customers" in dump  # the dump has the data
    assert _found_in(dump) == []


async def test_an_erased_customer_s_ciphertext_is_gone_from_the_sqlite_file(
    sqlite_url: str,
) -> None:
    """Erasure deletes the encrypted identity too: after a checkpoint the database file holds
    not even the ciphertext (``secure_delete=FAST``: the freed space in a rewritten page is
    overwritten, not left for a copy of the file to give away under a key that may still
    exist)."""
    from sqlalchemy import text

    from csms.domain.people.rights import erase_customer
    from storage.migrate import upgrade

    await asyncio.to_thread(upgrade, sqlite_url)
    db = Database(sqlite_url)
    try:
        number = await _written(db)
        tokens = await db.read(
            lambda uow: uow.conn.execute(
                text("SELECT name_enc, email_enc, phone_enc, address_enc FROM customers")
            ).one()
        )
        assert all(tokens)
        await db.write(lambda uow: erase_customer(uow, number, now=NOW))
        await db.write(
            lambda uow: uow.conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").close()
        )
        path = Path(make_url(sqlite_url).database or "")
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        stored = raw.decode("latin-1")
        # (the base64 body of each token: its key id prefix is in every other token too)
        assert [t for t in tokens if t.split(".", 1)[1][:40] in stored] == []
    finally:
        await db.close()
