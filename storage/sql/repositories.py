"""SQLAlchemy Core implementations of the storage ports, over a synchronous ``Connection``.

They run inside ``Database.write``/``Database.read`` (a worker thread for SQLite, the
async driver's greenlet bridge for PostgreSQL). They never commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    CursorResult,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from storage.crypto import BlindIndex, DecryptionError, FieldCipher, KeyRing
from storage.records import (
    ApiTokenRecord,
    ChargerEventRecord,
    ChargerRecord,
    ConnectionLogRecord,
    ConnectorRecord,
    CustomerRecord,
    CustomerTokenRecord,
    DeviceReportRecord,
    DeviceVariableRecord,
    IdTagRecord,
    InvoiceRecord,
    MeterSampleRecord,
    OutboxRecord,
    OwnerRecord,
    PaymentAttemptRecord,
    PaymentMethodRecord,
    SampledValue,
    SecurityEventRecord,
    StatusEventRecord,
    TariffAssignmentRecord,
    TariffRecord,
    TransactionEventRecord,
    TransactionRecord,
    UnreconciledRecord,
)
from storage.sql import tables as t

__all__ = ["SqlUnitOfWork", "StorageCache", "Vault"]

R = TypeVar("R")


def _record(cls: type[R], row: Any) -> R:
    return cls(**dict(row._mapping))


def _upsert(conn: Connection, table: Table) -> Any:
    """An INSERT that can take ON CONFLICT clauses (SQLite and PostgreSQL spell it alike)."""
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)


def _inserted_pk(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if not key or key[0] is None:  # pragma: no cover - every table has a generated key
        raise RuntimeError("the database did not return the new row's key")
    return int(key[0])


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _values(record: Any, *, drop_none_id: bool = True) -> dict[str, Any]:
    names = _FIELD_NAMES.get(type(record))
    if names is None:
        names = _FIELD_NAMES[type(record)] = tuple(f.name for f in fields(record))
    values = {name: getattr(record, name) for name in names}
    if drop_none_id and values.get("id", 0) is None:
        del values["id"]
    return values


class Vault:
    """Encryption and keyed hashes for personal data (SPEC "Personal data").

    Repositories encrypt identity fields and card UIDs on the way in and decrypt them on the
    way out, so the domain works with plain values and the database never holds them.
    """

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.cipher = FieldCipher(ring)
        self.index = BlindIndex(ring)

    def seal(self, value: str | None, field: str) -> str | None:
        return None if value is None else self.cipher.encrypt(value, field=field)

    def open(self, token: str | None, field: str) -> str | None:
        return None if token is None else self.cipher.decrypt(token, field=field)

    def digest(self, value: str | None, kind: str) -> str | None:
        return None if value is None else self.index.digest(value, kind=kind)

    def candidates(self, value: str, kind: str) -> list[str]:
        return self.index.candidates(value, kind=kind)


class StorageCache:
    """Facts that never change once committed, kept per process to spare hot-path queries.

    ``transaction_keys``: CSMS transactionId → (row id, charger id). A transaction id is
    assigned once and never reused, so the entry stays true on every node.

    ``active_station_transactions``: (charger id, station transactionId) → (row id, connector
    id) of a 2.0.1 transaction this process saw active. Neither changes once the transaction
    has started on its EVSE; the entry is dropped when
    this process commits the transaction's end. (A station talks to one node at a time; a
    transaction ended through another node and then updated here again would take the fast
    path once more, which stores its event and samples but skips the energy recount.)
    """

    def __init__(self, *, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self.transaction_keys: dict[int, tuple[int, str]] = {}
        self.active_station_transactions: dict[tuple[str, str], tuple[int, int]] = {}

    def remember_transaction(self, transaction_id: int, pk: int, charger_id: str) -> None:
        if len(self.transaction_keys) >= self.max_entries:
            self.transaction_keys.clear()
        self.transaction_keys[transaction_id] = (pk, charger_id)

    def remember_active(
        self, charger_id: str, station_transaction_id: str, pk: int, connector_id: int
    ) -> None:
        if len(self.active_station_transactions) >= self.max_entries:
            self.active_station_transactions.clear()
        self.active_station_transactions[charger_id, station_transaction_id] = (pk, connector_id)

    def forget_active(self, charger_id: str, station_transaction_id: str) -> None:
        self.active_station_transactions.pop((charger_id, station_transaction_id), None)


class _Repo:
    table: Table

    def __init__(self, conn: Connection) -> None:
        self.conn = conn


class SqlOwners(_Repo):
    table = t.owners

    def add(self, *, name: str, created_at: datetime) -> OwnerRecord:
        result = self.conn.execute(insert(t.owners).values(name=name, created_at=created_at))
        pk = _inserted_pk(result)
        return OwnerRecord(id=pk, name=name, created_at=created_at)

    def get(self, owner_id: int) -> OwnerRecord | None:
        row = self.conn.execute(select(t.owners).where(t.owners.c.id == owner_id)).first()
        return _record(OwnerRecord, row) if row else None

    def by_name(self, name: str) -> OwnerRecord | None:
        row = self.conn.execute(select(t.owners).where(t.owners.c.name == name)).first()
        return _record(OwnerRecord, row) if row else None

    def list(self) -> list[OwnerRecord]:
        rows = self.conn.execute(select(t.owners).order_by(t.owners.c.name))
        return [_record(OwnerRecord, r) for r in rows]


#: The chargers columns a ChargerRecord holds (not the sealed password being delivered).
_CHARGER_COLUMNS = [c for c in t.chargers.c if c.name != "password_delivery_enc"]
_PASSWORD_DELIVERY_FIELD = "chargers.password_delivery"


class SqlChargers(_Repo):
    def __init__(self, conn: Connection, vault: Vault) -> None:
        super().__init__(conn)
        self.vault = vault

    def get(self, charger_id: str) -> ChargerRecord | None:
        row = self.conn.execute(
            select(*_CHARGER_COLUMNS).where(t.chargers.c.id == charger_id)
        ).first()
        return _record(ChargerRecord, row) if row else None

    def set_password_delivery(self, charger_id: str, password: str | None) -> None:
        """Keep (encrypted) the password to send to the charger; None erases it."""
        sealed = self.vault.seal(password, _PASSWORD_DELIVERY_FIELD)
        self.conn.execute(
            update(t.chargers)
            .where(t.chargers.c.id == charger_id)
            .values(password_delivery_enc=sealed)
        )

    def password_delivery(self, charger_id: str) -> str | None:
        token = self.conn.execute(
            select(t.chargers.c.password_delivery_enc).where(t.chargers.c.id == charger_id)
        ).scalar()
        return self.vault.open(token, _PASSWORD_DELIVERY_FIELD)

    def rotate(self) -> int:
        """Re-encrypt passwords awaiting delivery not under the newest key; how many."""
        column = t.chargers.c.password_delivery_enc
        return len(_reseal(self.conn, self.vault, column, _PASSWORD_DELIVERY_FIELD))

    def add(self, charger: ChargerRecord) -> None:
        self.conn.execute(insert(t.chargers).values(**asdict(charger)))

    def update(self, charger_id: str, **values: Any) -> None:
        self.conn.execute(update(t.chargers).where(t.chargers.c.id == charger_id).values(**values))

    def delete(self, charger_id: str) -> bool:
        result = self.conn.execute(delete(t.chargers).where(t.chargers.c.id == charger_id))
        return bool(result.rowcount)

    def list(self, *, owner_id: int | None = None) -> list[ChargerRecord]:
        query = select(*_CHARGER_COLUMNS).order_by(t.chargers.c.id)
        if owner_id is not None:
            query = query.where(t.chargers.c.owner_id == owner_id)
        return [_record(ChargerRecord, r) for r in self.conn.execute(query)]


class SqlConnectors(_Repo):
    def upsert(self, connector: ConnectorRecord) -> None:
        values = asdict(connector)
        key = (t.connectors.c.charger_id == connector.charger_id) & (
            t.connectors.c.connector_id == connector.connector_id
        )
        result = self.conn.execute(update(t.connectors).where(key).values(**values))
        if not result.rowcount:
            self.conn.execute(insert(t.connectors).values(**values))

    def for_charger(self, charger_id: str) -> list[ConnectorRecord]:
        query = (
            select(t.connectors)
            .where(t.connectors.c.charger_id == charger_id)
            .order_by(t.connectors.c.connector_id)
        )
        return [_record(ConnectorRecord, r) for r in self.conn.execute(query)]

    def list(self, *, owner_id: int | None = None) -> list[ConnectorRecord]:
        query = select(t.connectors).order_by(
            t.connectors.c.charger_id, t.connectors.c.connector_id
        )
        if owner_id is not None:
            query = query.join(t.chargers, t.chargers.c.id == t.connectors.c.charger_id).where(
                t.chargers.c.owner_id == owner_id
            )
        return [_record(ConnectorRecord, r) for r in self.conn.execute(query)]


class SqlStatusEvents(_Repo):
    def add(self, event: StatusEventRecord) -> None:
        self.conn.execute(insert(t.status_events).values(**_values(event)))

    def for_charger(
        self, charger_id: str, *, connector_id: int | None = None, limit: int = 100
    ) -> list[StatusEventRecord]:
        se = t.status_events.c
        query = select(t.status_events).where(se.charger_id == charger_id)
        if connector_id is not None:
            query = query.where(se.connector_id == connector_id)
        query = query.order_by(se.id.desc()).limit(limit)
        return [_record(StatusEventRecord, r) for r in self.conn.execute(query)]


#: Customer identity fields: record attribute → (encrypted column, keyed-hash kind or None).
_CUSTOMER_SEALED = {
    "name": ("name_enc", None),
    "email": ("email_enc", "email"),
    "phone": ("phone_enc", "phone"),
    "address": ("address_enc", None),
    "vehicle": ("vehicle_enc", None),
    "pin_hash": ("pin_hash_enc", None),
    "unsubscribe_token": ("unsubscribe_token_enc", None),
}
_CUSTOMER_PLAIN = (
    "customer_number",
    "created_at",
    "password_hash",
    "pin_failures",
    "pin_locked_until",
    "login_failures",
    "login_locked_until",
    "notify_email",
    "notify_sms",
    "marketing_opt_in",
    "marketing_changed_at",
    "updated_at",
    "erased_at",
)


class SqlCustomers(_Repo):
    def __init__(self, conn: Connection, vault: Vault) -> None:
        super().__init__(conn)
        self.vault = vault

    def _columns(self, values: dict[str, Any]) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        for name, value in values.items():
            sealed = _CUSTOMER_SEALED.get(name)
            if sealed is None:
                columns[name] = value
                continue
            column, kind = sealed
            columns[column] = self.vault.seal(value, f"customers.{name}")
            if kind is not None:
                columns[f"{name}_hash"] = self.vault.digest(value, kind)
        return columns

    def _record(self, row: Any) -> CustomerRecord:
        m = row._mapping
        record = CustomerRecord(id=m["id"], **{name: m[name] for name in _CUSTOMER_PLAIN})
        for name, (column, _kind) in _CUSTOMER_SEALED.items():
            setattr(record, name, self.vault.open(m[column], f"customers.{name}"))
        return record

    def add(self, customer: CustomerRecord) -> CustomerRecord:
        values = _values(customer)
        values.pop("id", None)
        result = self.conn.execute(insert(t.customers).values(**self._columns(values)))
        customer.id = _inserted_pk(result)
        return customer

    def _one(self, *conditions: Any) -> CustomerRecord | None:
        row = self.conn.execute(select(t.customers).where(*conditions)).first()
        return self._record(row) if row else None

    def get(self, customer_id: int) -> CustomerRecord | None:
        return self._one(t.customers.c.id == customer_id)

    def by_number(self, customer_number: int) -> CustomerRecord | None:
        return self._one(t.customers.c.customer_number == customer_number)

    def by_email(self, email: str) -> CustomerRecord | None:
        return self._one(t.customers.c.email_hash.in_(self.vault.candidates(email, "email")))

    def by_phone(self, phone: str) -> CustomerRecord | None:
        return self._one(t.customers.c.phone_hash.in_(self.vault.candidates(phone, "phone")))

    def by_unsubscribe_hash(self, token_hash: str) -> CustomerRecord | None:
        return self._one(t.customers.c.unsubscribe_token_hash == token_hash)

    def number_taken(self, customer_number: int) -> bool:
        query = select(t.customers.c.id).where(t.customers.c.customer_number == customer_number)
        return self.conn.execute(query).first() is not None

    def update(self, customer_id: int, **values: Any) -> None:
        """Change fields by record name (``email=...``); ``unsubscribe_token_hash`` too."""
        self.conn.execute(
            update(t.customers)
            .where(t.customers.c.id == customer_id)
            .values(**self._columns(values))
        )

    def list(self, *, marketing_opt_in: bool | None = None) -> list[CustomerRecord]:
        query = select(t.customers).order_by(t.customers.c.customer_number)
        if marketing_opt_in is not None:
            query = query.where(
                t.customers.c.marketing_opt_in == marketing_opt_in,
                t.customers.c.erased_at.is_(None),
            )
        return [self._record(r) for r in self.conn.execute(query)]

    def erase(self, customer_id: int, *, now: datetime) -> None:
        """Remove identity for good: every personal column cleared, the number kept."""
        cleared: dict[str, Any] = {column: None for column, _kind in _CUSTOMER_SEALED.values()}
        cleared.update(email_hash=None, phone_hash=None, unsubscribe_token_hash=None)
        cleared.update(
            password_hash=None,
            pin_failures=0,
            pin_locked_until=None,
            login_failures=0,
            login_locked_until=None,
            notify_email=False,
            notify_sms=False,
            marketing_opt_in=False,
            marketing_changed_at=now,
            updated_at=now,
            erased_at=now,
        )
        self.conn.execute(
            update(t.customers).where(t.customers.c.id == customer_id).values(**cleared)
        )
        self.conn.execute(
            delete(t.customer_favorites).where(t.customer_favorites.c.customer_id == customer_id)
        )
        self.conn.execute(
            delete(t.customer_tokens).where(t.customer_tokens.c.customer_id == customer_id)
        )
        self.conn.execute(delete(t.id_tags).where(t.id_tags.c.customer_id == customer_id))

    def rotate(self) -> int:
        """Re-encrypt and re-hash every row not under the newest key; the number changed."""
        changed = 0
        newest = self.vault.ring.newest.key_id
        for row in self.conn.execute(select(t.customers)).all():
            m = row._mapping
            stale = any(
                m[column] is not None and FieldCipher.key_id_of(m[column]) != newest
                for column, _kind in _CUSTOMER_SEALED.values()
            ) or any(
                m[f"{name}_hash"] is not None and not m[f"{name}_hash"].startswith(newest + ".")
                for name in ("email", "phone")
            )
            if stale:
                record = self._record(row)
                self.update(record.id, **{name: getattr(record, name) for name in _CUSTOMER_SEALED})
                changed += 1
        return changed


_UID_FIELD = "id_tags.uid"


class SqlIdTags(_Repo):
    def __init__(self, conn: Connection, vault: Vault) -> None:
        super().__init__(conn)
        self.vault = vault

    def _record(self, row: Any) -> IdTagRecord:
        m = dict(row._mapping)
        m.pop("uid_hash")
        m["uid"] = self.vault.open(m.pop("uid_enc"), _UID_FIELD)
        return IdTagRecord(**m)

    def add(
        self,
        *,
        uid: str,
        status: str,
        created_at: datetime,
        customer_id: int | None = None,
        expires_at: datetime | None = None,
        parent_id_tag: str | None = None,
        kind: str = "card",
    ) -> IdTagRecord:
        values: dict[str, Any] = {
            "status": status,
            "created_at": created_at,
            "customer_id": customer_id,
            "expires_at": expires_at,
            "parent_id_tag": parent_id_tag,
            "kind": kind,
        }
        result = self.conn.execute(
            insert(t.id_tags).values(
                uid_hash=self.vault.digest(uid, "uid"),
                uid_enc=self.vault.seal(uid, _UID_FIELD),
                **values,
            )
        )
        pk = _inserted_pk(result)
        return IdTagRecord(id=pk, uid=uid, **values)

    def _matching(self, uid: str) -> Any:
        return t.id_tags.c.uid_hash.in_(self.vault.candidates(uid, "uid"))

    def by_uid(self, uid: str) -> IdTagRecord | None:
        row = self.conn.execute(select(t.id_tags).where(self._matching(uid))).first()
        return self._record(row) if row else None

    def update(self, uid: str, **values: Any) -> None:
        self.conn.execute(update(t.id_tags).where(self._matching(uid)).values(**values))

    def delete(self, tag_id: int) -> bool:
        result = self.conn.execute(delete(t.id_tags).where(t.id_tags.c.id == tag_id))
        return bool(result.rowcount)

    def list(
        self, *, customer_id: int | None = None, kind: str | None = "card"
    ) -> list[IdTagRecord]:
        query = select(t.id_tags)
        if customer_id is not None:
            query = query.where(t.id_tags.c.customer_id == customer_id)
        if kind is not None:
            query = query.where(t.id_tags.c.kind == kind)
        return sorted((self._record(r) for r in self.conn.execute(query)), key=lambda r: r.uid)

    def purge_expired_logins(self, before: datetime) -> int:
        """Delete one-time login tokens that expired before ``before``; how many. A token
        that started a session still running is kept: its StopTransaction names it."""
        running = select(t.transactions.c.id_tag_hash).where(
            t.transactions.c.status == "active", t.transactions.c.id_tag_hash.is_not(None)
        )
        result = self.conn.execute(
            delete(t.id_tags).where(
                t.id_tags.c.kind == "login",
                t.id_tags.c.expires_at < before,
                t.id_tags.c.uid_hash.not_in(running),
            )
        )
        return int(result.rowcount or 0)

    def rotate(self) -> int:
        changed = 0
        newest = self.vault.ring.newest.key_id
        for row in self.conn.execute(select(t.id_tags)).all():
            m = row._mapping
            if FieldCipher.key_id_of(m["uid_enc"]) == newest and m["uid_hash"].startswith(
                newest + "."
            ):
                continue
            uid = self.vault.open(m["uid_enc"], _UID_FIELD)
            assert uid is not None
            self.conn.execute(
                update(t.id_tags)
                .where(t.id_tags.c.id == m["id"])
                .values(
                    uid_hash=self.vault.digest(uid, "uid"), uid_enc=self.vault.seal(uid, _UID_FIELD)
                )
            )
            changed += 1
        return changed


_TRANSACTION_KEY = select(t.transactions.c.id, t.transactions.c.charger_id).where(
    t.transactions.c.transaction_id == bindparam("transaction_id")
)


_ID_TAG_FIELD = "transactions.id_tag"
_STOP_ID_TAG_FIELD = "transactions.stop_id_tag"


class SqlTransactions(_Repo):
    """Transactions; the idTags in them are encrypted on the way in (a card UID is personal
    data) and found through their keyed hash."""

    def __init__(self, conn: Connection, uow: SqlUnitOfWork) -> None:
        super().__init__(conn)
        self._uow = uow
        self.vault = uow.vault

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

    def _record(self, row: Any) -> TransactionRecord:
        m = dict(row._mapping)
        del m["id_tag_hash"]
        m["id_tag"] = self.vault.open(m.pop("id_tag_enc"), _ID_TAG_FIELD)
        m["stop_id_tag"] = self.vault.open(m.pop("stop_id_tag_enc"), _STOP_ID_TAG_FIELD)
        return TransactionRecord(**m)

    def key_for(self, transaction_id: int) -> tuple[int, str] | None:
        """(row id, charger id) of a transaction, from the cache when it is known."""
        cache = self._uow.cache
        key = cache.transaction_keys.get(transaction_id)
        if key is not None:
            return key
        row = self.conn.execute(_TRANSACTION_KEY, {"transaction_id": transaction_id}).first()
        if row is None:
            return None
        pk, charger_id = int(row[0]), str(row[1])
        # The row may belong to this very (uncommitted) batch: cache it only after commit.
        self._uow.after_commit(lambda: cache.remember_transaction(transaction_id, pk, charger_id))
        return pk, charger_id

    def add(self, transaction: TransactionRecord) -> TransactionRecord:
        values = _values(transaction)
        values.pop("id", None)  # assigned by the database
        result = self.conn.execute(insert(t.transactions).values(**self._columns(values)))
        pk = _inserted_pk(result)
        transaction.id = pk
        return transaction

    def _one(self, *conditions: Any) -> TransactionRecord | None:
        row = self.conn.execute(select(t.transactions).where(*conditions)).first()
        return self._record(row) if row else None

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
        return self._uow.cache.active_station_transactions.get((charger_id, station_transaction_id))

    def remember_active(
        self, charger_id: str, station_transaction_id: str, pk: int, connector_id: int
    ) -> None:
        cache = self._uow.cache
        self._uow.after_commit(
            lambda: cache.remember_active(charger_id, station_transaction_id, pk, connector_id)
        )

    def forget_active(self, charger_id: str, station_transaction_id: str) -> None:
        cache = self._uow.cache
        self._uow.after_commit(lambda: cache.forget_active(charger_id, station_transaction_id))

    def transaction_id_taken(self, transaction_id: int) -> bool:
        query = select(t.transactions.c.id).where(t.transactions.c.transaction_id == transaction_id)
        return self.conn.execute(query).first() is not None

    def active_for_id_tag(self, id_tag: str) -> list[TransactionRecord]:
        query = select(t.transactions).where(
            t.transactions.c.id_tag_hash.in_(self.vault.candidates(id_tag, "uid")),
            t.transactions.c.status == "active",
        )
        return [self._record(r) for r in self.conn.execute(query)]

    def active_for_connector(self, charger_id: str, connector_id: int) -> list[TransactionRecord]:
        query = select(t.transactions).where(
            t.transactions.c.charger_id == charger_id,
            t.transactions.c.connector_id == connector_id,
            t.transactions.c.status == "active",
        )
        return [self._record(r) for r in self.conn.execute(query)]

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
        return [self._record(r) for r in self.conn.execute(query)]

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


_SAMPLE_COLUMNS = (
    "charger_id",
    "connector_id",
    "transaction_pk",
    "reported_transaction_id",
    "timestamp",
    "value",
    "measurand",
    "phase",
    "unit",
    "context",
    "location",
    "format",
    "multiplier",
    "signed_meter_value",
    "source",
    "received_at",
)
_SQLITE_INSERT_SAMPLE = (
    f"INSERT INTO meter_values ({', '.join(_SAMPLE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_SAMPLE_COLUMNS))}) ON CONFLICT DO NOTHING"
)


#: A sample already stored (the same content: a charger sending a MeterValues again that
#: it never heard the answer to) is no error and not stored twice; both inserts leave it
#: to the unique indexes on the sample's content (``tables.meter_values``).
_PG_INSERT_SAMPLE = postgresql.insert(t.meter_values).on_conflict_do_nothing()


def _sqlite_time(value: datetime) -> str:
    """The storage form of SQLAlchemy's SQLite DateTime for an aware UTC value."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


