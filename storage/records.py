"""Plain records that cross the storage ports. No SQL, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "ApiTokenRecord",
    "ChargerEventRecord",
    "ChargerRecord",
    "ConnectorRecord",
    "CustomerRecord",
    "IdTagRecord",
    "MeterSampleRecord",
    "OwnerRecord",
    "SampledValue",
    "StatusEventRecord",
    "TransactionRecord",
    "UnreconciledRecord",
]


@dataclass(slots=True)
class OwnerRecord:
    id: int
    name: str
    created_at: datetime


@dataclass(slots=True)
class ChargerRecord:
    id: str
    registration_status: str
    created_at: datetime
    name: str | None = None
    owner_id: int | None = None
    password_hash: str | None = None
    security_profile: int = 1
    ocpp_version: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    diagnostics_status: str | None = None
    firmware_status: str | None = None
    last_boot_at: datetime | None = None
    last_seen_at: datetime | None = None


@dataclass(slots=True)
class ConnectorRecord:
    charger_id: str
    connector_id: int
    status: str
    error_code: str
    updated_at: datetime
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    status_at: datetime | None = None


@dataclass(slots=True)
class StatusEventRecord:
    charger_id: str
    connector_id: int
    status: str
    error_code: str
    received_at: datetime
    info: str | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None
    timestamp: datetime | None = None
    id: int | None = None


@dataclass(slots=True)
class CustomerRecord:
    id: int
    customer_number: int
    name: str
    email: str
    created_at: datetime


@dataclass(slots=True)
class IdTagRecord:
    id: int
    uid: str
    status: str
    created_at: datetime
    customer_id: int | None = None
    expires_at: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(slots=True)
class TransactionRecord:
    id: int
    transaction_id: int
    charger_id: str
    connector_id: int
    start_key: str
    started_at: datetime
    meter_start_wh: int
    status: str
    created_at: datetime
    updated_at: datetime
    id_tag: str | None = None
    customer_id: int | None = None
    auth_method: str | None = None
    auth_status: str | None = None
    reservation_id: int | None = None
    stopped_at: datetime | None = None
    meter_stop_wh: int | None = None
    energy_wh: int | None = None
    stop_reason: str | None = None
    stop_id_tag: str | None = None
    charging_done_at: datetime | None = None


@dataclass(slots=True)
class SampledValue:
    """One sampled value as a charger reports it, with the defaults of 1.6 §7.45 /
    2.0.1 SampledValueType made explicit. (Not frozen: it is built for every value of every
    meter reading, and a frozen dataclass costs five times as much to create.)"""

    timestamp: datetime
    value: str
    measurand: str = "Energy.Active.Import.Register"
    phase: str | None = None
    unit: str | None = "Wh"
    context: str | None = "Sample.Periodic"
    location: str | None = "Outlet"
    format: str | None = "Raw"


@dataclass(slots=True)
class MeterSampleRecord:
    charger_id: str
    connector_id: int
    timestamp: datetime
    value: str
    measurand: str
    source: str
    received_at: datetime
    transaction_pk: int | None = None
    reported_transaction_id: int | None = None
    phase: str | None = None
    unit: str | None = None
    context: str | None = None
    location: str | None = None
    format: str | None = None
    id: int | None = None


@dataclass(slots=True)
class UnreconciledRecord:
    charger_id: str
    action: str
    reason: str
    payload: dict[str, Any]
    received_at: datetime
    id: int | None = None
    resolved_at: datetime | None = None


@dataclass(slots=True)
class ChargerEventRecord:
    charger_id: str
    kind: str
    payload: dict[str, Any]
    received_at: datetime
    id: int | None = None


@dataclass(slots=True)
class ApiTokenRecord:
    id: int
    name: str
    role: str
    token_hash: str
    created_at: datetime
    owner_id: int | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
