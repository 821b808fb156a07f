"""Transactions (1.6 and 2.0.1, idTags sealed) and the 2.0.1 TransactionEvents stored once
per (station, transactionId, seqNo)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Select, and_, bindparam, or_, select, update

from storage.crypto import FieldCipher
from storage.records import TransactionEventRecord, TransactionRecord
from storage.sql import tables as t
from storage.sql.repositories.cache import StorageCache
from storage.sql.repositories.common import (
    Repository,
    SealingRepository,
    record_values,
    reseal,
    sqlite_insert,
    sqlite_time,
    upsert,
)
from storage.sql.repositories.samples import SAMPLES_FIELD, encode_samples
from storage.sql.repositories.vault import Vault

__all__ = ["SqlTransactionEvents", "SqlTransactions"]

_TRANSACTION_KEY = select(t.transactions.c.id, t.transactions.c.charger_id).where(
    t.transactions.c.transaction_id == bindparam("transaction_id")
)


_ID_TAG_FIELD = "transactions.id_tag"
_STOP_ID_TAG_FIELD = "transactions.stop_id_tag"


class SqlTransactions(Repository[TransactionRecord]):
    """Transactions; the idTags in them are encrypted on the way in (a card UID is personal
    data) and found through their keyed hash."""

    table = t.transactions
    record_type = TransactionRecord

    def __init__(
        self,
        conn: Connection,
        vault: Vault,
        *,
        cache: StorageCache,
        after_commit: Callable[[Callable[[], None]], None],
    ) -> None:
        super().__init__(conn)
        self.vault = vault
        self._cache = cache
        self._after_commit = after_commit

    def _columns(self, values: dict[str, Any]) -> dict[str, Any]:
        if "id_tag" in values:
            id_tag = values.pop("id_tag")
            values["id_tag_enc"] = self.vault.seal(id_tag, _ID_TAG_FIELD)
            values["id_tag_hash"] = self.vault.digest(id_tag, "uid")
        if "stop_id_tag" in values:
            values["stop_id_tag_enc"] = self.vault.seal(
                values.pop("stop_id_tag"), _STOP_ID_TAG_FIELD
            )
        return values

    def _from_row(self, row: Any) -> TransactionRecord:
        m = dict(row._mapping)
        del m["id_tag_hash"]
        m["id_tag"] = self.vault.open(m.pop("id_tag_enc"), _ID_TAG_FIELD)
        m["stop_id_tag"] = self.vault.open(m.pop("stop_id_tag_enc"), _STOP_ID_TAG_FIELD)
        return TransactionRecord(**m)

    def key_for(self, transaction_id: int) -> tuple[int, str] | None:
        """(row id, charger id) of a transaction, from the cache when it is known."""
        cache = self._cache
        key = cache.transaction_keys.get(transaction_id)
        if key is not None:
            return key
        row = self.conn.execute(_TRANSACTION_KEY, {"transaction_id": transaction_id}).first()
        if row is None:
            return None
        pk, charger_id = int(row[0]), str(row[1])
        # The row may belong to this very (uncommitted) batch: cache it only after commit.
        self._after_commit(lambda: cache.remember_transaction(transaction_id, pk, charger_id))
        return pk, charger_id

    def add(self, transaction: TransactionRecord) -> TransactionRecord:
        values = record_values(transaction, without_id=True)  # (the database assigns the id)
        transaction.id = self._insert(self._columns(values))
        return transaction

    def by_transaction_id(self, transaction_id: int) -> TransactionRecord | None:
        return self._one(t.transactions.c.transaction_id == transaction_id)

    def by_start_key(self, start_key: str) -> TransactionRecord | None:
        return self._one(t.transactions.c.start_key == start_key)

    def by_pk(self, pk: int) -> TransactionRecord | None:
        return self._one(t.transactions.c.id == pk)

    def by_station_transaction_id(
        self, charger_id: str, station_transaction_id: str
    ) -> TransactionRecord | None:
        return self._one(
            t.transactions.c.charger_id == charger_id,
            t.transactions.c.station_transaction_id == station_transaction_id,
        )

    def active_station_transaction(
        self, charger_id: str, station_transaction_id: str
    ) -> tuple[int, int] | None:
        return self._cache.active_station_transactions.get((charger_id, station_transaction_id))

    def remember_active(
        self, charger_id: str, station_transaction_id: str, pk: int, connector_id: int
    ) -> None:
        cache = self._cache
        self._after_commit(
            lambda: cache.remember_active(charger_id, station_transaction_id, pk, connector_id)
        )

    def forget_active(self, charger_id: str, station_transaction_id: str) -> None:
        cache = self._cache
        self._after_commit(lambda: cache.forget_active(charger_id, station_transaction_id))

    def transaction_id_taken(self, transaction_id: int) -> bool:
        query = select(t.transactions.c.id).where(t.transactions.c.transaction_id == transaction_id)
        return self.conn.execute(query).first() is not None

    def active_for_id_tag(self, id_tag: str) -> list[TransactionRecord]:
        query = select(t.transactions).where(
            t.transactions.c.id_tag_hash.in_(self.vault.candidates(id_tag, "uid")),
            t.transactions.c.status == "active",
        )
        return self._all(query)

    def active_for_connector(self, charger_id: str, connector_id: int) -> list[TransactionRecord]:
        query = select(t.transactions).where(
            t.transactions.c.charger_id == charger_id,
            t.transactions.c.connector_id == connector_id,
            t.transactions.c.status == "active",
        )
        return self._all(query)

    def update(self, pk: int, **values: Any) -> None:
        self.conn.execute(
            update(t.transactions).where(t.transactions.c.id == pk).values(**self._columns(values))
        )

    def list(
        self,
        *,
        charger_id: str | None = None,
        active: bool | None = None,
        customer_id: int | None = None,
        owner_id: int | None = None,
        started_from: datetime | None = None,
        started_before: datetime | None = None,
        limit: int = 1000,
        after_pk: int | None = None,
    ) -> list[TransactionRecord]:
        tx_c = t.transactions.c
        query = select(t.transactions).order_by(tx_c.started_at.desc(), tx_c.id.desc()).limit(limit)
        if after_pk is not None:
            # Keyset paging: the rows after the cursor's row in this order.
            cursor = select(tx_c.started_at).where(tx_c.id == after_pk).scalar_subquery()
            query = query.where(
                or_(tx_c.started_at < cursor, and_(tx_c.started_at == cursor, tx_c.id < after_pk))
            )
        if started_from is not None:
            query = query.where(t.transactions.c.started_at >= started_from)
        if started_before is not None:
            query = query.where(t.transactions.c.started_at < started_before)
        if owner_id is not None:
            owned = select(t.chargers.c.id).where(t.chargers.c.owner_id == owner_id)
            query = query.where(t.transactions.c.charger_id.in_(owned))
        if charger_id is not None:
            query = query.where(t.transactions.c.charger_id == charger_id)
        if active is not None:
            query = query.where(t.transactions.c.status == ("active" if active else "completed"))
        if customer_id is not None:
            query = query.where(t.transactions.c.customer_id == customer_id)
        return self._all(query)

    def forget_id_tags(self, pk: int, *, now: datetime) -> None:
        """Erasure: the transaction and its events keep no idTag (energy and times stay)."""
        self.conn.execute(
            update(t.transactions)
            .where(t.transactions.c.id == pk)
            .values(id_tag_enc=None, id_tag_hash=None, stop_id_tag_enc=None, updated_at=now)
        )
        self.conn.execute(
            update(t.transaction_events)
            .where(t.transaction_events.c.transaction_pk == pk)
            .values(id_token_enc=None)
        )

    def anonymize_before(self, cutoff: datetime, *, now: datetime) -> int:
        """Retention: completed transactions that ended before ``cutoff`` lose everything that
        links them to a person (customer, idTags); energy, times and amounts stay."""
        tx = t.transactions.c
        old = select(tx.id).where(
            tx.status == "completed",
            tx.stopped_at < cutoff,
            (tx.customer_id.is_not(None)) | (tx.id_tag_enc.is_not(None)),
        )
        ids = [row[0] for row in self.conn.execute(old)]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            self.conn.execute(
                update(t.transactions)
                .where(tx.id.in_(chunk))
                .values(
                    customer_id=None,
                    id_tag_enc=None,
                    id_tag_hash=None,
                    stop_id_tag_enc=None,
                    updated_at=now,
                )
            )
            self.conn.execute(
                update(t.transaction_events)
                .where(t.transaction_events.c.transaction_pk.in_(chunk))
                .values(id_token_enc=None)
            )
        return len(ids)

    def rotate(self) -> int:
        """Re-encrypt idTags not under the newest key; how many rows changed."""
        newest = self.vault.ring.newest.key_id
        tx = t.transactions.c
        changed = 0
        query = select(tx.id, tx.id_tag_enc, tx.stop_id_tag_enc).where(
            (tx.id_tag_enc.is_not(None)) | (tx.stop_id_tag_enc.is_not(None))
        )
        for pk, id_tag_enc, stop_enc in self.conn.execute(query).all():
            if all(
                token is None or FieldCipher.key_id_of(token) == newest
                for token in (id_tag_enc, stop_enc)
            ):
                continue
            self.update(
                pk,
                id_tag=self.vault.open(id_tag_enc, _ID_TAG_FIELD),
                stop_id_tag=self.vault.open(stop_enc, _STOP_ID_TAG_FIELD),
            )
            changed += 1
        return changed


_EVENT_COLUMNS = (
    "charger_id",
    "station_transaction_id",
    "seq_no",
    "transaction_pk",
    "event_type",
    "trigger_reason",
    "timestamp",
    "offline",
    "charging_state",
    "id_token_enc",
    "details",
    "samples",
    "received_at",
)
_SQLITE_INSERT_EVENT = sqlite_insert("transaction_events", _EVENT_COLUMNS)


_ID_TOKEN_FIELD = "transaction_events.id_token"


class SqlTransactionEvents(SealingRepository[TransactionEventRecord]):
    """Events are read without their samples (``SqlMeterSamples`` reads those)."""

    table = t.transaction_events
    record_type = TransactionEventRecord

    def _from_row(self, row: Any) -> TransactionEventRecord:
        m = dict(row._mapping)
        m["id_token"] = self.vault.open(m.pop("id_token_enc"), _ID_TOKEN_FIELD)
        return TransactionEventRecord(**m)

    _COLUMNS_WITHOUT_SAMPLES = tuple(c for c in t.transaction_events.c if c.name != "samples")

    def _select(self) -> Select[Any]:
        return select(*self._COLUMNS_WITHOUT_SAMPLES)

    def add(self, event: TransactionEventRecord) -> bool:
        # ON CONFLICT DO NOTHING: a repeated (charger, transactionId, seqNo) is no error and
        # changes nothing (nor does it abort a PostgreSQL transaction); the row count says
        # whether this one was new.
        if self.conn.dialect.name == "sqlite":
            # Once per TransactionEvent, the 2.0.1 hot path: straight to the driver like the
            # meter value insert (SQLAlchemy's statement handling cost 5x the insert itself).
            # The forms are the ones SQLAlchemy's SQLite types read back (DateTime text,
            # Boolean 0/1, JSON text).
            raw = self.conn.connection.driver_connection
            assert raw is not None
            cursor = raw.execute(
                _SQLITE_INSERT_EVENT,
                (
                    event.charger_id,
                    event.station_transaction_id,
                    event.seq_no,
                    event.transaction_pk,
                    event.event_type,
                    event.trigger_reason,
                    sqlite_time(event.timestamp),
                    int(event.offline),
                    event.charging_state,
                    self.vault.seal(event.id_token, _ID_TOKEN_FIELD),
                    None if event.details is None else orjson.dumps(event.details).decode(),
                    encode_samples(event.samples, self.vault),
                    sqlite_time(event.received_at),
                ),
            )
            return bool(cursor.rowcount == 1)
        values = record_values(event)
        values["id_token_enc"] = self.vault.seal(values.pop("id_token"), _ID_TOKEN_FIELD)
        values["samples"] = encode_samples(event.samples, self.vault)
        query = upsert(self.conn, t.transaction_events).values(**values)
        result = self.conn.execute(query.on_conflict_do_nothing())
        return bool(result.rowcount)

    def for_transaction(
        self, charger_id: str, station_transaction_id: str
    ) -> list[TransactionEventRecord]:
        te = t.transaction_events.c
        query = (
            self._select()
            .where(te.charger_id == charger_id, te.station_transaction_id == station_transaction_id)
            .order_by(te.seq_no)
        )
        return self._all(query)

    def get(
        self, charger_id: str, station_transaction_id: str, seq_no: int
    ) -> TransactionEventRecord | None:
        te = t.transaction_events.c
        return self._one(
            te.charger_id == charger_id,
            te.station_transaction_id == station_transaction_id,
            te.seq_no == seq_no,
        )

    def rotate(self) -> int:
        """Re-encrypt idTokens and sealed samples not under the newest key; rows changed."""
        te = t.transaction_events.c
        tokens = reseal(self.conn, self.vault, te.id_token_enc, _ID_TOKEN_FIELD)
        samples = reseal(self.conn, self.vault, te.samples, SAMPLES_FIELD, plain_json=True)
        return len(tokens | samples)
