"""The PostgreSQL harness (tests/postgres.py) gives every test its own empty database."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.postgres import (
    ENV_VAR,
    PostgresServer,
    PostgresUnavailable,
    _free_port,
    normalise_url,
    provide_server,
    server_url_string,
)

# Names of databases handed out earlier in this module; each must be gone by now.
_seen_databases: list[str] = []


def _dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


async def _database_exists(server_url: str, name: str) -> bool:
    conn = await asyncpg.connect(_dsn(server_url + "postgres"), timeout=10)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def test_server_url_is_an_asyncpg_url_without_a_database(postgres_server_url: str) -> None:
    url = make_url(postgres_server_url)
    assert url.drivername == "postgresql+asyncpg"
    assert not url.database
    assert postgres_server_url.split("?")[0].endswith("/")
    assert url.host and url.port and url.username


@pytest.mark.parametrize("turn", ["first", "second"])
async def test_each_test_gets_a_fresh_empty_database_that_others_cannot_see(
    postgres_url: str, postgres_server_url: str, turn: str
) -> None:
    name = make_url(postgres_url).database
    assert name is not None and name.startswith("csms_test_")
    for earlier in _seen_databases:
        assert earlier != name
        assert not await _database_exists(postgres_server_url, earlier), earlier
    _seen_databases.append(name)

    conn = await asyncpg.connect(_dsn(postgres_url), timeout=10)
    try:
        assert await conn.fetchval("SELECT current_database()") == name
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        assert tables == 0, "the database is not empty"
        # The other turn creates the same table in its own database; no clash.
        await conn.execute("CREATE TABLE harness_marker (turn text PRIMARY KEY)")
        await conn.execute("INSERT INTO harness_marker VALUES ($1)", turn)
        assert await conn.fetch("SELECT turn FROM harness_marker") == [(turn,)]
    finally:
        await conn.close()


async def test_database_url_works_with_sqlalchemy_async_engine(postgres_url: str) -> None:
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id integer PRIMARY KEY, note text)"))
            await conn.execute(text("INSERT INTO t VALUES (1, 'ünïcode')"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT note FROM t"))).scalar_one() == "ünïcode"
    finally:
        await engine.dispose()


async def test_database_is_dropped_even_while_a_connection_is_still_open(
    postgres_server: PostgresServer, postgres_server_url: str
) -> None:
    url = postgres_server.create_database()
    name = make_url(url).database
    assert name is not None
    leaked = await asyncpg.connect(_dsn(url), timeout=10)
    try:
        postgres_server.drop_database(url)
        assert not await _database_exists(postgres_server_url, name)
    finally:
        leaked.terminate()


def test_plain_postgresql_urls_are_normalised_to_asyncpg() -> None:
    for raw in ("postgresql://u:p@h:5433/db", "postgres://u:p@h:5433/db"):
        url = normalise_url(raw)
        assert url.drivername == "postgresql+asyncpg"
        assert (url.username, url.password, url.host, url.port) == ("u", "p", "h", 5433)
        assert server_url_string(url) == "postgresql+asyncpg://u:p@h:5433/"
    with pytest.raises(PostgresUnavailable):
        normalise_url("mysql://u@h/db")


def test_unreachable_server_fails_with_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, f"postgresql://nobody@127.0.0.1:{_free_port()}/nothing")
    with pytest.raises(PostgresUnavailable) as failure:
        provide_server()
    message = str(failure.value)
    assert ENV_VAR in message
    assert "apt-get install postgresql" in message


def test_missing_server_binaries_fail_with_instructions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr("tests.postgres.find_server_binaries", lambda: None)
    with pytest.raises(PostgresUnavailable) as failure:
        provide_server()
    assert "initdb" in str(failure.value)
    assert ENV_VAR in str(failure.value)
