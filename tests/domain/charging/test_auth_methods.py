"""The three ways to authorize, in the domain (SQLite and PostgreSQL): every session records
how the driver identified (the token's kind decides) and whose session it is; a one-time
touchscreen token and an app start token each start exactly one session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from csms.domain.charging.authorization import auth_method_for, authorize_id_tag, authorize_id_token
from csms.domain.charging.stations import add_charger
from csms.domain.charging.transaction_events import TransactionEvent, record_transaction_event
from csms.domain.charging.transactions import StopOutcome, start_transaction, stop_transaction
from csms.domain.model import AuthMethod, AuthorizationStatus
from csms.domain.people.cards import APP_START_TOKEN_LIFETIME, add_card, app_token_for
from csms.domain.people.customers import add_customer
from csms.domain.people.pin_login import LOGIN_TOKEN_LIFETIME, issue_login_token, verify_pin_login
from storage.database import Database
from storage.records import CustomerRecord, TransactionRecord
from storage.sql.repositories import SqlUnitOfWork

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CARD = "04A1B2C3D4"
EMAIL = "dana@example.org"
PIN = "86420"


@pytest.fixture(autouse=True)
async def chargers(db: Database) -> None:
    def run(uow: SqlUnitOfWork) -> None:
        for charger_id in ("CP1", "CS1"):
            add_charger(uow, charger_id=charger_id, now=NOW, password="password-123")

    await db.write(run)


async def _customer(db: Database) -> CustomerRecord:
    return await db.write(
        lambda uow: add_customer(uow, name="Dana Fox", email=EMAIL, pin=PIN, now=NOW)
    )


async def _start(
    db: Database, id_tag: str, *, connector: int = 1, minutes: int = 0
) -> tuple[int, AuthorizationStatus]:
    when = NOW + timedelta(minutes=minutes)
    result = await db.write(
        lambda uow: start_transaction(
            uow,
            charger_id="CP1",
            connector_id=connector,
            id_tag=id_tag,
            meter_start_wh=1000,
            timestamp=when,
            now=when,
        )
    )
    return result.transaction_id, result.id_token_info.status


async def _stop(db: Database, transaction_id: int, id_tag: str, *, minutes: int) -> StopOutcome:
    when = NOW + timedelta(minutes=minutes)
    return await db.write(
        lambda uow: stop_transaction(
            uow,
            charger_id="CP1",
            transaction_id=transaction_id,
            meter_stop_wh=5000,
            timestamp=when,
            now=when,
            reason="Local",
            id_tag=id_tag,
            samples=[],
            raw_payload={},
        )
    )


async def _tx(db: Database, transaction_id: int) -> TransactionRecord:
    tx = await db.read(lambda uow: uow.transactions.by_transaction_id(transaction_id))
    assert tx is not None
    return tx


async def _login_token(db: Database, customer: CustomerRecord) -> str:
    token = await db.write(lambda uow: issue_login_token(uow, customer.id, now=NOW))
    return token.uid


async def test_card_start_is_recorded_as_card_for_the_cards_customer(db: Database) -> None:
    customer = await _customer(db)
    await db.write(
        lambda uow: add_card(uow, uid=CARD, now=NOW, customer_number=customer.customer_number)
    )
    transaction_id, status = await _start(db, CARD)
    tx = await _tx(db, transaction_id)
    assert (status, tx.auth_method, tx.customer_id) == ("Accepted", "card", customer.id)


async def test_unknown_id_tag_is_a_card_of_nobody(db: Database) -> None:
    transaction_id, status = await _start(db, "NOBODY")
    tx = await _tx(db, transaction_id)
    assert (status, tx.auth_method, tx.customer_id) == ("Invalid", "card", None)


async def test_app_token_start_is_recorded_as_app_for_its_customer(db: Database) -> None:
    """RemoteStartTransaction with the customer's app token: the charger starts with it."""
    customer = await _customer(db)
    app_token = await db.write(lambda uow: app_token_for(uow, customer, now=NOW))
    transaction_id, status = await _start(db, app_token)
    tx = await _tx(db, transaction_id)
    assert (status, tx.auth_method, tx.customer_id) == ("Accepted", "app", customer.id)


