"""SQLAlchemy Core implementations of the storage ports, over a synchronous ``Connection``.

They run inside ``Database.write``/``Database.read`` (a worker thread for SQLite, the
async driver's greenlet bridge for PostgreSQL). They never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    Connection,
    CursorResult,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from storage.records import (
    ApiTokenRecord,
    ChargerEventRecord,
    ChargerRecord,
    ConnectorRecord,
    CustomerRecord,
    DeviceReportRecord,
    DeviceVariableRecord,
    IdTagRecord,
    MeterSampleRecord,
    OwnerRecord,
    SampledValue,
    StatusEventRecord,
    TransactionEventRecord,
    TransactionRecord,
    UnreconciledRecord,
)
from storage.sql import tables as t

__all__ = ["SqlUnitOfWork", "StorageCache"]

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


class SqlChargers(_Repo):
    def get(self, charger_id: str) -> ChargerRecord | None:
        row = self.conn.execute(select(t.chargers).where(t.chargers.c.id == charger_id)).first()
        return _record(ChargerRecord, row) if row else None

    def add(self, charger: ChargerRecord) -> None:
        self.conn.execute(insert(t.chargers).values(**asdict(charger)))

    def update(self, charger_id: str, **values: Any) -> None:
        self.conn.execute(update(t.chargers).where(t.chargers.c.id == charger_id).values(**values))

    def delete(self, charger_id: str) -> bool:
        result = self.conn.execute(delete(t.chargers).where(t.chargers.c.id == charger_id))
        return bool(result.rowcount)

    def list(self, *, owner_id: int | None = None) -> list[ChargerRecord]:
        query = select(t.chargers).order_by(t.chargers.c.id)
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


class SqlCustomers(_Repo):
    def add(
        self, *, customer_number: int, name: str, email: str, created_at: datetime
    ) -> CustomerRecord:
        result = self.conn.execute(
            insert(t.customers).values(
                customer_number=customer_number, name=name, email=email, created_at=created_at
            )
        )
        pk = _inserted_pk(result)
        return CustomerRecord(
            id=pk,
            customer_number=customer_number,
            name=name,
            email=email,
            created_at=created_at,
        )

    def get(self, customer_id: int) -> CustomerRecord | None:
        row = self.conn.execute(select(t.customers).where(t.customers.c.id == customer_id)).first()
        return _record(CustomerRecord, row) if row else None

    def by_number(self, customer_number: int) -> CustomerRecord | None:
        query = select(t.customers).where(t.customers.c.customer_number == customer_number)
        row = self.conn.execute(query).first()
        return _record(CustomerRecord, row) if row else None

    def list(self) -> list[CustomerRecord]:
        rows = self.conn.execute(select(t.customers).order_by(t.customers.c.customer_number))
        return [_record(CustomerRecord, r) for r in rows]


class SqlIdTags(_Repo):
    def add(
        self,
        *,
        uid: str,
        status: str,
        created_at: datetime,
        customer_id: int | None = None,
        expires_at: datetime | None = None,
        parent_id_tag: str | None = None,
    ) -> IdTagRecord:
        values: dict[str, Any] = {
            "uid": uid,
            "status": status,
            "created_at": created_at,
            "customer_id": customer_id,
            "expires_at": expires_at,
            "parent_id_tag": parent_id_tag,
        }
        result = self.conn.execute(insert(t.id_tags).values(**values))
        pk = _inserted_pk(result)
        return IdTagRecord(id=pk, **values)

    def by_uid(self, uid: str) -> IdTagRecord | None:
        row = self.conn.execute(select(t.id_tags).where(t.id_tags.c.uid == uid)).first()
        return _record(IdTagRecord, row) if row else None

    def update(self, uid: str, **values: Any) -> None:
        self.conn.execute(update(t.id_tags).where(t.id_tags.c.uid == uid).values(**values))

    def list(self, *, customer_id: int | None = None) -> list[IdTagRecord]:
        query = select(t.id_tags).order_by(t.id_tags.c.uid)
        if customer_id is not None:
            query = query.where(t.id_tags.c.customer_id == customer_id)
        return [_record(IdTagRecord, r) for r in self.conn.execute(query)]


_TRANSACTION_KEY = select(t.transactions.c.id, t.transactions.c.charger_id).where(
    t.transactions.c.transaction_id == bindparam("transaction_id")
)


class SqlTransactions(_Repo):
    def __init__(self, conn: Connection, uow: SqlUnitOfWork) -> None:
        super().__init__(conn)
        self._uow = uow

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
        result = self.conn.execute(insert(t.transactions).values(**values))
        pk = _inserted_pk(result)
        transaction.id = pk
        return transaction

    def _one(self, *conditions: Any) -> TransactionRecord | None:
        row = self.conn.execute(select(t.transactions).where(*conditions)).first()
        return _record(TransactionRecord, row) if row else None

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
            t.transactions.c.id_tag == id_tag, t.transactions.c.status == "active"
        )
        return [_record(TransactionRecord, r) for r in self.conn.execute(query)]

    def active_for_connector(self, charger_id: str, connector_id: int) -> list[TransactionRecord]:
        query = select(t.transactions).where(
            t.transactions.c.charger_id == charger_id,
            t.transactions.c.connector_id == connector_id,
            t.transactions.c.status == "active",
        )
        return [_record(TransactionRecord, r) for r in self.conn.execute(query)]

    def update(self, pk: int, **values: Any) -> None:
        self.conn.execute(update(t.transactions).where(t.transactions.c.id == pk).values(**values))

    def list(
        self,
        *,
        charger_id: str | None = None,
        active: bool | None = None,
        customer_id: int | None = None,
        owner_id: int | None = None,
        limit: int = 1000,
    ) -> list[TransactionRecord]:
        query = select(t.transactions).order_by(t.transactions.c.started_at.desc()).limit(limit)
        if owner_id is not None:
            owned = select(t.chargers.c.id).where(t.chargers.c.owner_id == owner_id)
            query = query.where(t.transactions.c.charger_id.in_(owned))
        if charger_id is not None:
            query = query.where(t.transactions.c.charger_id == charger_id)
        if active is not None:
            query = query.where(t.transactions.c.status == ("active" if active else "completed"))
        if customer_id is not None:
            query = query.where(t.transactions.c.customer_id == customer_id)
        return [_record(TransactionRecord, r) for r in self.conn.execute(query)]


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
    f"VALUES ({', '.join('?' * len(_SAMPLE_COLUMNS))})"
)


def _sqlite_time(value: datetime) -> str:
    """The storage form of SQLAlchemy's SQLite DateTime for an aware UTC value."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


