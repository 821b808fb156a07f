"""Meter samples: the ``meter_values`` rows (1.6 MeterValues, Start/StopTransaction) and
the samples 2.0.1 TransactionEvents carry in their own row (``transaction_events.samples``,
docs/adr/0007-transaction-event-samples-in-the-event-row.md), read back as one list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.dialects import postgresql

from storage.records import MeterSampleRecord, SampledValue
from storage.sql import tables as t
from storage.sql.repositories.common import (
    SealingRepository,
    is_plain_json,
    reseal,
    sqlite_insert,
    sqlite_time,
)
from storage.sql.repositories.vault import Vault

__all__ = ["SAMPLES_FIELD", "SqlMeterSamples", "encode_samples"]

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
_SQLITE_INSERT_SAMPLE = sqlite_insert("meter_values", _SAMPLE_COLUMNS)


#: A sample already stored (the same content: a charger sending a MeterValues again that
#: it never heard the answer to) is no error and not stored twice; both inserts leave it
#: to the unique indexes on the sample's content (``tables.meter_values``).
_PG_INSERT_SAMPLE = postgresql.insert(t.meter_values).on_conflict_do_nothing()


# (charger_id, connector_id, transaction_pk, reported_transaction_id, source, received_at)
_SampleContext = tuple[str, int, int | None, int | None, str, datetime]


#: Signed meter values are sealed: an OCMF or EDL record names the identification the
#: session started with (a card UID). Plain JSON text (``{...}``) is a value stored before
#: they were, read as it is.
_SIGNED_FIELD = "meter_values.signed_meter_value"
SAMPLES_FIELD = "transaction_events.samples"


def _sample_rows(
    pending: Sequence[tuple[_SampleContext, Sequence[SampledValue]]],
    vault: Vault,
    *,
    time: Callable[[datetime], Any],
) -> list[tuple[Any, ...]]:
    """The ``meter_values`` rows of buffered samples, in ``_SAMPLE_COLUMNS`` order, their
    times in the form ``time`` gives."""
    rows = []
    for (charger, connector, pk, reported, source, received), samples in pending:
        received_at = time(received)
        for s in samples:
            rows.append(
                (
                    charger,
                    connector,
                    pk,
                    reported,
                    time(s.timestamp),
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
                    received_at,
                )
            )
    return rows


def _sqlite_sample_rows(
    pending: Sequence[tuple[_SampleContext, Sequence[SampledValue]]], vault: Vault
) -> list[tuple[Any, ...]]:
    """The rows for the driver's ``executemany``: times as SQLite's DateTime text."""
    times: dict[datetime, str] = {}  # samples of a batch share a handful of timestamps

    def text(value: datetime) -> str:
        formatted = times.get(value)
        if formatted is None:
            formatted = times[value] = sqlite_time(value)
        return formatted

    return _sample_rows(pending, vault, time=text)


def _sample_dicts(
    pending: Sequence[tuple[_SampleContext, Sequence[SampledValue]]], vault: Vault
) -> list[dict[str, Any]]:
    """The rows for SQLAlchemy's multi-row insert: by column name, times as they are."""
    rows = _sample_rows(pending, vault, time=_as_is)
    return [dict(zip(_SAMPLE_COLUMNS, row, strict=True)) for row in rows]


def _as_is(value: datetime) -> datetime:
    return value


def encode_samples(samples: Sequence[SampledValue], vault: Vault) -> str | None:
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
        sealed = vault.seal(text, SAMPLES_FIELD)
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


def _open_samples(text: str, vault: Vault) -> str:
    """The JSON text of an event's stored samples (opened when they are sealed)."""
    return text if is_plain_json(text) else vault.open(text, SAMPLES_FIELD) or "[]"


def _decode_samples(
    text: str,
    vault: Vault,
    *,
    charger_id: str,
    connector_id: int,
    transaction_pk: int,
    received_at: datetime,
) -> list[MeterSampleRecord]:
    records = []
    for ts, value, measurand, phase, unit, context, location, fmt, mult, signed in orjson.loads(
        _open_samples(text, vault)
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


class SqlMeterSamples(SealingRepository[MeterSampleRecord]):
    """Appends are buffered and written as one multi-row insert when the unit of work flushes."""

    table = t.meter_values
    record_type = MeterSampleRecord

    def __init__(self, conn: Connection, vault: Vault) -> None:
        super().__init__(conn, vault)
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

    def _from_row(self, row: Any) -> MeterSampleRecord:
        record = super()._from_row(row)
        signed = record.signed_meter_value
        if signed is not None and not is_plain_json(signed):
            record.signed_meter_value = self.vault.open(signed, _SIGNED_FIELD)
        return record

    def rotate(self) -> int:
        """Re-encrypt the signed values not under the newest key; how many."""
        column = t.meter_values.c.signed_meter_value
        return len(reseal(self.conn, self.vault, column, _SIGNED_FIELD, plain_json=True))

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
        rows = self._all(query)
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
        rows = self._all(query)
        return [
            r
            for r in self._merged(rows, transaction_pk)
            if r.measurand == "Energy.Active.Import.Register" and r.phase is None
        ]

    def count(self) -> int:
        self.flush()
        in_table = self.conn.execute(select(func.count()).select_from(t.meter_values)).scalar_one()
        in_events = sum(
            len(orjson.loads(_open_samples(text, self.vault)))
            for (text,) in self.conn.execute(
                select(t.transaction_events.c.samples).where(
                    t.transaction_events.c.samples.is_not(None)
                )
            )
        )
        return int(in_table) + in_events
