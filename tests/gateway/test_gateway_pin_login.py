"""Touchscreen PIN login on OCPP 1.6 over a real WebSocket: DataTransfer csms/PinLogin, the
one-time idTag it returns, lockout, and answers that give nothing away."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csms.domain.people.cards import app_token_for
from csms.domain.people.customers import add_customer
from storage.database import Database
from storage.records import CustomerRecord, TransactionRecord
from tests.gateway.conftest import NOW, RawCharger

EMAIL = "erin.moss@example.org"
PHONE = "+4917612345678"
PIN = "8642"
NAME = "Erin Moss"
T0 = "2026-11-22T10:00:00Z"


async def _customer(
    db: Database, *, email: str = EMAIL, phone: str | None = PHONE, pin: str | None = PIN
) -> CustomerRecord:
    return await db.write(
        lambda uow: add_customer(uow, name=NAME, email=email, phone=phone, pin=pin, now=NOW)
    )


def _pin_login(login: str, pin: str) -> dict[str, Any]:
    data = json.dumps({"login": login, "pin": pin})
    return {"vendorId": "csms", "messageId": "PinLogin", "data": data}


async def _answer(charger: RawCharger, login: str, pin: str) -> dict[str, Any]:
    frame = await charger.call("DataTransfer", _pin_login(login, pin))
    assert frame[0] == 3, frame
    return dict(frame[2])


async def _start(charger: RawCharger, id_tag: str, connector: int = 1, ts: str = T0) -> list[Any]:
    payload = {"connectorId": connector, "idTag": id_tag, "meterStart": 100, "timestamp": ts}
    return await charger.call("StartTransaction", payload)


async def _transaction(db: Database, transaction_id: int) -> TransactionRecord:
    tx = await db.read(lambda uow: uow.transactions.by_transaction_id(transaction_id))
    assert tx is not None
    return tx


async def test_pin_login_gives_a_one_time_id_tag_that_starts_exactly_one_session(
    charger: RawCharger, sqlite_db: Database
) -> None:
    customer = await _customer(sqlite_db)
    await charger.boot()
    before = datetime.now(UTC)
    answer = await _answer(charger, EMAIL, PIN)
    assert answer["status"] == "Accepted"
    data = json.loads(answer["data"])
    assert set(data) == {"idTag", "expiresAt"}
    id_tag = data["idTag"]
    assert len(id_tag) == 20 and id_tag.isalnum() and id_tag.isupper()
    expires = datetime.fromisoformat(data["expiresAt"].replace("Z", "+00:00"))
    assert data["expiresAt"].endswith("Z")
    assert before + timedelta(minutes=5) - timedelta(seconds=1) <= expires
    assert expires <= datetime.now(UTC) + timedelta(minutes=5)

    authorize = await charger.call("Authorize", {"idTag": id_tag})
    assert authorize[2]["idTagInfo"]["status"] == "Accepted"
    start = await _start(charger, id_tag)
    assert start[2]["idTagInfo"]["status"] == "Accepted"
    transaction_id = start[2]["transactionId"]
    tx = await sqlite_db.read(lambda uow: uow.transactions.by_transaction_id(transaction_id))
    assert tx is not None
    assert (tx.auth_method, tx.customer_id, tx.id_tag) == ("touchscreen", customer.id, id_tag)

    # Used: neither Authorize nor another StartTransaction takes it again.
    again = await charger.call("Authorize", {"idTag": id_tag})
    assert again[2]["idTagInfo"] == {"status": "Invalid"}
    second = await _start(charger, id_tag, connector=2, ts="2026-11-22T10:01:00Z")
    assert second[2]["idTagInfo"] == {"status": "Invalid"}

    # The session's own stop still works, and the transaction is complete.
    stop = await charger.call(
        "StopTransaction",
        {
            "transactionId": transaction_id,
            "idTag": id_tag,
            "meterStop": 2100,
            "timestamp": "2026-11-22T11:00:00Z",
            "reason": "Local",
        },
    )
    assert stop[0] == 3 and stop[2]["idTagInfo"]["status"] == "Accepted"
    done = await sqlite_db.read(lambda uow: uow.transactions.by_transaction_id(transaction_id))
    assert done is not None and (done.status, done.energy_wh) == ("completed", 2000)


async def test_phone_number_logs_in_like_the_email(
    charger: RawCharger, sqlite_db: Database
) -> None:
    await _customer(sqlite_db)
    await charger.boot()
    assert (await _answer(charger, "+49 176 1234 5678", PIN))["status"] == "Accepted"


async def test_unknown_login_no_pin_locked_and_wrong_pin_get_the_same_answer(
    charger: RawCharger, sqlite_db: Database
) -> None:
    """No account enumeration: whatever is wrong, the charger hears the same thing."""
    await _customer(sqlite_db)
    await _customer(sqlite_db, email="nopin@example.org", phone=None, pin=None)
    locked = await _customer(sqlite_db, email="locked@example.org", phone=None)
    until = datetime.now(UTC) + timedelta(hours=1)
    await sqlite_db.write(lambda uow: uow.customers.update(locked.id, pin_locked_until=until))
    await charger.boot()
    answers = {
        "unknown login": await _answer(charger, "nobody@example.org", PIN),
        "no PIN": await _answer(charger, "nopin@example.org", PIN),
        "locked, right PIN": await _answer(charger, "locked@example.org", PIN),
        "wrong PIN": await _answer(charger, EMAIL, "1357"),
    }
    assert all(answer == {"status": "Rejected"} for answer in answers.values()), answers
    events = await sqlite_db.read(lambda uow: uow.security_events.list(kind="PinLoginRejected"))
    assert sorted(e.details["reason"] for e in events) == [
        "locked",
        "no_pin",
        "unknown_login",
        "wrong_pin",
    ]


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        '{"login": "erin.moss@example.org"}',
        '{"pin": "8642"}',
        '["erin.moss@example.org", "8642"]',
        '{"login": "erin.moss@example.org", "pin": 8642}',
        '{"login": "", "pin": "8642"}',
        None,
    ],
)
async def test_malformed_pin_login_data_is_rejected(
    charger: RawCharger, sqlite_db: Database, data: str | None
) -> None:
    await _customer(sqlite_db)
    await charger.boot()
    payload: dict[str, Any] = {"vendorId": "csms", "messageId": "PinLogin"}
    if data is not None:
        payload["data"] = data
    answer = await charger.call("DataTransfer", payload)
    assert answer[0] == 3 and answer[2] == {"status": "Rejected"}
    (event,) = await sqlite_db.read(lambda uow: uow.security_events.list())
    assert (event.kind, event.details, event.charger_id) == (
        "PinLoginRejected",
        {"reason": "malformed"},
        "CP1",
    )


@pytest.mark.parametrize("message_id", ["PinLogout", None])
async def test_other_message_of_vendor_csms_is_unknown_message_id(
    charger: RawCharger, message_id: str | None
) -> None:
    await charger.boot()
    payload: dict[str, Any] = {"vendorId": "csms", "data": "{}"}
    if message_id is not None:
        payload["messageId"] = message_id
    answer = await charger.call("DataTransfer", payload)
    assert answer[2] == {"status": "UnknownMessageId"}


async def test_fifth_wrong_pin_locks_pin_login_even_for_the_right_pin(
    charger: RawCharger, sqlite_db: Database
) -> None:
    customer = await _customer(sqlite_db)
    await charger.boot()
    for _ in range(5):
        assert (await _answer(charger, EMAIL, "1357")) == {"status": "Rejected"}
    assert (await _answer(charger, EMAIL, PIN)) == {"status": "Rejected"}
    stored = await sqlite_db.read(lambda uow: uow.customers.get(customer.id))
    assert stored is not None and stored.pin_locked_until is not None
    assert timedelta(minutes=14) < stored.pin_locked_until - datetime.now(UTC)
    assert stored.pin_locked_until - datetime.now(UTC) <= timedelta(minutes=15)
    (locked,) = await sqlite_db.read(lambda uow: uow.security_events.list(kind="PinLoginLocked"))
    assert (locked.customer_id, locked.charger_id) == (customer.id, "CP1")
    assert await sqlite_db.read(lambda uow: uow.id_tags.list(kind="login")) == []


async def test_expired_one_time_id_tag_is_expired(charger: RawCharger, sqlite_db: Database) -> None:
    await _customer(sqlite_db)
    await charger.boot()
    id_tag = json.loads((await _answer(charger, EMAIL, PIN))["data"])["idTag"]
    past = datetime.now(UTC) - timedelta(seconds=1)
    await sqlite_db.write(lambda uow: uow.id_tags.update(id_tag, expires_at=past))
    authorize = await charger.call("Authorize", {"idTag": id_tag})
    assert authorize[2]["idTagInfo"]["status"] == "Expired"
    start = await _start(charger, id_tag)
    assert start[0] == 3 and start[2]["idTagInfo"]["status"] == "Expired"


async def test_app_and_card_starts_record_their_method_and_customer(
    charger: RawCharger, sqlite_db: Database
) -> None:
    """RemoteStartTransaction with the customer's app token: the charger starts with it."""
    customer = await _customer(sqlite_db)
    # issued now: an app start token is valid for five minutes (issue 13)
    issued = datetime.now(UTC)
    app_token = await sqlite_db.write(lambda uow: app_token_for(uow, customer, now=issued))
    await sqlite_db.write(
        lambda uow: uow.id_tags.add(
            uid="CARD77", status="active", created_at=NOW, customer_id=customer.id
        )
    )
    await charger.boot()
    app = await _start(charger, app_token)
    card = await _start(charger, "CARD77", connector=2)
    for frame, method in ((app, "app"), (card, "card")):
        assert frame[2]["idTagInfo"]["status"] == "Accepted"
        tx = await _transaction(sqlite_db, frame[2]["transactionId"])
        assert (tx.auth_method, tx.customer_id) == (method, customer.id)


async def test_login_and_pin_appear_in_no_log_and_no_security_event(
    charger: RawCharger, sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    customer = await _customer(sqlite_db)
    await charger.boot()
    await _answer(charger, EMAIL, PIN)
    for _ in range(5):
        await _answer(charger, PHONE, "1357")
    await _answer(charger, "stranger@example.org", "2468")
    assert str(customer.customer_number) in caplog.text  # the lockout warning
    events = await sqlite_db.read(lambda uow: uow.security_events.list())
    recorded = caplog.text + " ".join(json.dumps(e.details) for e in events)
    for secret in (EMAIL, PHONE, PIN, "1357", "2468", "stranger@example.org", NAME):
        assert secret not in recorded
