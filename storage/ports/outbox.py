"""The port of the transactional outbox (docs/adr/0008-outbox.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from storage.records import OutboxRecord

__all__ = ["OutboxRepository"]


class OutboxRepository(Protocol):
    def enqueue(self, *, topic: str, key: str, payload: dict[str, Any], now: datetime) -> bool:
        """Add a delivery due now; False (nothing added) when ``key`` is there already."""
        ...

    def get(self, outbox_id: int) -> OutboxRecord | None: ...
    def due(self, now: datetime, *, limit: int) -> list[OutboxRecord]:
        """Pending deliveries due by ``now`` and claimed by nobody, oldest first."""
        ...

    def next_due_at(self) -> datetime | None:
        """When the next pending delivery is due (None: nothing pending)."""
        ...

    def claim(self, outbox_id: int, *, now: datetime, until: datetime) -> bool:
        """Take a due delivery for one attempt (counted), unless another worker holds it."""
        ...

    def complete(self, outbox_id: int, *, now: datetime, result: str | None) -> None: ...
    def reschedule(self, outbox_id: int, *, at: datetime, error: str, now: datetime) -> None: ...
    def fail(self, outbox_id: int, *, error: str, now: datetime) -> None: ...
    def retry(self, outbox_id: int, *, now: datetime) -> bool:
        """A failed delivery back to pending, due now, with its attempts counted from 0."""
        ...

    def list(self, *, status: str | None = None, limit: int = 100) -> list[OutboxRecord]:
        """Newest first."""
        ...

    def counts(self) -> dict[str, int]:
        """Deliveries per status."""
        ...
