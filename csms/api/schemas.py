"""Request and response bodies of the HTTP API (pydantic). Field names are the SPEC's."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from csms.domain.model import PaymentStatusName

__all__ = [
    "CardCreate",
    "CardOut",
    "ChargerCreate",
    "ChargerCreated",
    "ChargerOut",
    "ConnectorOut",
    "Cost",
    "CustomerCreate",
    "CustomerOut",
    "DataKeyOut",
    "DeviceModelOut",
    "DriverSessionDetail",
    "DriverSessionOut",
    "ErrorOut",
    "Health",
    "InvoiceAdjust",
    "InvoiceLineOut",
    "InvoiceOut",
    "KeyRetiredOut",
    "KeyRotationOut",
    "MeterValueOut",
    "OutboxOut",
    "OwnerCreate",
    "OwnerOut",
    "PaymentAttemptOut",
    "PaymentMethodOut",
    "Removed",
    "RetentionOut",
    "SellerOut",
    "SessionDetail",
    "SessionOut",
    "SessionReportRow",
    "TariffAssign",
    "TariffCreate",
    "TariffOut",
    "VehicleOut",
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
    evse_connector_id: int | None = Field(
        default=None, description="2.0.1: the connector within EVSE `id`"
    )
    updated_at: datetime | None = None


class DeviceModelOut(BaseModel):
    """Summary of the device model a 2.0.1 station reported (NotifyReport)."""

    components: int
    variables: int
    evses: int
    values: dict[str, str | None] = Field(
        description="well-known variables, e.g. OCPPCommCtrlr.HeartbeatInterval"
    )
    last_report_at: datetime | None = None
    last_report_complete: bool | None = None


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
    pending_security_profile: int | None = Field(
        default=None,
        description="a higher profile the charger was told to move to and accepted; "
        "required once it connects with it (`csms chargers set-profile`)",
    )
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    last_boot: datetime | None = None
    last_seen: datetime | None = None
    created_at: datetime
    connectors: list[ConnectorOut]
    device_model: DeviceModelOut | None = Field(
        default=None, description="2.0.1 only: the stored device model summary"
    )
    password_state: Literal["none", "pending", "rejected", "active", "rotating", "sent"] = Field(
        default="none",
        description="none: no password, any connection is let in; pending: a password was "
        "issued and the charger has not confirmed it (it may still connect without); "
        "rejected: the charger refused it; active: Basic auth enforced (401 without it); "
        "rotating: a new password waits to be sent, sent: the charger took it (in both, "
        "the current one and the new one are let in until it connects with the new one)",
    )
    password_detail: str | None = Field(
        default=None, description="what happened to the password last (delivery, refusal)"
    )
    archived_at: datetime | None = Field(
        default=None,
        description="when it was archived: hidden from the list, connections refused (404)",
    )


class ChargerCreated(ChargerOut):
    password: str = Field(description="The charger's password; shown only this once.")


class ChargerAccept(_Request):
    password: str | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        description="for a charger without a password: the one to give it (default: "
        "generated); at most 20 bytes for OCPP 1.6 (AuthorizationKey)",
    )


class PasswordDeliveryOut(BaseModel):
    status: Literal["accepted", "refused", "waiting"] = Field(
        description="accepted: enforced from now on; refused: the charger said no (see "
        "detail); waiting: sent when the charger next connects"
    )
    detail: str
    answer: str | None = Field(default=None, description="the charger's own answer status")


class ChargerAccepted(ChargerOut):
    password: str | None = Field(
        default=None, description="the password issued to the charger; shown only this once"
    )
    password_delivery: PasswordDeliveryOut | None = None


class Removed(BaseModel):
    id: str
    removed: bool


# -- sessions -----------------------------------------------------------------------


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
    multiplier: int | None = Field(default=None, description="2.0.1: value × 10^multiplier")
    signed_meter_value: dict[str, Any] | None = Field(
        default=None, description="2.0.1 signedMeterValue, verbatim"
    )


class DriverSessionOut(BaseModel):
    """A session as its driver sees it in the app (no idTags: those are credentials)."""

    id: int
    charger_id: str
    connector_id: int = Field(description="1.6 connector or 2.0.1 EVSE")
    transaction_id: int | str = Field(
        description="the charger's id: CSMS-assigned integer (1.6), the station's string (2.0.1)"
    )
    customer_number: int | None = None
    auth_method: str | None = None
    started_at: datetime
    stopped_at: datetime | None = None
    charging_done_at: datetime | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    energy_wh: int | None = None
    stop_reason: str | None = None
    status: Literal["active", "completed"]
    cost: Cost | None = None


class InvoiceLineOut(BaseModel):
    kind: Literal["energy", "time", "session", "idle"]
    description: str
    quantity: str
    unit: str
    unit_price: str
    amount: str


class PaymentAttemptOut(BaseModel):
    at: datetime
    status: str = Field(description="succeeded | declined")
    amount: str
    reference: str | None = None
    decline_code: str | None = None
    message: str | None = None


class PaymentMethodOut(BaseModel):
    """A card at the payment processor: brand, last 4 digits and expiry only."""

    id: int
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    status: Literal["active", "removed"]
    created_at: datetime


class SellerOut(BaseModel):
    name: str | None = None
    address: str | None = None
    vat_id: str | None = None


class InvoiceOut(BaseModel):
    """A billed session. Amounts are decimal strings in ``currency``; every amount is rounded
    half-up to the currency's minor unit as it is computed (lines, then tax on their sum)."""

    id: int
    session_id: int
    currency: str
    lines: list[InvoiceLineOut]
    net: str
    tax_rate: str = Field(description="percent")
    tax: str
    total: str
    payment_status: PaymentStatusName = Field(
        description="held: an implausible session, charged only once an operator "
        "releases or adjusts it"
    )
    payment_reference: str | None = Field(default=None, description="the processor's charge id")
    declines: int
    decline_code: str | None = None
    created_at: datetime
    paid_at: datetime | None = None
    customer_number: int | None = None
    card: PaymentMethodOut | None = None
    payment_attempts: list[PaymentAttemptOut] | None = None
    number: str | None = Field(
        default=None, description="gapless per calendar year (UTC): 2026-000001"
    )
    seller: SellerOut | None = Field(default=None, description="who sold the charging")
    held_reason: str | None = Field(default=None, description="why billing held it")
    released_at: datetime | None = None
    adjusted_energy_wh: int | None = Field(
        default=None, description="the energy billed instead of the session's (adjusted)"
    )
    adjust_reason: str | None = None


