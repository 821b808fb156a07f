"""Data key rotation and retirement on SQLite and PostgreSQL: every encrypted table is
re-encrypted, lookups by keyed hash keep working, a key is retired only once unused."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from csms.domain.errors import NotFound
from csms.domain.security.key_rotation import (
    KeyChangeRefused,
    count_values_by_key,
    key_usage,
    retire_data_key,
    rotate_data_keys,
)
from storage.crypto import DataKey, KeyRing, load_key_ring, save_key_ring
from storage.database import Database
from storage.sql.repositories import SqlUnitOfWork
from tests.personal_data import Person, write_person_everywhere

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
OLD = DataKey("old", bytes(range(32)))
NEWER = DataKey("newer", bytes(range(32, 64)))
NAME = "Ottilie Rotationsfeld"
EMAIL = "ottilie.rotation@example.org"
PHONE = "+4915770001122"
ADDRESS = "Schlüsselgasse 3, 10115 Berlin"
VEHICLE = "Rotamobil/Kreis/2023"
CARD = "04ROTATE0001"
PIN = "4826"
#: Values under one key after _write_everything: customers 6 encrypted fields + 2 keyed
#: hashes, id_tags uid + hash, transactions id_tag + hash + stop id_tag, one
#: TransactionEvent idToken and its sealed samples (a signed value), a signed 1.6 meter
#: value, one unreconciled payload, one charger event payload, a payment card's token and
#: processor customer reference.
STORED_VALUES = 8 + 2 + 3 + 2 + 1 + 1 + 1 + 2
TABLES = {
    "customers": 1,
    "id_tags": 1,
    "transactions": 1,
    "transaction_events": 1,
    "meter_values": 1,
    "unreconciled_messages": 1,
    "charger_events": 1,
    "payment_methods": 1,
    "chargers": 0,
}


PERSON = Person(NAME, EMAIL, PHONE, ADDRESS, VEHICLE, CARD, PIN)


def _write_everything(uow: SqlUnitOfWork) -> None:
    write_person_everywhere(
        uow, PERSON, charger_id="CP-ROT", station_transaction_id="rot-1", now=NOW
    )


def _everything_reads_back(uow: SqlUnitOfWork) -> None:
    """Every value decrypts and every keyed-hash lookup finds its row."""
    customer = uow.customers.by_email(EMAIL)
    assert customer is not None and uow.customers.by_phone(PHONE) == customer
    assert (customer.name, customer.address, customer.vehicle) == (NAME, ADDRESS, VEHICLE)
    assert customer.pin_hash is not None
    card = uow.id_tags.by_uid(CARD)
    assert card is not None and card.customer_id == customer.id
    [tx] = uow.transactions.active_for_id_tag(CARD)
    assert (tx.id_tag, tx.stop_id_tag) == (CARD, CARD)
    [event] = uow.transaction_events.for_transaction("CP-ROT", "rot-1")
    assert event.id_token == CARD
    [message] = uow.unreconciled.list()
    assert message.payload == {"transactionId": 99, "idTag": CARD}
    signed = [s.signed_meter_value for s in uow.meter_samples.for_transaction(tx.id)]
    assert len(signed) == 2 and all(v is not None and CARD in v for v in signed)
    [report] = uow.charger_events.list("CP-ROT")
    assert NAME in report.payload["data"] and CARD in report.payload["data"]
    [payment_card] = uow.payment_methods.list(customer.id)
    assert (payment_card.token, payment_card.customer_ref) == (
        PERSON.payment_token,
        PERSON.processor_customer,
    )


async def _usage(db: Database) -> dict[str, int]:
    ids = db.vault.ring.key_ids
    counts, unknown = await db.read(lambda uow: count_values_by_key(uow, ids))
    assert unknown == 0
    return dict(counts)


@pytest.fixture
async def old_data(db: Database, tmp_path: Path) -> Database:
    """Everything written under key ``old``, which is also in ``tmp_path/data.keys``."""
    db.set_keys(KeyRing([OLD]))
    save_key_ring(KeyRing([OLD]), tmp_path)
    await db.write(_write_everything)
    return db


async def test_values_are_counted_per_key_in_every_encrypted_column(old_data: Database) -> None:
    assert await _usage(old_data) == {"old": STORED_VALUES}


async def test_rotation_reencrypts_every_table_and_retiring_the_old_key_loses_nothing(
    old_data: Database, tmp_path: Path
) -> None:
    db = old_data
    report = await rotate_data_keys(db, home=tmp_path, keys_from_environment=False, now=NOW)
    new_id = report.new_key_id
    assert new_id is not None and report.key_ids == [new_id, "old"]
    assert report.reencrypted == TABLES
    on_disk = load_key_ring(env_value=None, home=tmp_path)
    assert on_disk.key_ids == [new_id, "old"] and on_disk == db.vault.ring
    assert await _usage(db) == {new_id: STORED_VALUES, "old": 0}

    left = await retire_data_key(db, "old", home=tmp_path, keys_from_environment=False, now=NOW)
    assert left == [new_id]
    assert load_key_ring(env_value=None, home=tmp_path).key_ids == [new_id]
    await db.read(_everything_reads_back)
    # A process that starts now with only the keys on disk reads everything.
    fresh = Database(db.url, keys=load_key_ring(env_value=None, home=tmp_path))
    try:
        await fresh.read(_everything_reads_back)
    finally:
        await fresh.close()

    events = await db.read(lambda uow: uow.security_events.list())
    assert [e.kind for e in events] == ["DataKeyRetired", "DataKeyRotated"]
    assert events[1].details["reencrypted"] == TABLES
    assert events[1].details["new_key_id"] == new_id
    material = db.vault.ring.format().split(":", 1)[1]
    assert all(material not in str(e.details) for e in events)


async def test_rotating_again_changes_only_what_is_not_under_the_newest_key(
    old_data: Database, tmp_path: Path
) -> None:
    db = old_data
    first = await rotate_data_keys(db, home=tmp_path, keys_from_environment=False, now=NOW)
    second = await rotate_data_keys(db, home=tmp_path, keys_from_environment=False, now=NOW)
    assert second.new_key_id not in (None, first.new_key_id)
    assert second.key_ids == [second.new_key_id, first.new_key_id, "old"]
    assert second.reencrypted == TABLES
    await db.read(_everything_reads_back)


async def test_retire_is_refused_while_data_uses_the_key(
    old_data: Database, tmp_path: Path
) -> None:
    db = old_data
    db.set_keys(KeyRing([NEWER, OLD]))  # a newer key, but nothing moved to it yet
    save_key_ring(db.vault.ring, tmp_path)
    with pytest.raises(
        KeyChangeRefused, match=rf"{STORED_VALUES} stored values .*`csms keys rotate` first"
    ):
        await retire_data_key(db, "old", home=tmp_path, keys_from_environment=False, now=NOW)
    assert load_key_ring(env_value=None, home=tmp_path).key_ids == ["newer", "old"]
    await db.read(_everything_reads_back)


async def test_retire_is_refused_for_the_newest_and_the_only_key(
    old_data: Database, tmp_path: Path
) -> None:
    db = old_data
    with pytest.raises(KeyChangeRefused, match="only key"):
        await retire_data_key(db, "old", home=tmp_path, keys_from_environment=False, now=NOW)
    report = await rotate_data_keys(db, home=tmp_path, keys_from_environment=False, now=NOW)
    assert report.new_key_id is not None
    with pytest.raises(KeyChangeRefused, match="newest key"):
        await retire_data_key(
            db, report.new_key_id, home=tmp_path, keys_from_environment=False, now=NOW
        )
    with pytest.raises(NotFound, match="csms keys list"):
        await retire_data_key(db, "nope", home=tmp_path, keys_from_environment=False, now=NOW)


async def test_environment_keys_with_an_unused_newer_key_are_just_reencrypted(
    old_data: Database, tmp_path: Path
) -> None:
    db = old_data
    home = tmp_path / "env-home"
    db.set_keys(KeyRing([NEWER, OLD]))  # as if CSMS_DATA_KEYS=newer:…,old:… after a restart
    report = await rotate_data_keys(db, home=home, keys_from_environment=True, now=NOW)
    assert (report.new_key_id, report.key_source) == (None, "CSMS_DATA_KEYS")
    assert report.key_ids == ["newer", "old"] and report.reencrypted == TABLES
    assert not (home / "data.keys").exists()  # the variable is the operator's to change
    assert await _usage(db) == {"newer": STORED_VALUES, "old": 0}
    with pytest.raises(KeyChangeRefused, match="remove that entry from CSMS_DATA_KEYS"):
        await retire_data_key(db, "old", home=home, keys_from_environment=True, now=NOW)
    assert db.vault.ring.key_ids == ["newer", "old"]


async def test_environment_keys_all_in_use_are_refused_with_a_fresh_key_to_add(
    old_data: Database, tmp_path: Path
) -> None:
    db = old_data
    with pytest.raises(KeyChangeRefused) as refused:
        await rotate_data_keys(db, home=tmp_path, keys_from_environment=True, now=NOW)
    message = str(refused.value)
    assert "CSMS_DATA_KEYS" in message and "restart" in message
    offered = re.search(r"one: ([A-Za-z0-9_-]+:[A-Za-z0-9_-]+) ", message)
    assert offered is not None
    new_key = KeyRing.parse(offered.group(1)).newest
    assert new_key.key_id != "old" and new_key.key != OLD.key
    assert OLD.key.hex() not in message and KeyRing([OLD]).format() not in message
    assert await _usage(db) == {"old": STORED_VALUES}  # nothing changed


async def test_key_usage_lists_the_keys_newest_first(old_data: Database) -> None:
    db = old_data
    db.set_keys(KeyRing([NEWER, OLD]))
    usage = await key_usage(db, keys_from_environment=False)
    assert [(k.key_id, k.newest, k.values) for k in usage.keys] == [
        ("newer", True, 0),
        ("old", False, STORED_VALUES),
    ]
    assert (usage.key_source, usage.stale_values, usage.unknown_key_values) == (
        "data.keys",
        STORED_VALUES,
        0,
    )


async def test_values_under_a_key_missing_from_the_ring_stop_a_rotation(
    old_data: Database, tmp_path: Path
) -> None:
    db = old_data
    db.set_keys(KeyRing([NEWER]))  # "old" lost
    usage = await key_usage(db, keys_from_environment=False)
    assert usage.unknown_key_values == STORED_VALUES
    with pytest.raises(KeyChangeRefused, match="cannot be re-encrypted"):
        await rotate_data_keys(db, home=tmp_path, keys_from_environment=False, now=NOW)
    assert load_key_ring(env_value=None, home=tmp_path).key_ids == ["old"]