# (charger_id, connector_id, transaction_pk, reported_transaction_id, source, received_at)
_SampleContext = tuple[str, int, int | None, int | None, str, datetime]


#: Signed meter values are sealed: an OCMF or EDL record names the identification the
#: session started with (a card UID). Plain JSON text (``{...}``) is a value stored before
#: they were, read as it is.
_SIGNED_FIELD = "meter_values.signed_meter_value"
_SAMPLES_FIELD = "transaction_events.samples"


def _is_plain_json(text: str) -> bool:
    return text[:1] in ("{", "[", '"')


def _reseal(
    conn: Connection, vault: Vault, column: Column[Any], field: str, *, plain_json: bool = False
) -> set[int]:
    """Re-encrypt the values of ``column`` not under the vault's newest key (key rotation);
    the ids of the rows changed. ``plain_json``: plain JSON text in the column (not sealed,
    from before it was) is left as it is."""
    newest = vault.ring.newest.key_id
    table = column.table
    changed: set[int] = set()
    for pk, value in conn.execute(select(table.c.id, column).where(column.is_not(None))).all():
        if (plain_json and _is_plain_json(value)) or FieldCipher.key_id_of(value) == newest:
            continue
        sealed = vault.seal(vault.open(value, field), field)
        conn.execute(update(table).where(table.c.id == pk).values({column.name: sealed}))
        changed.add(pk)
    return changed


