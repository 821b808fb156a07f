"""OCPP dateTime values: parsed into aware UTC datetimes, written as RFC 3339 UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from protocol import ErrorCode, OCPPError

__all__ = ["format_time", "parse_time"]


def parse_time(value: str, *, field: str) -> datetime:
    """An OCPP dateTime as an aware UTC datetime (a value without offset is taken as UTC)."""
    try:
        parsed = datetime.fromisoformat(value.upper())  # RFC 3339 allows "t" and "z"
    except ValueError:
        raise OCPPError(
            ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, f"{field}: {value!r} is not an RFC 3339 time"
        ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and a ``Z`` suffix."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