async def test_login_token_start_is_recorded_as_touchscreen_and_uses_the_token_up(
    db: Database,
) -> None:
    customer = await _customer(db)
    token = await _login_token(db, customer)
    transaction_id, status = await _start(db, token, minutes=1)
    tx = await _tx(db, transaction_id)
    assert (status, tx.auth_method, tx.customer_id) == ("Accepted", "touchscreen", customer.id)
    stored = await db.read(lambda uow: uow.id_tags.by_uid(token))
    assert stored is not None and stored.used_at == NOW + timedelta(minutes=1)


async def test_used_login_token_cannot_start_another_session(db: Database) -> None:
    customer = await _customer(db)
    token = await _login_token(db, customer)
    before = await db.read(lambda uow: authorize_id_tag(uow, token, now=NOW))
    assert before.status is AuthorizationStatus.ACCEPTED
    assert before.expiry_date == NOW + LOGIN_TOKEN_LIFETIME
    first, _ = await _start(db, token, minutes=1)
    later = NOW + timedelta(minutes=2)
    after = await db.read(lambda uow: authorize_id_tag(uow, token, now=later))
    assert after.status is AuthorizationStatus.INVALID
    second, status = await _start(db, token, connector=2, minutes=2)
    assert status is AuthorizationStatus.INVALID
    # The refused start is kept all the same (the charger decides to stop it).
    assert (await _tx(db, second)).auth_status == "Invalid"
    # ...also once the first session has ended.
    await _stop(db, first, token, minutes=3)
    again = await db.read(lambda uow: authorize_id_tag(uow, token, now=later))
    assert again.status is AuthorizationStatus.INVALID


async def test_used_login_token_still_stops_its_own_session_after_it_expired(
    db: Database,
) -> None:
    customer = await _customer(db)
    token = await _login_token(db, customer)
    transaction_id, _ = await _start(db, token, minutes=1)
    outcome = await _stop(db, transaction_id, token, minutes=90)
    assert outcome.id_token_info is not None
    assert outcome.id_token_info.status is AuthorizationStatus.ACCEPTED
    tx = await _tx(db, transaction_id)
    assert (tx.status, tx.energy_wh, tx.stop_id_tag) == ("completed", 4000, token)
    # A repeated StopTransaction is answered the same way.
    repeat = await _stop(db, transaction_id, token, minutes=91)
    assert repeat.id_token_info == outcome.id_token_info and not repeat.recorded


async def test_replayed_start_with_a_login_token_gets_the_same_answer(db: Database) -> None:
    customer = await _customer(db)
    token = await _login_token(db, customer)
    first = await _start(db, token, minutes=1)
    assert await _start(db, token, minutes=1) == first == (first[0], "Accepted")


async def test_expired_login_token_is_expired_and_not_used_up(db: Database) -> None:
    customer = await _customer(db)
    token = await _login_token(db, customer)
    late = NOW + LOGIN_TOKEN_LIFETIME
    info = await db.read(lambda uow: authorize_id_tag(uow, token, now=late))
    assert info.status is AuthorizationStatus.EXPIRED
    transaction_id, status = await _start(db, token, minutes=5)
    assert status is AuthorizationStatus.EXPIRED
    tx = await _tx(db, transaction_id)
    assert (tx.auth_method, tx.auth_status, tx.customer_id) == (
        "touchscreen",
        "Expired",
        customer.id,
    )
    stored = await db.read(lambda uow: uow.id_tags.by_uid(token))
    assert stored is not None and stored.used_at is None


@pytest.mark.parametrize(
    ("kind", "token_type", "method"),
    [
        ("card", None, AuthMethod.CARD),
        ("card", "ISO14443", AuthMethod.CARD),
        ("card", "Central", AuthMethod.CARD),
        ("app", "Central", AuthMethod.APP),
        ("app", None, AuthMethod.APP),
        ("login", "Central", AuthMethod.TOUCHSCREEN),
        ("login", "KeyCode", AuthMethod.TOUCHSCREEN),
        ("login", None, AuthMethod.TOUCHSCREEN),
        (None, None, AuthMethod.CARD),
        (None, "Central", AuthMethod.APP),
        (None, "KeyCode", AuthMethod.TOUCHSCREEN),
        (None, "eMAID", AuthMethod.VEHICLE),
        (None, "NoAuthorization", AuthMethod.NONE),
    ],
)
def test_token_kind_decides_the_auth_method_else_the_id_token_type(
    kind: str | None, token_type: str | None, method: AuthMethod
) -> None:
    assert auth_method_for(token_type, kind=kind) is method


