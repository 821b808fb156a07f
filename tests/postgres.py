"""PostgreSQL for the test suite: a pytest plugin (listed in ``pytest_plugins``).

Fixtures:

``postgres_server_url`` (session)
    Base SQLAlchemy URL of a reachable server, ``postgresql+asyncpg://USER@HOST:PORT/``.
``postgres_url`` (function)
    URL of a fresh, empty database created for one test and dropped afterwards.

Where the server comes from, in order:

1. ``CSMS_TEST_POSTGRES_URL`` (``postgresql://`` or ``postgresql+asyncpg://``): used as
   the server; one database per test is created on it.
2. Otherwise a throwaway cluster started from the server binaries on this machine
   (``initdb``/``pg_ctl`` on PATH or under ``/usr/lib/postgresql/*/bin``, newest wins),
   on a free port of 127.0.0.1, stopped and deleted at the end of the session. As root
   it runs as the unprivileged system user ``csms-test`` (created when missing).
3. Neither: the fixtures fail -- never skip -- with a message saying how to provide
   PostgreSQL.

See docs/adr/0001-postgres-in-tests.md.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import glob
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

ENV_VAR = "CSMS_TEST_POSTGRES_URL"
SYSTEM_USER = "csms-test"
SUPERUSER = "postgres"
DATABASE_PREFIX = "csms_test_"

log = logging.getLogger("csms.tests.postgres")

_T = TypeVar("_T")

HOW_TO_PROVIDE = (
    "PostgreSQL-backed tests need a PostgreSQL server. Either\n"
    "  * install the server binaries (Debian/Ubuntu: `apt-get install postgresql`; "
    "macOS: `brew install postgresql`) so the suite can start a throwaway cluster "
    "with initdb/pg_ctl, or\n"
    f"  * set {ENV_VAR}=postgresql://USER[:PASSWORD]@HOST:PORT/DB pointing at a server "
    "where USER may CREATE DATABASE.\n"
    "`.ci/run` does the first automatically on Debian-based machines."
)


class PostgresUnavailable(Exception):
    """No PostgreSQL server could be provided; the message says why."""


# --------------------------------------------------------------------------- helpers


def _run_async(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` on a private event loop in a worker thread.

    Works whether or not the calling thread already runs an event loop (fixtures may
    be set up from inside pytest-asyncio's loop).
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def normalise_url(raw: str) -> URL:
    """Parse a PostgreSQL URL of any driver flavour into a ``postgresql+asyncpg`` URL."""
    try:
        url = make_url(raw.strip())
    except Exception as exc:
        raise PostgresUnavailable(f"{ENV_VAR} is not a valid database URL: {exc}") from exc
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise PostgresUnavailable(
            f"{ENV_VAR} must be a postgresql:// or postgresql+asyncpg:// URL, "
            f"got {url.render_as_string(hide_password=True)!r}"
        )
    return url.set(drivername="postgresql+asyncpg")


def server_url_string(url: URL) -> str:
    """``postgresql+asyncpg://USER@HOST:PORT/`` (query kept) for a URL with or without db."""
    base = URL.create(
        url.drivername, url.username, url.password, url.host, url.port
    ).render_as_string(hide_password=False)
    query = urlencode(dict(url.query), doseq=True)
    return f"{base}/?{query}" if query else f"{base}/"


def _asyncpg_dsn(url: URL, database: str) -> str:
    return url.set(drivername="postgresql", database=database).render_as_string(hide_password=False)


async def _connect(url: URL, database: str) -> asyncpg.Connection:
    return await asyncpg.connect(_asyncpg_dsn(url, database), timeout=10)


async def _maintenance_connect(url: URL, preferred: str | None) -> asyncpg.Connection:
    """Connect to a database that always exists: the URL's own, else ``postgres``."""
    candidates = [db for db in (preferred, "postgres", "template1") if db]
    last: BaseException | None = None
    for database in dict.fromkeys(candidates):
        try:
            return await _connect(url, database)
        except asyncpg.InvalidCatalogNameError as exc:  # that database does not exist
            last = exc
    assert last is not None
    raise last


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ------------------------------------------------------------------ database per test