def _sqlite_sample_rows(
    pending: Sequence[tuple[_SampleContext, Sequence[SampledValue]]], vault: Vault
) -> list[tuple[Any, ...]]:
    times: dict[datetime, str] = {}  # samples of a batch share a handful of timestamps

    def text(value: datetime) -> str:
        formatted = times.get(value)
        if formatted is None:
            formatted = times[value] = _sqlite_time(value)
        return formatted

    rows = []
    for (charger, connector, pk, reported, source, received), samples in pending:
        received_text = text(received)
        for s in samples:
            rows.append(
                (
                    charger,
                    connector,
                    pk,
                    reported,
                    text(s.timestamp),
                    s.value,
                    s.measurand,
                    s.phase,
                    s.unit,
                    s.context,
                    s.location,
                    s.format,
                    s.multiplier,
                    None
                    if s.signed_meter_value is None
                    else vault.seal(s.signed_meter_value, _SIGNED_FIELD),
                    source,
                    received_text,
                )
            )
    return rows


def _sample_dicts(
    pending: Sequence[tuple[_SampleContext, Sequence[SampledValue]]], vault: Vault
) -> list[dict[str, Any]]:
    rows = []
    for (charger, connector, pk, reported, source, received), samples in pending:
        for s in samples:
            rows.append(
                {
                    "charger_id": charger,
                    "connector_id": connector,
                    "transaction_pk": pk,
                    "reported_transaction_id": reported,
                    "timestamp": s.timestamp,
                    "value": s.value,
                    "measurand": s.measurand,
                    "phase": s.phase,
                    "unit": s.unit,
                    "context": s.context,
                    "location": s.location,
                    "format": s.format,
                    "multiplier": s.multiplier,
                    "signed_meter_value": None
                    if s.signed_meter_value is None
                    else vault.seal(s.signed_meter_value, _SIGNED_FIELD),
                    "source": source,
                    "received_at": received,
                }
            )
    return rows


