"""SecurityEventNotification on both versions: kept as a charger event, answered with an
empty payload, and a WARNING line for the events the specifications mark critical
(1.6 security extension N02, 2.0.1 A04)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from csms.adapters.v16 import inbound as v16
from csms.adapters.v201 import inbound as v201
from csms.domain.charging.stations import register_unknown_charger
from csms.domain.model import RegistrationStatus
from csms.domain.security.events import CRITICAL_SECURITY_EVENTS, SECURITY_EVENT_KIND
from csms.gateway import CallContext, Handler
from storage.database import Database

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

ContextFactory = Callable[[str], CallContext]


@pytest.fixture
async def context(sqlite_db: Database) -> ContextFactory:
    for charger_id in ("CP1", "CS1"):
        await sqlite_db.write(
            lambda uow, cid=charger_id: register_unknown_charger(
                uow, charger_id=cid, status=RegistrationStatus.ACCEPTED, now=NOW
            )
        )

    def make(charger_id: str) -> CallContext:
        return CallContext(
            charger_id=charger_id,
            db=sqlite_db,
            heartbeat_interval=300,
            set_accepted=lambda _: None,
            clock=lambda: NOW,
        )

    return make


HANDLERS: dict[str, tuple[str, Handler]] = {
    "1.6": ("CP1", v16.HANDLERS["SecurityEventNotification"]),
    "2.0.1": ("CS1", v201.HANDLERS["SecurityEventNotification"]),
}


@pytest.mark.parametrize("version", sorted(HANDLERS))
async def test_a_security_event_is_kept_as_the_charger_sent_it_and_answered_empty(
    version: str, sqlite_db: Database, context: ContextFactory
) -> None:
    # 1.6 security extension N02.FR.01 / 2.0.1 A04.FR.01: the CSMS answers the notification
    charger_id, handle = HANDLERS[version]
    payload = {
        "type": "InvalidMessages",
        "timestamp": "2026-11-22T09:59:00Z",
        "techInfo": "frame 17",
    }
    answer = await handle(context(charger_id), payload)
    assert answer == {}
    events = await sqlite_db.read(
        lambda uow: uow.charger_events.list(charger_id, kind=SECURITY_EVENT_KIND)
    )
    assert [(e.payload, e.received_at) for e in events] == [(payload, NOW)]


@pytest.mark.parametrize("version", sorted(HANDLERS))
async def test_a_critical_security_event_is_logged_with_its_type_but_never_its_tech_info(
    version: str, context: ContextFactory, caplog: pytest.LogCaptureFixture
) -> None:
    charger_id, handle = HANDLERS[version]
    payload = {
        "type": "TamperDetectionActivated",
        "timestamp": "2026-11-22T09:59:00Z",
        "techInfo": "lid opened by 3rd-party-serial-XYZ",
    }
    with caplog.at_level(logging.WARNING, logger="csms.domain.security.events"):
        await handle(context(charger_id), payload)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"charger {charger_id} reports the critical security event TamperDetectionActivated"
    ]
    assert "lid opened" not in caplog.text


async def test_a_routine_security_event_is_kept_without_a_warning(
    context: ContextFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="csms.domain.security.events"):
        await v16.HANDLERS["SecurityEventNotification"](
            context("CP1"),
            {"type": "FailedToAuthenticateAtCsms", "timestamp": "2026-11-22T09:59:00Z"},
        )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_critical_events_are_the_ones_the_specifications_mark_critical() -> None:
    # 1.6 Security Whitepaper appendix 1 and 2.0.1 part 2 appendix 1, column "Critical"
    assert {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
    } == CRITICAL_SECURITY_EVENTS
