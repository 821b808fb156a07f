"""Schema migrations (Alembic): ``csms db upgrade`` and the server's start-up check.

A database with no tables at all is built from the table definitions in one step and
stamped with the head revision (Alembic's "building an up to date database from
scratch"), instead of replaying every migration: the schema is the same (a test builds
one each way and compares them with the definitions), and a new database is ready in a
fraction of the time. A database that has tables always goes through the migrations.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from storage.crypto import KeyRing

__all__ = ["alembic_config", "head_revision", "revision_of", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str, *, keys: KeyRing | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["url"] = url
    config.attributes["key_ring"] = keys
    return config


def upgrade(
    url: str,
    revision: str = "head",
    *,
    keys: KeyRing | None = None,
    replay_migrations: bool = False,
) -> None:
    """Bring the database at ``url`` to ``revision``; ``keys`` encrypt personal data that
    an earlier version stored in plain text (revision 0004). An empty database is built
    from the table definitions unless ``replay_migrations`` (or a revision other than the
    head is asked for).

    Blocking: from async code, call it through ``asyncio.to_thread``.
    """
    _secure_sqlite(url)
    config = alembic_config(url, keys=keys)
    if revision == "head" and not replay_migrations and asyncio.run(_create_if_empty(url)):
        command.stamp(config, "head")
        return
    command.upgrade(config, revision)


def _secure_sqlite(url: str) -> None:
    """A SQLite file is created 0600 before a migration creates it (storage/files.py)."""
    from sqlalchemy.engine import make_url

    from storage.files import secure_sqlite_file

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        secure_sqlite_file(parsed.database)


async def _create_if_empty(url: str) -> bool:
    """Create every table if the database has none; whether it did."""
    from storage.database import normalize_url
    from storage.sql.tables import metadata

    def create(conn: Connection) -> bool:
        if inspect(conn).get_table_names():
            return False
        metadata.create_all(conn)
        return True

    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(create)
    finally:
        await engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory(str(_MIGRATIONS)).get_current_head()


def revision_of(conn: Connection) -> str | None:
    """The revision a database is at (None when never migrated)."""
    return MigrationContext.configure(conn).get_current_revision()