# (charger_id, connector_id, transaction_pk, reported_transaction_id, source, received_at)
_SampleContext = tuple[str, int, int | None, int | None, str, datetime]


def _sqlite_sample_rows(
    pending: Sequence[tuple[_SampleContext, Sequence[SampledValue]]],
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
                    s.signed_meter_value,
                    source,
                    received_text,
                )
            )
    return rows


def _sample_dicts(
    pending: Sequence[tuple[_SampleContext, Sequence[SampledValue]]],
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
                    "signed_meter_value": s.signed_meter_value,
                    "source": source,
                    "received_at": received,
                }
            )
    return rows


class SqlMeterSamples(_Repo):
    """Appends are buffered and written as one multi-row insert when the unit of work flushes."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
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
            raw.executemany(_SQLITE_INSERT_SAMPLE, _sqlite_sample_rows(rows))
        else:
            self.conn.execute(insert(t.meter_values), _sample_dicts(rows))

    def for_transaction(self, transaction_pk: int) -> list[MeterSampleRecord]:
        self.flush()
        query = (
            select(t.meter_values)
            .where(t.meter_values.c.transaction_pk == transaction_pk)
            .order_by(t.meter_values.c.timestamp, t.meter_values.c.id)
        )
        return [_record(MeterSampleRecord, r) for r in self.conn.execute(query)]

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
        return [_record(MeterSampleRecord, r) for r in self.conn.execute(query)]

    def count(self) -> int:
        self.flush()
        return int(self.conn.execute(select(func.count()).select_from(t.meter_values)).scalar_one())


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
    "id_token",
    "details",
    "received_at",
)
_SQLITE_INSERT_EVENT = (
    f"INSERT INTO transaction_events ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_EVENT_COLUMNS))}) ON CONFLICT DO NOTHING"
)


class SqlTransactionEvents(_Repo):
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
                    event.id_token,
                    None if event.details is None else orjson.dumps(event.details).decode(),
                    _sqlite_time(event.received_at),
                ),
            )
            return cursor.rowcount == 1
        query = _upsert(self.conn, t.transaction_events).values(**_values(event))
        result = self.conn.execute(query.on_conflict_do_nothing())
        return bool(result.rowcount)

    def for_transaction(
        self, charger_id: str, station_transaction_id: str
    ) -> list[TransactionEventRecord]:
        te = t.transaction_events.c
        query = (
            select(t.transaction_events)
            .where(te.charger_id == charger_id, te.station_transaction_id == station_transaction_id)
            .order_by(te.seq_no)
        )
        return [_record(TransactionEventRecord, r) for r in self.conn.execute(query)]


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


class SqlUnreconciled(_Repo):
    def add(self, record: UnreconciledRecord) -> None:
        self.conn.execute(insert(t.unreconciled_messages).values(**_values(record)))

    def list(self, *, charger_id: str | None = None) -> list[UnreconciledRecord]:
        query = select(t.unreconciled_messages).order_by(t.unreconciled_messages.c.id)
        if charger_id is not None:
            query = query.where(t.unreconciled_messages.c.charger_id == charger_id)
        return [_record(UnreconciledRecord, r) for r in self.conn.execute(query)]


class SqlChargerEvents(_Repo):
    def add(self, record: ChargerEventRecord) -> None:
        self.conn.execute(insert(t.charger_events).values(**_values(record)))

    def list(self, charger_id: str, *, kind: str | None = None) -> list[ChargerEventRecord]:
        query = (
            select(t.charger_events)
            .where(t.charger_events.c.charger_id == charger_id)
            .order_by(t.charger_events.c.id)
        )
        if kind is not None:
            query = query.where(t.charger_events.c.kind == kind)
        return [_record(ChargerEventRecord, r) for r in self.conn.execute(query)]


class SqlApiTokens(_Repo):
    def add(
        self, *, name: str, role: str, token_hash: str, created_at: datetime, owner_id: int | None
    ) -> ApiTokenRecord:
        values: dict[str, Any] = {
            "name": name,
            "role": role,
            "token_hash": token_hash,
            "created_at": created_at,
            "owner_id": owner_id,
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


class SqlUnitOfWork:
    """All repositories over one connection; ``flush`` writes buffered appends.

    ``after_commit`` callbacks run once the database transaction has committed (on a
    read connection, which sees only committed data, they run at once).
    """

    def __init__(
        self, conn: Connection, cache: StorageCache | None = None, *, read_only: bool = False
    ) -> None:
        self.conn = conn
        self.cache = cache if cache is not None else StorageCache()
        self.read_only = read_only
        self._after_commit: list[Callable[[], None]] = []
        self.owners = SqlOwners(conn)
        self.chargers = SqlChargers(conn)
        self.connectors = SqlConnectors(conn)
        self.status_events = SqlStatusEvents(conn)
        self.customers = SqlCustomers(conn)
        self.id_tags = SqlIdTags(conn)
        self.transactions = SqlTransactions(conn, self)
        self.meter_samples = SqlMeterSamples(conn)
        self.transaction_events = SqlTransactionEvents(conn)
        self.device_model = SqlDeviceModel(conn)
        self.unreconciled = SqlUnreconciled(conn)
        self.charger_events = SqlChargerEvents(conn)
        self.api_tokens = SqlApiTokens(conn)

    def flush(self) -> None:
        self.meter_samples.flush()

    def after_commit(self, callback: Callable[[], None]) -> None:
        if self.read_only:
            callback()
        else:
            self._after_commit.append(callback)

    def committed(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
