"""C04 (KeyCode) as the touchscreen login, CSMS side, over real sockets: a KeyCode idToken
holding the PIN with a ``Login`` additionalInfo authorizes the customer by login + PIN
(SPEC "Authorization methods"); the PIN is never stored. Also the DataTransfer PinLogin and
app (Central) starts of a 2.0.1 station."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from csms.domain.people.cards import app_token_for
from csms.domain.people.customers import add_customer
from storage.records import CustomerRecord, TransactionRecord
from tests.oca.conftest import STATION, T0, Station, energy, event

EMAIL = "keycode.driver@example.org"
PIN = "97531864"
WRONG = "13572468"


def _key_code(pin: str = PIN, login: str | None = EMAIL) -> dict[str, Any]:
    token: dict[str, Any] = {"idToken": pin, "type": "KeyCode"}
    if login is not None:
        token["additionalInfo"] = [{"additionalIdToken": login, "type": "Login"}]
    return token


async def _customer(server: Any, email: str = EMAIL) -> CustomerRecord:
    return await server.db.write(
        lambda uow: add_customer(uow, name="Kim Keys", email=email, pin=PIN, now=T0)
    )


async def _authorize(station: Station, token: dict[str, Any]) -> dict[str, Any]:
    return dict((await station.call("Authorize", {"idToken": token}))["idTokenInfo"])


async def _tx(server: Any, station_tx: str) -> TransactionRecord:
    tx = await server.db.read(
        lambda uow: uow.transactions.by_station_transaction_id(STATION, station_tx)
    )
    assert tx is not None
    return tx


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_tc_c_keycode_with_login_and_right_pin_is_accepted_and_cached_briefly(
    station: Station, server: Any
) -> None:
    await _customer(server)
    info = await _authorize(station, _key_code())
    assert info["status"] == "Accepted"
    # A PIN acceptance may be cached only as long as a one-time login token lives.
    assert _time(info["cacheExpiryDateTime"]) <= datetime.now(UTC) + timedelta(minutes=5)
    # Authorize only checks: no token is handed out for it.
    assert await server.db.read(lambda uow: uow.id_tags.list(kind="login")) == []


async def test_tc_c_keycode_refusals_are_all_invalid_alike(station: Station, server: Any) -> None:
    """Wrong PIN, unknown login, no Login additionalInfo: Invalid, nothing more said."""
    await _customer(server)
    answers = [
        await _authorize(station, _key_code(WRONG)),
        await _authorize(station, _key_code(login="nobody@example.org")),
        await _authorize(station, _key_code(login=None)),
    ]
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["status"] == "Invalid"


async def test_tc_c_keycode_five_wrong_pins_lock_the_keypad_login(
    station: Station, server: Any
) -> None:
    customer = await _customer(server)
    for _ in range(5):
        assert (await _authorize(station, _key_code(WRONG)))["status"] == "Invalid"
    assert (await _authorize(station, _key_code()))["status"] == "Invalid"
    locked = await server.db.read(lambda uow: uow.security_events.list(kind="PinLoginLocked"))
    assert [(e.customer_id, e.charger_id) for e in locked] == [(customer.id, STATION)]


async def test_tc_c_keycode_transaction_is_the_customers_touchscreen_session(
    station: Station, server: Any
) -> None:
    customer = await _customer(server)
    started = await station.transaction(
        event("Started", "tx-kc", 0, "Authorized", idToken=_key_code(),
              meter=[energy(1000, "Transaction.Begin")])
    )  # fmt: skip
    assert started["idTokenInfo"]["status"] == "Accepted"
    tx = await _tx(server, "tx-kc")
    assert (tx.auth_method, tx.auth_status, tx.customer_id, tx.id_token_type) == (
        "touchscreen",
        "Accepted",
        customer.id,
        "KeyCode",
    )
    assert tx.id_tag is not None and tx.id_tag != PIN
    token = await server.db.read(lambda uow: uow.id_tags.by_uid(tx.id_tag))
    assert token is not None and token.kind == "login" and token.used_at is not None

    ended = await station.transaction(
        event("Ended", "tx-kc", 1, "StopAuthorized", minutes=45, idToken=_key_code(),
              stopped_reason="Local", meter=[energy(9000, "Transaction.End", minutes=45)])
    )  # fmt: skip
    assert ended["idTokenInfo"]["status"] == "Accepted"
    tx = await _tx(server, "tx-kc")
    assert (tx.status, tx.energy_wh, tx.stop_id_tag) == ("completed", 8000, tx.id_tag)


async def test_tc_c_keycode_with_a_wrong_pin_is_kept_as_an_invalid_session_of_nobody(
    station: Station, server: Any
) -> None:
    await _customer(server)
    answer = await station.transaction(
        event("Started", "tx-bad", 0, "Authorized", idToken=_key_code(WRONG))
    )
    assert answer["idTokenInfo"]["status"] == "Invalid"
    tx = await _tx(server, "tx-bad")
    assert (tx.id_tag, tx.customer_id, tx.auth_method, tx.auth_status) == (
        None,
        None,
        "touchscreen",
        "Invalid",
    )


async def test_tc_c_keycode_event_sent_again_is_answered_alike_and_counts_its_pin_once(
    station: Station, server: Any
) -> None:
    """E01.FR: a station repeats a TransactionEvent it got no answer to. A wrong PIN in it
    must not count twice (five repeats would lock the customer out), and a right one must
    not use up a second one-time token."""
    customer = await _customer(server)
    bad = event("Started", "tx-rep", 0, "Authorized", idToken=_key_code(WRONG))
    answers = [await station.transaction(bad) for _ in range(5)]
    assert {a["idTokenInfo"]["status"] for a in answers} == {"Invalid"}
    stored = await server.db.read(lambda uow: uow.customers.get(customer.id))
    assert stored is not None and stored.pin_failures == 1 and stored.pin_locked_until is None
    good = event("Updated", "tx-rep", 1, "Authorized", idToken=_key_code())
    first = await station.transaction(good)
    again = await station.transaction(good)
    assert first["idTokenInfo"]["status"] == again["idTokenInfo"]["status"] == "Accepted"
    assert len(await server.db.read(lambda uow: uow.id_tags.list(kind="login"))) == 1


async def test_tc_c_keycode_pin_and_login_never_reach_the_database(
    station: Station, server: Any
) -> None:
    await _customer(server)
    assert (await _authorize(station, _key_code()))["status"] == "Accepted"
    await _authorize(station, _key_code(WRONG))
    for seq_no, (event_type, trigger) in enumerate(
        [("Started", "Authorized"), ("Updated", "Authorized"), ("Ended", "StopAuthorized")]
    ):
        await station.transaction(
            event(event_type, "tx-secret", seq_no, trigger, minutes=seq_no, idToken=_key_code())
        )
    await station.transaction(
        event("Started", "tx-wrong", 0, "Authorized", idToken=_key_code(WRONG))
    )
    # A KeyCode without its Login: Invalid, and its value (a PIN, maybe) is not kept either.
    await station.transaction(
        event("Started", "tx-no-login", 0, "Authorized", idToken=_key_code(login=None))
    )

    def stored_tokens(uow: Any) -> list[Any]:
        values: list[Any] = []
        for name in ("tx-secret", "tx-wrong", "tx-no-login"):
            tx = uow.transactions.by_station_transaction_id(STATION, name)
            values += [tx.id_tag, tx.stop_id_tag]
            for e in uow.transaction_events.for_transaction(STATION, name):
                values += [e.id_token, json.dumps(e.details)]
        return values

    decrypted = " ".join(str(v) for v in await server.db.read(stored_tokens))
    assert PIN not in decrypted and WRONG not in decrypted and EMAIL not in decrypted
    database = Path(server.db.url.database)
    raw = b"".join(
        path.read_bytes() for path in database.parent.glob(database.name + "*") if path.is_file()
    )
    assert len(raw) > 0
    for secret in (PIN, WRONG, EMAIL):
        assert secret.encode() not in raw, secret


async def test_pin_login_data_transfer_then_central_start_is_a_touchscreen_session(
    station: Station, server: Any
) -> None:
    """The same DataTransfer as on 1.6; the station starts with the one-time token."""
    customer = await _customer(server)
    data = json.dumps({"login": EMAIL, "pin": PIN})
    answer = await station.call(
        "DataTransfer", {"vendorId": "csms", "messageId": "PinLogin", "data": data}
    )
    assert answer["status"] == "Accepted"
    id_tag = json.loads(answer["data"])["idTag"]
    token = {"idToken": id_tag, "type": "Central"}
    started = await station.transaction(event("Started", "tx-dt", 0, "Authorized", idToken=token))
    assert started["idTokenInfo"]["status"] == "Accepted"
    tx = await _tx(server, "tx-dt")
    assert (tx.auth_method, tx.customer_id, tx.id_tag) == ("touchscreen", customer.id, id_tag)
    # One session only.
    assert (await _authorize(station, token))["status"] == "Invalid"
    refused = await station.call(
        "DataTransfer",
        {"vendorId": "csms", "messageId": "PinLogin", "data": json.dumps({"login": EMAIL})},
    )
    assert refused == {"status": "Rejected"}


async def test_request_start_with_the_app_token_is_an_app_session(
    station: Station, server: Any
) -> None:
    """2.0.1 RequestStartTransaction with the customer's app token (type Central): the
    station's Started carries it back."""
    customer = await _customer(server)
    # issued now: an app start token is valid for five minutes (issue 13)
    issued = datetime.now(UTC)
    app_token = await server.db.write(lambda uow: app_token_for(uow, customer, now=issued))
    token = {"idToken": app_token, "type": "Central"}
    started = await station.transaction(
        event("Started", "tx-app", 0, "RemoteStart", idToken=token, remote_start_id=7)
    )
    assert started["idTokenInfo"]["status"] == "Accepted"
    tx = await _tx(server, "tx-app")
    assert (tx.auth_method, tx.customer_id, tx.remote_start_id) == ("app", customer.id, 7)
