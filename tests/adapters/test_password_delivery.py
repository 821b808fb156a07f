"""Sending a charger accepted from Pending the password csms issued to it, the way its
version sets it (csms.adapters.password_delivery): 1.6 ChangeConfiguration of
AuthorizationKey (security whitepaper: hex of the password's bytes), 2.0.1 SetVariables
of SecurityCtrlr.BasicAuthPassword (A01)."""

from __future__ import annotations

from datetime import UTC, datetime

from csms.adapters.password_delivery import deliver_password
from csms.domain.charging.stations import (
    PASSWORD_ROTATING,
    PASSWORD_SENT,
    add_charger,
    issue_password,
    password_state,
    register_unknown_charger,
    rotate_password,
)
from csms.domain.model import RegistrationStatus
from csms.routing import CommandTimeout
from storage.database import Database
from storage.ports import UnitOfWork
from tests.fakes.router import RecordingRouter

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PASSWORD = "correct-horse-battery"  # 21 characters: a 2.0.1 passwordString
KEY_PASSWORD = "sixteen-bytes-ok"  # 16 bytes: a 1.6 AuthorizationKey


async def _issued(db: Database, charger_id: str, password: str, *, ocpp_version: str) -> None:
    def run(uow: UnitOfWork) -> None:
        status = RegistrationStatus.PENDING
        register_unknown_charger(uow, charger_id=charger_id, status=status, now=NOW)
        uow.chargers.update(charger_id, ocpp_version=ocpp_version)
        issue_password(uow, charger_id, now=NOW, password=password)

    await db.write(run)


async def test_16_charger_gets_its_password_as_authorization_key_hex(
    sqlite_db: Database, router: RecordingRouter
) -> None:
    await _issued(sqlite_db, "CP1", KEY_PASSWORD, ocpp_version="1.6")
    router.connected["CP1"] = "ocpp1.6"
    delivery = await deliver_password(sqlite_db, router, "CP1")
    assert router.sent == [
        (
            "CP1",
            "ChangeConfiguration",
            {"key": "AuthorizationKey", "value": KEY_PASSWORD.encode().hex().upper()},
        )
    ]
    assert (delivery.status, delivery.answer) == ("accepted", "Accepted")
    assert (
        delivery.detail
        == "the charger accepted it (ChangeConfiguration AuthorizationKey: Accepted)"
    )
    charger = await sqlite_db.read(lambda uow: uow.chargers.get("CP1"))
    assert charger is not None and charger.password_hash is not None  # enforced from now on


async def test_201_station_refusing_basic_auth_password_is_told_to_the_operator(
    sqlite_db: Database, router: RecordingRouter
) -> None:
    await _issued(sqlite_db, "CS1", PASSWORD, ocpp_version="2.0.1")
    router.connected["CS1"] = "ocpp2.0.1"
    router.answer = {
        "setVariableResult": [
            {
                "attributeStatus": "Rejected",
                "attributeStatusInfo": {"reasonCode": "ReadOnly"},
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            }
        ]
    }
    delivery = await deliver_password(sqlite_db, router, "CS1")
    [(_, action, payload)] = router.sent
    assert (action, payload["setVariableData"][0]["attributeValue"]) == ("SetVariables", PASSWORD)
    assert payload["setVariableData"][0]["component"] == {"name": "SecurityCtrlr"}
    assert (delivery.status, delivery.answer) == ("refused", "Rejected")
    assert delivery.detail == (
        "the charger refused it (SetVariables SecurityCtrlr.BasicAuthPassword: Rejected, ReadOnly)"
    )


async def test_offline_charger_gets_its_password_at_its_next_connection(
    sqlite_db: Database, router: RecordingRouter
) -> None:
    await _issued(sqlite_db, "CP1", KEY_PASSWORD, ocpp_version="1.6")
    delivery = await deliver_password(sqlite_db, router, "CP1")
    assert router.sent == []
    assert delivery.status == "waiting"
    assert delivery.detail == "the charger is offline: it is sent at its next connection"


async def test_no_answer_in_time_leaves_the_password_waiting_and_says_why(
    sqlite_db: Database, router: RecordingRouter
) -> None:
    await _issued(sqlite_db, "CP1", KEY_PASSWORD, ocpp_version="1.6")
    router.connected["CP1"] = "ocpp1.6"
    router.error = CommandTimeout("CP1 did not answer ChangeConfiguration within 30 s")
    delivery = await deliver_password(sqlite_db, router, "CP1")
    assert delivery.status == "waiting"
    assert delivery.detail.startswith(
        "not delivered (charger CP1 did not answer ChangeConfiguration in time: "
    )
    assert delivery.detail.endswith("); it is sent again at the next connection")