def _encode_samples(samples: Sequence[SampledValue], vault: Vault) -> str | None:
    """A TransactionEvent's meter values as stored in ``transaction_events.samples``: JSON,
    sealed as a whole when a value is signed (see ``_SIGNED_FIELD``)."""
    if not samples:
        return None
    text = orjson.dumps(
        [
            [
                s.timestamp,
                s.value,
                s.measurand,
                s.phase,
                s.unit,
                s.context,
                s.location,
                s.format,
                s.multiplier,
                s.signed_meter_value,
            ]
            for s in samples
        ]
    ).decode()
    if any(s.signed_meter_value is not None for s in samples):
        sealed = vault.seal(text, _SAMPLES_FIELD)
        assert sealed is not None
        return sealed
    return text


_EVENT_SAMPLES = (
    select(t.transaction_events.c.received_at, t.transaction_events.c.samples)
    .where(
        t.transaction_events.c.charger_id == bindparam("charger_id"),
        t.transaction_events.c.station_transaction_id == bindparam("station_transaction_id"),
        t.transaction_events.c.samples.is_not(None),
    )
    .order_by(t.transaction_events.c.seq_no)
)


def _decode_samples(
    text: str,
    vault: Vault,
    *,
    charger_id: str,
    connector_id: int,
    transaction_pk: int,
    received_at: datetime,
) -> list[MeterSampleRecord]:
    if not _is_plain_json(text):
        text = vault.open(text, _SAMPLES_FIELD) or "[]"
    records = []
    for ts, value, measurand, phase, unit, context, location, fmt, mult, signed in orjson.loads(
        text
    ):
        moment = datetime.fromisoformat(ts)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        records.append(
            MeterSampleRecord(
                charger_id=charger_id,
                connector_id=connector_id,
                timestamp=moment,
                value=value,
                measurand=measurand,
                source="TransactionEvent",
                received_at=received_at,
                transaction_pk=transaction_pk,
                phase=phase,
                unit=unit,
                context=context,
                location=location,
                format=fmt,
                multiplier=mult,
                signed_meter_value=signed,
            )
        )
    return records


class SqlMeterSamples(_Repo):
    """Appends are buffered and written as one multi-row insert when the unit of work flushes."""

    def __init__(self, conn: Connection, vault: Vault) -> None:
        super().__init__(conn)
        self.vault = vault
        self._pending: list[tuple[_SampleContext, Sequence[SampledValue]]] = []

    def add_many(
        self,
        samples: Sequence[SampledValue],
        *,
        charger_id: str,
        connector_id: int,
        transaction_pk: int | None,
        reported_transaction_id: int | None,
        source: str,
        received_at: datetime,
    ) -> None:
        if samples:
            context = (
                charger_id,
                connector_id,
                transaction_pk,
                reported_transaction_id,
                source,
                received_at,
            )
            self._pending.append((context, samples))

    def flush(self) -> None:
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        if self.conn.dialect.name == "sqlite":
            # The hottest insert of all (every sampled value of every charger): straight to
            # the driver, which spares SQLAlchemy's per-row parameter processing (~40% of
            # the writer thread's time). Timestamps in the text form SQLAlchemy's SQLite
            # DateTime reads back.
            raw = self.conn.connection.driver_connection
            assert raw is not None
            raw.executemany(_SQLITE_INSERT_SAMPLE, _sqlite_sample_rows(rows, self.vault))
        else:
            self.conn.execute(_PG_INSERT_SAMPLE, _sample_dicts(rows, self.vault))

    def _row(self, row: Any) -> MeterSampleRecord:
        record = _record(MeterSampleRecord, row)
        signed = record.signed_meter_value
        if signed is not None and not _is_plain_json(signed):
            record.signed_meter_value = self.vault.open(signed, _SIGNED_FIELD)
        return record

    def rotate(self) -> int:
        """Re-encrypt the signed values not under the newest key; how many."""
        column = t.meter_values.c.signed_meter_value
        return len(_reseal(self.conn, self.vault, column, _SIGNED_FIELD, plain_json=True))

    def _event_samples(self, transaction_pk: int) -> list[MeterSampleRecord]:
        """The meter values a 2.0.1 transaction's TransactionEvents carried (stored with
        each event), found through the station's transactionId."""
        tx = t.transactions.c
        row = self.conn.execute(
            select(tx.charger_id, tx.station_transaction_id, tx.connector_id).where(
                tx.id == transaction_pk
            )
        ).first()
        if row is None or row[1] is None:
            return []
        charger_id, station_transaction_id, connector_id = row
        samples: list[MeterSampleRecord] = []
        params = {"charger_id": charger_id, "station_transaction_id": station_transaction_id}
        for received_at, text in self.conn.execute(_EVENT_SAMPLES, params):
            samples.extend(
                _decode_samples(
                    text,
                    self.vault,
                    charger_id=charger_id,
                    connector_id=connector_id,
                    transaction_pk=transaction_pk,
                    received_at=received_at,
                )
            )
        return samples

    def _merged(
        self, rows: list[MeterSampleRecord], transaction_pk: int
    ) -> list[MeterSampleRecord]:
        from_events = self._event_samples(transaction_pk)
        if not from_events:
            return rows
        # (stable: rows of one table keep their order among equal timestamps)
        return sorted(rows + from_events, key=lambda r: r.timestamp)

    def for_transaction(self, transaction_pk: int) -> list[MeterSampleRecord]:
        self.flush()
        query = (
            select(t.meter_values)
            .where(t.meter_values.c.transaction_pk == transaction_pk)
            .order_by(t.meter_values.c.timestamp, t.meter_values.c.id)
        )
        rows = [self._row(r) for r in self.conn.execute(query)]
        return self._merged(rows, transaction_pk)

    def energy_registers(self, transaction_pk: int) -> list[MeterSampleRecord]:
        self.flush()
        mv = t.meter_values.c
        query = (
            select(t.meter_values)
            .where(
                mv.transaction_pk == transaction_pk,
                mv.measurand == "Energy.Active.Import.Register",
                mv.phase.is_(None),
            )
            .order_by(mv.timestamp, mv.id)
        )
        rows = [self._row(r) for r in self.conn.execute(query)]
        return [
            r
            for r in self._merged(rows, transaction_pk)
            if r.measurand == "Energy.Active.Import.Register" and r.phase is None
        ]

    def count(self) -> int:
        self.flush()
        in_table = self.conn.execute(select(func.count()).select_from(t.meter_values)).scalar_one()
        in_events = sum(
            len(
                orjson.loads(
                    text if _is_plain_json(text) else self.vault.open(text, _SAMPLES_FIELD) or "[]"
                )
            )
            for (text,) in self.conn.execute(
                select(t.transaction_events.c.samples).where(
                    t.transaction_events.c.samples.is_not(None)
                )
            )
        )
        return int(in_table) + in_events


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
_SQLITE_INSERT_EVENT = (
    f"INSERT INTO transaction_events ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_EVENT_COLUMNS))}) ON CONFLICT DO NOTHING"
)


