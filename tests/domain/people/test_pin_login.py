"""Touchscreen PIN login in the domain (SQLite and PostgreSQL): one-time tokens, lockout,
no account enumeration, nothing about the login or PIN in what is recorded."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime, timedelta

import argon2
import pytest

from csms.domain.people import pin_login as pin_login_module
from csms.domain.people.customers import add_customer, set_pin
from csms.domain.people.pin_login import (
    LOGIN_TOKEN_LENGTH,
    LOGIN_TOKEN_LIFETIME,
    MAX_PIN_FAILURES,
    PIN_LOCK_DURATION,
    PinLoginOutcome,
    PinLoginRejection,
    pin_login,
    record_pin_attempt,
    verify_pin_login,
)
from csms.domain.people.rights import erase_customer
from csms.security import hash_pin, verify_password, verify_pin
from storage.database import Database
from storage.records import CustomerRecord
from tests.fakes.legacy_hashes import legacy_scrypt_pin_hash

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
EMAIL = "ann.lee@example.org"
PHONE = "+4915112345678"
PIN = "4711"
WRONG = "9999"
NAME = "Ann Lee"


async def _customer(db: Database, *, pin: str | None = PIN) -> CustomerRecord:
    return await db.write(
        lambda uow: add_customer(uow, name=NAME, email=EMAIL, phone=PHONE, pin=pin, now=NOW)
    )


async def _login(
    db: Database, pin: str, *, login: str = EMAIL, now: datetime = NOW, charger: str = "CP1"
) -> PinLoginOutcome:
    return await pin_login(db, login=login, pin=pin, charger_id=charger, now=now)


async def _stored(db: Database, customer: CustomerRecord) -> CustomerRecord:
    stored = await db.read(lambda uow: uow.customers.get(customer.id))
    assert stored is not None
    return stored


async def test_right_pin_issues_a_one_time_token_valid_for_five_minutes(db: Database) -> None:
    customer = await _customer(db)
    outcome = await _login(db, PIN)
    assert outcome.accepted and outcome.customer_id == customer.id
    token = outcome.token
    assert token is not None
    assert len(token.uid) == LOGIN_TOKEN_LENGTH == 20
    assert token.uid.isalnum() and token.uid == token.uid.upper()
    stored = await db.read(lambda uow: uow.id_tags.by_uid(token.uid))
    assert stored is not None
    assert (stored.kind, stored.status, stored.customer_id, stored.used_at) == (
        "login",
        "active",
        customer.id,
        None,
    )
    assert stored.expires_at == NOW + LOGIN_TOKEN_LIFETIME == NOW + timedelta(minutes=5)
    # Each login gets its own token.
    again = await _login(db, PIN)
    assert again.token is not None and again.token.uid != token.uid


async def test_phone_number_is_a_login_too(db: Database) -> None:
    customer = await _customer(db)
    outcome = await _login(db, PIN, login="+49 151 1234 5678")
    assert outcome.accepted and outcome.customer_id == customer.id


async def test_wrong_pin_is_rejected_and_counted(db: Database) -> None:
    customer = await _customer(db)
    outcome = await _login(db, WRONG)
    assert not outcome.accepted and outcome.token is None
    assert outcome.rejection is PinLoginRejection.WRONG_PIN
    assert (await _stored(db, customer)).pin_failures == 1
    tokens = await db.read(lambda uow: uow.id_tags.list(kind="login"))
    assert tokens == []


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unknown login", PinLoginRejection.UNKNOWN_LOGIN),
        ("not an email or phone", PinLoginRejection.UNKNOWN_LOGIN),
        ("no PIN set", PinLoginRejection.NO_PIN),
        ("wrong PIN", PinLoginRejection.WRONG_PIN),
    ],
)
async def test_every_refusal_is_recorded_with_its_reason_but_never_the_login_or_pin(
    db: Database, case: str, reason: PinLoginRejection
) -> None:
    customer = await _customer(db, pin=None if case == "no PIN set" else PIN)
    login = {"unknown login": "bob@example.org", "not an email or phone": "bob"}.get(case, EMAIL)
    outcome = await _login(db, WRONG, login=login)
    assert not outcome.accepted and outcome.token is None and outcome.rejection is reason
    (event,) = await db.read(lambda uow: uow.security_events.list(kind="PinLoginRejected"))
    assert event.details == {"reason": reason.value}
    assert event.charger_id == "CP1"
    known = case in ("no PIN set", "wrong PIN")
    assert event.customer_id == (customer.id if known else None)
    assert WRONG not in str(event.details) and login not in str(event.details)


async def test_customer_erased_between_check_and_record_is_refused(db: Database) -> None:
    customer = await _customer(db)
    check = await verify_pin_login(db, login=EMAIL, pin=PIN)
    assert check.matches
    await db.write(lambda uow: erase_customer(uow, customer.customer_number, now=NOW))
    outcome = await db.write(lambda uow: record_pin_attempt(uow, check, charger_id="CP1", now=NOW))
    assert not outcome.accepted and outcome.rejection is PinLoginRejection.ERASED
    # Erased: the login is gone with the identity.
    gone = await _login(db, PIN)
    assert gone.rejection is PinLoginRejection.UNKNOWN_LOGIN


async def test_pin_changed_between_check_and_record_is_refused_without_counting(
    db: Database,
) -> None:
    customer = await _customer(db)
    check = await verify_pin_login(db, login=EMAIL, pin=PIN)
    await db.write(lambda uow: set_pin(uow, customer, "2580", now=NOW))
    outcome = await db.write(lambda uow: record_pin_attempt(uow, check, charger_id="CP1", now=NOW))
    assert outcome.rejection is PinLoginRejection.PIN_CHANGED
    assert (await _stored(db, customer)).pin_failures == 0
    assert (await _login(db, "2580")).accepted


async def test_fifth_wrong_pin_locks_pin_login_for_15_minutes(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    customer = await _customer(db)
    caplog.set_level(logging.INFO, logger="csms.domain.people.pin_login")
    for attempt in range(MAX_PIN_FAILURES - 1):
        outcome = await _login(db, WRONG, now=NOW + timedelta(seconds=attempt))
        assert outcome.rejection is PinLoginRejection.WRONG_PIN
    assert (await _stored(db, customer)).pin_locked_until is None
    assert await db.read(lambda uow: uow.security_events.list(kind="PinLoginLocked")) == []

    fifth = NOW + timedelta(minutes=1)
    outcome = await _login(db, WRONG, now=fifth, charger="CP7")
    assert outcome.rejection is PinLoginRejection.WRONG_PIN
    stored = await _stored(db, customer)
    assert stored.pin_locked_until == fifth + PIN_LOCK_DURATION == fifth + timedelta(minutes=15)
    (event,) = await db.read(lambda uow: uow.security_events.list(kind="PinLoginLocked"))
    assert (event.customer_id, event.charger_id, event.created_at) == (customer.id, "CP7", fifth)
    assert event.details == {
        "failures": 5,
        "locked_until": (fifth + timedelta(minutes=15)).isoformat(),
    }
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = warning.getMessage()
    assert str(customer.customer_number) in message and "CP7" in message
    for secret in (EMAIL, PHONE, PIN, WRONG, NAME):
        assert secret not in caplog.text


async def test_right_pin_is_refused_while_locked_and_does_not_extend_the_lock(
    db: Database,
) -> None:
    customer = await _customer(db)
    for _ in range(MAX_PIN_FAILURES):
        await _login(db, WRONG)
    locked_until = (await _stored(db, customer)).pin_locked_until
    assert locked_until == NOW + PIN_LOCK_DURATION
    for minutes in (1, 10, 14):
        later = NOW + timedelta(minutes=minutes)
        outcome = await _login(db, PIN, now=later)
        assert not outcome.accepted and outcome.token is None
        assert outcome.rejection is PinLoginRejection.LOCKED
        assert (await _login(db, WRONG, now=later)).rejection is PinLoginRejection.LOCKED
    assert (await _stored(db, customer)).pin_locked_until == locked_until
    assert len(await db.read(lambda uow: uow.security_events.list(kind="PinLoginLocked"))) == 1
    assert await db.read(lambda uow: uow.id_tags.list(kind="login")) == []


async def test_pin_login_unlocks_after_15_minutes(db: Database) -> None:
    customer = await _customer(db)
    for _ in range(MAX_PIN_FAILURES):
        await _login(db, WRONG)
    assert (await _login(db, PIN, now=NOW + timedelta(minutes=14, seconds=59))).rejection is (
        PinLoginRejection.LOCKED
    )
    outcome = await _login(db, PIN, now=NOW + timedelta(minutes=15))
    assert outcome.accepted and outcome.token is not None
    stored = await _stored(db, customer)
    assert (stored.pin_failures, stored.pin_locked_until) == (0, None)


async def test_after_a_lock_five_more_wrong_pins_lock_again(db: Database) -> None:
    customer = await _customer(db)
    for _ in range(MAX_PIN_FAILURES):
        await _login(db, WRONG)
    after = NOW + PIN_LOCK_DURATION
    assert (await _login(db, WRONG, now=after)).rejection is PinLoginRejection.WRONG_PIN
    assert (await _stored(db, customer)).pin_locked_until == NOW + PIN_LOCK_DURATION
    for _ in range(MAX_PIN_FAILURES - 1):
        await _login(db, WRONG, now=after)
    assert (await _stored(db, customer)).pin_locked_until == after + PIN_LOCK_DURATION


async def test_right_pin_resets_the_failure_count(db: Database) -> None:
    customer = await _customer(db)
    for _ in range(MAX_PIN_FAILURES - 1):
        await _login(db, WRONG)
    assert (await _stored(db, customer)).pin_failures == MAX_PIN_FAILURES - 1
    assert (await _login(db, PIN)).accepted
    assert (await _stored(db, customer)).pin_failures == 0
    # Four more wrong ones do not lock: the count started again.
    for _ in range(MAX_PIN_FAILURES - 1):
        await _login(db, WRONG)
    assert (await _stored(db, customer)).pin_locked_until is None
    assert (await _login(db, PIN)).accepted


async def test_concurrent_wrong_pins_each_count_once_and_lock_once(db: Database) -> None:
    """All attempts are verified against the same state at once; each is recorded against
    the customer as it is when recorded: five lock, the rest find the lock."""
    customer = await _customer(db)
    outcomes = await asyncio.gather(*(_login(db, WRONG) for _ in range(MAX_PIN_FAILURES + 2)))
    reasons = sorted(o.rejection.value for o in outcomes if o.rejection is not None)
    assert reasons == ["locked"] * 2 + ["wrong_pin"] * MAX_PIN_FAILURES
    assert (await _stored(db, customer)).pin_locked_until == NOW + PIN_LOCK_DURATION
    assert len(await db.read(lambda uow: uow.security_events.list(kind="PinLoginLocked"))) == 1


async def test_pin_is_verified_in_a_worker_thread_not_on_the_event_loop(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """argon2id takes ~40 ms: on the event loop it would stall every other charger."""
    await _customer(db)
    threads: list[threading.Thread] = []
    real_verify = pin_login_module.verify_pin

    def spy(pin: str, stored: str) -> bool:
        threads.append(threading.current_thread())
        return real_verify(pin, stored)

    monkeypatch.setattr(pin_login_module, "verify_pin", spy)
    assert (await _login(db, PIN)).accepted
    assert not (await _login(db, PIN, login="nobody@example.org")).accepted
    assert len(threads) == 2  # the unknown login is verified too (against a decoy)
    assert all(thread is not threading.main_thread() for thread in threads)


async def test_a_right_pin_with_an_old_scrypt_hash_logs_in_and_is_rehashed(db: Database) -> None:
    """Issue 13 point 6: PINs are stored like passwords (argon2id); old hashes still work
    and are replaced at the next successful PIN login."""
    customer = await _customer(db)
    old = legacy_scrypt_pin_hash(PIN)
    await db.write(lambda uow: uow.customers.update(customer.id, pin_hash=old))
    assert not (await _login(db, WRONG)).accepted
    assert (await _stored(db, customer)).pin_hash == old
    assert (await _login(db, PIN)).accepted
    rehashed = (await _stored(db, customer)).pin_hash
    assert rehashed is not None and rehashed.startswith("pin$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_pin(PIN, rehashed) and not verify_password(PIN, rehashed)
    assert (await _login(db, PIN)).accepted


async def test_the_lockout_holds_with_old_and_new_hashes_and_a_locked_right_pin_is_not_rehashed(
    db: Database,
) -> None:
    customer = await _customer(db)
    new_hash = (await _stored(db, customer)).pin_hash
    assert new_hash is not None and new_hash.startswith("pin$argon2id$")
    for _ in range(MAX_PIN_FAILURES):
        assert not (await _login(db, WRONG)).accepted
    assert (await _stored(db, customer)).pin_locked_until == NOW + PIN_LOCK_DURATION
    old = legacy_scrypt_pin_hash(PIN)
    await db.write(lambda uow: uow.customers.update(customer.id, pin_hash=old))
    locked = await _login(db, PIN, now=NOW + timedelta(minutes=1))
    assert not locked.accepted and locked.rejection is PinLoginRejection.LOCKED
    assert (await _stored(db, customer)).pin_hash == old  # refused: nothing stored of it
    later = NOW + PIN_LOCK_DURATION + timedelta(seconds=1)
    assert (await _login(db, PIN, now=later)).accepted


def test_the_decoy_pin_hash_costs_what_a_real_pin_hash_costs() -> None:
    """An unknown login is verified against a decoy made by hash_pin: the same argon2id
    parameters, so refusing it takes as long as refusing a wrong PIN."""
    decoy = pin_login_module._decoy_pin_hash()
    real = hash_pin(PIN)
    assert decoy.startswith("pin$argon2id$")
    assert argon2.extract_parameters(decoy.removeprefix("pin")) == argon2.extract_parameters(
        real.removeprefix("pin")
    )
