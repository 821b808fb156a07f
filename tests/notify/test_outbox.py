"""The outbox worker on a real database (SQLite and PostgreSQL): at least once, each key
once, retries with backoff, failed for good after the last attempt, retried on demand,
and claims that survive a crash (docs/adr/0008-outbox.md)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from notify.errors import DeliveryError
from notify.outbox import OutboxWorker, Outcome, RetryPolicy
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import OutboxRecord

FAST = RetryPolicy(max_attempts=4, base=0.05, cap=0.1)


def _now() -> datetime:
    return datetime.now(UTC)


async def _enqueue(db: Database, *keys: str, topic: str = "test.send") -> None:
    now = _now()

    def run(uow: UnitOfWork) -> None:
        for key in keys:
            uow.outbox.enqueue(topic=topic, key=key, payload={"n": key}, now=now)

    await db.write(run)


async def _wait_for(db: Database, key: str, status: str, *, timeout: float = 10.0) -> OutboxRecord:
    async with asyncio.timeout(timeout):
        while True:
            rows = await db.read(lambda uow: uow.outbox.list(limit=1000))
            found = [r for r in rows if r.key == key]
            if found and found[0].status == status:
                return found[0]
            await asyncio.sleep(0.02)


class Receiver:
    """A receiver that records what it is sent and fails as told."""

    def __init__(self, *, failures: int = 0, permanent: bool = False, delay: float = 0) -> None:
        self.keys: list[str] = []
        self.failures = failures
        self.permanent = permanent
        self.delay = delay

    async def __call__(self, record: OutboxRecord, now: datetime) -> Outcome:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failures:
            self.failures -= 1
            raise DeliveryError("receiver unavailable (503)", permanent=self.permanent)
        self.keys.append(record.key)
        return Outcome("done", result=f"received {record.key}")


async def test_an_enqueued_delivery_is_made_once_its_commit_wakes_the_worker(db: Database) -> None:
    receiver = Receiver()
    # a long idle poll: only the commit's wake-up can make it deliver in time
    worker = OutboxWorker(db, internal={}, external={"test.send": receiver}, idle_poll=60)
    await worker.start()
    try:
        await asyncio.sleep(0.05)
        await _enqueue(db, "k1")
        done = await _wait_for(db, "k1", "done", timeout=5)
    finally:
        await worker.stop()
    assert receiver.keys == ["k1"]
    assert (done.attempts, done.result, done.done_at is not None) == (1, "received k1", True)


async def test_the_same_fact_enqueued_twice_under_one_key_is_one_delivery(db: Database) -> None:
    await _enqueue(db, "same")
    await _enqueue(db, "same")
    receiver = Receiver()
    worker = OutboxWorker(db, internal={}, external={"test.send": receiver})
    await worker.start()
    try:
        await _wait_for(db, "same", "done")
    finally:
        await worker.stop()
    assert receiver.keys == ["same"]
    assert len(await db.read(lambda uow: uow.outbox.list())) == 1


async def test_a_failing_receiver_is_retried_with_backoff_until_it_takes_the_delivery(
    db: Database,
) -> None:
    receiver = Receiver(failures=2)
    await _enqueue(db, "retry-me")
    worker = OutboxWorker(db, internal={}, external={"test.send": receiver}, policy=FAST)
    await worker.start()
    try:
        done = await _wait_for(db, "retry-me", "done")
    finally:
        await worker.stop()
    assert receiver.keys == ["retry-me"]
    assert done.attempts == 3
    assert done.last_error == "receiver unavailable (503)"  # kept: what happened before


async def test_a_permanent_refusal_fails_the_delivery_at_once(db: Database) -> None:
    receiver = Receiver(failures=5, permanent=True)
    await _enqueue(db, "refused")
    worker = OutboxWorker(db, internal={}, external={"test.send": receiver}, policy=FAST)
    await worker.start()
    try:
        failed = await _wait_for(db, "refused", "failed")
    finally:
        await worker.stop()
    assert (failed.attempts, receiver.failures) == (1, 4)


async def test_after_the_last_attempt_the_delivery_is_failed_and_retry_delivers_it(
    db: Database,
) -> None:
    receiver = Receiver(failures=FAST.max_attempts)
    await _enqueue(db, "down")
    worker = OutboxWorker(db, internal={}, external={"test.send": receiver}, policy=FAST)
    await worker.start()
    try:
        failed = await _wait_for(db, "down", "failed")
        assert failed.attempts == FAST.max_attempts
        assert "gave up after 4 attempts" in (failed.last_error or "")
        assert receiver.keys == []
        # the receiver is back; an operator retries (`csms outbox retry ID`)
        assert await db.write(lambda uow: uow.outbox.retry(failed.id, now=_now()))
        done = await _wait_for(db, "down", "done")
    finally:
        await worker.stop()
    assert receiver.keys == ["down"] and done.attempts == 1
    # only failed deliveries can be retried
    assert not await db.write(lambda uow: uow.outbox.retry(done.id, now=_now()))


async def test_a_delivery_a_crash_interrupted_is_made_again_under_its_key_once_its_lease_ends(
    db: Database,
) -> None:
    await _enqueue(db, "interrupted")
    [record] = await db.read(lambda uow: uow.outbox.list())
    now = _now()
    # A worker claimed it (attempt counted, lease 0.5 s) and then its process died.
    assert await db.write(
        lambda uow: uow.outbox.claim(record.id, now=now, until=now + timedelta(seconds=0.5))
    )
    assert await db.read(lambda uow: uow.outbox.due(_now(), limit=10)) == []
    receiver = Receiver()
    worker = OutboxWorker(db, internal={}, external={"test.send": receiver})
    await worker.start()
    try:
        await asyncio.sleep(0.2)
        assert receiver.keys == []  # a live claim, as far as anyone can tell: left alone
        done = await _wait_for(db, "interrupted", "done")
    finally:
        await worker.stop()
    assert receiver.keys == ["interrupted"] and done.attempts == 2


async def test_two_workers_on_one_database_make_each_delivery_once(db: Database) -> None:
    keys = [f"k{i}" for i in range(30)]
    await _enqueue(db, *keys)
    seen: Counter[str] = Counter()

    async def slow(record: OutboxRecord, now: datetime) -> Outcome:
        await asyncio.sleep(0.01)
        seen[record.key] += 1
        return Outcome("done")

    workers = [OutboxWorker(db, internal={}, external={"test.send": slow}) for _ in range(2)]
    for worker in workers:
        await worker.start()
    try:
        for key in keys:
            await _wait_for(db, key, "done")
    finally:
        for worker in workers:
            await worker.stop()
    assert seen == Counter(keys)


async def test_an_internal_delivery_commits_with_its_changes_or_not_at_all(db: Database) -> None:
    calls = []

    def handler(uow: UnitOfWork, record: OutboxRecord, now: datetime) -> str:
        calls.append(record.key)
        # what the handler writes: a follow-up delivery
        uow.outbox.enqueue(topic="test.follow", key=f"follow:{record.key}", payload={}, now=now)
        if len(calls) == 1:
            raise RuntimeError("bug on the first try")
        return "followed up"

    await _enqueue(db, "first", topic="test.internal")
    receiver = Receiver()
    worker = OutboxWorker(
        db,
        internal={"test.internal": handler},
        external={"test.follow": receiver},
        policy=FAST,
    )
    await worker.start()
    try:
        done = await _wait_for(db, "first", "done")
        await _wait_for(db, "follow:first", "done")
    finally:
        await worker.stop()
    assert calls == ["first", "first"] and done.attempts == 2 and done.result == "followed up"
    # the first try's follow-up was rolled back with it: delivered once
    assert receiver.keys == ["follow:first"]


async def test_an_outcome_write_is_committed_with_the_delivery_state(db: Database) -> None:
    async def charge(record: OutboxRecord, now: datetime) -> Outcome:
        def record_it(uow: UnitOfWork) -> None:
            uow.outbox.enqueue(topic="test.note", key="written-with-it", payload={}, now=now)

        return Outcome("done", result="charged", write=record_it)

    await _enqueue(db, "charge")
    worker = OutboxWorker(db, internal={}, external={"test.send": charge})
    await worker.start()
    try:
        await _wait_for(db, "charge", "done")
    finally:
        await worker.stop()
    keys = {r.key for r in await db.read(lambda uow: uow.outbox.list())}
    assert keys == {"charge", "written-with-it"}


@pytest.mark.parametrize("attempt", [1, 2, 5, 12])
def test_backoff_doubles_up_to_the_cap_with_jitter_in_its_upper_half(attempt: int) -> None:
    policy = RetryPolicy(base=10, cap=300)
    ceiling = min(300, 10 * 2 ** (attempt - 1))
    delays = [policy.delay(attempt, rng=random.Random(seed)) for seed in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not one fixed value


async def test_a_long_error_is_kept_cut_to_its_column_on_every_database(db: Database) -> None:
    """PostgreSQL refuses a text longer than its column (SQLite would keep it): the error
    is cut, so recording the failure never fails and the delivery reaches ``failed``."""

    async def verbose(record: OutboxRecord, now: datetime) -> Outcome:
        raise DeliveryError("the receiver said: " + "x" * 2000, permanent=True)

    await _enqueue(db, "verbose")
    worker = OutboxWorker(db, internal={}, external={"test.send": verbose}, policy=FAST)
    await worker.start()
    try:
        failed = await _wait_for(db, "verbose", "failed")
    finally:
        await worker.stop()
    assert failed.last_error is not None and len(failed.last_error) == 500
    assert failed.last_error.startswith("the receiver said: ") and failed.last_error[-1] == "…"
