"""The database: connections, units of work, group commit.

``Database.write(fn)`` runs ``fn(uow)`` in a unit of work and returns its result once the
unit of work is **committed**. Writes that arrive while a commit is in progress are
collected and committed together in the next database transaction (group commit): a
charger's transaction message is still acknowledged only after its data is durable, but
a hundred chargers share one fsync instead of paying for one each. If any unit of work in
a batch raises, the batch is rolled back and each unit of work is run again in its own
transaction, so one bad message never costs the others their data.

``Database.read(fn)`` runs ``fn(uow)`` on a read connection without committing.

Units of work are synchronous functions over SQLAlchemy Core (see ``storage.ports``):

- SQLite runs them on the stdlib ``sqlite3`` driver, WAL journal, ``synchronous=FULL``,
  with a small reader pool in threads. A batch is committed on the event loop's own thread
  while that is cheap (a local disk commits a batch in about a millisecond, and a thread
  hand-off costs more than that in GIL ping-pong under load); it goes to the one writer
  thread when COMMITs take longer than 5 ms (smoothed: one WAL checkpoint does not count)
  or another process holds the write lock, so the loop never keeps waiting on a slow disk
  or a lock (docs/adr/0002-group-commit-and-sync-units-of-work.md has the measurements).
- PostgreSQL runs them through SQLAlchemy's asyncio bridge on asyncpg
  (``AsyncConnection.run_sync``).

A database server that cannot be reached (refused or dropped connections, a server
shutting down or starting up) raises ``DatabaseUnavailable``. A write whose commit fails
that way is not answered with an error at once: it is held, and its batch tried again
with backoff, for up to ``outage_hold`` seconds after it was queued (``CSMS_DB_OUTAGE_HOLD``,
below chargers' call timeouts), so that a short outage costs a charger a slow answer, not
a refused transaction message. Writes queued meanwhile join the batch being held. Each
held write is committed once: a failed attempt is rolled back before the next one (the
exception is a COMMIT whose answer the outage swallowed; the units of work of transaction
messages are idempotent for that reason, see ADR 2).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from storage.crypto import KeyRing
from storage.errors import ConflictError, DatabaseUnavailable, StorageError, StorageUnavailable
from storage.files import secure_sqlite_file
from storage.sql.repositories import SqlUnitOfWork, StorageCache, Vault
from storage.sql.tables import metadata

__all__ = ["Database", "UnitOfWorkFn", "normalize_url"]

log = logging.getLogger(__name__)

T = TypeVar("T")
UnitOfWorkFn = Callable[[SqlUnitOfWork], T]


def normalize_url(url: str | URL) -> URL:
    """The async driver URL for a database URL.

    ``sqlite://`` becomes aiosqlite and ``postgresql://`` asyncpg.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    raise StorageUnavailable(
        f"unsupported database {parsed.drivername!r}: use sqlite+aiosqlite:///PATH "
        "or postgresql+asyncpg://USER@HOST/DB"
    )


#: SQLSTATEs that mean "the server is not there right now": class 08 (connection
#: exceptions), admin/crash shutdown and "cannot connect now" (57P01-57P03), too many
#: connections (53300).
_OUTAGE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def _is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database server cannot be reached, rather than that it
    refused a statement. asyncpg raises ``OSError`` (``ConnectionRefusedError``, ...)
    from a connect, outside SQLAlchemy's exception wrapping; errors on a connection that
    dropped come wrapped, with ``connection_invalidated`` set."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, OSError):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate.startswith("08") or sqlstate in _OUTAGE_SQLSTATES
        ):
            return True
        if type(current).__name__ == "ConnectionDoesNotExistError":  # asyncpg, unwrapped
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False


