"""Schema migrations (Alembic): ``csms db upgrade`` and the server's start-up check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

__all__ = ["alembic_config", "head_revision", "revision_of", "upgrade"]

_MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``.

    Blocking: from async code, call it through ``asyncio.to_thread``.
    """
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory(str(_MIGRATIONS)).get_current_head()


def revision_of(conn: Connection) -> str | None:
    """The revision a database is at (None when never migrated)."""
    return MigrationContext.configure(conn).get_current_revision()