_ID_TOKEN_FIELD = "transaction_events.id_token"


class SqlTransactionEvents(_Repo):
    def __init__(self, conn: Connection, vault: Vault) -> None:
        super().__init__(conn)
        self.vault = vault

    def _record(self, row: Any) -> TransactionEventRecord:
        m = dict(row._mapping)
        m["id_token"] = self.vault.open(m.pop("id_token_enc"), _ID_TOKEN_FIELD)
        return TransactionEventRecord(**m)

    _COLUMNS_WITHOUT_SAMPLES = tuple(c for c in t.transaction_events.c if c.name != "samples")

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
                    _sqlite_time(event.timestamp),
                    int(event.offline),
                    event.charging_state,
                    self.vault.seal(event.id_token, _ID_TOKEN_FIELD),
                    None if event.details is None else orjson.dumps(event.details).decode(),
                    _encode_samples(event.samples, self.vault),
                    _sqlite_time(event.received_at),
                ),
            )
            return cursor.rowcount == 1
        values = _values(event)
        values["id_token_enc"] = self.vault.seal(values.pop("id_token"), _ID_TOKEN_FIELD)
        values["samples"] = _encode_samples(event.samples, self.vault)
        query = _upsert(self.conn, t.transaction_events).values(**values)
        result = self.conn.execute(query.on_conflict_do_nothing())
        return bool(result.rowcount)

    def for_transaction(
        self, charger_id: str, station_transaction_id: str
    ) -> list[TransactionEventRecord]:
        te = t.transaction_events.c
        query = (
            select(*self._COLUMNS_WITHOUT_SAMPLES)
            .where(te.charger_id == charger_id, te.station_transaction_id == station_transaction_id)
            .order_by(te.seq_no)
        )
        return [self._record(r) for r in self.conn.execute(query)]

    def get(
        self, charger_id: str, station_transaction_id: str, seq_no: int
    ) -> TransactionEventRecord | None:
        te = t.transaction_events.c
        query = select(*self._COLUMNS_WITHOUT_SAMPLES).where(
            te.charger_id == charger_id,
            te.station_transaction_id == station_transaction_id,
            te.seq_no == seq_no,
        )
        row = self.conn.execute(query).first()
        return self._record(row) if row else None

    def rotate(self) -> int:
        """Re-encrypt idTokens and sealed samples not under the newest key; rows changed."""
        te = t.transaction_events.c
        tokens = _reseal(self.conn, self.vault, te.id_token_enc, _ID_TOKEN_FIELD)
        samples = _reseal(self.conn, self.vault, te.samples, _SAMPLES_FIELD, plain_json=True)
        return len(tokens | samples)


_VARIABLE_UPDATE_COLUMNS = (
    "component_name",
    "component_instance",
    "evse_id",
    "evse_connector_id",
    "variable_name",
    "variable_instance",
    "actual_value",
    "attributes",
    "characteristics",
    "request_id",
    "reported_at",
)


class SqlDeviceModel(_Repo):
    def report(self, charger_id: str, request_id: int) -> DeviceReportRecord | None:
        dr = t.device_reports.c
        query = select(t.device_reports).where(
            dr.charger_id == charger_id, dr.request_id == request_id
        )
        row = self.conn.execute(query).first()
        return _record(DeviceReportRecord, row) if row else None

    def save_report(self, report: DeviceReportRecord) -> None:
        values = _values(report)
        query = _upsert(self.conn, t.device_reports).values(**values)
        changes = {k: v for k, v in values.items() if k not in ("id", "charger_id", "request_id")}
        self.conn.execute(
            query.on_conflict_do_update(index_elements=["charger_id", "request_id"], set_=changes)
        )

    def latest_report(self, charger_id: str) -> DeviceReportRecord | None:
        dr = t.device_reports.c
        query = (
            select(t.device_reports)
            .where(dr.charger_id == charger_id)
            .order_by(dr.received_at.desc(), dr.id.desc())
            .limit(1)
        )
        row = self.conn.execute(query).first()
        return _record(DeviceReportRecord, row) if row else None

    def delete_report_variables(self, charger_id: str, request_id: int) -> int:
        dv = t.device_variables.c
        result = self.conn.execute(
            delete(t.device_variables).where(
                dv.charger_id == charger_id, dv.request_id == request_id
            )
        )
        return int(result.rowcount or 0)

    def upsert_variables(self, variables: Sequence[DeviceVariableRecord]) -> None:
        if not variables:
            return
        rows = [_values(v) for v in variables]
        for row in rows:
            row.pop("id", None)
        query = _upsert(self.conn, t.device_variables)
        query = query.on_conflict_do_update(
            index_elements=["charger_id", "variable_key"],
            set_={name: query.excluded[name] for name in _VARIABLE_UPDATE_COLUMNS},
        )
        self.conn.execute(query, rows)

    def variables(
        self,
        charger_id: str,
        *,
        component_name: str | None = None,
        variable_name: str | None = None,
    ) -> list[DeviceVariableRecord]:
        dv = t.device_variables.c
        query = (
            select(t.device_variables)
            .where(dv.charger_id == charger_id)
            .order_by(dv.component_name, dv.evse_id, dv.evse_connector_id, dv.variable_key)
        )
        if component_name is not None:
            query = query.where(dv.component_name == component_name)
        if variable_name is not None:
            query = query.where(dv.variable_name == variable_name)
        return [_record(DeviceVariableRecord, r) for r in self.conn.execute(query)]

    def counts(self, charger_id: str) -> tuple[int, int, int]:
        dv = t.device_variables.c
        components = (
            select(dv.component_name, dv.component_instance, dv.evse_id, dv.evse_connector_id)
            .where(dv.charger_id == charger_id)
            .distinct()
            .subquery()
        )
        count_components = select(func.count()).select_from(components).scalar_subquery()
        query = select(count_components, func.count(), func.count(dv.evse_id.distinct())).where(
            dv.charger_id == charger_id
        )
        n_components, n_variables, n_evses = self.conn.execute(query).one()
        return int(n_components), int(n_variables), int(n_evses)


class _SealedPayloads(_Repo):
    """A table whose JSON ``payload`` is stored encrypted, as ``{"encrypted": token}``
    (the column name is the associated data). Rows written before payloads were sealed
    read back as they are."""

    field: str

    def __init__(self, conn: Connection, vault: Vault) -> None:
        super().__init__(conn)
        self.vault = vault

    def _seal(self, payload: Any) -> dict[str, Any]:
        return {"encrypted": self.vault.seal(orjson.dumps(payload).decode(), self.field)}

    def _open(self, payload: Any) -> Any:
        if isinstance(payload, dict) and set(payload) == {"encrypted"}:
            return orjson.loads(self.vault.open(payload["encrypted"], self.field) or "null")
        return payload

    def _insert(self, record: Any) -> None:
        values = _values(record)
        values["payload"] = self._seal(values["payload"])
        self.conn.execute(insert(self.table).values(**values))

    def rotate(self) -> int:
        """Re-encrypt the payloads not under the newest key; how many."""
        newest = self.vault.ring.newest.key_id
        c = self.table.c
        changed = 0
        for pk, payload in self.conn.execute(select(c.id, c.payload)).all():
            if not (isinstance(payload, dict) and set(payload) == {"encrypted"}):
                continue
            if FieldCipher.key_id_of(payload["encrypted"]) == newest:
                continue
            sealed = self._seal(self._open(payload))
            self.conn.execute(update(self.table).where(c.id == pk).values(payload=sealed))
            changed += 1
        return changed


