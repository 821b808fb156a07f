"""Simulated time: OCPP intervals compressed by a speed factor, timestamps in real UTC."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

__all__ = ["SimClock", "iso_utc", "utc_now"]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso_utc(moment: datetime | None = None) -> str:
    """An OCPP timestamp: ISO 8601 UTC with milliseconds and a ``Z``."""
    moment = utc_now() if moment is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SimClock:
    """Compresses simulated seconds into real seconds: ``speed=60`` runs a minute per second.

    Only durations are compressed (heartbeat and meter intervals, boot retries, charging
    time); message timestamps stay the real wall clock, as a charger's clock would.
    """

    __slots__ = ("speed",)

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.speed = speed

    def real_seconds(self, simulated: float) -> float:
        """How long ``simulated`` seconds last in real time."""
        return max(simulated, 0.0) / self.speed

    def simulated_seconds(self, real: float) -> float:
        """How many simulated seconds pass in ``real`` seconds."""
        return real * self.speed

    async def sleep(self, simulated: float) -> None:
        await asyncio.sleep(self.real_seconds(simulated))

    def monotonic(self) -> float:
        """Real monotonic time (the running loop's clock)."""
        return asyncio.get_running_loop().time()