# -- rotation of a password the charger has (stations.rotate_password) ---------------------

OLD_PASSWORD = "the-old-password-1"


async def _rotating(db: Database, charger_id: str, new: str, *, ocpp_version: str) -> str:
    """A charger with OLD_PASSWORD enforced and ``new`` rotated in; the old hash."""

    def run(uow: UnitOfWork) -> str:
        add_charger(uow, charger_id=charger_id, now=NOW, password=OLD_PASSWORD)
        uow.chargers.update(charger_id, ocpp_version=ocpp_version)
        rotate_password(uow, charger_id, now=NOW, password=new)
        charger = uow.chargers.get(charger_id)
        assert charger is not None and charger.password_hash is not None
        return charger.password_hash

    return await db.write(run)


async def test_a_rotated_password_the_charger_accepts_leaves_both_valid_until_it_is_used(
    sqlite_db: Database, router: RecordingRouter
) -> None:
    old_hash = await _rotating(sqlite_db, "CP1", KEY_PASSWORD, ocpp_version="1.6")
    router.connected["CP1"] = "ocpp1.6"
    delivery = await deliver_password(sqlite_db, router, "CP1")
    assert router.sent == [
        (
            "CP1",
            "ChangeConfiguration",
            {"key": "AuthorizationKey", "value": KEY_PASSWORD.encode().hex().upper()},
        )
    ]
    assert (delivery.status, delivery.answer) == ("accepted", "Accepted")
    assert delivery.command is not None and delivery.command["status"] == "Accepted"
    charger = await sqlite_db.read(lambda uow: uow.chargers.get("CP1"))
    assert charger is not None
    assert charger.password_hash == old_hash  # the old one is still enforced ...
    assert charger.pending_password_hash is not None  # ... and the new one let in
    assert password_state(charger) == PASSWORD_SENT
    # Not sent again at its next connection: the delivery copy is gone.
    assert await sqlite_db.read(lambda uow: uow.chargers.password_delivery("CP1")) is None


async def test_a_rotated_password_the_charger_refuses_is_dropped_and_recorded(
    sqlite_db: Database, router: RecordingRouter
) -> None:
    old_hash = await _rotating(sqlite_db, "CS1", PASSWORD, ocpp_version="2.0.1")
    router.connected["CS1"] = "ocpp2.0.1"
    router.answer = {
        "setVariableResult": [
            {
                "attributeStatus": "Rejected",
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            }
        ]
    }
    delivery = await deliver_password(sqlite_db, router, "CS1")
    assert delivery.status == "refused"
    assert delivery.detail.endswith("it keeps its current password")
    charger = await sqlite_db.read(lambda uow: uow.chargers.get("CS1"))
    assert charger is not None
    assert (charger.password_hash, charger.pending_password_hash) == (old_hash, None)
    assert password_state(charger) == "active"
    events = await sqlite_db.read(
        lambda uow: uow.security_events.list(kind="PasswordRotationRefused")
    )
    assert [e.charger_id for e in events] == ["CS1"]
    assert PASSWORD not in str(events[0].details)


async def test_a_rotated_password_not_answered_stays_valid_and_is_sent_again(
    sqlite_db: Database, router: RecordingRouter
) -> None:
    """No answer: the charger may have applied it all the same, so it must stay valid."""
    await _rotating(sqlite_db, "CP1", KEY_PASSWORD, ocpp_version="1.6")
    router.connected["CP1"] = "ocpp1.6"
    router.error = CommandTimeout("CP1 did not answer ChangeConfiguration within 30 s")
    delivery = await deliver_password(sqlite_db, router, "CP1")
    assert delivery.status == "waiting" and isinstance(delivery.failure, CommandTimeout)
    charger = await sqlite_db.read(lambda uow: uow.chargers.get("CP1"))
    assert charger is not None and charger.pending_password_hash is not None
    assert password_state(charger) == PASSWORD_ROTATING
    assert await sqlite_db.read(lambda uow: uow.chargers.password_delivery("CP1")) == KEY_PASSWORD