# -- 2.0.1 -------------------------------------------------------------------------------


def _event(
    event_type: str, seq_no: int, *, minutes: int = 0, tx: str = "tx-1", **fields: Any
) -> TransactionEvent:
    token_type = fields.get("id_token_type")
    details: dict[str, Any] = {"evse": {"id": 1, "connectorId": 1}}
    if token_type is not None:
        details["idToken"] = {"type": token_type}
    return TransactionEvent(
        event_type=event_type,
        station_transaction_id=tx,
        seq_no=seq_no,
        timestamp=NOW + timedelta(minutes=minutes),
        trigger_reason=fields.pop("trigger_reason", "Authorized"),
        details=details,
        **fields,
    )


async def _send(db: Database, event: TransactionEvent, *, minutes: int = 0) -> Any:
    when = NOW + timedelta(minutes=minutes)
    return await db.write(
        lambda uow: record_transaction_event(uow, charger_id="CS1", event=event, now=when)
    )


async def _tx201(db: Database, tx: str = "tx-1") -> TransactionRecord:
    record = await db.read(lambda uow: uow.transactions.by_station_transaction_id("CS1", tx))
    assert record is not None
    return record


async def test_central_app_token_is_an_app_start_and_a_central_card_a_card_start(
    db: Database,
) -> None:
    """2.0.1 RequestStartTransaction sends idToken type Central: the token's kind says
    whether the app or an operator (with a card) started the session."""
    customer = await _customer(db)
    app_token = await db.write(lambda uow: app_token_for(uow, customer, now=NOW))
    await db.write(
        lambda uow: add_card(uow, uid=CARD, now=NOW, customer_number=customer.customer_number)
    )
    for tx_id, token in (("tx-app", app_token), ("tx-card", CARD)):
        answer = await _send(
            db,
            _event(
                "Started", 0, tx=tx_id, id_token=token, id_token_type="Central",
                trigger_reason="RemoteStart",
            ),
        )  # fmt: skip
        assert answer.id_token_info.status is AuthorizationStatus.ACCEPTED
    app_tx, card_tx = await _tx201(db, "tx-app"), await _tx201(db, "tx-card")
    assert (app_tx.auth_method, app_tx.customer_id, app_tx.id_tag) == (
        "app",
        customer.id,
        app_token,
    )
    assert (card_tx.auth_method, card_tx.customer_id) == ("card", customer.id)


async def test_unknown_central_token_falls_back_to_its_type(db: Database) -> None:
    answer = await _send(db, _event("Started", 0, id_token="NOPE", id_token_type="Central"))
    assert answer.id_token_info.status is AuthorizationStatus.INVALID
    tx = await _tx201(db)
    assert (tx.auth_method, tx.auth_status, tx.customer_id) == ("app", "Invalid", None)


async def test_card_uid_sent_as_a_contract_id_is_nobodys_session(db: Database) -> None:
    customer = await _customer(db)
    await db.write(
        lambda uow: add_card(uow, uid=CARD, now=NOW, customer_number=customer.customer_number)
    )
    answer = await _send(db, _event("Started", 0, id_token=CARD, id_token_type="eMAID"))
    assert answer.id_token_info.status is AuthorizationStatus.INVALID
    tx = await _tx201(db)
    assert (tx.auth_method, tx.customer_id) == ("vehicle", None)