def _translate(exc: BaseException) -> StorageError:
    if isinstance(exc, StorageError):
        return exc
    if not isinstance(exc, sqlite3.Error) and _is_outage(exc):
        return DatabaseUnavailable(f"database unreachable: {type(_root(exc)).__name__}: {exc}")
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(str(exc))
    if isinstance(exc, sqlite3.OperationalError):
        return StorageUnavailable(str(exc))
    if isinstance(exc, sqlite3.Error):
        return StorageError(str(exc))
    if isinstance(exc, IntegrityError):
        return ConflictError(str(exc.orig) if exc.orig else str(exc))
    if isinstance(exc, OperationalError | ConnectionError | OSError):
        return StorageUnavailable(str(exc))
    if isinstance(exc, DBAPIError):
        return StorageError(str(exc.orig) if exc.orig else str(exc))
    return StorageError(str(exc))


def _root(exc: BaseException) -> BaseException:
    """The driver's own exception under SQLAlchemy's wrapping (for log lines)."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


#: Backoff between attempts to commit a held batch while the database is unreachable:
#: doubling from the first to the last, never past the earliest deadline of the batch.
_OUTAGE_RETRY_FIRST = 0.05
_OUTAGE_RETRY_MAX = 1.0

_BUSY_TIMEOUT_MS = 10_000
#: When COMMITs on the loop thread take longer than this (the WAL write and fsync,
#: smoothed over recent batches: a slow disk), the next batches go to the writer thread,
#: so the event loop never keeps stalling on the disk.
_INLINE_MAX_SECONDS = 0.005
_INLINE_PAUSE_BATCHES = 200
#: Weight of the latest COMMIT in the smoothed duration: a single slow one (a WAL
#: checkpoint) does not send the writes to the thread.
_COMMIT_SMOOTHING = 0.2
#: WAL pages before the writer checkpoints them into the database file (SQLite's default
#: is 1,000). Under load the same index pages are written again and again; checkpointing
#: ten times less often copies each of them to the database file ten times less often.
_WAL_AUTOCHECKPOINT_PAGES = 10_000
_CONTENDED = object()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    # Switching to WAL needs the write lock; a database already in WAL (after the first
    # connection ever) is left alone, so connecting never fails while another writes.
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before the charger hears about it (the WAL is fsynced).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Erased personal data (ciphertext too) is overwritten with zeros in the pages that are
    # written anyway, not left in their free space for a copy of the file to give away
    # (FAST: no extra I/O, unlike ON, which also zeroes pages that go to the freelist).
    cursor.execute("PRAGMA secure_delete=FAST")
    cursor.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT_PAGES}")
    cursor.close()


_PROCESS_KEYS: list[KeyRing] = []


def _process_keys() -> KeyRing:
    """One throwaway key ring per process, for databases opened without keys."""
    if not _PROCESS_KEYS:
        _PROCESS_KEYS.append(KeyRing([KeyRing.generate()]))
    return _PROCESS_KEYS[0]


class _Pending:
    __slots__ = ("deadline", "fn", "future")

    def __init__(self, fn: UnitOfWorkFn[Any], future: asyncio.Future[Any], deadline: float) -> None:
        self.fn = fn
        self.future = future
        #: Event-loop time after which an outage fails this write instead of holding it.
        self.deadline = deadline


class Database:
    """One database: SQLite file or PostgreSQL server, with group-committed writes."""

    def __init__(
        self,
        url: str | URL,
        *,
        keys: KeyRing | None = None,
        max_batch: int = 512,
        outage_hold: float = 0.0,
    ) -> None:
        """``keys`` encrypt personal data (``csms.config`` loads them from CSMS_DATA_KEYS or
        ``$CSMS_HOME/data.keys``). Without them a key made up for this process is used:
        what it encrypts cannot be read by another process (tests and tools only).

        ``outage_hold``: seconds a write is held while the database is unreachable before
        it fails with ``DatabaseUnavailable`` (the server passes ``CSMS_DB_OUTAGE_HOLD``;
        0, for tools: at once)."""
        self.url = normalize_url(url)
        self.outage_hold = outage_hold
        #: Event-loop time the current outage began (None: the database is reachable).
        self._outage_since: float | None = None
        self.vault = Vault(keys if keys is not None else _process_keys())
        self.dialect = self.url.get_backend_name()
        self._max_batch = max_batch
        #: Batches to commit in the writer thread before trying the loop thread again.
        self._inline_pause = 0
        #: Smoothed duration of COMMITs on the loop thread (seconds), and the last one.
        self._commit_seconds = 0.0
        self._last_commit = 0.0
        self.cache = StorageCache()
        #: Called after every commit that enqueued outbox deliveries (the outbox workers).
        self._outbox_listeners: list[Callable[[], None]] = []
        self._pending: list[_Pending] = []
        self._wakeup: asyncio.Event | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._closed = False
        self._sync_writer: Engine | None = None
        self._sync_reader: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._write_thread: ThreadPoolExecutor | None = None
        self._read_threads: ThreadPoolExecutor | None = None
        if self.dialect == "sqlite":
            sync_url = self.url.set(drivername="sqlite")
            if sync_url.database and sync_url.database != ":memory:":
                secure_sqlite_file(sync_url.database)  # 0600, in a 0700 directory
            else:
                raise StorageUnavailable("in-memory SQLite is not supported: give a file path")
            args = {"check_same_thread": False, "timeout": 30}
            self._sync_writer = create_engine(
                sync_url, poolclass=QueuePool, pool_size=1, max_overflow=0, connect_args=args
            )
            self._sync_reader = create_engine(
                sync_url, poolclass=QueuePool, pool_size=4, max_overflow=4, connect_args=args
            )
            for engine in (self._sync_writer, self._sync_reader):
                event.listen(engine, "connect", _sqlite_pragmas)
            self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="db-write")
            self._read_threads = ThreadPoolExecutor(4, thread_name_prefix="db-read")
        else:
            self._async_engine = create_async_engine(
                self.url, pool_size=10, max_overflow=10, pool_pre_ping=True
            )

    # -- public API -----------------------------------------------------------------

    def set_keys(self, keys: KeyRing) -> None:
        """Use ``keys`` from now on (key rotation: a new key first, the old ones still
        there to decrypt what they encrypted)."""
        self.vault = Vault(keys)

    def add_outbox_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each commit that enqueued an outbox delivery."""
        self._outbox_listeners.append(listener)

    def remove_outbox_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._outbox_listeners:
            self._outbox_listeners.remove(listener)

    def _unit_of_work(self, conn: Connection) -> SqlUnitOfWork:
        uow = SqlUnitOfWork(conn, self.cache, vault=self.vault)
        uow.outbox_listeners = self._outbox_listeners
        return uow

    async def write(self, fn: UnitOfWorkFn[T]) -> T:
        """Run ``fn`` in a unit of work; return its result after the commit."""
        if self._closed:
            raise StorageUnavailable("database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Pending(fn, future, loop.time() + self.outage_hold))
        if self._writer_task is None:
            self._wakeup = asyncio.Event()
            self._writer_task = loop.create_task(self._writer(), name="db-writer")
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def read(self, fn: UnitOfWorkFn[T]) -> T:
        """Run ``fn`` on a read connection (no commit)."""

        def run(conn: Connection) -> T:
            return fn(SqlUnitOfWork(conn, self.cache, vault=self.vault, read_only=True))

        try:
            if self._sync_reader is not None:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._read_threads, self._sync_read, run)
            assert self._async_engine is not None
            async with self._async_engine.connect() as aconn:
                return await aconn.run_sync(run)
        except (SQLAlchemyError, OSError) as exc:
            # (OSError: asyncpg's connect refused or reset, which SQLAlchemy does not wrap)
            raise _translate(exc) from exc
        except Exception as exc:
            if _is_outage(exc):
                raise _translate(exc) from exc
            raise

    async def vacuum(self, tables: Sequence[str]) -> tuple[str, ...]:
        """``VACUUM`` each of ``tables`` on PostgreSQL, so that the dead row versions an
        erasure or a purge left (ciphertext included) are pruned from the table's pages now
        rather than whenever autovacuum gets to them; returns the tables vacuumed.

        VACUUM cannot run inside a transaction block: it runs on a connection of its own
        in autocommit mode, beside the group-committed writes (it takes no lock that
        blocks them). On SQLite nothing is run and nothing returned: ``secure_delete``
        overwrites deleted content when its page is written, and SQLite's own VACUUM
        would rewrite the whole file under an exclusive lock. Only tables of
        ``storage.sql.tables`` are accepted (their names go into the statement).
        """
        unknown = [name for name in tables if name not in metadata.tables]
        if unknown:
            raise ValueError(f"not a csms table: {', '.join(unknown)}")
        if self._async_engine is None:
            return ()
        try:
            async with self._async_engine.connect() as aconn:
                autocommit = await aconn.execution_options(isolation_level="AUTOCOMMIT")
                for name in tables:
                    await autocommit.exec_driver_sql(f'VACUUM "{name}"')
        except (SQLAlchemyError, OSError) as exc:
            raise _translate(exc) from exc
        return tuple(tables)

    async def close(self) -> None:
        """Finish queued writes, then release connections and threads."""
        self._closed = True
        if self._writer_task is not None:
            assert self._wakeup is not None
            self._wakeup.set()
            await self._writer_task  # returns once everything queued is committed
            self._writer_task = None
        if self._async_engine is not None:
            await self._async_engine.dispose()
        for engine in (self._sync_writer, self._sync_reader):
            if engine is not None:
                engine.dispose()
        for pool in (self._write_thread, self._read_threads):
            if pool is not None:
                pool.shutdown(wait=True)

    # -- internals ------------------------------------------------------------------

    def _sync_read(self, run: Callable[[Connection], T]) -> T:
        assert self._sync_reader is not None
        with self._sync_reader.connect() as conn:
            return run(conn)

    def _sync_transaction(
        self, run: Callable[[Connection], T], *, busy_timeout_ms: int = _BUSY_TIMEOUT_MS
    ) -> T:
        assert self._sync_writer is not None
        with self._sync_writer.begin() as conn:
            # (closed at once: an unfinished statement would hold a read snapshot, and
            # SQLite refuses to upgrade that to a write while another connection writes)
            conn.exec_driver_sql(f"PRAGMA busy_timeout={busy_timeout_ms}").close()
            result = run(conn)
            committing = time.perf_counter()
        self._last_commit = time.perf_counter() - committing
        return result

    async def _transaction(self, run: Callable[[Connection], T]) -> T:
        if self._sync_writer is not None:
            if self._inline_pause == 0:
                result = self._inline_transaction(run)
                if result is not _CONTENDED:
                    return result  # type: ignore[return-value]
            else:
                self._inline_pause -= 1
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._write_thread, self._sync_transaction, run)
        assert self._async_engine is not None
        async with self._async_engine.begin() as aconn:
            return await aconn.run_sync(run)

    def _inline_transaction(self, run: Callable[[Connection], T]) -> T | object:
        """Commit on the event loop's own thread while that is cheap (see the module doc).

        Never waits for a lock (another process writing: ``_CONTENDED``, retried in the
        writer thread) and gives the thread the next batches when COMMITs are slow. Only
        the COMMIT is timed: the units of work take the GIL on whichever thread runs them.
        """
        self._last_commit = 0.0
        try:
            return self._sync_transaction(run, busy_timeout_ms=0)
        except (OperationalError, sqlite3.OperationalError) as exc:
            # (sqlite3's own error: the meter value insert goes straight to the driver)
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            self._inline_pause = _INLINE_PAUSE_BATCHES
            return _CONTENDED
        finally:
            # (clipped: one checkpoint of thousands of pages must not outweigh a run of
            # fast commits; a disk that is slow every time still crosses the limit)
            last = min(self._last_commit, 2 * _INLINE_MAX_SECONDS)
            smoothed = self._commit_seconds + _COMMIT_SMOOTHING * (last - self._commit_seconds)
            if smoothed > _INLINE_MAX_SECONDS:
                self._inline_pause = _INLINE_PAUSE_BATCHES
                smoothed = 0.0
            self._commit_seconds = smoothed

    async def _writer(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                await self._commit_batch(batch)
            if self._closed:
                return

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        uow: SqlUnitOfWork | None = None

        def run_all(conn: Connection) -> list[Any]:
            nonlocal uow
            uow = self._unit_of_work(conn)
            results = [item.fn(uow) for item in batch]
            uow.flush()
            return results

        delay = _OUTAGE_RETRY_FIRST
        while True:
            try:
                results = await self._transaction(run_all)
                assert uow is not None
                uow.committed()
            except Exception as exc:
                if self._unreachable(exc):
                    batch = await self._hold(batch, exc, delay)
                    if not batch:
                        return
                    delay = min(2 * delay, _OUTAGE_RETRY_MAX)
                    continue
                # The batch failed for a reason of its own: each unit of work alone.
                if len(batch) == 1:
                    self._fail(batch[0], exc)
                    return
                log.warning(
                    "group commit of %d units failed (%s); retrying one by one", len(batch), exc
                )
                for item in batch:
                    await self._commit_one(item)
                return
            self._reachable(len(batch))
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)
            return

    def _unreachable(self, exc: BaseException) -> bool:
        """A commit that failed because the server is unreachable (a SQLite file is
        always there: its errors are the statements' own)."""
        return self.dialect != "sqlite" and _is_outage(exc)

    async def _hold(
        self, batch: list[_Pending], exc: BaseException, delay: float, *, join: bool = True
    ) -> list[_Pending]:
        """The database is unreachable: fail the writes whose hold has run out, wait a
        little, and return the rest; ``join``: with the writes queued meanwhile (up to a
        batch), so that they do not wait behind this one."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._outage_since is None:
            self._outage_since = now
            log.warning(
                "database unreachable (%s: %s); holding writes for up to %g s",
                type(_root(exc)).__name__,
                exc,
                self.outage_hold,
            )
        held = [item for item in batch if item.deadline > now and not item.future.done()]
        for item in batch:
            if item not in held and not item.future.done():
                item.future.set_exception(_translate(exc))
        if len(batch) > len(held):
            log.error(
                "database unreachable for %.1f s: %d writes given up",
                now - self._outage_since,
                len(batch) - len(held),
            )
        if not held:
            return []
        await asyncio.sleep(min(delay, max(0.0, min(i.deadline for i in held) - now)))
        room = self._max_batch - len(held)
        if join and room > 0 and self._pending:
            held += self._pending[:room]
            del self._pending[:room]
        return held

    def _reachable(self, committed: int) -> None:
        """A commit went through: end the outage, if there was one."""
        if self._outage_since is not None:
            log.warning(
                "database reachable again after %.1f s; %d held writes committed",
                asyncio.get_running_loop().time() - self._outage_since,
                committed,
            )
            self._outage_since = None

    async def _commit_one(self, item: _Pending) -> None:
        uow: SqlUnitOfWork | None = None

        def run(conn: Connection) -> Any:
            nonlocal uow
            uow = self._unit_of_work(conn)
            result = item.fn(uow)
            uow.flush()
            return result

        delay = _OUTAGE_RETRY_FIRST
        while True:
            try:
                result = await self._transaction(run)
                assert uow is not None
                uow.committed()
            except Exception as exc:
                if self._unreachable(exc) and await self._hold([item], exc, delay, join=False):
                    delay = min(2 * delay, _OUTAGE_RETRY_MAX)
                    continue
                self._fail(item, exc)
                return
            break
        self._reachable(1)
        if not item.future.done():
            item.future.set_result(result)

    @staticmethod
    def _fail(item: _Pending, exc: Exception) -> None:
        if item.future.done():
            return
        if isinstance(exc, SQLAlchemyError | sqlite3.Error) or _is_outage(exc):
            item.future.set_exception(_translate(exc))
        else:
            item.future.set_exception(exc)
