"""An unreachable database is ``DatabaseUnavailable``, and writes are held for a while
(issue 18 item 4); the ``CSMS_DB_OUTAGE_HOLD`` setting.

The server here is a port on 127.0.0.1 where nothing listens: connections are refused,
as when PostgreSQL is stopped (asyncpg raises ``ConnectionRefusedError``, which escaped
the storage-error translation before).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.processes import free_port
from csms.config import ConfigError, load_settings
from storage.database import Database
from storage.errors import DatabaseUnavailable, StorageUnavailable


def _unreachable_url() -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/csms"


async def test_a_read_from_an_unreachable_server_is_database_unavailable() -> None:
    db = Database(_unreachable_url())
    try:
        with pytest.raises(DatabaseUnavailable, match="ConnectionRefusedError"):
            await db.read(lambda uow: uow.chargers.get("CP1"))
    finally:
        await db.close()


async def test_a_write_is_held_for_the_outage_hold_then_fails_as_unavailable() -> None:
    db = Database(_unreachable_url(), outage_hold=0.6)
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as failed:
            await db.write(lambda uow: uow.chargers.get("CP1"))
        waited = time.monotonic() - started
    finally:
        await db.close()
    assert isinstance(failed.value, StorageUnavailable)  # callers that catch the parent
    assert 0.55 <= waited < 5, waited


async def test_without_a_hold_a_write_fails_at_once() -> None:
    """Tools (``csms db ...``) open the database with no hold."""
    db = Database(_unreachable_url())
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            await db.write(lambda uow: uow.chargers.get("CP1"))
        assert time.monotonic() - started < 0.5
    finally:
        await db.close()


def _settings(value: str | None) -> float:
    env = {} if value is None else {"CSMS_DB_OUTAGE_HOLD": value}
    return load_settings(env, config_file=Path("absent.toml")).database.outage_hold


def test_db_outage_hold_defaults_to_20_seconds_and_takes_durations() -> None:
    assert _settings(None) == 20.0
    assert _settings("5") == 5.0
    assert _settings("2.5s") == 2.5
    assert _settings("1m") == 60.0
    assert _settings("0") == 0.0


@pytest.mark.parametrize("value", ["soon", "-3s", "10x", "inf"])
def test_a_bad_db_outage_hold_stops_start_up_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _settings(value)
    assert refused.value.key == "CSMS_DB_OUTAGE_HOLD"


def test_db_outage_hold_may_be_set_in_csms_toml(tmp_path: Path) -> None:
    config = tmp_path / "csms.toml"
    config.write_text('db_outage_hold = "7s"\n')
    assert load_settings({}, config_file=config).database.outage_hold == 7.0
