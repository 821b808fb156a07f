"""Request and response bodies of the HTTP API (pydantic). Field names are the SPEC's."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AvailabilityRequest",
    "CardCreate",
    "CardOut",
    "ChargerCreate",
    "ChargerCreated",
    "ChargerOut",
    "CommandAnswer",
    "ConfigGetRequest",
    "ConfigSetRequest",
    "ConfigurationKey",
    "ConnectorOut",
    "Cost",
    "CustomerCreate",
    "CustomerOut",
    "ErrorOut",
    "Health",
    "MeterValueOut",
    "OwnerCreate",
    "OwnerOut",
    "Removed",
    "ResetRequest",
    "SessionDetail",
    "SessionOut",
    "SessionStartRequest",
    "TriggerRequest",
    "UnlockRequest",
]


class _Request(BaseModel):
    # A misspelt field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    error: str


class Health(BaseModel):
    status: Literal["ok"]
    version: str


# -- chargers -----------------------------------------------------------------------


class ChargerCreate(_Request):
    id: str = Field(min_length=1, max_length=48)
    password: str | None = Field(default=None, min_length=8, max_length=40)
    security_profile: Literal[1, 2, 3] = 1
    owner: str | None = None
    name: str | None = Field(default=None, max_length=200)


class ConnectorOut(BaseModel):
    id: int
    status: str
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None
    updated_at: datetime | None = None


class ChargerOut(BaseModel):
    id: str
    name: str | None = None
    owner: str | None = None
    connected: bool
    ocpp_version: str | None = None
    status: str
    error_code: str | None = None
    registration_status: str
    security_profile: int
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    last_boot: datetime | None = None
    last_seen: datetime | None = None
    created_at: datetime
    connectors: list[ConnectorOut]


class ChargerCreated(ChargerOut):
    password: str = Field(description="The charger's password; shown only this once.")


class Removed(BaseModel):
    id: str
    removed: bool


# -- commands -----------------------------------------------------------------------


class ResetRequest(_Request):
    type: Literal["soft", "hard"] = "soft"


class UnlockRequest(_Request):
    connector_id: int = Field(ge=1)


class AvailabilityRequest(_Request):
    state: Literal["operative", "inoperative"]
    connector_id: int = Field(default=0, ge=0, description="0: the whole charger")


class ConfigGetRequest(_Request):
    keys: list[str] = Field(default_factory=list, description="empty: all keys")


class ConfigSetRequest(_Request):
    key: str = Field(min_length=1)
    value: str


class TriggerRequest(_Request):
    message: str = Field(min_length=1, description="e.g. Heartbeat, StatusNotification")
    connector_id: int | None = Field(default=None, ge=1)


class ConfigurationKey(BaseModel):
    key: str
    value: str | None = None
    readonly: bool


class CommandAnswer(BaseModel):
    """The charger's answer to a command: ``status`` as the charger sent it (e.g.
    ``Accepted``, ``Rejected``), ``response`` the raw OCPP payload."""

    charger_id: str
    action: str
    ocpp_version: str | None
    status: str | None = None
    configuration: list[ConfigurationKey] | None = None
    unknown_keys: list[str] | None = None
    response: dict[str, Any]


# -- sessions -----------------------------------------------------------------------


class SessionStartRequest(_Request):
    charger_id: str = Field(min_length=1)
    id_tag: str = Field(min_length=1)
    connector_id: int | None = Field(default=None, ge=1)


class Cost(BaseModel):
    amount: str
    currency: str


class MeterValueOut(BaseModel):
    timestamp: datetime
    value: str
    measurand: str
    phase: str | None = None
    unit: str | None = None
    context: str | None = None
    location: str | None = None


class SessionOut(BaseModel):
    id: int
    charger_id: str
    connector_id: int
    transaction_id: int
    customer_number: int | None = None
    id_tag: str | None = Field(default=None, description="left out for owner tokens")
    auth_method: str | None = None
    auth_status: str | None = None
    started_at: datetime
    stopped_at: datetime | None = None
    charging_done_at: datetime | None = None
    meter_start_wh: int
    meter_stop_wh: int | None = None
    energy_wh: int | None = None
    stop_reason: str | None = None
    status: Literal["active", "completed"]
    cost: Cost | None = None


class SessionDetail(SessionOut):
    meter_values: list[MeterValueOut]


# -- customers, cards, owners -------------------------------------------------------


class CustomerCreate(_Request):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)


class CustomerOut(BaseModel):
    customer_number: int
    name: str
    email: str
    phone: str | None = None
    vehicle: str | None = None
    notify: list[str] | None = None
    created_at: datetime


class CardCreate(_Request):
    uid: str = Field(min_length=1)
    customer_number: int | None = None
    expires: str | None = Field(
        default=None, description="YYYY-MM-DD (valid through that day, UTC) or ISO 8601"
    )


class CardOut(BaseModel):
    uid: str
    status: Literal["active", "blocked", "expired"]
    expires_at: datetime | None = None
    customer_number: int | None = None
    created_at: datetime


class OwnerCreate(_Request):
    name: str = Field(min_length=1, max_length=100)


class OwnerOut(BaseModel):
    name: str
    created_at: datetime
    chargers: int | None = None