@dataclass
class PostgresServer:
    """A reachable server: where it is and how it was obtained."""

    url: URL  # postgresql+asyncpg, database = maintenance database (or None)
    origin: str  # human-readable description for logs
    cluster: ThrowawayCluster | None = None

    @property
    def base_url(self) -> str:
        return server_url_string(self.url)

    def database_url(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def create_database(self) -> str:
        """Create ``csms_test_<random>`` and return its URL."""
        name = DATABASE_PREFIX + secrets.token_hex(6)

        async def create() -> None:
            conn = await _maintenance_connect(self.url, self.url.database)
            try:
                await conn.execute(f"CREATE DATABASE {_quote_ident(name)}")
            finally:
                await conn.close()

        _run_async(create())
        return self.database_url(name)

    def drop_database(self, database_url: str) -> None:
        """Drop a database made by :meth:`create_database`, whoever is still connected."""
        name = make_url(database_url).database
        if not name or not name.startswith(DATABASE_PREFIX):
            raise ValueError(f"refusing to drop {name!r}: not a test database")

        async def drop() -> None:
            conn = await _maintenance_connect(self.url, self.url.database)
            try:
                if conn.get_server_version().major >= 13:
                    await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
                else:
                    await conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = $1 AND pid <> pg_backend_pid()",
                        name,
                    )
                    await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)}")
            finally:
                await conn.close()

        _run_async(drop())

    def check(self) -> str:
        """Connect once; return the server version string or raise PostgresUnavailable."""

        async def probe() -> str:
            conn = await _maintenance_connect(self.url, self.url.database)
            try:
                version = await conn.fetchval("SHOW server_version")
                can_create = await conn.fetchval(
                    "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
                )
            finally:
                await conn.close()
            if not can_create:
                raise PostgresUnavailable(
                    f"{self.origin}: the user {self.url.username!r} may not CREATE DATABASE; "
                    "the suite creates one database per test. Grant CREATEDB or use another "
                    "user.\n" + HOW_TO_PROVIDE
                )
            return str(version)

        try:
            return _run_async(probe())
        except PostgresUnavailable:
            raise
        except Exception as exc:
            raise PostgresUnavailable(
                f"cannot connect to PostgreSQL ({self.origin}): "
                f"{type(exc).__name__}: {exc}\n" + HOW_TO_PROVIDE
            ) from exc


# ----------------------------------------------------------------- throwaway cluster


@dataclass(frozen=True)
class ServerBinaries:
    bindir: Path
    version: tuple[int, ...]

    @property
    def initdb(self) -> str:
        return str(self.bindir / "initdb")

    @property
    def pg_ctl(self) -> str:
        return str(self.bindir / "pg_ctl")


def _binary_version(initdb: Path) -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [str(initdb), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"(\d+)(?:\.(\d+))?", out)
    return tuple(int(part) for part in match.groups() if part) if match else ()


