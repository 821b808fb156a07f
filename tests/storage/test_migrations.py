"""Migrations build exactly the schema the code declares (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from storage.database import Database
from storage.migrate import head_revision, revision_of
from storage.sql.repositories import SqlUnitOfWork
from storage.sql.tables import metadata


async def test_migrated_database_matches_the_table_definitions(db: Database) -> None:
    def differences(uow: SqlUnitOfWork) -> list[object]:
        conn: Connection = uow.conn
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    assert await db.read(differences) == []


async def test_migrated_database_is_at_the_head_revision(db: Database) -> None:
    assert await db.read(lambda uow: revision_of(uow.conn)) == head_revision() == "0003"
