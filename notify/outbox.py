"""The outbox worker: delivers what commits left in the ``outbox`` table, at least once.

Every row is a delivery with a topic and a unique key (docs/adr/0008-outbox.md):

- **Internal** topics (``session.completed``: bill the session; ``charging.done``: decide
  who hears about it) change only the database. Their handler runs in the same unit of work
  that marks the row done, so they happen exactly once.
- **External** topics (an email, a text message, a card charge) reach another system. The
  row is *claimed* first (committed: attempt counted, a lease so no other worker, in this
  process or another, takes it), then delivered under the row's idempotency key, then
  marked done with whatever the handler records (an invoice paid) in one commit. A crash
  between the delivery and that commit leaves the claim; once its lease has run out the
  delivery is made again under the same key, and the receiver recognises it (Stripe's
  Idempotency-Key, the SMS gateway's Idempotency-Key header, the email's Message-ID).

Failures are retried with exponential backoff and jitter (``RetryPolicy``); a permanent
failure (the receiver refused the request itself) or the last attempt leaves the row
``failed``: ``csms outbox list --failed`` shows it, ``csms outbox retry ID`` queues it
again once the cause is fixed.

The worker runs inside the server's event loop; it wakes when a commit enqueues a delivery
(``SqlUnitOfWork.outbox_listeners``) and otherwise when the next retry is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from notify.errors import DeliveryError
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import OutboxRecord

__all__ = [
    "ExternalHandler",
    "InternalHandler",
    "OutboxWorker",
    "Outcome",
    "RetryPolicy",
]

log = logging.getLogger(__name__)

#: An internal delivery: changes the database only, in the unit of work that completes the
#: row; returns what it did (shown by ``csms outbox list``).
InternalHandler = Callable[[UnitOfWork, OutboxRecord, datetime], str | None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an external delivery ended. ``write`` runs in the commit that records it."""

    status: Literal["done", "retry", "failed"]
    result: str | None = None
    error: str | None = None
    #: For ``retry``: when (else the retry policy's backoff).
    retry_at: datetime | None = None
    write: Callable[[UnitOfWork], None] | None = None


