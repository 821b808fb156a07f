"""A meter sample's content is its key (issue 18 item 2), on SQLite and PostgreSQL.

1.6 has no sequence number: a charger that did not hear the answer to a MeterValues sends
the same message again, and it must be stored once and acknowledged every time
(1.6 §4.7). Samples that differ in anything but the time they arrived are all kept.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from websockets.asyncio.client import connect

from csms.adapters.v16 import inbound as v16
from csms.adapters.v201 import inbound as v201
from csms.config import Settings
from csms.domain.charging.stations import add_charger
from csms.gateway import Gateway
from protocol import OCPPVersion
from storage.database import Database
from storage.migrate import upgrade
from storage.sql.repositories import SqlUnitOfWork
from tests.gateway.conftest import NOW, PASSWORD, RawCharger, basic_auth

T0 = "2026-12-03T10:00:00Z"
T1 = "2026-12-03T10:05:00Z"


@pytest.fixture
async def gateway(
    db: Database, settings_factory: Callable[..., Settings]
) -> AsyncIterator[Gateway]:
    for identity in ("CP16", "CS201"):
        await db.write(
            lambda uow, i=identity: add_charger(uow, charger_id=i, now=NOW, password=PASSWORD)
        )
    gw = Gateway(
        db=db,
        settings=settings_factory(),
        handlers={OCPPVersion.V16: v16.HANDLERS, OCPPVersion.V201: v201.HANDLERS},
    )
    await gw.start()
    yield gw
    await gw.stop()


async def _connected(gateway: Gateway, identity: str, protocol: str) -> AsyncIterator[RawCharger]:
    async with connect(
        f"ws://127.0.0.1:{gateway.port}/ocpp/{identity}",
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers=basic_auth(identity, PASSWORD),
    ) as ws:
        charger = RawCharger(ws)
        if protocol == "ocpp1.6":
            assert (await charger.boot())[2]["status"] == "Accepted"
        else:
            boot = await charger.call(
                "BootNotification",
                {
                    "reason": "PowerUp",
                    "chargingStation": {"vendorName": "Acme", "model": "Wallbox 2"},
                },
            )
            assert boot[2]["status"] == "Accepted"
        yield charger


@pytest.fixture
async def cp16(gateway: Gateway) -> AsyncIterator[RawCharger]:
    async for charger in _connected(gateway, "CP16", "ocpp1.6"):
        yield charger


@pytest.fixture
async def cs201(gateway: Gateway) -> AsyncIterator[RawCharger]:
    async for charger in _connected(gateway, "CS201", "ocpp2.0.1"):
        yield charger


def _stored(db: Database) -> Any:
    def rows(uow: SqlUnitOfWork) -> list[tuple[Any, ...]]:
        mv = sa.table(
            "meter_values",
            sa.column("charger_id"),
            sa.column("transaction_pk"),
            sa.column("reported_transaction_id"),
            sa.column("value"),
            sa.column("measurand"),
            sa.column("phase"),
            sa.column("context"),
            sa.column("id"),
        )
        query = sa.select(
            mv.c.charger_id,
            mv.c.transaction_pk,
            mv.c.reported_transaction_id,
            mv.c.value,
            mv.c.measurand,
            mv.c.phase,
            mv.c.context,
        ).order_by(mv.c.id)
        return [tuple(r) for r in uow.conn.execute(query)]

    return db.read(rows)


async def _start(charger: RawCharger, timestamp: str = T0) -> int:
    start = await charger.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "CARD1", "meterStart": 0, "timestamp": timestamp},
    )
    return int(start[2]["transactionId"])


def _meter_values(transaction_id: int, *sampled: dict[str, str]) -> dict[str, Any]:
    """A 1.6 MeterValues of connector 1 in a transaction: one meter value at T1."""
    return {
        "connectorId": 1,
        "transactionId": transaction_id,
        "meterValue": [{"timestamp": T1, "sampledValue": list(sampled)}],
    }


async def test_a_resent_meter_values_is_stored_once_and_acknowledged_both_times(
    cp16: RawCharger, db: Database
) -> None:
    """1.6 §4.7; transaction-related messages are resent until answered
    (TransactionMessageAttempts)."""
    tx_id = await _start(cp16)
    message = _meter_values(
        tx_id,
        {"value": "1500", "measurand": "Energy.Active.Import.Register"},
        {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
    )
    first = await cp16.call("MeterValues", message)
    again = await cp16.call("MeterValues", message)
    assert first[0] == again[0] == 3 and first[2] == again[2] == {}
    stored = await _stored(db)
    assert [(r[3], r[4]) for r in stored] == [
        ("1500", "Energy.Active.Import.Register"),
        ("7400", "Power.Active.Import"),
    ]
    tx = await db.read(lambda uow: uow.transactions.by_transaction_id(tx_id))
    assert tx is not None
    samples = await db.read(lambda uow: uow.meter_samples.for_transaction(tx.id))
    assert len(samples) == 2


async def test_a_long_signed_value_is_stored_once_and_acknowledged(
    cp16: RawCharger, db: Database
) -> None:
    """1.6 §7.45 format SignedData: an OCMF or EDL record in ``value`` may run to several
    kB, past what a PostgreSQL btree entry holds; it is keyed (by its md5 there) and stored
    once, never refused."""
    tx_id = await _start(cp16)
    signed = "OCMF|" + random.Random(18).randbytes(4000).hex()  # 8 kB that do not compress
    message = _meter_values(
        tx_id, {"value": signed, "format": "SignedData", "context": "Transaction.End"}
    )
    first = await cp16.call("MeterValues", message)
    again = await cp16.call("MeterValues", message)
    assert first[0] == again[0] == 3
    assert [r[3] for r in await _stored(db)] == [signed]


async def test_a_resent_meter_values_without_transaction_is_stored_once(
    cp16: RawCharger, db: Database
) -> None:
    """1.6 §4.7: samples of a connector outside a transaction (no transactionId: NULL in
    the key) are keyed by their content too."""
    message = {
        "connectorId": 0,
        "meterValue": [{"timestamp": T1, "sampledValue": [{"value": "42"}]}],
    }
    for _ in range(3):
        assert (await cp16.call("MeterValues", message))[0] == 3
    assert [(r[1], r[2], r[3]) for r in await _stored(db)] == [(None, None, "42")]


async def test_a_resent_meter_values_of_an_unknown_transaction_is_stored_once(
    cp16: RawCharger, db: Database
) -> None:
    """A transactionId that matches nothing is kept on the samples for reconciliation,
    once."""
    message = {
        "connectorId": 1,
        "transactionId": 987654,
        "meterValue": [{"timestamp": T1, "sampledValue": [{"value": "42"}]}],
    }
    for _ in range(2):
        assert (await cp16.call("MeterValues", message))[0] == 3
    assert [(r[1], r[2], r[3]) for r in await _stored(db)] == [(None, 987654, "42")]


async def test_a_resent_201_meter_values_outside_a_transaction_is_stored_once(
    cs201: RawCharger, db: Database
) -> None:
    """2.0.1 J01: MeterValues outside transactions carry no sequence number either."""
    message = {
        "evseId": 0,
        "meterValue": [
            {
                "timestamp": T1,
                "sampledValue": [
                    {"value": 12345.5, "measurand": "Energy.Active.Import.Register"},
                ],
            }
        ],
    }
    for _ in range(2):
        answer = await cs201.call("MeterValues", message)
        assert answer[0] == 3 and answer[2] == {}
    stored = await _stored(db)
    assert len(stored) == 1 and stored[0][0] == "CS201"


async def test_samples_that_differ_only_in_phase_or_context_are_all_kept(
    cp16: RawCharger, db: Database
) -> None:
    tx_id = await _start(cp16)
    base = {"value": "16", "measurand": "Current.Import", "unit": "A"}
    sampled = [
        base,  # no phase
        {**base, "phase": "L1"},
        {**base, "phase": "L2"},
        {**base, "phase": "L1", "context": "Sample.Clock"},
        {**base, "phase": "L1", "location": "Inlet"},
    ]
    message = {
        "connectorId": 1,
        "transactionId": tx_id,
        "meterValue": [{"timestamp": T1, "sampledValue": sampled}],
    }
    assert (await cp16.call("MeterValues", message))[0] == 3
    assert (await cp16.call("MeterValues", message))[0] == 3
    stored = await _stored(db)
    assert [(r[5], r[6]) for r in stored] == [
        (None, "Sample.Periodic"),
        ("L1", "Sample.Periodic"),
        ("L2", "Sample.Periodic"),
        ("L1", "Sample.Clock"),
        ("L1", "Sample.Periodic"),
    ]


async def test_the_same_value_at_another_time_or_of_another_transaction_is_kept(
    cp16: RawCharger, db: Database
) -> None:
    first_tx = await _start(cp16)
    sample = [{"value": "7400", "measurand": "Power.Active.Import"}]
    for tx_id, ts in ((first_tx, T0), (first_tx, T1)):
        message = {
            "connectorId": 1,
            "transactionId": tx_id,
            "meterValue": [{"timestamp": ts, "sampledValue": sample}],
        }
        assert (await cp16.call("MeterValues", message))[0] == 3
    await cp16.call(
        "StopTransaction", {"transactionId": first_tx, "meterStop": 10, "timestamp": T1}
    )
    second_tx = await _start(cp16, "2026-12-03T10:10:00Z")
    assert second_tx != first_tx
    message = {
        "connectorId": 1,
        "transactionId": second_tx,
        "meterValue": [{"timestamp": T1, "sampledValue": sample}],
    }
    assert (await cp16.call("MeterValues", message))[0] == 3
    assert [r[2] for r in await _stored(db)] == [first_tx, first_tx, second_tx]


async def test_concurrent_resends_in_one_group_commit_are_stored_once(db: Database) -> None:
    """Two copies in the same batch (the resend arrives on a new connection while the first
    is still being committed) collide inside one multi-row insert."""
    from csms.domain.charging.transactions import record_meter_values
    from csms.domain.model import MeterSample

    moment = datetime(2026, 12, 3, 10, 5, tzinfo=UTC)
    samples = [MeterSample(moment, "1", "Energy.Active.Import.Register", None, "Wh")]

    def record(uow: SqlUnitOfWork) -> None:
        record_meter_values(
            uow, charger_id="CP16", connector_id=1, transaction_id=None, samples=samples, now=NOW
        )

    await asyncio.gather(*(db.write(record) for _ in range(5)))
    assert len(await _stored(db)) == 1


async def test_the_upgrade_removes_stored_duplicates_keeping_the_first(database_url: str) -> None:
    """Migration 0008: duplicates stored before are deleted (lowest id kept) before the
    unique indexes are created."""
    await asyncio.to_thread(upgrade, database_url, "0006")
    old = Database(database_url)
    insert = sa.text(
        "INSERT INTO meter_values (charger_id, connector_id, transaction_pk, "
        "reported_transaction_id, timestamp, value, measurand, phase, context, location, "
        "source, received_at) VALUES (:charger, 1, NULL, :tx, :ts, :value, "
        "'Energy.Active.Import.Register', :phase, 'Sample.Periodic', NULL, 'MeterValues', :ts)"
    )
    moment = datetime(2026, 12, 3, 10, 5, tzinfo=UTC)
    rows = [
        {"charger": "CP1", "tx": 7, "value": "1", "phase": None},
        {"charger": "CP1", "tx": 7, "value": "1", "phase": None},  # duplicate of the first
        {"charger": "CP1", "tx": 7, "value": "1", "phase": "L1"},
        {"charger": "CP1", "tx": None, "value": "1", "phase": None},
        {"charger": "CP1", "tx": None, "value": "1", "phase": None},  # duplicate
        {"charger": "CP2", "tx": None, "value": "1", "phase": None},
    ]
    sqlite = database_url.startswith("sqlite")

    def seed(uow: SqlUnitOfWork) -> None:
        for row in rows:
            ts: Any = (
                moment.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else moment
            )
            uow.conn.execute(insert, {**row, "ts": ts})

    try:
        await old.write(seed)
    finally:
        await old.close()
    await asyncio.to_thread(upgrade, database_url)
    new = Database(database_url)
    try:

        def ids(uow: SqlUnitOfWork) -> list[int]:
            return [
                r[0] for r in uow.conn.execute(sa.text("SELECT id FROM meter_values ORDER BY id"))
            ]

        assert await new.read(ids) == [1, 3, 4, 6]
    finally:
        await new.close()


async def test_migrated_and_created_databases_have_the_same_meter_value_indexes(
    database_url: str, tmp_path: Any
) -> None:
    """Alembic cannot compare expression indexes on SQLite: compare their definitions as
    the database itself reports them, migrated one by one against built in one step."""

    def indexes(uow: SqlUnitOfWork) -> list[str]:
        if uow.conn.dialect.name == "sqlite":
            query = (
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND "
                "tbl_name = 'meter_values' AND sql IS NOT NULL ORDER BY name"
            )
        else:
            query = (
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'meter_values' "
                "AND indexname LIKE 'uq_%' ORDER BY indexname"
            )
        return [" ".join(str(r[0]).split()) for r in uow.conn.execute(sa.text(query))]

    await asyncio.to_thread(upgrade, database_url, replay_migrations=True)
    replayed = Database(database_url)
    try:
        migrated = await replayed.read(indexes)
    finally:
        await replayed.close()
    if database_url.startswith("sqlite"):
        fresh_url = f"sqlite+aiosqlite:///{tmp_path}/fresh.sqlite3"
    else:
        fresh_url = database_url  # rebuilt below from the definitions
        from storage.sql.tables import metadata

        fresh = Database(database_url)
        try:
            await fresh.write(lambda uow: metadata.drop_all(uow.conn))
            await fresh.write(lambda uow: metadata.create_all(uow.conn))
        finally:
            await fresh.close()
    if database_url.startswith("sqlite"):
        await asyncio.to_thread(upgrade, fresh_url)
    created_db = Database(fresh_url)
    try:
        created = await created_db.read(indexes)
    finally:
        await created_db.close()
    assert len(migrated) == 2 and migrated == created