async def test_login_token_session_on_201_is_touchscreen_and_its_own_stop_is_accepted(
    db: Database,
) -> None:
    customer = await _customer(db)
    token = await _login_token(db, customer)
    start = _event("Started", 0, id_token=token, id_token_type="Central")
    assert (await _send(db, start)).id_token_info.status is AuthorizationStatus.ACCEPTED
    tx = await _tx201(db)
    assert (tx.auth_method, tx.customer_id, tx.id_tag) == ("touchscreen", customer.id, token)
    # Used up: another station's session cannot start with it...
    other = _event("Started", 0, tx="tx-2", id_token=token, id_token_type="Central")
    assert (await _send(db, other)).id_token_info.status is AuthorizationStatus.INVALID
    # ...but its own Ended, an hour later, is answered Accepted and completes it.
    ended = _event(
        "Ended", 1, minutes=60, id_token=token, id_token_type="Central",
        trigger_reason="StopAuthorized",
    )  # fmt: skip
    outcome = await _send(db, ended, minutes=60)
    assert outcome.id_token_info.status is AuthorizationStatus.ACCEPTED
    tx = await _tx201(db)
    assert (tx.status, tx.stop_id_tag, tx.auth_method) == ("completed", token, "touchscreen")


async def test_key_code_with_the_right_pin_starts_with_a_login_token_never_the_pin(
    db: Database,
) -> None:
    customer = await _customer(db)
    check = await verify_pin_login(db, login=EMAIL, pin=PIN)
    start = _event("Started", 0, id_token=None, id_token_type="KeyCode", pin_check=check)
    assert (await _send(db, start)).id_token_info.status is AuthorizationStatus.ACCEPTED
    tx = await _tx201(db)
    assert tx.id_tag is not None and tx.id_tag != PIN
    assert (tx.auth_method, tx.customer_id, tx.id_token_type) == (
        "touchscreen",
        customer.id,
        "KeyCode",
    )
    token = await db.read(lambda uow: uow.id_tags.by_uid(tx.id_tag or ""))
    assert token is not None and (token.kind, token.used_at) == ("login", NOW)

    def stored_tokens(uow: SqlUnitOfWork) -> list[str | None]:
        return [e.id_token for e in uow.transaction_events.for_transaction("CS1", "tx-1")]

    # The stop with the same KeyCode is the same customer's: the session's own token.
    stop_check = await verify_pin_login(db, login=EMAIL, pin=PIN)
    ended = _event(
        "Ended", 1, minutes=30, id_token=None, id_token_type="KeyCode", pin_check=stop_check,
        trigger_reason="StopAuthorized",
    )  # fmt: skip
    assert (await _send(db, ended, minutes=30)).id_token_info.status is (
        AuthorizationStatus.ACCEPTED
    )
    assert await db.read(stored_tokens) == [tx.id_tag, tx.id_tag]
    assert len(await db.read(lambda uow: uow.id_tags.list(kind="login"))) == 1


async def test_key_code_with_a_wrong_pin_is_invalid_and_stores_no_token(db: Database) -> None:
    customer = await _customer(db)
    check = await verify_pin_login(db, login=EMAIL, pin="13579")
    start = _event("Started", 0, id_token=None, id_token_type="KeyCode", pin_check=check)
    assert (await _send(db, start)).id_token_info.status is AuthorizationStatus.INVALID
    tx = await _tx201(db)
    assert (tx.id_tag, tx.customer_id, tx.auth_method, tx.auth_status) == (
        None,
        None,
        "touchscreen",
        "Invalid",
    )
    stored = await db.read(lambda uow: uow.customers.get(customer.id))
    assert stored is not None and stored.pin_failures == 1
    assert await db.read(lambda uow: uow.id_tags.list(kind="login")) == []


async def test_key_code_value_never_matches_a_card(db: Database) -> None:
    await db.write(lambda uow: add_card(uow, uid="12345678", now=NOW))
    info = await db.read(lambda uow: authorize_id_token(uow, "12345678", "KeyCode", now=NOW))
    assert info.status is AuthorizationStatus.INVALID


# -- app start tokens: single-use and short-lived (issue 13 point 6) ------------------------


async def _app_token(db: Database, customer: CustomerRecord) -> str:
    return await db.write(lambda uow: app_token_for(uow, customer, now=NOW))


async def test_every_app_start_gets_a_new_token_valid_for_five_minutes(db: Database) -> None:
    customer = await _customer(db)
    first, second = await _app_token(db, customer), await _app_token(db, customer)
    assert first != second
    assert timedelta(minutes=5) == APP_START_TOKEN_LIFETIME
    info = await db.read(lambda uow: authorize_id_tag(uow, first, now=NOW))
    assert info.status is AuthorizationStatus.ACCEPTED
    assert info.expiry_date == NOW + APP_START_TOKEN_LIFETIME


