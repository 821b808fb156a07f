"""Inbound handlers over a real (SQLite) database, called the way the gateway calls them:
with the payload and the connection's CallContext (a fixed clock, a recorded boot gate)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from csms.adapters.v16 import inbound as v16
from csms.adapters.v201 import inbound as v201
from csms.domain.charging.stations import register_unknown_charger
from csms.domain.model import RegistrationStatus
from csms.domain.people.cards import add_card
from csms.gateway import CallContext
from storage.database import Database

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
NOW_TEXT = "2026-11-22T10:00:00.000Z"

ContextFactory = Callable[[str], CallContext]


@pytest.fixture
def gate() -> list[bool]:
    """What the handlers set the boot gate to, in order."""
    return []


@pytest.fixture
def context(sqlite_db: Database, gate: list[bool]) -> ContextFactory:
    def make(charger_id: str) -> CallContext:
        return CallContext(
            charger_id=charger_id,
            db=sqlite_db,
            heartbeat_interval=300,
            set_accepted=gate.append,
            clock=lambda: NOW,
        )

    return make


async def _register(db: Database, charger_id: str, status: RegistrationStatus) -> None:
    await db.write(
        lambda uow: register_unknown_charger(uow, charger_id=charger_id, status=status, now=NOW)
    )


BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "One", "firmwareVersion": "1.2"}


async def test_16_boot_of_an_accepted_charger_opens_the_gate_with_the_heartbeat_interval(
    sqlite_db: Database, context: ContextFactory, gate: list[bool]
) -> None:
    # 1.6 §4.2
    await _register(sqlite_db, "CP1", RegistrationStatus.ACCEPTED)
    answer = await v16.HANDLERS["BootNotification"](context("CP1"), BOOT_16)
    assert answer == {"status": "Accepted", "currentTime": NOW_TEXT, "interval": 300}
    assert gate == [True]
    charger = await sqlite_db.read(lambda uow: uow.chargers.get("CP1"))
    assert charger is not None
    assert (charger.vendor, charger.model, charger.ocpp_version) == ("ACME", "One", "1.6")


async def test_16_boot_of_a_pending_charger_keeps_the_gate_closed_and_asks_to_retry(
    sqlite_db: Database, context: ContextFactory, gate: list[bool]
) -> None:
    # 1.6 §4.2: Pending until an operator accepts it; retry after BOOT_RETRY_INTERVAL
    await _register(sqlite_db, "CP1", RegistrationStatus.PENDING)
    answer = await v16.HANDLERS["BootNotification"](context("CP1"), BOOT_16)
    assert answer == {"status": "Pending", "currentTime": NOW_TEXT, "interval": 60}
    assert gate == [False]


async def test_16_boot_of_an_unknown_charger_is_rejected(
    context: ContextFactory, gate: list[bool]
) -> None:
    answer = await v16.HANDLERS["BootNotification"](context("NOBODY"), BOOT_16)
    assert answer["status"] == "Rejected"
    assert gate == [False]


async def test_heartbeat_answers_the_current_time_in_utc(
    sqlite_db: Database, context: ContextFactory
) -> None:
    # 1.6 §4.6, 2.0.1 G02
    await _register(sqlite_db, "CP1", RegistrationStatus.ACCEPTED)
    assert await v16.HANDLERS["Heartbeat"](context("CP1"), {}) == {"currentTime": NOW_TEXT}
    assert await v201.HANDLERS["Heartbeat"](context("CP1"), {}) == {"currentTime": NOW_TEXT}


async def test_16_replayed_start_transaction_gets_the_same_transaction_id(
    sqlite_db: Database, context: ContextFactory
) -> None:
    # 1.6 §4.8: the CSMS assigns the id; a retried StartTransaction is the same transaction
    await _register(sqlite_db, "CP1", RegistrationStatus.ACCEPTED)
    await sqlite_db.write(lambda uow: add_card(uow, uid="TAG1", now=NOW))
    start = {
        "connectorId": 1,
        "idTag": "TAG1",
        "meterStart": 1000,
        "timestamp": "2026-11-22T09:59:00Z",
    }
    first = await v16.HANDLERS["StartTransaction"](context("CP1"), start)
    again = await v16.HANDLERS["StartTransaction"](context("CP1"), dict(start))
    assert first["idTagInfo"] == {"status": "Accepted"}
    assert again["transactionId"] == first["transactionId"]


async def test_16_start_with_an_unknown_id_tag_is_kept_and_answered_invalid(
    sqlite_db: Database, context: ContextFactory
) -> None:
    # DESIGN: business validation answers with a status and keeps the data
    await _register(sqlite_db, "CP1", RegistrationStatus.ACCEPTED)
    start = {"connectorId": 1, "idTag": "NOPE", "meterStart": 0, "timestamp": NOW_TEXT}
    answer = await v16.HANDLERS["StartTransaction"](context("CP1"), start)
    assert answer["idTagInfo"] == {"status": "Invalid"}
    transactions = await sqlite_db.read(lambda uow: uow.transactions.list(charger_id="CP1"))
    assert [tx.transaction_id for tx in transactions] == [answer["transactionId"]]


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        ({"vendorId": "com.example"}, {"status": "UnknownVendorId"}),
        ({"vendorId": "csms", "messageId": "Coffee"}, {"status": "UnknownMessageId"}),
        # SPEC "Authorization methods": malformed PinLogin data is a plain Rejected
        ({"vendorId": "csms", "messageId": "PinLogin", "data": "{"}, {"status": "Rejected"}),
    ],
)
async def test_data_transfer_is_answered_by_the_vendors_handler_or_unknown_vendor(
    sqlite_db: Database,
    context: ContextFactory,
    payload: dict[str, Any],
    answer: dict[str, Any],
) -> None:
    # 1.6 §4.3, 2.0.1 P01/P02: the same vendor handlers on both versions
    await _register(sqlite_db, "CP1", RegistrationStatus.ACCEPTED)
    assert await v16.HANDLERS["DataTransfer"](context("CP1"), payload) == answer
    assert await v201.HANDLERS["DataTransfer"](context("CP1"), payload) == answer


async def test_201_boot_stores_the_station_and_modem(
    sqlite_db: Database, context: ContextFactory, gate: list[bool]
) -> None:
    # 2.0.1 B01
    await _register(sqlite_db, "CS1", RegistrationStatus.ACCEPTED)
    payload = {
        "reason": "PowerUp",
        "chargingStation": {
            "vendorName": "ACME",
            "model": "Two",
            "serialNumber": "S-1",
            "modem": {"iccid": "8949", "imsi": "2620"},
        },
    }
    answer = await v201.HANDLERS["BootNotification"](context("CS1"), payload)
    assert answer == {"status": "Accepted", "currentTime": NOW_TEXT, "interval": 300}
    assert gate == [True]
    charger = await sqlite_db.read(lambda uow: uow.chargers.get("CS1"))
    assert charger is not None
    assert (charger.model, charger.ocpp_version, charger.iccid) == ("Two", "2.0.1", "8949")


async def test_201_authorize_of_a_card_bounds_how_long_the_station_may_cache_it(
    sqlite_db: Database, context: ContextFactory
) -> None:
    # 2.0.1 C01, C10: an accepted token may be cached at most AUTHORIZATION_CACHE_LIFETIME
    await _register(sqlite_db, "CS1", RegistrationStatus.ACCEPTED)
    await sqlite_db.write(lambda uow: add_card(uow, uid="04A2B3", now=NOW))
    card = {"idToken": {"idToken": "04A2B3", "type": "ISO14443"}}
    answer = await v201.HANDLERS["Authorize"](context("CS1"), card)
    assert answer == {
        "idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": "2026-11-23T10:00:00.000Z"}
    }
    unknown = {"idToken": {"idToken": "FFFF", "type": "ISO14443"}}
    assert await v201.HANDLERS["Authorize"](context("CS1"), unknown) == {
        "idTokenInfo": {"status": "Invalid"}
    }


async def test_201_status_notification_is_kept_per_evse(
    sqlite_db: Database, context: ContextFactory
) -> None:
    # 2.0.1 G01: shown as connector evseId, the connectorId kept with it
    await _register(sqlite_db, "CS1", RegistrationStatus.ACCEPTED)
    payload = {
        "timestamp": NOW_TEXT,
        "connectorStatus": "Occupied",
        "evseId": 2,
        "connectorId": 1,
    }
    assert await v201.HANDLERS["StatusNotification"](context("CS1"), payload) == {}
    connectors = await sqlite_db.read(lambda uow: uow.connectors.for_charger("CS1"))
    assert [(c.connector_id, c.status) for c in connectors] == [(2, "Occupied")]
