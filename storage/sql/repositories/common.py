"""What the repository modules share: the base class, rows to records and back, the
dialects' upsert, raw SQLite inserts of the hot path, and re-encryption of a column."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, Connection, CursorResult, Select, Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from storage.crypto import FieldCipher
from storage.sql.repositories.vault import Vault

__all__ = [
    "PLAIN_JSON_STARTS",
    "Repository",
    "SealingRepository",
    "inserted_pk",
    "is_plain_json",
    "is_sealed_payload",
    "record_of",
    "record_values",
    "reseal",
    "sqlite_insert",
    "sqlite_time",
    "upsert",
]

R = TypeVar("R")


def record_of(cls: type[R], row: Any) -> R:
    """The record ``cls`` of a row whose columns are named like the record's fields."""
    return cls(**dict(row._mapping))


def upsert(conn: Connection, table: Table) -> Any:
    """An INSERT that can take ON CONFLICT clauses (SQLite and PostgreSQL spell it alike)."""
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def inserted_pk(result: CursorResult[Any]) -> int:
    """The generated primary key of the row an INSERT added."""
    key = result.inserted_primary_key
    if not key or key[0] is None:  # pragma: no cover - every table has a generated key
        raise RuntimeError("the database did not return the new row's key")
    return int(key[0])


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def record_values(record: Any, *, without_id: bool = False) -> dict[str, Any]:
    """A record's fields by name; ``id`` left out when it is None (the database assigns
    it), or always with ``without_id``."""
    names = _FIELD_NAMES.get(type(record))
    if names is None:
        names = _FIELD_NAMES[type(record)] = tuple(f.name for f in fields(record))
    values = {name: getattr(record, name) for name in names}
    if without_id:
        values.pop("id", None)
    elif values.get("id", 0) is None:
        del values["id"]
    return values


def sqlite_time(value: datetime) -> str:
    """The storage form of SQLAlchemy's SQLite DateTime for an aware UTC value."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_insert(table: str, columns: Sequence[str]) -> str:
    """The driver-level INSERT of one row of ``columns`` into ``table`` (``?`` parameters)
    that leaves a row already there (by a unique index) as it is."""
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT DO NOTHING"
    )


#: How plain JSON text starts (an object, an array, a string); a sealed token never does.
PLAIN_JSON_STARTS = ("{", "[", '"')


def is_plain_json(text: str) -> bool:
    """Whether a column value that may be sealed is plain JSON text instead."""
    return text[:1] in PLAIN_JSON_STARTS


def is_sealed_payload(payload: Any) -> bool:
    """Whether a JSON ``payload`` is a sealed one, ``{"encrypted": token}``."""
    return isinstance(payload, dict) and set(payload) == {"encrypted"}


def reseal(
    conn: Connection, vault: Vault, column: Column[Any], field: str, *, plain_json: bool = False
) -> set[int]:
    """Re-encrypt the values of ``column`` not under the vault's newest key (key rotation);
    the ids of the rows changed. ``plain_json``: plain JSON text in the column (not sealed,
    from before it was) is left as it is."""
    newest = vault.ring.newest.key_id
    table = column.table
    changed: set[int] = set()
    for pk, value in conn.execute(select(table.c.id, column).where(column.is_not(None))).all():
        if (plain_json and is_plain_json(value)) or FieldCipher.key_id_of(value) == newest:
            continue
        sealed = vault.seal(vault.open(value, field), field)
        conn.execute(update(table).where(table.c.id == pk).values({column.name: sealed}))
        changed.add(pk)
    return changed


class Repository(Generic[R]):
    """A repository over one connection: its ``table`` holds rows of ``record_type``.

    ``_first`` (the first row of a query), ``_one`` (the first row meeting conditions) and
    ``_all`` (every row of a query) read records through ``_from_row``, which a repository
    that decrypts overrides; ``_one`` selects through ``_select``, the whole row unless a
    repository leaves columns out.
    """

    table: Table
    record_type: type[R]

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _select(self) -> Select[Any]:
        return select(self.table)

    def _from_row(self, row: Any) -> R:
        return record_of(self.record_type, row)

    def _first(self, query: Select[Any]) -> R | None:
        row = self.conn.execute(query).first()
        return self._from_row(row) if row else None

    def _one(self, *conditions: Any) -> R | None:
        return self._first(self._select().where(*conditions))

    def _all(self, query: Select[Any]) -> list[R]:
        return [self._from_row(row) for row in self.conn.execute(query)]

    def _insert(self, values: dict[str, Any]) -> int:
        """Insert one row; its generated key."""
        return inserted_pk(self.conn.execute(insert(self.table).values(**values)))


class SealingRepository(Repository[R]):
    """A repository whose rows hold personal data: ``vault`` seals it on the way in and
    opens it on the way out."""

    def __init__(self, conn: Connection, vault: Vault) -> None:
        super().__init__(conn)
        self.vault = vault
