"""Ports of the stations aggregate: chargers, connectors, status history, the 2.0.1
device model, the connection log and what chargers report besides transactions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

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

__all__ = [
    "ChargerEventRepository",
    "ChargerRepository",
    "ConnectionLogRepository",
    "ConnectorRepository",
    "DeviceModelRepository",
    "StatusEventRepository",
    "UnreconciledRepository",
]


class ChargerRepository(Protocol):
    def get(self, charger_id: str) -> ChargerRecord | None: ...
    def add(self, charger: ChargerRecord) -> None: ...
    def update(self, charger_id: str, **fields: Any) -> None: ...
    def delete(self, charger_id: str) -> bool: ...
    def list(self, *, owner_id: int | None = None) -> list[ChargerRecord]: ...
    def set_password_delivery(self, charger_id: str, password: str | None) -> None:
        """Keep the password to send to the charger (encrypted at rest); None erases it."""
        ...

    def password_delivery(self, charger_id: str) -> str | None: ...
    def rotate(self) -> int: ...
    def has_issued_certificate(self, charger_id: str, *, valid_at: datetime) -> bool:
        """Whether csms's CA issued the charger a ChargingStationCertificate valid at
        ``valid_at`` (table issued_certificates)."""
        ...


class ConnectorRepository(Protocol):
    def upsert(self, connector: ConnectorRecord) -> None: ...
    def for_charger(self, charger_id: str) -> list[ConnectorRecord]: ...
    def list(self, *, owner_id: int | None = None) -> list[ConnectorRecord]: ...


class StatusEventRepository(Protocol):
    def add(self, event: StatusEventRecord) -> None: ...
    def for_charger(
        self, charger_id: str, *, connector_id: int | None = None, limit: int = 100
    ) -> list[StatusEventRecord]:
        """The newest first (of one connector, or of every one)."""
        ...


class DeviceModelRepository(Protocol):
    def report(self, charger_id: str, request_id: int) -> DeviceReportRecord | None: ...
    def save_report(self, report: DeviceReportRecord) -> None:
        """Insert or replace the report row of (charger, requestId)."""
        ...

    def latest_report(self, charger_id: str) -> DeviceReportRecord | None: ...
    def delete_report_variables(self, charger_id: str, request_id: int) -> int:
        """Remove the variables that came from report ``request_id``; how many."""
        ...

    def upsert_variables(self, variables: Sequence[DeviceVariableRecord]) -> None:
        """Insert or replace variables by (charger, variable_key)."""
        ...

    def variables(
        self,
        charger_id: str,
        *,
        component_name: str | None = None,
        variable_name: str | None = None,
    ) -> list[DeviceVariableRecord]: ...
    def counts(self, charger_id: str) -> tuple[int, int, int]:
        """(components, variables, EVSEs) in the station's stored device model."""
        ...


class ConnectionLogRepository(Protocol):
    def add(
        self, *, charger_id: str, remote_address: str | None, connected_at: datetime
    ) -> None: ...
    def list(
        self, *, charger_id: str | None = None, limit: int = 1000
    ) -> list[ConnectionLogRecord]: ...
    def purge_before(self, cutoff: datetime) -> int: ...
    def newest_for_charger(
        self,
        charger_id: str,
        *,
        since: datetime | None = None,
        before: tuple[datetime, int | None] | None = None,
        limit: int = 100,
    ) -> Sequence[ConnectionLogRecord]:
        """The charger's connections newest first (by time, then id), from ``since`` on,
        after ``before`` (a time and id; no id: that time or older)."""
        ...


class UnreconciledRepository(Protocol):
    def add(self, record: UnreconciledRecord) -> None: ...
    def list(self, *, charger_id: str | None = None) -> list[UnreconciledRecord]: ...
    def rotate(self) -> int: ...
    def purge_before(self, cutoff: datetime) -> int:
        """Delete the messages received before ``cutoff``, resolved or not; how many."""
        ...


class ChargerEventRepository(Protocol):
    """Charger-reported events; payloads are stored encrypted (they can hold personal data)."""

    def add(self, record: ChargerEventRecord) -> None: ...
    def list(self, charger_id: str, *, kind: str | None = None) -> list[ChargerEventRecord]: ...
    def rotate(self) -> int: ...
    def purge_before(self, cutoff: datetime) -> int:
        """Delete the events received before ``cutoff``; how many."""
        ...

    def newest_for_charger(
        self,
        charger_id: str,
        *,
        kind: str | None = None,
        since: datetime | None = None,
        before: tuple[datetime, int | None] | None = None,
        limit: int = 100,
    ) -> Sequence[ChargerEventRecord]:
        """The charger's events (of ``kind``) newest first (by receipt, then id), from
        ``since`` on, after ``before`` (a time and id; no id: that time or older)."""
        ...
