"""Plain records that cross the storage ports. No SQL, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "ApiTokenRecord",
    "ChargerEventRecord",
    "ChargerRecord",
    "ConnectionLogRecord",
    "ConnectorRecord",
    "CustomerRecord",
    "CustomerTokenRecord",
    "DeviceReportRecord",
    "DeviceVariableRecord",
    "IdTagRecord",
    "InvoiceRecord",
    "IssuedCertificateRecord",
    "MeterSampleRecord",
    "OutboxRecord",
    "OwnerRecord",
    "PaymentAttemptRecord",
    "PaymentMethodRecord",
    "SampledValue",
    "SecurityEventRecord",
    "StatusEventRecord",
    "TariffAssignmentRecord",
    "TariffRecord",
    "TransactionEventRecord",
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
    #: A password issued but not yet confirmed by the charger (see stations.issue_password).
    pending_password_hash: str | None = None
    password_state: str | None = None
    password_state_at: datetime | None = None
    password_detail: str | None = None
    archived_at: datetime | None = None
    #: A higher profile the charger was told to move to; enforced once it connects with it.
    pending_security_profile: int | None = None


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
    #: 2.0.1: ``connector_id`` is the EVSE id, this the connectorId within the EVSE.
    evse_connector_id: int | None = None


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
    evse_connector_id: int | None = None
    id: int | None = None


@dataclass(slots=True)
class CustomerRecord:
    """A customer as the domain sees it: identity in plain text (storage encrypts it).

    After erasure every identity field is None and ``erased_at`` is set; the row stays so
    that sessions and invoices keep their customer number.
    """

    id: int
    customer_number: int
    created_at: datetime
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    vehicle: str | None = None
    password_hash: str | None = None
    pin_hash: str | None = None
    pin_failures: int = 0
    pin_locked_until: datetime | None = None
    login_failures: int = 0
    login_locked_until: datetime | None = None
    notify_email: bool = False
    notify_sms: bool = False
    marketing_opt_in: bool = False
    marketing_changed_at: datetime | None = None
    updated_at: datetime | None = None
    erased_at: datetime | None = None
    #: The token of the customer's unsubscribe link (None: not opted in since it was kept).
    unsubscribe_token: str | None = None


@dataclass(slots=True)
class IdTagRecord:
    """A token a driver identifies with: ``kind`` card, app or login (SPEC "Authorization
    methods"); ``uid`` in plain text (storage encrypts it)."""

    id: int
    uid: str
    status: str
    created_at: datetime
    customer_id: int | None = None
    expires_at: datetime | None = None
    parent_id_tag: str | None = None
    kind: str = "card"
    used_at: datetime | None = None


@dataclass(slots=True)
class CustomerTokenRecord:
    """A customer API (app) session: the SHA-256 of its bearer token."""

    id: int
    customer_id: int
    token_hash: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = None
    created_ip: str | None = None
    revoked_at: datetime | None = None


@dataclass(slots=True)
class SecurityEventRecord:
    id: int
    kind: str
    details: dict[str, Any]
    created_at: datetime
    customer_id: int | None = None
    charger_id: str | None = None


@dataclass(slots=True)
class IssuedCertificateRecord:
    """A certificate csms's CA signed for a charger (``serial``: upper-case hex)."""

    id: int
    serial: str
    charger_id: str
    certificate_type: str
    subject: str
    not_before: datetime
    not_after: datetime
    fingerprint: str
    pem: str
    issued_at: datetime


@dataclass(slots=True)
class ConnectionLogRecord:
    id: int
    charger_id: str
    connected_at: datetime
    remote_address: str | None = None


@dataclass(slots=True)
class TransactionRecord:
    id: int
    transaction_id: int
    charger_id: str
    connector_id: int
    start_key: str
    started_at: datetime
    meter_start_wh: int | None
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
    # 2.0.1 only (see storage.sql.tables.transactions)
    station_transaction_id: str | None = None
    evse_connector_id: int | None = None
    id_token_type: str | None = None
    charging_state: str | None = None
    charging_state_at: datetime | None = None
    remote_start_id: int | None = None
    number_of_phases_used: int | None = None
    offline: bool = False
    seq_no_gaps: int | None = None
    #: Closed by an operator without the charger: who (API token name) and why.
    closed_by: str | None = None
    stop_note: str | None = None


@dataclass(slots=True)
class TransactionEventRecord:
    """One 2.0.1 TransactionEventRequest as stored (its meter values are samples)."""

    charger_id: str
    station_transaction_id: str
    seq_no: int
    transaction_pk: int
    event_type: str
    trigger_reason: str
    timestamp: datetime
    offline: bool
    received_at: datetime
    charging_state: str | None = None
    id_token: str | None = None
    details: dict[str, Any] | None = None
    id: int | None = None
    #: The event's meter values. Stored with the event (one row per TransactionEvent, the
    #: 2.0.1 hot path) and read back through ``MeterSampleRepository``; empty when read
    #: through ``TransactionEventRepository.for_transaction``.
    samples: Sequence[SampledValue] = ()


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
    #: 2.0.1 unitOfMeasure.multiplier (the value is value × 10^multiplier unit).
    multiplier: int | None = None
    #: 2.0.1 signedMeterValue as the station sent it (JSON text).
    signed_meter_value: str | None = None


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
    multiplier: int | None = None
    signed_meter_value: str | None = None
    id: int | None = None


@dataclass(slots=True)
class DeviceVariableRecord:
    """One variable of one component of a station's 2.0.1 device model."""

    charger_id: str
    variable_key: str
    component_name: str
    variable_name: str
    attributes: list[dict[str, Any]]
    request_id: int
    reported_at: datetime
    component_instance: str | None = None
    evse_id: int | None = None
    evse_connector_id: int | None = None
    variable_instance: str | None = None
    actual_value: str | None = None
    characteristics: dict[str, Any] | None = None
    id: int | None = None


@dataclass(slots=True)
class DeviceReportRecord:
    """A device model report (NotifyReport parts sharing a requestId)."""

    charger_id: str
    request_id: int
    generated_at: datetime
    last_seq_no: int
    complete: bool
    variables: int
    received_at: datetime
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
    expires_at: datetime | None = None


@dataclass(slots=True)
class TariffRecord:
    """A tariff; amounts are decimal strings (``csms.domain.billing.pricing`` reads them)."""

    id: int
    name: str
    currency: str
    per_kwh: str
    per_hour: str
    session_fee: str
    idle_per_minute: str
    idle_grace_minutes: int
    tax_rate: str
    created_at: datetime


@dataclass(slots=True)
class TariffAssignmentRecord:
    id: int
    charger_id: str | None
    tariff_id: int
    assigned_at: datetime


@dataclass(slots=True)
class PaymentMethodRecord:
    """A card at the payment processor: its token and customer reference in plain text
    here (storage encrypts them); never the card number or CVC."""

    id: int
    customer_id: int
    token: str
    customer_ref: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    status: str
    created_at: datetime
    removed_at: datetime | None = None


@dataclass(slots=True)
class InvoiceRecord:
    id: int
    transaction_pk: int
    currency: str
    lines: list[dict[str, Any]]
    net_minor: int
    tax_rate: str
    tax_minor: int
    total_minor: int
    payment_status: str
    created_at: datetime
    updated_at: datetime
    customer_id: int | None = None
    tariff_id: int | None = None
    payment_method_id: int | None = None
    payment_reference: str | None = None
    declines: int = 0
    decline_code: str | None = None
    paid_at: datetime | None = None
    #: "2026-000001": gapless per calendar year (storage.sql.tables.invoice_counters).
    number: str | None = None
    #: Why billing held the invoice (an implausible session); kept after release.
    held_reason: str | None = None
    released_at: datetime | None = None
    #: The energy an operator billed instead of the session's (``csms invoices adjust``).
    adjusted_energy_wh: int | None = None
    adjust_reason: str | None = None
    #: Who sold the charging when it was billed: {"name", "address", "vat_id"}.
    seller: dict[str, Any] | None = None


@dataclass(slots=True)
class PaymentAttemptRecord:
    id: int
    invoice_id: int
    idempotency_key: str
    amount_minor: int
    currency: str
    status: str
    created_at: datetime
    reference: str | None = None
    decline_code: str | None = None
    message: str | None = None


@dataclass(slots=True)
class OutboxRecord:
    """A delivery to make after a commit (``storage.sql.tables.outbox``)."""

    id: int
    topic: str
    key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    claimed_until: datetime | None = None
    last_error: str | None = None
    result: str | None = None
    done_at: datetime | None = None
