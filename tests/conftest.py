"""Shared fixtures: databases (SQLite and PostgreSQL), settings, a running csms server."""

from __future__ import annotations

import asyncio
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
