"""Shared fixtures: databases (SQLite and PostgreSQL), settings, a running csms server."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from csms.config import Settings
from csms.wiring import load_settings
from storage.database import Database
from storage.migrate import upgrade

pytest_plugins = ["tests.postgres"]


def make_settings(home: Path, **overrides: Any) -> Settings:
    """Settings for a test server: everything on 127.0.0.1, ephemeral ports, a private home."""
    env = {
        "CSMS_HOME": str(home),
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_OCPP_PORT": "0",
        "CSMS_API_PORT": "0",
    }
    return load_settings(env, config_file=home / "absent.toml").with_overrides(**overrides)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/csms.sqlite3"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind (storage tests run on both)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/csms.sqlite3"
    return str(request.getfixturevalue("postgres_url"))


async def _migrated(url: str) -> Database:
    await asyncio.to_thread(upgrade, url)
    return Database(url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database on SQLite and on PostgreSQL."""
    database = await _migrated(database_url)
    yield database
    await database.close()


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    """A migrated SQLite database (for tests where the backend does not matter)."""
    database = await _migrated(sqlite_url)
    yield database
    await database.close()


@pytest.fixture
def settings_factory(tmp_path: Path) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        return make_settings(tmp_path / "home", **overrides)

    return factory


@pytest.fixture
async def csms_server(settings_factory: Callable[..., Settings]) -> AsyncIterator[Any]:
    """A running csms (OCPP + HTTP API) on ephemeral ports with a SQLite database.

    Attributes: ``ocpp_url`` (ws://127.0.0.1:P/ocpp), ``api_url``, ``admin_token``,
    ``db``, ``router``, ``settings``.
    """
    from csms.server import running_server

    async with running_server(settings_factory()) as server:
        yield server


# -- the fast unit tests (`make check` runs `pytest -m unit`) ---------------------------------

#: Folders of tests/ (``.``: the files directly in it) whose tests are unit tests unless
#: they use one of the fixtures below or sit in one of the files below.
UNIT_FOLDERS = frozenset({".", "adapters", "protocol", "domain", "storage"})
#: Fixtures that bring a database, a server (settings_factory: its settings) or a peer.
IO_FIXTURES = frozenset(
    {
        "csms_server",
        "database_url",
        "db",
        "postgres_server",
        "postgres_server_url",
        "postgres_url",
        "settings_factory",
        "sqlite_db",
        "sqlite_url",
    }
)
#: Files of the unit folders whose tests talk to servers without such a fixture.
IO_FILES = frozenset({"storage/test_database_unavailable.py", "test_postgres_harness.py"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "unit: no database, subprocess or socket; set by tests/conftest.py (make check runs these)",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``-m unit`` alone, the folders without unit tests are not even imported."""
    if config.getoption("markexpr") != "unit" or not collection_path.is_dir():
        return None
    try:
        relative = collection_path.relative_to(Path(__file__).parent)
    except ValueError:
        return None
    if len(relative.parts) == 1 and relative.parts[0] not in UNIT_FOLDERS:
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        try:
            relative = item.path.relative_to(tests)
        except ValueError:
            continue
        folder = relative.parts[0] if len(relative.parts) > 1 else "."
        if (
            folder in UNIT_FOLDERS
            and relative.as_posix() not in IO_FILES
            and IO_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
        ):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def _unit_tests_do_no_io(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that connects, listens or starts a process fails, saying why: it belongs
    in another folder, or in IO_FILES above, so that `make check` stays fast."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError(
            f"{request.node.nodeid} is a unit test (tests/conftest.py) but does I/O: "
            "use a database/server fixture, move it, or list its file in IO_FILES"
        )

    for name in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
