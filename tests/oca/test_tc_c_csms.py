"""C. Authorization, CSMS side: Authorize and idTokens in TransactionEvent (C01–C06)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.oca.conftest import STATION, T0, Station, add_card, event


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _authorize(station: Station, token: str, token_type: str = "ISO14443") -> dict:
    answer = await station.call("Authorize", {"idToken": {"idToken": token, "type": token_type}})
    return dict(answer["idTokenInfo"])


async def test_tc_c_01_csms_authorize_card_accepted_with_group_and_cache_expiry(
    station: Station, server: Any
) -> None:
    """2.0.1 C01: an RFID card is Accepted; groupIdToken is the card's parent; the station
    may cache the answer until cacheExpiryDateTime (at most a day here)."""
    await add_card(server.db, "04A1B2C3", parent_id_tag="FLEET-7")
    info = await _authorize(station, "04A1B2C3")
    assert info["status"] == "Accepted"
    assert info["groupIdToken"] == {"idToken": "FLEET-7", "type": "ISO14443"}
    expiry = _time(info["cacheExpiryDateTime"])
    assert datetime.now(UTC) < expiry <= datetime.now(UTC) + timedelta(days=1)


async def test_tc_c_02_csms_authorize_unknown_token_invalid(station: Station) -> None:
    """OCTT TC_C_02_CSMS: an idToken the CSMS does not know is Invalid."""
    info = await _authorize(station, "100000C02")
    assert info == {"status": "Invalid"}


async def test_tc_c_06_csms_authorize_blocked_token(station: Station, server: Any) -> None:
    """OCTT TC_C_06_CSMS: a blocked card is Blocked."""
    await server.db.write(
        lambda uow: uow.id_tags.add(uid="BLOCKED1", status="blocked", created_at=T0)
    )
    assert (await _authorize(station, "BLOCKED1"))["status"] == "Blocked"


async def test_tc_c_07_csms_authorize_expired_token(station: Station, server: Any) -> None:
    """OCTT TC_C_07_CSMS: a card past its expiry is Expired, cacheExpiryDateTime its expiry."""
    await add_card(server.db, "OLD1", expires_at=T0 - timedelta(days=30))
    info = await _authorize(station, "OLD1")
    assert info["status"] == "Expired"
    assert _time(info["cacheExpiryDateTime"]) == T0 - timedelta(days=30)


async def test_tc_c_01_csms_card_in_a_running_transaction_is_concurrent_tx(
    station: Station, server: Any
) -> None:
    """A card already charging elsewhere is ConcurrentTx (1.6 §7.15, 2.0.1 C01)."""
    await add_card(server.db, "CARD1")
    token = {"idToken": "CARD1", "type": "ISO14443"}
    await station.transaction(event("Started", "tx-busy", 0, "Authorized", idToken=token))
    assert (await _authorize(station, "CARD1"))["status"] == "ConcurrentTx"


async def test_tc_c_02_csms_start_button_no_authorization_is_accepted(
    station: Station, server: Any
) -> None:
    """2.0.1 C02 (start button): idToken type NoAuthorization is Accepted, nothing to cache,
    and the session is recorded as started without identification."""
    token = {"idToken": "", "type": "NoAuthorization"}
    answer = await station.transaction(event("Started", "tx-free", 0, "Authorized", idToken=token))
    assert answer["idTokenInfo"] == {"status": "Accepted"}
    tx = await server.db.read(
        lambda uow: uow.transactions.by_station_transaction_id(STATION, "tx-free")
    )
    assert (tx.auth_method, tx.id_tag, tx.customer_id) == ("none", None, None)


@pytest.mark.parametrize(
    ("use_case", "token_type", "auth_method"),
    [
        ("C01", "ISO14443", "card"),
        ("C01", "ISO15693", "card"),
        ("C05", "Central", "card"),
    ],
)
async def test_tc_c_csms_provisioned_token_types_are_checked_and_recorded_with_their_method(
    station: Station, server: Any, use_case: str, token_type: str, auth_method: str
) -> None:
    """2.0.1 C01/C05: cards and CSMS-issued tokens are looked up as provisioned tokens
    (unknown ones Invalid) and the session records how the driver identified."""
    assert (await _authorize(station, "TOKEN-9", token_type))["status"] == "Invalid"
    await add_card(server.db, "TOKEN-9")
    assert (await _authorize(station, "TOKEN-9", token_type))["status"] == "Accepted"
    token = {"idToken": "TOKEN-9", "type": token_type}
    answer = await station.transaction(event("Started", "tx-t", 0, "Authorized", idToken=token))
    assert answer["idTokenInfo"]["status"] == "Accepted", use_case
    tx = await server.db.read(
        lambda uow: uow.transactions.by_station_transaction_id(STATION, "tx-t")
    )
    assert (tx.id_tag, tx.id_token_type, tx.auth_method) == ("TOKEN-9", token_type, auth_method)


@pytest.mark.parametrize(
    ("use_case", "token_type", "auth_method"),
    [
        ("C03", "eMAID", "vehicle"),
        ("C03", "MacAddress", "vehicle"),
        ("C04", "KeyCode", "touchscreen"),
        ("C06", "Local", "local"),
    ],
)
async def test_tc_c_csms_a_card_uid_sent_as_another_token_type_is_invalid_but_kept(
    station: Station, server: Any, use_case: str, token_type: str, auth_method: str
) -> None:
    """2.0.1 C03/C04/C06: a card's UID typed on the keypad (KeyCode) or sent as a contract
    id, MAC address or local id does not authorize as that card (it is printed on many
    cards); the transaction is still kept and records how the driver tried (E05)."""
    await add_card(server.db, "12345678")
    assert (await _authorize(station, "12345678", token_type))["status"] == "Invalid"
    token = {"idToken": "12345678", "type": token_type}
    answer = await station.transaction(event("Started", "tx-k", 0, "Authorized", idToken=token))
    assert answer["idTokenInfo"]["status"] == "Invalid", use_case
    tx = await server.db.read(
        lambda uow: uow.transactions.by_station_transaction_id(STATION, "tx-k")
    )
    assert (tx.id_token_type, tx.auth_method, tx.auth_status) == (
        token_type,
        auth_method,
        "Invalid",
    )