#: An external delivery: talks to another system; raises ``DeliveryError`` when it could
#: not (retried unless permanent) or returns an ``Outcome``.
ExternalHandler = Callable[[OutboxRecord, datetime], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts per delivery and the backoff between them: ``base`` seconds doubling per
    attempt up to ``cap``, "equal jitter" (half fixed, half random) so that deliveries that
    failed together do not come back together."""

    max_attempts: int = 12
    base: float = 10.0
    cap: float = 3600.0

    def delay(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...)."""
        ceiling = min(self.cap, self.base * float(2 ** max(0, attempt - 1)))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxWorker:
    """Drains the outbox of one database (one worker per csms process)."""

    def __init__(
        self,
        db: Database,
        *,
        internal: Mapping[str, InternalHandler],
        external: Mapping[str, ExternalHandler],
        policy: RetryPolicy | None = None,
        concurrency: int = 8,
        lease: float = 120.0,
        idle_poll: float = 30.0,
        batch: int = 50,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.db = db
        self.internal = dict(internal)
        self.external = dict(external)
        self.policy = policy or RetryPolicy()
        self.lease = lease
        self.idle_poll = idle_poll
        self.batch = batch
        self.clock = clock
        self._slots = asyncio.Semaphore(concurrency)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: External deliveries under way, by outbox id (one at a time per row).
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        self._rng = random.Random()

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for new deliveries and start draining. A delivery an earlier process died
        making keeps its claim until the lease runs out, then it is made again: another
        csms process on the same database may hold a claim too, and only the lease tells
        a dead claim from a live one."""
        self.db.add_outbox_listener(self.wake)
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    def wake(self) -> None:
        self._wakeup.set()

    async def stop(self, *, grace: float = 15.0) -> None:
        """Stop taking deliveries; give those under way ``grace`` seconds to finish (an
        unfinished one keeps its claim and is made again after the next start)."""
        self._stopping = True
        self.db.remove_outbox_listener(self.wake)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._inflight:
            _done, pending = await asyncio.wait(self._inflight.values(), timeout=grace)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- the loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                started = await self.run_once()
            except Exception as exc:  # the database is down: try again later
                log.error("outbox: cannot read deliveries (%s: %s)", type(exc).__name__, exc)
                started = 0
            if started:
                continue
            timeout = await self._idle_timeout()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _idle_timeout(self) -> float:
        try:
            due_at = await self.db.read(lambda uow: uow.outbox.next_due_at())
        except Exception:
            return self.idle_poll
        if due_at is None:
            return self.idle_poll
        return min(self.idle_poll, max(0.05, (due_at - self.clock()).total_seconds()))

    async def run_once(self) -> int:
        """Start every delivery due now; how many were started. Internal ones are done when
        this returns; external ones run on in tasks of their own."""
        now = self.clock()
        due = await self.db.read(lambda uow: uow.outbox.due(now, limit=self.batch))
        started = 0
        for record in due:
            if self._stopping:
                break
            if record.topic in self.internal:
                await self._deliver_internal(record)
                started += 1
                continue
            if record.id in self._inflight:
                continue
            await self._slots.acquire()
            task = asyncio.create_task(self._deliver_external(record), name=f"outbox-{record.id}")
            self._inflight[record.id] = task
            task.add_done_callback(functools.partial(self._finished, record.id))
            started += 1
        return started

    def _finished(self, outbox_id: int, _task: asyncio.Task[None]) -> None:
        del self._inflight[outbox_id]
        self._slots.release()
        # (its retry time, or a slot for what waits: look again)
        self._wakeup.set()

    # -- one delivery -----------------------------------------------------------------

    async def _deliver_internal(self, record: OutboxRecord) -> None:
        handler = self.internal[record.topic]
        now = self.clock()

        def run(uow: UnitOfWork) -> str | None:
            if not uow.outbox.claim(record.id, now=now, until=now):
                return None  # someone else has it (or it is done)
            result = handler(uow, record, now)
            uow.outbox.complete(record.id, now=now, result=result)
            return result or "done"

        try:
            result = await self.db.write(run)
        except Exception as exc:
            log.exception("outbox %d %s failed", record.id, record.topic)
            await self._failed_attempt(record, record.attempts + 1, _describe(exc), now=now)
            return
        if result is not None:
            log.info("outbox %d %s: %s", record.id, record.topic, result)

    async def _deliver_external(self, record: OutboxRecord) -> None:
        handler = self.external.get(record.topic)
        now = self.clock()
        until = now + timedelta(seconds=self.lease)
        try:
            claimed = await self.db.write(
                lambda uow: uow.outbox.claim(record.id, now=now, until=until)
            )
        except Exception as exc:
            log.error("outbox %d: cannot claim (%s)", record.id, _describe(exc))
            # (holding the slot a moment: the loop would otherwise pick it again at once)
            await asyncio.sleep(1.0)
            return
        if not claimed:
            return
        attempt = record.attempts + 1
        if handler is None:
            outcome = Outcome("failed", error=f"no handler for topic {record.topic!r}")
        else:
            try:
                outcome = await handler(record, now)
            except DeliveryError as exc:
                outcome = Outcome("failed" if exc.permanent else "retry", error=str(exc))
            except asyncio.CancelledError:
                raise  # stopping: the claim stays and expires; delivered again after start
            except Exception as exc:
                log.exception("outbox %d %s: unexpected error", record.id, record.topic)
                outcome = Outcome("retry", error=_describe(exc))
        await self._record(record, attempt, outcome)

    def _settled(self, outcome: Outcome, attempt: int, *, now: datetime) -> Outcome:
        """``outcome`` with the retry policy applied: a retry without a time of its own
        gets the backoff, or fails after the last attempt."""
        if outcome.status != "retry" or outcome.retry_at is not None:
            return outcome
        if attempt >= self.policy.max_attempts:
            error = f"{outcome.error} (gave up after {attempt} attempts)"
            return Outcome("failed", error=error, write=outcome.write)
        delay = self.policy.delay(attempt, rng=self._rng)
        at = now + timedelta(seconds=delay)
        return Outcome("retry", error=outcome.error, retry_at=at, write=outcome.write)

    @staticmethod
    def _apply(uow: UnitOfWork, outbox_id: int, outcome: Outcome, *, now: datetime) -> None:
        """Record a settled ``outcome`` on the row (with what the handler writes)."""
        if outcome.write is not None:
            outcome.write(uow)
        if outcome.status == "done":
            uow.outbox.complete(outbox_id, now=now, result=outcome.result)
        elif outcome.status == "retry":
            assert outcome.retry_at is not None
            uow.outbox.reschedule(
                outbox_id, at=outcome.retry_at, error=outcome.error or "retry", now=now
            )
        else:
            uow.outbox.fail(outbox_id, error=outcome.error or "failed", now=now)

    async def _record(self, record: OutboxRecord, attempt: int, outcome: Outcome) -> None:
        now = self.clock()
        outcome = self._settled(outcome, attempt, now=now)

        def write(uow: UnitOfWork) -> None:
            self._apply(uow, record.id, outcome, now=now)

        try:
            await self.db.write(write)
        except Exception as exc:
            # The claim stays and expires: the delivery is made again under the same key.
            log.error("outbox %d: cannot record the delivery (%s)", record.id, _describe(exc))
            return
        if outcome.status == "done":
            log.info(
                "outbox %d %s delivered (attempt %d): %s",
                record.id,
                record.topic,
                attempt,
                outcome.result or "done",
            )
        elif outcome.status == "retry":
            assert outcome.retry_at is not None
            log.warning(
                "outbox %d %s attempt %d failed: %s; next attempt at %s",
                record.id,
                record.topic,
                attempt,
                outcome.error,
                outcome.retry_at.isoformat(timespec="seconds"),
            )
        else:
            log.error(
                "outbox %d %s failed for good (attempt %d): %s; `csms outbox retry %d` "
                "queues it again",
                record.id,
                record.topic,
                attempt,
                outcome.error,
                record.id,
            )

    async def _failed_attempt(
        self, record: OutboxRecord, attempt: int, error: str, *, now: datetime
    ) -> None:
        """An internal delivery raised: count the attempt and back off (or fail)."""
        outcome = self._settled(Outcome("retry", error=error), attempt, now=now)

        def write(uow: UnitOfWork) -> None:
            if uow.outbox.claim(record.id, now=now, until=now):
                self._apply(uow, record.id, outcome, now=now)

        try:
            await self.db.write(write)
        except Exception as exc:
            log.error("outbox %d: cannot record the failure (%s)", record.id, _describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
