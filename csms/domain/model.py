"""Version-neutral domain values, modelled on OCPP 2.0.1 concepts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from storage.records import SampledValue

#: One sampled value (defined with the storage records, which persist it as it is).
MeterSample = SampledValue

__all__ = [
    "AuthMethod",
    "AuthorizationStatus",
    "BootInfo",
    "IdTokenInfo",
    "MeterSample",
    "RegistrationStatus",
    "StartResult",
    "TransactionStatus",
]


class RegistrationStatus(StrEnum):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class AuthorizationStatus(StrEnum):
    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


class AuthMethod(StrEnum):
    CARD = "card"
    TOUCHSCREEN = "touchscreen"
    APP = "app"


class TransactionStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class IdTokenInfo:
    status: AuthorizationStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What a charger says about itself at boot (1.6 BootNotification / 2.0.1 chargingStation)."""

    vendor: str
    model: str
    ocpp_version: str
    serial_number: str | None = None
    charge_box_serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class StartResult:
    transaction_id: int
    id_token_info: IdTokenInfo
    created: bool