async def test_app_start_token_replayed_on_16_cannot_start_a_second_session(
    db: Database,
) -> None:
    customer = await _customer(db)
    token = await _app_token(db, customer)
    first, status = await _start(db, token, minutes=1)
    assert status is AuthorizationStatus.ACCEPTED
    stored = await db.read(lambda uow: uow.id_tags.by_uid(token))
    assert stored is not None and stored.used_at == NOW + timedelta(minutes=1)
    # The same StartTransaction again (a charger's retry) is the same session, Accepted.
    assert await _start(db, token, minutes=1) == (first, AuthorizationStatus.ACCEPTED)
    # Anything else with the used token is Invalid, within its five minutes too.
    later = NOW + timedelta(minutes=2)
    authorize = await db.read(lambda uow: authorize_id_tag(uow, token, now=later))
    assert authorize.status is AuthorizationStatus.INVALID
    second, status = await _start(db, token, connector=2, minutes=2)
    assert status is AuthorizationStatus.INVALID
    assert (await _tx(db, second)).auth_status == "Invalid"
    # Its own session still stops with it, after the token's expiry as well.
    outcome = await _stop(db, first, token, minutes=90)
    assert outcome.id_token_info is not None
    assert outcome.id_token_info.status is AuthorizationStatus.ACCEPTED


async def test_app_start_token_past_five_minutes_is_expired_on_16(db: Database) -> None:
    customer = await _customer(db)
    token = await _app_token(db, customer)
    late = NOW + APP_START_TOKEN_LIFETIME
    info = await db.read(lambda uow: authorize_id_tag(uow, token, now=late))
    assert info.status is AuthorizationStatus.EXPIRED
    transaction_id, status = await _start(db, token, minutes=6)
    assert status is AuthorizationStatus.EXPIRED
    tx = await _tx(db, transaction_id)
    assert (tx.auth_method, tx.auth_status, tx.customer_id) == ("app", "Expired", customer.id)


async def test_app_start_token_replayed_on_201_cannot_start_a_second_session(
    db: Database,
) -> None:
    customer = await _customer(db)
    token = await _app_token(db, customer)
    start = _event(
        "Started", 0, id_token=token, id_token_type="Central", trigger_reason="RemoteStart"
    )
    assert (await _send(db, start)).id_token_info.status is AuthorizationStatus.ACCEPTED
    other = _event(
        "Started", 0, tx="tx-2", id_token=token, id_token_type="Central",
        trigger_reason="RemoteStart",
    )  # fmt: skip
    assert (await _send(db, other)).id_token_info.status is AuthorizationStatus.INVALID
    late = NOW + APP_START_TOKEN_LIFETIME
    expired_token = await _app_token(db, customer)
    refused = await db.read(lambda uow: authorize_id_token(uow, expired_token, "Central", now=late))
    assert refused.status is AuthorizationStatus.EXPIRED
    ended = _event(
        "Ended", 1, minutes=60, id_token=token, id_token_type="Central",
        trigger_reason="StopAuthorized",
    )  # fmt: skip
    outcome = await _send(db, ended, minutes=60)
    assert outcome.id_token_info.status is AuthorizationStatus.ACCEPTED
    tx = await _tx201(db)
    assert (tx.status, tx.auth_method, tx.customer_id) == ("completed", "app", customer.id)


async def test_retention_purges_expired_app_tokens_unless_a_running_session_names_them(
    db: Database,
) -> None:
    customer = await _customer(db)
    running, idle = await _app_token(db, customer), await _app_token(db, customer)
    await _start(db, running, minutes=1)
    later = NOW + APP_START_TOKEN_LIFETIME + timedelta(days=2)
    purged = await db.write(lambda uow: uow.id_tags.purge_expired_logins(later))
    assert purged == 1
    assert await db.read(lambda uow: uow.id_tags.by_uid(idle)) is None
    assert await db.read(lambda uow: uow.id_tags.by_uid(running)) is not None
