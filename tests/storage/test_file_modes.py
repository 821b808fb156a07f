"""What csms keeps on disk is its user's alone (issue 18, item 9): ``$CSMS_HOME`` 0700,
the SQLite file and its -wal/-shm files 0600; looser modes found at start are tightened,
with a warning."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from csms.config import Settings
from csms.server import running_server
from storage.migrate import upgrade


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems have (022): what would leave files readable by others."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def test_a_new_home_and_sqlite_database_are_private(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory()
    assert not await asyncio.to_thread(settings.home.exists)
    async with running_server(settings) as server:
        assert server.db is not None
        now = datetime.now(UTC)
        await server.db.write(
            lambda uow: uow.security_events.add(kind="Test", details={}, created_at=now)
        )
        database = settings.home / "csms.sqlite3"
        assert _mode(settings.home) == 0o700
        assert _mode(database) == 0o600
        for suffix in ("-wal", "-shm"):
            side = Path(f"{database}{suffix}")
            assert _mode(side) == 0o600, suffix  # (raises if it does not exist)


async def test_db_upgrade_creates_the_sqlite_file_0600(tmp_path: Path) -> None:
    database = tmp_path / "data" / "csms.sqlite3"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{database}")
    assert _mode(database) == 0o600
    assert _mode(database.parent) == 0o700


async def test_looser_modes_found_at_start_are_tightened_with_a_warning(
    settings_factory: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_factory()
    database = settings.home / "csms.sqlite3"
    await asyncio.to_thread(upgrade, f"sqlite+aiosqlite:///{database}")
    settings.home.chmod(0o755)
    database.chmod(0o644)
    caplog.set_level(logging.WARNING)
    async with running_server(settings):
        assert _mode(settings.home) == 0o700
        assert _mode(database) == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.name == "storage.files"]
    assert any(str(settings.home) in w and "restricted to 700" in w for w in warnings)
    assert any(str(database) in w and "restricted to 600" in w for w in warnings)
