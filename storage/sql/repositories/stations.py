"""Stations: chargers, their connectors and status history, the 2.0.1 device model, the
connection log, and what chargers report besides transactions (sealed payloads)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Select, delete, func, insert, select, update

from storage.crypto import FieldCipher
from storage.records import (
    ChargerEventRecord,
    ChargerRecord,
    ConnectionLogRecord,
    ConnectorRecord,
    DeviceReportRecord,
    DeviceVariableRecord,
    StatusEventRecord,
    UnreconciledRecord,
)
from storage.sql import tables as t
from storage.sql.repositories.common import (
    R,
    Repository,
    SealingRepository,
    is_sealed_payload,
    record_of,
    record_values,
    reseal,
    upsert,
)
from storage.sql.repositories.timeline import newest_for_charger

__all__ = [
    "SEALED_PAYLOAD_TABLES",
    "SqlChargerEvents",
    "SqlChargers",
    "SqlConnectionLog",
    "SqlConnectors",
    "SqlDeviceModel",
    "SqlStatusEvents",
    "SqlUnreconciled",
]

#: The chargers columns a ChargerRecord holds (not the sealed password being delivered).
_CHARGER_COLUMNS = [c for c in t.chargers.c if c.name != "password_delivery_enc"]
_PASSWORD_DELIVERY_FIELD = "chargers.password_delivery"


class SqlChargers(SealingRepository[ChargerRecord]):
    table = t.chargers
    record_type = ChargerRecord

    def _select(self) -> Select[Any]:
        return select(*_CHARGER_COLUMNS)

    def get(self, charger_id: str) -> ChargerRecord | None:
        return self._one(t.chargers.c.id == charger_id)

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
        return len(reseal(self.conn, self.vault, column, _PASSWORD_DELIVERY_FIELD))

    def add(self, charger: ChargerRecord) -> None:
        self.conn.execute(insert(t.chargers).values(**asdict(charger)))

    def update(self, charger_id: str, **values: Any) -> None:
        self.conn.execute(update(t.chargers).where(t.chargers.c.id == charger_id).values(**values))

    def delete(self, charger_id: str) -> bool:
        result = self.conn.execute(delete(t.chargers).where(t.chargers.c.id == charger_id))
        return bool(result.rowcount)

    def list(self, *, owner_id: int | None = None) -> list[ChargerRecord]:
        query = self._select().order_by(t.chargers.c.id)
        if owner_id is not None:
            query = query.where(t.chargers.c.owner_id == owner_id)
        return self._all(query)

    def has_issued_certificate(self, charger_id: str, *, valid_at: datetime) -> bool:
        """Whether csms's CA issued the charger a ChargingStationCertificate (the one it
        connects with in profile 3; not a 2.0.1 V2GCertificate) valid at ``valid_at``."""
        c = t.issued_certificates.c
        found = self.conn.execute(
            select(c.id)
            .where(
                c.charger_id == charger_id,
                c.certificate_type == "ChargingStationCertificate",
                c.not_before <= valid_at,
                c.not_after > valid_at,
            )
            .limit(1)
        ).first()
        return found is not None


class SqlConnectors(Repository[ConnectorRecord]):
    table = t.connectors
    record_type = ConnectorRecord

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
        return self._all(query)

    def list(self, *, owner_id: int | None = None) -> list[ConnectorRecord]:
        query = select(t.connectors).order_by(
            t.connectors.c.charger_id, t.connectors.c.connector_id
        )
        if owner_id is not None:
            query = query.join(t.chargers, t.chargers.c.id == t.connectors.c.charger_id).where(
                t.chargers.c.owner_id == owner_id
            )
        return self._all(query)


class SqlStatusEvents(Repository[StatusEventRecord]):
    table = t.status_events
    record_type = StatusEventRecord

    def add(self, event: StatusEventRecord) -> None:
        self.conn.execute(insert(t.status_events).values(**record_values(event)))

    def for_charger(
        self, charger_id: str, *, connector_id: int | None = None, limit: int = 100
    ) -> list[StatusEventRecord]:
        se = t.status_events.c
        query = select(t.status_events).where(se.charger_id == charger_id)
        if connector_id is not None:
            query = query.where(se.connector_id == connector_id)
        query = query.order_by(se.id.desc()).limit(limit)
        return self._all(query)


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


class SqlDeviceModel(Repository[DeviceReportRecord]):
    """Reports (``device_reports``, the records ``_one`` reads) and their variables."""

    table = t.device_reports
    record_type = DeviceReportRecord

    def report(self, charger_id: str, request_id: int) -> DeviceReportRecord | None:
        dr = t.device_reports.c
        return self._one(dr.charger_id == charger_id, dr.request_id == request_id)

    def save_report(self, report: DeviceReportRecord) -> None:
        values = record_values(report)
        query = upsert(self.conn, t.device_reports).values(**values)
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
        return self._first(query)

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
        rows = [record_values(v, without_id=True) for v in variables]
        query = upsert(self.conn, t.device_variables)
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
        return [record_of(DeviceVariableRecord, r) for r in self.conn.execute(query)]

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


class SqlConnectionLog(Repository[ConnectionLogRecord]):
    table = t.connection_log
    record_type = ConnectionLogRecord

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
        return self._all(query)

    def purge_before(self, cutoff: datetime) -> int:
        result = self.conn.execute(
            delete(t.connection_log).where(t.connection_log.c.connected_at < cutoff)
        )
        return int(result.rowcount or 0)

    def newest_for_charger(
        self,
        charger_id: str,
        *,
        since: datetime | None = None,
        before: tuple[datetime, int | None] | None = None,
        limit: int = 100,
    ) -> Sequence[ConnectionLogRecord]:
        query = newest_for_charger(
            t.connection_log,
            t.connection_log.c.connected_at,
            charger_id=charger_id,
            since=since,
            before=before,
            limit=limit,
        )
        return self._all(query)


class _SealedPayloads(SealingRepository[R]):
    """A table whose JSON ``payload`` is stored encrypted, as ``{"encrypted": token}``
    (the column name is the associated data). Rows written before payloads were sealed
    read back as they are."""

    field: str

    def _seal(self, payload: Any) -> dict[str, Any]:
        return {"encrypted": self.vault.seal(orjson.dumps(payload).decode(), self.field)}

    def _open(self, payload: Any) -> Any:
        if is_sealed_payload(payload):
            return orjson.loads(self.vault.open(payload["encrypted"], self.field) or "null")
        return payload

    def _from_row(self, row: Any) -> R:
        return self.record_type(**{**row._mapping, "payload": self._open(row.payload)})

    def _insert_record(self, record: Any) -> None:
        values = record_values(record)
        values["payload"] = self._seal(values["payload"])
        self.conn.execute(insert(self.table).values(**values))

    def rotate(self) -> int:
        """Re-encrypt the payloads not under the newest key; how many."""
        newest = self.vault.ring.newest.key_id
        c = self.table.c
        changed = 0
        for pk, payload in self.conn.execute(select(c.id, c.payload)).all():
            if not is_sealed_payload(payload):
                continue
            if FieldCipher.key_id_of(payload["encrypted"]) == newest:
                continue
            sealed = self._seal(self._open(payload))
            self.conn.execute(update(self.table).where(c.id == pk).values(payload=sealed))
            changed += 1
        return changed


class SqlUnreconciled(_SealedPayloads[UnreconciledRecord]):
    """Messages kept for an operator to reconcile: the payload can hold an idTag."""

    table = t.unreconciled_messages
    record_type = UnreconciledRecord
    field = "unreconciled_messages.payload"

    def add(self, record: UnreconciledRecord) -> None:
        self._insert_record(record)

    def list(self, *, charger_id: str | None = None) -> list[UnreconciledRecord]:
        query = select(t.unreconciled_messages).order_by(t.unreconciled_messages.c.id)
        if charger_id is not None:
            query = query.where(t.unreconciled_messages.c.charger_id == charger_id)
        return self._all(query)

    def purge_before(self, cutoff: datetime) -> int:
        table = t.unreconciled_messages
        result = self.conn.execute(delete(table).where(table.c.received_at < cutoff))
        return int(result.rowcount or 0)


class SqlChargerEvents(_SealedPayloads[ChargerEventRecord]):
    """What chargers report besides transactions (DataTransfer, NotifyCustomerInformation,
    ISO 15118 certificate requests, security events, ...). Any of them can carry personal
    data (a contract id, a customer's data a station reports), so every payload is sealed."""

    table = t.charger_events
    record_type = ChargerEventRecord
    field = "charger_events.payload"

    def add(self, record: ChargerEventRecord) -> None:
        self._insert_record(record)

    def list(self, charger_id: str, *, kind: str | None = None) -> list[ChargerEventRecord]:
        query = (
            select(t.charger_events)
            .where(t.charger_events.c.charger_id == charger_id)
            .order_by(t.charger_events.c.id)
        )
        if kind is not None:
            query = query.where(t.charger_events.c.kind == kind)
        return self._all(query)

    def newest_for_charger(
        self,
        charger_id: str,
        *,
        kind: str | None = None,
        since: datetime | None = None,
        before: tuple[datetime, int | None] | None = None,
        limit: int = 100,
    ) -> Sequence[ChargerEventRecord]:
        query = newest_for_charger(
            t.charger_events,
            t.charger_events.c.received_at,
            charger_id=charger_id,
            since=since,
            before=before,
            limit=limit,
        )
        if kind is not None:
            query = query.where(t.charger_events.c.kind == kind)
        return self._all(query)

    def purge_before(self, cutoff: datetime) -> int:
        table = t.charger_events
        result = self.conn.execute(delete(table).where(table.c.received_at < cutoff))
        return int(result.rowcount or 0)


#: Tables whose JSON ``payload`` is ``{"encrypted": token}`` (``SqlDataKeys`` counts them).
SEALED_PAYLOAD_TABLES = (SqlUnreconciled.table, SqlChargerEvents.table)