def find_server_binaries() -> ServerBinaries | None:
    """The newest ``initdb``+``pg_ctl``+``postgres`` set on PATH or in the usual places."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin"):
        candidates.extend(Path(p) for p in glob.glob(pattern))
    found: dict[Path, ServerBinaries] = {}
    for bindir in candidates:
        bindir = bindir.resolve()
        if bindir in found:
            continue
        if not all(os.access(bindir / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
            continue
        version = _binary_version(bindir / "initdb")
        if version:
            found[bindir] = ServerBinaries(bindir, version)
    if not found:
        return None
    return max(found.values(), key=lambda b: b.version)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unprivileged_user() -> pwd.struct_passwd:
    """The system user the cluster runs as when we are root (created if missing)."""
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    nologin = shutil.which("nologin") or "/usr/sbin/nologin"
    cmd = [useradd, "--system", "--user-group", "--no-create-home"]
    cmd += ["--home-dir", "/nonexistent", "--shell", nologin, SYSTEM_USER]
    try:
        subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise PostgresUnavailable(
            f"running as root, PostgreSQL needs an unprivileged user, and creating "
            f"{SYSTEM_USER!r} failed ({' '.join(cmd)}): {detail.strip()}\n"
            f"Create it yourself (useradd --system {SYSTEM_USER}), run the tests as a "
            f"normal user, or set {ENV_VAR}."
        ) from exc
    return pwd.getpwnam(SYSTEM_USER)


def _temp_parent(as_other_user: bool) -> str:
    # The cluster user must be able to reach the directory; a root-only TMPDIR would
    # not do, and a unix socket path must stay short (about 100 bytes).
    if as_other_user and os.path.isdir("/tmp"):
        return "/tmp"
    parent = tempfile.gettempdir()
    return parent if len(parent) < 60 else "/tmp"


@dataclass
class ThrowawayCluster:
    binaries: ServerBinaries
    root: Path = field(init=False)
    port: int = field(init=False, default=0)
    run_as: pwd.struct_passwd | None = field(init=False, default=None)
    started: bool = field(init=False, default=False)
    start_seconds: float = field(init=False, default=0.0)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> URL:
        return URL.create(
            "postgresql+asyncpg", username=SUPERUSER, host="127.0.0.1", port=self.port
        ).set(database="postgres")

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", TZ="UTC")
        if self.run_as is not None:
            kwargs.update(user=self.run_as.pw_uid, group=self.run_as.pw_gid, extra_groups=[])
            env.update(HOME=str(self.root), USER=self.run_as.pw_name, LOGNAME=self.run_as.pw_name)
        return subprocess.run(
            list(args),
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        begin = time.monotonic()
        self.run_as = _unprivileged_user() if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="csms-pg-", dir=_temp_parent(bool(self.run_as))))
        _live_clusters.append(self)
        if self.run_as is not None:
            os.chown(self.root, self.run_as.pw_uid, self.run_as.pw_gid)
        os.chmod(self.root, 0o700)

        done = self._run(
            self.binaries.initdb,
            "--pgdata",
            str(self.datadir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"initdb ({self.binaries.initdb}) failed with exit code {done.returncode}:\n"
                f"{(done.stderr or done.stdout).strip()}"
            )

        last_error = ""
        for _attempt in range(3):  # the free port may be taken before postgres binds it
            self.port = _free_port()
            self._write_config()
            done = self._run(
                self.binaries.pg_ctl,
                "--pgdata",
                str(self.datadir),
                "--log",
                str(self.logfile),
                "--wait",
                "--timeout",
                "30",
                "start",
            )
            if done.returncode == 0:
                self.started = True
                self.start_seconds = time.monotonic() - begin
                log.info(
                    "started throwaway PostgreSQL %s at 127.0.0.1:%d in %.1fs (dir %s, log %s)",
                    ".".join(map(str, self.binaries.version)),
                    self.port,
                    self.start_seconds,
                    self.root,
                    self.logfile,
                )
                return
            last_error = f"{(done.stderr or done.stdout).strip()}\n{self._log_tail()}"
            if "already in use" not in last_error:
                break
        raise PostgresUnavailable(
            f"pg_ctl start ({self.binaries.pg_ctl}) failed:\n{last_error.strip()}"
        )

    def _write_config(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "32MB",
            "log_min_messages": "warning",
            "timezone": "'UTC'",
        }
        conf = self.datadir / "postgresql.auto.conf"
        body = "".join(f"{key} = {value}\n" for key, value in settings.items())
        conf.write_text("# written by tests/postgres.py\n" + body)
        if self.run_as is not None:
            os.chown(conf, self.run_as.pw_uid, self.run_as.pw_gid)

    def stop(self) -> None:
        if self in _live_clusters:
            _live_clusters.remove(self)
        if self.started:
            self.started = False
            done = self._run(
                self.binaries.pg_ctl,
                "--pgdata",
                str(self.datadir),
                "--mode",
                "immediate",
                "--wait",
                "stop",
                timeout=30,
            )
            if done.returncode != 0:
                log.warning("pg_ctl stop failed: %s", (done.stderr or done.stdout).strip())
        if getattr(self, "root", None) is not None:
            shutil.rmtree(self.root, ignore_errors=True)


_live_clusters: list[ThrowawayCluster] = []


@atexit.register
def _stop_leftover_clusters() -> None:  # e.g. after an interrupted session
    for cluster in list(_live_clusters):
        with contextlib.suppress(Exception):
            cluster.stop()


def provide_server() -> PostgresServer:
    """Resolve the server per the module docstring; raise PostgresUnavailable if none."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw:
        server = PostgresServer(normalise_url(raw), origin=f"{ENV_VAR}")
        server.check()
        return server

    binaries = find_server_binaries()
    if binaries is None:
        raise PostgresUnavailable(
            f"{ENV_VAR} is not set and no PostgreSQL server binaries (initdb, pg_ctl) were "
            "found on PATH or under /usr/lib/postgresql/*/bin.\n" + HOW_TO_PROVIDE
        )
    cluster = ThrowawayCluster(binaries)
    try:
        cluster.start()
        server = PostgresServer(
            cluster.url, origin=f"throwaway cluster in {cluster.root}", cluster=cluster
        )
        server.check()
    except PostgresUnavailable as exc:
        cluster.stop()
        raise PostgresUnavailable(f"{exc}\n\n{HOW_TO_PROVIDE}") from exc
    except BaseException:
        cluster.stop()
        raise
    return server


# ----------------------------------------------------------------------- pytest hooks

_SERVER_KEY = pytest.StashKey[PostgresServer]()


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """The server for this session (fails the requesting tests if there is none)."""
    problem = ""
    try:
        server = provide_server()
    except PostgresUnavailable as exc:
        problem = str(exc)
    if problem:  # outside the except block: no chained traceback in the report
        pytest.fail(problem, pytrace=False)
    request.config.stash[_SERVER_KEY] = server
    try:
        yield server
    finally:
        if server.cluster is not None:
            server.cluster.stop()


@pytest.fixture(scope="session")
def postgres_server_url(postgres_server: PostgresServer) -> str:
    """``postgresql+asyncpg://USER@HOST:PORT/`` of a reachable PostgreSQL server."""
    return postgres_server.base_url


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh, empty database, dropped (connections and all) after the test."""
    problem = ""
    try:
        url = postgres_server.create_database()
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        pytest.fail(
            f"could not create a test database on {postgres_server.origin}: {problem}",
            pytrace=False,
        )
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    server = config.stash.get(_SERVER_KEY, None)
    if server is None:
        return
    if server.cluster is not None:
        line = (
            f"postgres: throwaway cluster {'.'.join(map(str, server.cluster.binaries.version))} "
            f"from {server.cluster.binaries.bindir}, port {server.cluster.port}, "
            f"started in {server.cluster.start_seconds:.1f}s"
        )
    else:
        line = f"postgres: {ENV_VAR} -> {server.url.render_as_string(hide_password=True)}"
    terminalreporter.write_line(line)