class InvoiceAdjust(BaseModel):
    """The corrected energy of a held invoice, in kWh (a decimal string or number)."""

    energy_kwh: str | int | float = Field(description='e.g. "12.5" (at most 3 decimals)')
    reason: str | None = Field(default=None, max_length=300)


class DriverSessionDetail(DriverSessionOut):
    meter_values: list[MeterValueOut]
    invoice: InvoiceOut | None = None


class SessionOut(DriverSessionOut):
    """A session as operators (and, without ``id_tag``, owners) see it."""

    id_tag: str | None = Field(default=None, description="left out for owner tokens")
    auth_status: str | None = None
    closed_by: str | None = Field(
        default=None, description="the API token that closed it without the charger"
    )
    stop_note: str | None = Field(default=None, description="why it was closed so")
    energy_so_far_wh: int | None = Field(
        default=None,
        description="active sessions: energy from the meter start to the latest reading",
    )
    cost_so_far: Cost | None = Field(
        default=None,
        description="active sessions: that energy and the time until now, priced with the "
        "session's tariff (null without a tariff or a reading)",
    )


class SessionClose(_Request):
    meter_stop_wh: int | None = Field(
        default=None,
        ge=0,
        le=2**53,
        description="the meter reading to close with (default: the last meter value, "
        "else the meter start)",
    )
    reason: str | None = Field(default=None, max_length=500, description="why, for the record")


class SessionDetail(SessionOut):
    meter_values: list[MeterValueOut]
    invoice: InvoiceOut | None = None


# -- billing: tariffs, the outbox ---------------------------------------------------


class TariffCreate(_Request):
    name: str = Field(min_length=1, max_length=100)
    currency: str = Field(default="EUR", min_length=3, max_length=3, description="ISO 4217")
    per_kwh: str = Field(default="0", description="net price per kWh, e.g. 0.39")
    per_hour: str = Field(default="0", description="net price per hour plugged in")
    session_fee: str = Field(default="0", description="net price per session")
    idle_fee_per_minute: str = Field(
        default="0", description="per full minute plugged in after charging is done"
    )
    idle_grace_minutes: int = Field(default=0, ge=0, le=1440)
    tax_rate: str = Field(default="0", description="percent added to the net amount")


class TariffAssign(_Request):
    charger_id: str | None = Field(
        default=None, description="the charger; null: the default for every other charger"
    )


class TariffOut(BaseModel):
    name: str
    currency: str
    per_kwh: str
    per_hour: str
    session_fee: str
    idle_fee_per_minute: str
    idle_grace_minutes: int
    tax_rate: str
    created_at: datetime
    default: bool = Field(description="the tariff of chargers without one of their own")
    chargers: list[str] | None = Field(default=None, description="chargers it is assigned to")