class SqlUnreconciled(_SealedPayloads):
    """Messages kept for an operator to reconcile: the payload can hold an idTag."""

    table = t.unreconciled_messages
    field = "unreconciled_messages.payload"

    def add(self, record: UnreconciledRecord) -> None:
        self._insert(record)

    def list(self, *, charger_id: str | None = None) -> list[UnreconciledRecord]:
        query = select(t.unreconciled_messages).order_by(t.unreconciled_messages.c.id)
        if charger_id is not None:
            query = query.where(t.unreconciled_messages.c.charger_id == charger_id)
        return [
            UnreconciledRecord(**{**r._mapping, "payload": self._open(r.payload)})
            for r in self.conn.execute(query)
        ]


class SqlChargerEvents(_SealedPayloads):
    """What chargers report besides transactions (DataTransfer, NotifyCustomerInformation,
    ISO 15118 certificate requests, security events, ...). Any of them can carry personal
    data (a contract id, a customer's data a station reports), so every payload is sealed."""

    table = t.charger_events
    field = "charger_events.payload"

    def add(self, record: ChargerEventRecord) -> None:
        self._insert(record)

    def list(self, charger_id: str, *, kind: str | None = None) -> list[ChargerEventRecord]:
        query = (
            select(t.charger_events)
            .where(t.charger_events.c.charger_id == charger_id)
            .order_by(t.charger_events.c.id)
        )
        if kind is not None:
            query = query.where(t.charger_events.c.kind == kind)
        return [
            ChargerEventRecord(**{**r._mapping, "payload": self._open(r.payload)})
            for r in self.conn.execute(query)
        ]


class SqlApiTokens(_Repo):
    def add(
        self,
        *,
        name: str,
        role: str,
        token_hash: str,
        created_at: datetime,
        owner_id: int | None,
        expires_at: datetime | None = None,
    ) -> ApiTokenRecord:
        values: dict[str, Any] = {
            "name": name,
            "role": role,
            "token_hash": token_hash,
            "created_at": created_at,
            "owner_id": owner_id,
            "expires_at": expires_at,
        }
        result = self.conn.execute(insert(t.api_tokens).values(**values))
        pk = _inserted_pk(result)
        return ApiTokenRecord(id=pk, **values)

    def by_hash(self, token_hash: str) -> ApiTokenRecord | None:
        query = select(t.api_tokens).where(t.api_tokens.c.token_hash == token_hash)
        row = self.conn.execute(query).first()
        return _record(ApiTokenRecord, row) if row else None

    def count(self, *, role: str | None = None) -> int:
        query = select(func.count()).select_from(t.api_tokens)
        if role is not None:
            query = query.where(t.api_tokens.c.role == role, t.api_tokens.c.revoked_at.is_(None))
        return int(self.conn.execute(query).scalar_one())

    def touch(self, token_id: int, when: datetime) -> None:
        self.conn.execute(
            update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(last_used_at=when)
        )

    def live_by_name(self, name: str) -> list[ApiTokenRecord]:
        query = (
            select(t.api_tokens)
            .where(t.api_tokens.c.name == name, t.api_tokens.c.revoked_at.is_(None))
            .order_by(t.api_tokens.c.id)
        )
        return [_record(ApiTokenRecord, row) for row in self.conn.execute(query)]

    def revoke(self, token_id: int, when: datetime) -> None:
        self.conn.execute(
            update(t.api_tokens)
            .where(t.api_tokens.c.id == token_id, t.api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=when)
        )

    def list(self) -> list[ApiTokenRecord]:
        query = select(t.api_tokens).order_by(t.api_tokens.c.id)
        return [_record(ApiTokenRecord, row) for row in self.conn.execute(query)]


class SqlCustomerTokens(_Repo):
    def add(
        self,
        *,
        customer_id: int,
        token_hash: str,
        created_at: datetime,
        expires_at: datetime,
        created_ip: str | None = None,
    ) -> CustomerTokenRecord:
        values: dict[str, Any] = {
            "customer_id": customer_id,
            "token_hash": token_hash,
            "created_at": created_at,
            "expires_at": expires_at,
            "created_ip": created_ip,
        }
        result = self.conn.execute(insert(t.customer_tokens).values(**values))
        return CustomerTokenRecord(id=_inserted_pk(result), **values)

    def by_hash(self, token_hash: str) -> CustomerTokenRecord | None:
        query = select(t.customer_tokens).where(t.customer_tokens.c.token_hash == token_hash)
        row = self.conn.execute(query).first()
        return _record(CustomerTokenRecord, row) if row else None

    def touch(self, token_id: int, when: datetime) -> None:
        self.conn.execute(
            update(t.customer_tokens)
            .where(t.customer_tokens.c.id == token_id)
            .values(last_used_at=when)
        )

    def revoke(self, token_id: int, when: datetime) -> None:
        self.conn.execute(
            update(t.customer_tokens)
            .where(t.customer_tokens.c.id == token_id)
            .values(revoked_at=when)
        )

    def list(self, customer_id: int) -> list[CustomerTokenRecord]:
        query = (
            select(t.customer_tokens)
            .where(t.customer_tokens.c.customer_id == customer_id)
            .order_by(t.customer_tokens.c.id)
        )
        return [_record(CustomerTokenRecord, r) for r in self.conn.execute(query)]

    def forget_addresses_before(self, cutoff: datetime) -> int:
        """Retention: drop the login address of sessions created before ``cutoff``."""
        ct = t.customer_tokens.c
        result = self.conn.execute(
            update(t.customer_tokens)
            .where(ct.created_at < cutoff, ct.created_ip.is_not(None))
            .values(created_ip=None)
        )
        return int(result.rowcount or 0)

    def purge_expired_before(self, cutoff: datetime) -> int:
        result = self.conn.execute(
            delete(t.customer_tokens).where(t.customer_tokens.c.expires_at < cutoff)
        )
        return int(result.rowcount or 0)


class SqlFavorites(_Repo):
    def add(self, customer_id: int, charger_id: str, *, now: datetime) -> bool:
        query = (
            _upsert(self.conn, t.customer_favorites)
            .values(customer_id=customer_id, charger_id=charger_id, created_at=now)
            .on_conflict_do_nothing()
        )
        return bool(self.conn.execute(query).rowcount)

    def remove(self, customer_id: int, charger_id: str) -> bool:
        fav = t.customer_favorites.c
        result = self.conn.execute(
            delete(t.customer_favorites).where(
                fav.customer_id == customer_id, fav.charger_id == charger_id
            )
        )
        return bool(result.rowcount)

    def list(self, customer_id: int) -> list[tuple[str, datetime]]:
        fav = t.customer_favorites.c
        query = (
            select(fav.charger_id, fav.created_at)
            .where(fav.customer_id == customer_id)
            .order_by(fav.charger_id)
        )
        return [(row[0], row[1]) for row in self.conn.execute(query)]


