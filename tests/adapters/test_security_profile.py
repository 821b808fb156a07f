"""Raising a charger's security profile (csms.adapters.security_profile): the commands
each version is sent, and what is stored. 1.6 security whitepaper (SecurityProfile key);
2.0.1 A05 (SetNetworkProfile, NetworkConfigurationPriority, Reset)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from csms.adapters.security_profile import raise_security_profile
from csms.domain.charging.stations import add_charger
from csms.domain.errors import InvalidRequest
from csms.routing import ChargerNotConnected, CommandResult, CommandTimeout
from storage.database import Database
from tests.fakes.router import RecordingRouter

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
URL = "wss://csms.example.test:9443/ocpp"


def _priority(value: str | None, status: str = "Accepted") -> dict[str, object]:
    result: dict[str, object] = {
        "attributeStatus": status,
        "component": {"name": "OCPPCommCtrlr"},
        "variable": {"name": "NetworkConfigurationPriority"},
    }
    if value is not None:
        result["attributeValue"] = value
    return {"getVariableResult": [result]}


_PRIORITY_SET = {
    "setVariableResult": [
        {
            "attributeStatus": "Accepted",
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "NetworkConfigurationPriority"},
        }
    ]
}


@pytest.fixture
async def station(sqlite_db: Database, router: RecordingRouter) -> str:
    await sqlite_db.write(
        lambda uow: add_charger(uow, charger_id="CS1", now=NOW, password="profile-password")
    )
    router.connected["CS1"] = "ocpp2.0.1"
    return "CS1"


async def _pending(db: Database, charger_id: str) -> int | None:
    charger = await db.read(lambda uow: uow.chargers.get(charger_id))
    assert charger is not None
    return charger.pending_security_profile


async def test_the_free_slot_is_the_one_after_the_highest_in_use_and_goes_first(
    sqlite_db: Database, router: RecordingRouter, station: str
) -> None:
    router.answers = {
        "GetVariables": _priority("3,0"),
        "SetVariables": _PRIORITY_SET,
        "SetNetworkProfile": {"status": "Accepted"},
        "Reset": {"status": "Scheduled"},
    }
    outcome = await raise_security_profile(
        sqlite_db, router, station, profile=3, csms_url=URL, message_timeout=30
    )
    actions = [(action, payload) for _, action, payload in router.sent]
    assert [a for a, _ in actions] == ["GetVariables", "SetNetworkProfile", "SetVariables", "Reset"]
    assert actions[1][1]["configurationSlot"] == 4
    assert actions[2][1]["setVariableData"][0]["attributeValue"] == "4,3,0"
    assert outcome.status == "pending" and "resets when idle" in outcome.detail
    assert await _pending(sqlite_db, station) == 3


async def test_a_station_whose_slots_cannot_be_read_needs_a_slot_from_the_operator(
    sqlite_db: Database, router: RecordingRouter, station: str
) -> None:
    router.answers = {"GetVariables": _priority(None, status="UnknownVariable")}
    with pytest.raises(InvalidRequest, match="--slot N"):
        await raise_security_profile(
            sqlite_db, router, station, profile=2, csms_url=URL, message_timeout=30
        )
    assert [action for _, action, _ in router.sent] == ["GetVariables"]
    assert await _pending(sqlite_db, station) is None


async def test_the_slot_the_station_uses_now_is_not_overwritten(
    sqlite_db: Database, router: RecordingRouter, station: str
) -> None:
    router.answers = {"GetVariables": _priority("1,2")}
    with pytest.raises(InvalidRequest, match="uses now"):
        await raise_security_profile(
            sqlite_db, router, station, profile=2, csms_url=URL, message_timeout=30, slot=1
        )
    assert [action for _, action, _ in router.sent] == ["GetVariables"]


async def test_a_refused_priority_stores_nothing(
    sqlite_db: Database, router: RecordingRouter, station: str
) -> None:
    router.answers = {
        "GetVariables": _priority("1"),
        "SetNetworkProfile": {"status": "Accepted"},
        "SetVariables": {
            "setVariableResult": [
                {
                    "attributeStatus": "Rejected",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "NetworkConfigurationPriority"},
                }
            ]
        },
    }
    outcome = await raise_security_profile(
        sqlite_db, router, station, profile=2, csms_url=URL, message_timeout=30
    )
    assert outcome.status == "refused" and "nothing changed" in outcome.detail
    assert [action for _, action, _ in router.sent][-1] == "SetVariables"
    assert await _pending(sqlite_db, station) is None


async def test_a_reset_without_answer_still_keeps_the_accepted_profile_pending(
    sqlite_db: Database, router: RecordingRouter, station: str
) -> None:
    """The station took the new priority: it switches at its next reboot whatever the
    Reset's fate, so the profile it will connect with is known."""

    class ResetTimesOut(RecordingRouter):
        async def send(
            self,
            charger_id: str,
            action: str,
            payload: dict[str, Any],
            *,
            timeout: float | None = None,
        ) -> CommandResult:
            if action == "Reset":
                raise CommandTimeout("no answer")
            return await super().send(charger_id, action, payload, timeout=timeout)

    quiet = ResetTimesOut()
    quiet.connected = router.connected
    quiet.answers = {
        "GetVariables": _priority("1"),
        "SetNetworkProfile": {"status": "Accepted"},
        "SetVariables": _PRIORITY_SET,
    }
    outcome = await raise_security_profile(
        sqlite_db, quiet, station, profile=2, csms_url=URL, message_timeout=30
    )
    assert outcome.status == "pending" and "next reboot" in outcome.detail
    assert await _pending(sqlite_db, station) == 2


async def test_a_16_charger_gets_the_security_profile_key_and_an_offline_one_nothing(
    sqlite_db: Database, router: RecordingRouter, station: str
) -> None:
    router.connected["CS1"] = "ocpp1.6"
    router.answer = {"status": "RebootRequired"}
    outcome = await raise_security_profile(
        sqlite_db, router, station, profile=2, csms_url=None, message_timeout=30
    )
    assert [(a, p) for _, a, p in router.sent] == [
        ("ChangeConfiguration", {"key": "SecurityProfile", "value": "2"})
    ]
    assert outcome.status == "pending"
    assert await _pending(sqlite_db, station) == 2

    del router.connected["CS1"]
    with pytest.raises(ChargerNotConnected, match="try again"):
        await raise_security_profile(
            sqlite_db, router, station, profile=3, csms_url=None, message_timeout=30
        )
    assert await _pending(sqlite_db, station) == 2
