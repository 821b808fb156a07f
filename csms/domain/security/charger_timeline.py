"""One charger's security and connection events, newest first (``csms chargers events``).

Three sources, merged into one list:

* the security events the charger reported (1.6 security extension
  SecurityEventNotification, OCPP 1.6 Security Whitepaper N02; 2.0.1 A04), kind
  ``security``, ``type`` the charger's event type (``FirmwareUpdated``, ...) and ``detail``
  its ``techInfo``;
* the security events csms recorded about the charger (a refused or throttled connection,
  a rejected CSR, a profile change, ...), kind ``security``, ``type`` csms's event kind and
  ``detail`` a short text of its details, without anything secret;
* the charger's connections (the connection log, kept 21 days), kind ``connection``.

Pages follow one order, newest first by time, then source, then row id, so that a page
boundary between two events of the same moment loses none and repeats none: the cursor of
the next page is the last listed event's (time, source, id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from csms.domain.errors import InvalidRequest
from csms.domain.model import parse_moment
from csms.domain.security.events import SECURITY_EVENT_KIND
from storage.ports import UnitOfWork

__all__ = [
    "MAX_LIMIT",
    "Cursor",
    "TimelineEntry",
    "charger_timeline",
    "parse_cursor",
    "parse_since",
]

#: The most events one page lists.
MAX_LIMIT = 1000

# Sources, in their order among events of the same moment (higher first).
_REPORTED, _RECORDED, _CONNECTION = 2, 1, 0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# Details csms records never hold secrets, but a key with one of these words in its name
# is left out of the text all the same (security by default).
_SECRET_WORDS = ("password", "secret", "token", "key", "pem", "csr", "credential", "pin")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: the last listed event's time, source and row id."""

    at: datetime
    source: int
    row_id: int

    def __str__(self) -> str:
        micros = (self.at - _EPOCH) // _MICROSECOND
        return f"{micros}-{self.source}-{self.row_id}"

    def bound(self, source: int) -> tuple[datetime, int | None]:
        """The (time, id) bound of ``source``'s rows that come after this cursor (no id:
        its time or older)."""
        if source < self.source:  # after it at the same moment too
            return self.at, None
        if source > self.source:  # before it at the same moment: only older rows
            return self.at, 0
        return self.at, self.row_id


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: Literal["security", "connection"]
    type: str
    detail: str | None
    source: Literal["charger", "csms"]
    cursor: Cursor
    reported_at: str | None = None

    def view(self) -> dict[str, Any]:
        """The JSON form: ``at``, ``kind``, ``type``, ``detail``, ``source`` and, for an
        event the charger reported, its own ``reported_at`` timestamp."""
        return {
            "at": self.at.astimezone(UTC).isoformat(),
            "kind": self.kind,
            "type": self.type,
            "detail": self.detail,
            "source": self.source,
            "reported_at": self.reported_at,
        }


def parse_since(text: str) -> datetime:
    """``--since``: a date (from its midnight, UTC) or an ISO 8601 date-time (UTC if it
    names no zone); InvalidRequest saying the format otherwise."""

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=UTC)

    return parse_moment(text, day=midnight, example="2026-01-31T12:00:00Z")


def parse_cursor(text: str) -> Cursor:
    """A cursor as :class:`Cursor` prints it; InvalidRequest otherwise."""
    try:
        micros, source, row_id = (int(part) for part in text.strip().split("-"))
        if source not in (_REPORTED, _RECORDED, _CONNECTION) or row_id < 0:
            raise ValueError(text)
        at = _EPOCH + micros * _MICROSECOND
    except (ValueError, OverflowError, OSError):
        raise InvalidRequest(
            f"{text!r} is not a page cursor: pass the X-Next-Before value of the previous "
            "page (`csms chargers events` prints the option to add)"
        ) from None
    return Cursor(at, source, row_id)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _details_text(details: Mapping[str, Any]) -> str | None:
    parts = [
        f"{key}={value}"
        for key, value in details.items()
        # A flag (``credentials_sent_in_clear``) holds no secret whatever its name says.
        if isinstance(value, bool)
        or (
            not any(word in key.lower() for word in _SECRET_WORDS)
            and isinstance(value, str | int | float)
        )
    ]
    return ", ".join(parts)[:300] or None


def charger_timeline(
    uow: UnitOfWork,
    charger_id: str,
    *,
    security_only: bool = False,
    since: datetime | None = None,
    before: Cursor | None = None,
    limit: int = 100,
) -> tuple[list[TimelineEntry], Cursor | None]:
    """The charger's events newest first, ``limit`` of them (at most :data:`MAX_LIMIT`),
    from ``since`` on and after the cursor ``before``; and the cursor of the next page
    when more match (None otherwise). ``security_only`` leaves connections out."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be from 1 to {MAX_LIMIT}")
    fetch = limit + 1

    def bound(source: int) -> tuple[datetime, int | None] | None:
        return before.bound(source) if before is not None else None

    entries: list[TimelineEntry] = []
    for event in uow.charger_events.newest_for_charger(
        charger_id,
        kind=SECURITY_EVENT_KIND,
        since=since,
        before=bound(_REPORTED),
        limit=fetch,
    ):
        payload = event.payload if isinstance(event.payload, Mapping) else {}
        at = _utc(event.received_at)
        tech_info = payload.get("techInfo")
        timestamp = payload.get("timestamp")
        entries.append(
            TimelineEntry(
                at=at,
                kind="security",
                type=str(payload.get("type", "unknown")),
                detail=str(tech_info) if tech_info is not None else None,
                source="charger",
                cursor=Cursor(at, _REPORTED, event.id or 0),
                reported_at=str(timestamp) if timestamp is not None else None,
            )
        )
    for record in uow.security_events.newest_for_charger(
        charger_id, since=since, before=bound(_RECORDED), limit=fetch
    ):
        at = _utc(record.created_at)
        entries.append(
            TimelineEntry(
                at=at,
                kind="security",
                type=record.kind,
                detail=_details_text(record.details or {}),
                source="csms",
                cursor=Cursor(at, _RECORDED, record.id),
            )
        )
    if not security_only:
        for connection in uow.connection_log.newest_for_charger(
            charger_id, since=since, before=bound(_CONNECTION), limit=fetch
        ):
            at = _utc(connection.connected_at)
            address = connection.remote_address
            entries.append(
                TimelineEntry(
                    at=at,
                    kind="connection",
                    type="Connected",
                    detail=f"connected from {address}" if address else "connected",
                    source="csms",
                    cursor=Cursor(at, _CONNECTION, connection.id),
                )
            )
    entries.sort(key=lambda e: (e.cursor.at, e.cursor.source, e.cursor.row_id), reverse=True)
    if len(entries) > limit:
        page = entries[:limit]
        return page, page[-1].cursor
    return entries, None