class SqlSecurityEvents(_Repo):
    def add(
        self,
        *,
        kind: str,
        details: dict[str, Any],
        created_at: datetime,
        customer_id: int | None = None,
        charger_id: str | None = None,
    ) -> None:
        self.conn.execute(
            insert(t.security_events).values(
                kind=kind,
                details=details,
                created_at=created_at,
                customer_id=customer_id,
                charger_id=charger_id,
            )
        )

    def list(
        self, *, kind: str | None = None, customer_id: int | None = None, limit: int = 1000
    ) -> list[SecurityEventRecord]:
        se = t.security_events.c
        query = select(t.security_events).order_by(se.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(se.kind == kind)
        if customer_id is not None:
            query = query.where(se.customer_id == customer_id)
        return [_record(SecurityEventRecord, r) for r in self.conn.execute(query)]


class SqlConnectionLog(_Repo):
    def add(self, *, charger_id: str, remote_address: str | None, connected_at: datetime) -> None:
        self.conn.execute(
            insert(t.connection_log).values(
                charger_id=charger_id, remote_address=remote_address, connected_at=connected_at
            )
        )

    def list(
        self, *, charger_id: str | None = None, limit: int = 1000
    ) -> list[ConnectionLogRecord]:
        cl = t.connection_log.c
        query = select(t.connection_log).order_by(cl.id.desc()).limit(limit)
        if charger_id is not None:
            query = query.where(cl.charger_id == charger_id)
        return [_record(ConnectionLogRecord, r) for r in self.conn.execute(query)]

    def purge_before(self, cutoff: datetime) -> int:
        result = self.conn.execute(
            delete(t.connection_log).where(t.connection_log.c.connected_at < cutoff)
        )
        return int(result.rowcount or 0)


class SqlTariffs(_Repo):
    def add(self, tariff: TariffRecord) -> TariffRecord:
        values = _values(tariff)
        values.pop("id", None)
        tariff.id = _inserted_pk(self.conn.execute(insert(t.tariffs).values(**values)))
        return tariff

    def get(self, tariff_id: int) -> TariffRecord | None:
        row = self.conn.execute(select(t.tariffs).where(t.tariffs.c.id == tariff_id)).first()
        return _record(TariffRecord, row) if row else None

    def by_name(self, name: str) -> TariffRecord | None:
        row = self.conn.execute(select(t.tariffs).where(t.tariffs.c.name == name)).first()
        return _record(TariffRecord, row) if row else None

    def assign(self, *, tariff_id: int, charger_id: str | None, at: datetime) -> None:
        self.conn.execute(
            insert(t.tariff_assignments).values(
                tariff_id=tariff_id, charger_id=charger_id, assigned_at=at
            )
        )

    def _assigned(self, charger: ColumnElement[bool], at: datetime) -> TariffRecord | None:
        ta = t.tariff_assignments.c
        query = (
            select(t.tariffs)
            .join(t.tariff_assignments, ta.tariff_id == t.tariffs.c.id)
            .where(charger, ta.assigned_at <= at)
            .order_by(ta.assigned_at.desc(), ta.id.desc())
            .limit(1)
        )
        row = self.conn.execute(query).first()
        return _record(TariffRecord, row) if row else None

    def in_force(self, charger_id: str, at: datetime) -> TariffRecord | None:
        ta = t.tariff_assignments.c
        own = self._assigned(ta.charger_id == charger_id, at)
        return own if own is not None else self._assigned(ta.charger_id.is_(None), at)

    def assignments(self, *, charger_id: str | None = None) -> list[TariffAssignmentRecord]:
        ta = t.tariff_assignments.c
        query = select(t.tariff_assignments).order_by(ta.assigned_at.desc(), ta.id.desc())
        if charger_id is not None:
            query = query.where(ta.charger_id == charger_id)
        return [_record(TariffAssignmentRecord, r) for r in self.conn.execute(query)]

    def list(self) -> list[TariffRecord]:
        query = select(t.tariffs).order_by(t.tariffs.c.name)
        return [_record(TariffRecord, r) for r in self.conn.execute(query)]


_PAYMENT_SEALED = {"token": "token_enc", "customer_ref": "customer_ref_enc"}


class SqlPaymentMethods(_Repo):
    """Cards at the payment processor; the processor's token and customer reference are
    encrypted like identity (with them, a stolen database could charge the card)."""

    def __init__(self, conn: Connection, vault: Vault) -> None:
        super().__init__(conn)
        self.vault = vault

    def _record(self, row: Any) -> PaymentMethodRecord:
        m = dict(row._mapping)
        for name, column in _PAYMENT_SEALED.items():
            m[name] = self.vault.open(m.pop(column), f"payment_methods.{name}")
        return PaymentMethodRecord(**m)

    def _sealed(self, values: dict[str, Any]) -> dict[str, Any]:
        for name, column in _PAYMENT_SEALED.items():
            if name in values:
                values[column] = self.vault.seal(values.pop(name), f"payment_methods.{name}")
        return values

    def add(self, method: PaymentMethodRecord) -> PaymentMethodRecord:
        values = _values(method)
        values.pop("id", None)
        result = self.conn.execute(insert(t.payment_methods).values(**self._sealed(values)))
        method.id = _inserted_pk(result)
        return method

    def get(self, method_id: int) -> PaymentMethodRecord | None:
        query = select(t.payment_methods).where(t.payment_methods.c.id == method_id)
        row = self.conn.execute(query).first()
        return self._record(row) if row else None

    def list(self, customer_id: int, *, active_only: bool = True) -> list[PaymentMethodRecord]:
        pm = t.payment_methods.c
        query = (
            select(t.payment_methods)
            .where(pm.customer_id == customer_id)
            .order_by(pm.created_at.desc(), pm.id.desc())
        )
        if active_only:
            query = query.where(pm.status == "active")
        return [self._record(r) for r in self.conn.execute(query)]

    def mark_removed(self, method_id: int, *, now: datetime) -> None:
        self.conn.execute(
            update(t.payment_methods)
            .where(t.payment_methods.c.id == method_id)
            .values(status="removed", removed_at=now)
        )

    def delete(self, method_id: int) -> None:
        self.conn.execute(delete(t.payment_methods).where(t.payment_methods.c.id == method_id))

    def rotate(self) -> int:
        newest = self.vault.ring.newest.key_id
        changed = 0
        for row in self.conn.execute(select(t.payment_methods)).all():
            m = row._mapping
            if all(FieldCipher.key_id_of(m[c]) == newest for c in _PAYMENT_SEALED.values()):
                continue
            record = self._record(row)
            values = self._sealed({"token": record.token, "customer_ref": record.customer_ref})
            self.conn.execute(
                update(t.payment_methods)
                .where(t.payment_methods.c.id == record.id)
                .values(**values)
            )
            changed += 1
        return changed


class SqlInvoices(_Repo):
    def add(self, invoice: InvoiceRecord) -> bool:
        values = _values(invoice)
        values.pop("id", None)
        statement = (
            _upsert(self.conn, t.invoices)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["transaction_pk"])
        )
        result = self.conn.execute(statement)
        if not result.rowcount:
            return False
        invoice.id = _inserted_pk(result)
        return True

    def _one(self, *conditions: Any) -> InvoiceRecord | None:
        row = self.conn.execute(select(t.invoices).where(*conditions)).first()
        return _record(InvoiceRecord, row) if row else None

    def get(self, invoice_id: int) -> InvoiceRecord | None:
        return self._one(t.invoices.c.id == invoice_id)

    def by_transaction(self, transaction_pk: int) -> InvoiceRecord | None:
        return self._one(t.invoices.c.transaction_pk == transaction_pk)

    def for_transactions(self, transaction_pks: Iterable[int]) -> dict[int, InvoiceRecord]:
        pks = list(transaction_pks)
        if not pks:
            return {}
        query = select(t.invoices).where(t.invoices.c.transaction_pk.in_(pks))
        records = [_record(InvoiceRecord, r) for r in self.conn.execute(query)]
        return {r.transaction_pk: r for r in records}

    def update(self, invoice_id: int, **values: Any) -> None:
        self.conn.execute(update(t.invoices).where(t.invoices.c.id == invoice_id).values(**values))

    def next_number(self, year: int) -> int:
        # One statement that raises the year's counter and returns it: on PostgreSQL the
        # row lock makes a concurrent biller wait for this commit; SQLite has one writer.
        ic = t.invoice_counters
        statement = (
            _upsert(self.conn, ic)
            .values(year=year, last_number=1)
            .on_conflict_do_update(
                index_elements=["year"], set_={"last_number": ic.c.last_number + 1}
            )
            .returning(ic.c.last_number)
        )
        return int(self.conn.execute(statement).scalar_one())

    def list(
        self,
        *,
        customer_id: int | None = None,
        payment_status: str | None = None,
        limit: int = 1000,
    ) -> list[InvoiceRecord]:
        inv = t.invoices.c
        query = select(t.invoices).order_by(inv.id.desc()).limit(limit)
        if customer_id is not None:
            query = query.where(inv.customer_id == customer_id)
        if payment_status is not None:
            query = query.where(inv.payment_status == payment_status)
        return [_record(InvoiceRecord, r) for r in self.conn.execute(query)]


