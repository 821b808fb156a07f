"""Keys: what the personal-data keys protect, counted by key id (``csms keys list``, key
retirement). Re-encryption itself is each repository's ``rotate``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Table, case, func, select

from storage.crypto import DecryptionError, FieldCipher
from storage.sql import tables as t
from storage.sql.repositories.common import PLAIN_JSON_STARTS, is_sealed_payload
from storage.sql.repositories.stations import SEALED_PAYLOAD_TABLES

__all__ = ["SqlDataKeys"]


#: Keyed hashes (storage.crypto.BlindIndex) next to the encrypted columns. Every column
#: whose name ends in ``_enc`` holds FieldCipher tokens and is found by its name.
_KEYED_HASH_COLUMNS = {
    "customers": ("email_hash", "phone_hash"),
    "id_tags": ("uid_hash",),
    "transactions": ("id_tag_hash",),
}

#: Columns that hold either a FieldCipher token or (not personal, or from before) plain JSON.
_OPTIONALLY_SEALED_COLUMNS = {
    "meter_values": ("signed_meter_value",),
    "transaction_events": ("samples",),
}


def _sealed_columns(table: Table) -> list[Column[Any]]:
    names = [c.name for c in table.columns if c.name.endswith("_enc")]
    names += _KEYED_HASH_COLUMNS.get(table.name, ())
    names += _OPTIONALLY_SEALED_COLUMNS.get(table.name, ())
    return [table.c[name] for name in names]


def _count_values_by_key(conn: Connection, key_ids: Iterable[str]) -> tuple[Counter[str], int]:
    """(values per key id, values under none of ``key_ids``) over every encrypted column,
    keyed hash and sealed payload: one aggregate query per table."""
    ids = list(key_ids)
    usage: Counter[str] = Counter({key_id: 0 for key_id in ids})
    unknown = 0
    for table in t.metadata.sorted_tables:
        columns = _sealed_columns(table)
        if not columns:
            continue
        aggregates: list[ColumnElement[Any]] = []
        for column in columns:
            if column.name in _OPTIONALLY_SEALED_COLUMNS.get(table.name, ()):
                plain = func.substr(column, 1, 1).in_(list(PLAIN_JSON_STARTS))
                sealed = case((column.is_(None), 0), (plain, 0), else_=1)
                aggregates.append(func.coalesce(func.sum(sealed), 0))
            else:
                aggregates.append(func.count(column))
            for key_id in ids:
                prefix = key_id + "."
                under = func.substr(column, 1, len(prefix)) == prefix
                aggregates.append(func.coalesce(func.sum(case((under, 1), else_=0)), 0))
        row = conn.execute(select(*aggregates).select_from(table)).one()
        width = len(ids) + 1
        for start in range(0, len(row), width):
            present, *per_key = (int(v or 0) for v in row[start : start + width])
            for key_id, count in zip(ids, per_key, strict=True):
                usage[key_id] += count
            unknown += present - sum(per_key)
    for table in SEALED_PAYLOAD_TABLES:
        for (payload,) in conn.execute(select(table.c.payload)):
            if not is_sealed_payload(payload):
                continue
            try:
                key_id = FieldCipher.key_id_of(str(payload["encrypted"]))
            except DecryptionError:
                unknown += 1
                continue
            if key_id in usage:
                usage[key_id] += 1
            else:
                unknown += 1
    return usage, unknown


class SqlDataKeys:
    """What the personal-data keys protect: every encrypted column, keyed hash and sealed
    payload, counted by the key id each value names (``csms keys list``, key retirement)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def usage(self, key_ids: Iterable[str]) -> tuple[Counter[str], int]:
        return _count_values_by_key(self.conn, key_ids)