class OutboxOut(BaseModel):
    """A delivery after a commit: billing, a card charge, an email or an SMS."""

    id: int
    topic: str
    key: str = Field(description="unique; also the idempotency key the receiver sees")
    payload: dict[str, Any] = Field(description="ids only")
    status: Literal["pending", "done", "failed"]
    attempts: int
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    result: str | None = None
    created_at: datetime
    done_at: datetime | None = None


# -- customers, cards, owners -------------------------------------------------------


class CustomerCreate(_Request):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)
    phone: str | None = Field(default=None, max_length=32, description="+4930123456")
    address: str | None = Field(default=None, max_length=500)
    vehicle: str | None = Field(default=None, max_length=200, description="MAKE/MODEL/YEAR")
    pin: str | None = Field(default=None, max_length=8, description="touchscreen PIN, 4-8 digits")
    notify: list[Literal["email", "sms"]] = Field(
        default_factory=list, description="email and/or sms: how to tell the driver"
    )


class VehicleOut(BaseModel):
    make: str
    model: str | None = None
    year: int | None = None


class CustomerOut(BaseModel):
    """A customer as operators see them; identity fields are null once erased."""

    customer_number: int = Field(description="the pseudonym owners see")
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    vehicle: VehicleOut | None = None
    notify: list[Literal["email", "sms"]]
    marketing_opt_in: bool
    pin_set: bool
    pin_locked_until: datetime | None = None
    created_at: datetime
    erased_at: datetime | None = Field(
        default=None, description="when the identity was erased (sessions keep the number)"
    )


class CardCreate(_Request):
    uid: str = Field(min_length=1)
    customer_number: int | None = None
    expires: str | None = Field(
        default=None, description="YYYY-MM-DD (valid through that day, UTC) or ISO 8601"
    )
    group: str | None = Field(
        default=None,
        description="group id: 1.6 parentIdTag / 2.0.1 groupIdToken (e.g. a fleet), not a card",
    )


class CardOut(BaseModel):
    uid: str
    status: Literal["active", "blocked", "expired"]
    expires_at: datetime | None = None
    customer_number: int | None = None
    created_at: datetime
    group: str | None = None


class OwnerCreate(_Request):
    name: str = Field(min_length=1, max_length=100)


class OwnerOut(BaseModel):
    name: str
    created_at: datetime
    chargers: int | None = None


# -- owners' reports ----------------------------------------------------------------


class SessionReportRow(BaseModel):
    """One session in an owner's report: nothing that identifies the driver."""

    session_id: int
    charger_id: str
    connector_id: int
    started_at: datetime
    stopped_at: datetime | None = None
    status: Literal["active", "completed"]
    energy_wh: int | None = None
    billed: str | None = Field(default=None, description="the invoice total; null: not billed")
    amount: str | None = Field(
        default=None, description="collected: the total once paid, else 0; null: not billed"
    )
    currency: str | None = None
    payment_status: str | None = None
    customer_number: int | None = Field(default=None, description="the driver's pseudonym")
    auth_method: str | None = None


# -- personal data: retention and data keys -----------------------------------------


class RetentionOut(BaseModel):
    ran_at: datetime
    connection_log_deleted: int = Field(description="charger connections older than 21 days")
    login_addresses_cleared: int = Field(description="app login addresses older than 21 days")
    app_logins_deleted: int = Field(description="expired app logins")
    login_tokens_deleted: int = Field(
        description="one-time tokens (touchscreen login, app start) expired a day ago"
    )
    sessions_anonymized: int = Field(description="sessions past the retention period")
    address_cutoff: datetime
    session_cutoff: datetime
    security_events_deleted: int = Field(description="security events past the event period")
    charger_events_deleted: int = Field(description="charger events past the event period")
    unreconciled_deleted: int = Field(
        description="unreconciled messages past the event period, resolved or not"
    )
    event_cutoff: datetime = Field(description="now minus CSMS_EVENT_RETENTION_DAYS")
    vacuumed: list[str] = Field(description="tables vacuumed after the run (PostgreSQL)")


class DataKeyOut(BaseModel):
    key_id: str
    newest: bool = Field(description="new values are encrypted under this key")
    values: int = Field(description="stored values (encrypted fields, keyed hashes) under it")
    source: Literal["data.keys", "CSMS_DATA_KEYS"]


class KeyRotationOut(BaseModel):
    key_source: Literal["data.keys", "CSMS_DATA_KEYS"]
    new_key_id: str | None = Field(description="null: the newest key was in place already")
    newest_key_id: str
    key_ids: list[str] = Field(description="the key ring, newest first")
    reencrypted: dict[str, int] = Field(description="rows re-encrypted per table")


class KeyRetiredOut(BaseModel):
    key_id: str
    retired: bool
    key_ids: list[str] = Field(description="the keys left, newest first")