class SqlPaymentAttempts(_Repo):
    def add(self, attempt: PaymentAttemptRecord) -> None:
        values = _values(attempt)
        values.pop("id", None)
        attempt.id = _inserted_pk(self.conn.execute(insert(t.payment_attempts).values(**values)))

    def for_invoice(self, invoice_id: int) -> list[PaymentAttemptRecord]:
        pa = t.payment_attempts.c
        query = select(t.payment_attempts).where(pa.invoice_id == invoice_id).order_by(pa.id)
        return [_record(PaymentAttemptRecord, r) for r in self.conn.execute(query)]


#: The outbox's text columns (PostgreSQL refuses longer values; SQLite would keep them).
_ERROR_LENGTH = t.outbox.c.last_error.type.length or 500  # type: ignore[attr-defined]
_RESULT_LENGTH = t.outbox.c.result.type.length or 300  # type: ignore[attr-defined]


def _clip(text: str | None, length: int) -> str | None:
    """``text`` cut to ``length`` characters (an ellipsis says it was)."""
    if text is None or len(text) <= length:
        return text
    return text[: length - 1] + "…"


class SqlOutbox(_Repo):
    """The outbox table. ``enqueue`` tells the unit of work, whose commit then wakes the
    workers of this process (``SqlUnitOfWork.outbox_listeners``)."""

    def __init__(self, conn: Connection, uow: SqlUnitOfWork) -> None:
        super().__init__(conn)
        self._uow = uow

    def enqueue(self, *, topic: str, key: str, payload: dict[str, Any], now: datetime) -> bool:
        statement = (
            _upsert(self.conn, t.outbox)
            .values(
                topic=topic,
                key=key,
                payload=payload,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["key"])
        )
        added = bool(self.conn.execute(statement).rowcount)
        if added:
            self._uow.outbox_added()
        return added

    def get(self, outbox_id: int) -> OutboxRecord | None:
        row = self.conn.execute(select(t.outbox).where(t.outbox.c.id == outbox_id)).first()
        return _record(OutboxRecord, row) if row else None

    def due(self, now: datetime, *, limit: int) -> list[OutboxRecord]:
        o = t.outbox.c
        query = (
            select(t.outbox)
            .where(
                o.status == "pending",
                o.next_attempt_at <= now,
                (o.claimed_until.is_(None)) | (o.claimed_until < now),
            )
            .order_by(o.next_attempt_at, o.id)
            .limit(limit)
        )
        return [_record(OutboxRecord, r) for r in self.conn.execute(query)]

    def next_due_at(self) -> datetime | None:
        o = t.outbox.c
        soonest = func.min(
            case((o.claimed_until.is_(None), o.next_attempt_at), else_=o.claimed_until)
        )
        value = self.conn.execute(select(soonest).where(o.status == "pending")).scalar()
        if value is None:
            return None
        if isinstance(value, str):  # SQLite returns the column's text for an expression
            value = datetime.fromisoformat(value)
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def claim(self, outbox_id: int, *, now: datetime, until: datetime) -> bool:
        o = t.outbox.c
        result = self.conn.execute(
            update(t.outbox)
            .where(
                o.id == outbox_id,
                o.status == "pending",
                (o.claimed_until.is_(None)) | (o.claimed_until < now),
            )
            .values(claimed_until=until, attempts=o.attempts + 1, updated_at=now)
        )
        return bool(result.rowcount)

    def _set(self, outbox_id: int, **values: Any) -> None:
        self.conn.execute(update(t.outbox).where(t.outbox.c.id == outbox_id).values(**values))

    def complete(self, outbox_id: int, *, now: datetime, result: str | None) -> None:
        self._set(
            outbox_id,
            status="done",
            claimed_until=None,
            result=_clip(result, _RESULT_LENGTH),
            done_at=now,
            updated_at=now,
        )

    def reschedule(self, outbox_id: int, *, at: datetime, error: str, now: datetime) -> None:
        self._set(
            outbox_id,
            claimed_until=None,
            next_attempt_at=at,
            last_error=_clip(error, _ERROR_LENGTH),
            updated_at=now,
        )

    def fail(self, outbox_id: int, *, error: str, now: datetime) -> None:
        self._set(
            outbox_id,
            status="failed",
            claimed_until=None,
            last_error=_clip(error, _ERROR_LENGTH),
            updated_at=now,
        )

    def retry(self, outbox_id: int, *, now: datetime) -> bool:
        o = t.outbox.c
        result = self.conn.execute(
            update(t.outbox)
            .where(o.id == outbox_id, o.status == "failed")
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=now,
                claimed_until=None,
                updated_at=now,
            )
        )
        if result.rowcount:
            self._uow.outbox_added()
        return bool(result.rowcount)

    def list(self, *, status: str | None = None, limit: int = 100) -> list[OutboxRecord]:
        o = t.outbox.c
        query = select(t.outbox).order_by(o.id.desc()).limit(limit)
        if status is not None:
            query = query.where(o.status == status)
        return [_record(OutboxRecord, r) for r in self.conn.execute(query)]

    def counts(self) -> dict[str, int]:
        o = t.outbox.c
        query = select(o.status, func.count()).group_by(o.status)
        return {status: int(n) for status, n in self.conn.execute(query)}


#: Keyed hashes (storage.crypto.BlindIndex) next to the encrypted columns. Every column
#: whose name ends in ``_enc`` holds FieldCipher tokens and is found by its name.
_KEYED_HASH_COLUMNS = {
    "customers": ("email_hash", "phone_hash"),
    "id_tags": ("uid_hash",),
    "transactions": ("id_tag_hash",),
}
#: Tables whose JSON ``payload`` is ``{"encrypted": token}`` (``_SealedPayloads``).
_SEALED_PAYLOAD_TABLES = (t.unreconciled_messages, t.charger_events)


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
                plain = func.substr(column, 1, 1).in_(["{", "[", '"'])
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
    for table in _SEALED_PAYLOAD_TABLES:
        for (payload,) in conn.execute(select(table.c.payload)):
            if not (isinstance(payload, dict) and set(payload) == {"encrypted"}):
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


class SqlUnitOfWork:
    """All repositories over one connection; ``flush`` writes buffered appends.

    ``after_commit`` callbacks run once the database transaction has committed (on a
    read connection, which sees only committed data, they run at once).
    """

    def __init__(
        self,
        conn: Connection,
        cache: StorageCache | None = None,
        *,
        vault: Vault,
        read_only: bool = False,
    ) -> None:
        self.conn = conn
        self.cache = cache if cache is not None else StorageCache()
        self.vault = vault
        self.read_only = read_only
        self._after_commit: list[Callable[[], None]] = []
        #: Called (no arguments) after a commit that added outbox deliveries.
        self.outbox_listeners: list[Callable[[], None]] = []
        self.owners = SqlOwners(conn)
        self.chargers = SqlChargers(conn, vault)
        self.connectors = SqlConnectors(conn)
        self.status_events = SqlStatusEvents(conn)
        self.customers = SqlCustomers(conn, vault)
        self.id_tags = SqlIdTags(conn, vault)
        self.transactions = SqlTransactions(conn, self)
        self.meter_samples = SqlMeterSamples(conn, vault)
        self.transaction_events = SqlTransactionEvents(conn, vault)
        self.device_model = SqlDeviceModel(conn)
        self.unreconciled = SqlUnreconciled(conn, vault)
        self.charger_events = SqlChargerEvents(conn, vault)
        self.api_tokens = SqlApiTokens(conn)
        self.customer_tokens = SqlCustomerTokens(conn)
        self.favorites = SqlFavorites(conn)
        self.security_events = SqlSecurityEvents(conn)
        self.connection_log = SqlConnectionLog(conn)
        self.data_keys = SqlDataKeys(conn)
        self.tariffs = SqlTariffs(conn)
        self.payment_methods = SqlPaymentMethods(conn, vault)
        self.invoices = SqlInvoices(conn)
        self.payment_attempts = SqlPaymentAttempts(conn)
        self.outbox = SqlOutbox(conn, self)

    def flush(self) -> None:
        self.meter_samples.flush()

    def outbox_added(self) -> None:
        """A delivery was enqueued: wake this process's outbox workers once committed."""
        for listener in self.outbox_listeners:
            if listener not in self._after_commit:
                self.after_commit(listener)

    def after_commit(self, callback: Callable[[], None]) -> None:
        if self.read_only:
            callback()
        else:
            self._after_commit.append(callback)

    def committed(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
