"""The transactional outbox (docs/adr/0008-outbox.md): deliveries enqueued in the commit
of their cause, claimed, completed, rescheduled or failed by the workers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, case, func, select, update

from storage.records import OutboxRecord
from storage.sql import tables as t
from storage.sql.repositories.common import Repository, upsert

__all__ = ["SqlOutbox"]


_ERROR_LENGTH = t.outbox.c.last_error.type.length or 500  # type: ignore[attr-defined]
_RESULT_LENGTH = t.outbox.c.result.type.length or 300  # type: ignore[attr-defined]


def _clip(text: str | None, length: int) -> str | None:
    """``text`` cut to ``length`` characters (an ellipsis says it was)."""
    if text is None or len(text) <= length:
        return text
    return text[: length - 1] + "…"


class SqlOutbox(Repository[OutboxRecord]):
    """The outbox table. A delivery added (``enqueue``, ``retry``) calls ``on_enqueue``:
    the unit of work's, whose commit then wakes the workers of this process
    (``SqlUnitOfWork.outbox_listeners``)."""

    table = t.outbox
    record_type = OutboxRecord

    def __init__(self, conn: Connection, *, on_enqueue: Callable[[], None]) -> None:
        super().__init__(conn)
        self._on_enqueue = on_enqueue

    def enqueue(self, *, topic: str, key: str, payload: dict[str, Any], now: datetime) -> bool:
        statement = (
            upsert(self.conn, t.outbox)
            .values(
                topic=topic,
                key=key,
                payload=payload,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )
        added = bool(self.conn.execute(statement).rowcount)
        if added:
            self._on_enqueue()
        return added

    def get(self, outbox_id: int) -> OutboxRecord | None:
        return self._one(t.outbox.c.id == outbox_id)

    def due(self, now: datetime, *, limit: int) -> list[OutboxRecord]:
        o = t.outbox.c
        query = (
            select(t.outbox)
            .where(
                o.status == "pending",
                o.next_attempt_at <= now,
                (o.claimed_until.is_(None)) | (o.claimed_until < now),
            )
            .order_by(o.next_attempt_at, o.id)
            .limit(limit)
        )
        return self._all(query)

    def next_due_at(self) -> datetime | None:
        o = t.outbox.c
        soonest = func.min(
            case((o.claimed_until.is_(None), o.next_attempt_at), else_=o.claimed_until)
        )
        value = self.conn.execute(select(soonest).where(o.status == "pending")).scalar()
        if value is None:
            return None
        if isinstance(value, str):  # SQLite returns the column's text for an expression
            value = datetime.fromisoformat(value)
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def claim(self, outbox_id: int, *, now: datetime, until: datetime) -> bool:
        o = t.outbox.c
        result = self.conn.execute(
            update(t.outbox)
            .where(
                o.id == outbox_id,
                o.status == "pending",
                (o.claimed_until.is_(None)) | (o.claimed_until < now),
            )
            .values(claimed_until=until, attempts=o.attempts + 1, updated_at=now)
        )
        return bool(result.rowcount)

    def _set(self, outbox_id: int, **values: Any) -> None:
        self.conn.execute(update(t.outbox).where(t.outbox.c.id == outbox_id).values(**values))

    def complete(self, outbox_id: int, *, now: datetime, result: str | None) -> None:
        self._set(
            outbox_id,
            status="done",
            claimed_until=None,
            result=_clip(result, _RESULT_LENGTH),
            done_at=now,
            updated_at=now,
        )

    def reschedule(self, outbox_id: int, *, at: datetime, error: str, now: datetime) -> None:
        self._set(
            outbox_id,
            claimed_until=None,
            next_attempt_at=at,
            last_error=_clip(error, _ERROR_LENGTH),
            updated_at=now,
        )

    def fail(self, outbox_id: int, *, error: str, now: datetime) -> None:
        self._set(
            outbox_id,
            status="failed",
            claimed_until=None,
            last_error=_clip(error, _ERROR_LENGTH),
            updated_at=now,
        )

    def retry(self, outbox_id: int, *, now: datetime) -> bool:
        o = t.outbox.c
        result = self.conn.execute(
            update(t.outbox)
            .where(o.id == outbox_id, o.status == "failed")
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=now,
                claimed_until=None,
                updated_at=now,
            )
        )
        if result.rowcount:
            self._on_enqueue()
        return bool(result.rowcount)

    def list(self, *, status: str | None = None, limit: int = 100) -> list[OutboxRecord]:
        o = t.outbox.c
        query = select(t.outbox).order_by(o.id.desc()).limit(limit)
        if status is not None:
            query = query.where(o.status == status)
        return self._all(query)

    def counts(self) -> dict[str, int]:
        o = t.outbox.c
        query = select(o.status, func.count()).group_by(o.status)
        return {status: int(n) for status, n in self.conn.execute(query)}
