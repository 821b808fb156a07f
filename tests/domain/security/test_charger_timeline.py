"""One charger's security events and connections, newest first and paged, on SQLite and
PostgreSQL (csms.domain.security.charger_timeline)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.domain.errors import InvalidRequest
from csms.domain.security.charger_timeline import (
    Cursor,
    charger_timeline,
    parse_cursor,
    parse_since,
)
from csms.domain.security.events import record_security_event
from storage.database import Database
from storage.ports import UnitOfWork

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _reported(
    uow: UnitOfWork, charger_id: str, event_type: str, at: datetime, **extra: str
) -> None:
    payload = {"type": event_type, "timestamp": at.isoformat(), **extra}
    record_security_event(uow, charger_id=charger_id, payload=payload, now=at)


def _recorded(
    uow: UnitOfWork, charger_id: str, kind: str, at: datetime, **details: str | bool
) -> None:
    uow.security_events.add(kind=kind, details=details, created_at=at, charger_id=charger_id)


def _connected(uow: UnitOfWork, charger_id: str, at: datetime, address: str = "192.0.2.7") -> None:
    uow.connection_log.add(charger_id=charger_id, remote_address=address, connected_at=at)


async def test_the_three_sources_are_merged_newest_first(db: Database) -> None:
    def setup(uow: UnitOfWork) -> None:
        _connected(uow, "CP1", NOW)
        # 1.6 Security Whitepaper N02 / 2.0.1 A04: the charger's own event and techInfo
        _reported(uow, "CP1", "FirmwareUpdated", NOW + timedelta(minutes=1), techInfo="v2.1")
        _recorded(
            uow, "CP1", "charger_auth_throttled", NOW + timedelta(minutes=2), source="192.0.2.7"
        )
        # another charger's events are not this one's
        _connected(uow, "CP2", NOW + timedelta(minutes=3))
        _reported(uow, "CP2", "TamperDetectionActivated", NOW + timedelta(minutes=3))

    await db.write(setup)
    entries, cursor = await db.read(lambda uow: charger_timeline(uow, "CP1"))
    assert cursor is None
    assert [e.view() for e in entries] == [
        {
            "at": (NOW + timedelta(minutes=2)).isoformat(),
            "kind": "security",
            "type": "charger_auth_throttled",
            "detail": "source=192.0.2.7",
            "source": "csms",
            "reported_at": None,
        },
        {
            "at": (NOW + timedelta(minutes=1)).isoformat(),
            "kind": "security",
            "type": "FirmwareUpdated",
            "detail": "v2.1",
            "source": "charger",
            "reported_at": (NOW + timedelta(minutes=1)).isoformat(),
        },
        {
            "at": NOW.isoformat(),
            "kind": "connection",
            "type": "Connected",
            "detail": "connected from 192.0.2.7",
            "source": "csms",
            "reported_at": None,
        },
    ]


async def test_security_only_leaves_connections_out(db: Database) -> None:
    def setup(uow: UnitOfWork) -> None:
        _connected(uow, "CP1", NOW)
        _reported(uow, "CP1", "StartupOfTheDevice", NOW)

    await db.write(setup)
    entries, _ = await db.read(lambda uow: charger_timeline(uow, "CP1", security_only=True))
    assert [(e.kind, e.type) for e in entries] == [("security", "StartupOfTheDevice")]


async def test_since_keeps_what_happened_from_then_on(db: Database) -> None:
    def setup(uow: UnitOfWork) -> None:
        for minute in range(5):
            _connected(uow, "CP1", NOW + timedelta(minutes=minute), address=f"192.0.2.{minute}")

    await db.write(setup)
    since = NOW + timedelta(minutes=3)
    entries, _ = await db.read(lambda uow: charger_timeline(uow, "CP1", since=since))
    assert [e.detail for e in entries] == ["connected from 192.0.2.4", "connected from 192.0.2.3"]


async def test_pages_of_events_of_the_same_moment_lose_and_repeat_none(db: Database) -> None:
    def setup(uow: UnitOfWork) -> None:
        for n in range(3):
            _connected(uow, "CP1", NOW, address=f"198.51.100.{n}")
            _reported(uow, "CP1", "ResetOrReboot", NOW, techInfo=f"boot {n}")
            _recorded(uow, "CP1", "charger_auth_throttled", NOW, source=f"203.0.113.{n}")

    await db.write(setup)
    seen: list[str] = []
    cursor: Cursor | None = None
    pages = 0
    while True:
        entries, cursor = await db.read(
            lambda uow, before=cursor: charger_timeline(uow, "CP1", before=before, limit=2)
        )
        pages += 1
        seen += [str(e.detail) for e in entries]
        if cursor is None:
            break
        cursor = parse_cursor(str(cursor))  # as the API gets it back
    assert pages == 5
    assert len(seen) == 9 and len(set(seen)) == 9
    # the charger's reports first, then csms's records, then connections; newest row first
    assert seen[:3] == ["boot 2", "boot 1", "boot 0"]
    assert seen[-1] == "connected from 198.51.100.0"


async def test_details_keep_secrets_out(db: Database) -> None:
    await db.write(
        lambda uow: _recorded(
            uow,
            "CP1",
            "profile_refused",
            NOW,
            password="hunter2hunter2",
            profile="1",
            required="2",
            credentials_sent_in_clear=True,
        )
    )
    entries, _ = await db.read(lambda uow: charger_timeline(uow, "CP1"))
    # A flag is kept whatever its name (it tells the operator to rotate the password).
    assert entries[0].detail == "profile=1, required=2, credentials_sent_in_clear=True"


def test_since_takes_a_date_or_a_datetime() -> None:
    assert parse_since("2026-11-22") == datetime(2026, 11, 22, tzinfo=UTC)
    assert parse_since("2026-11-22T10:30:00+01:00") == datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    assert parse_since("2026-11-22T10:30") == datetime(2026, 11, 22, 10, 30, tzinfo=UTC)


def test_a_bad_since_says_the_format() -> None:
    with pytest.raises(InvalidRequest, match="use YYYY-MM-DD or an ISO 8601 date-time"):
        parse_since("last tuesday")


@pytest.mark.parametrize("text", ["", "abc", "1-2", "1-7-3", "1-2-x"])
def test_a_bad_cursor_says_where_cursors_come_from(text: str) -> None:
    with pytest.raises(InvalidRequest, match="X-Next-Before"):
        parse_cursor(text)


def test_a_cursor_reads_back_as_printed() -> None:
    cursor = Cursor(NOW + timedelta(microseconds=123457), 1, 42)
    assert parse_cursor(str(cursor)) == cursor
