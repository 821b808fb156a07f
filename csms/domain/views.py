"""Version-neutral JSON views of domain records: what the HTTP API and ``csms --json`` show.

Every function returns a dict of JSON values (timestamps as ISO 8601 UTC strings ending
in ``Z``), the same whether the charger speaks OCPP 1.6J or 2.0.1.

Charger ``status``:

- ``"Offline"`` when the charger has no open connection to this server;
- otherwise the status the charger last reported for connector 0 (the charger as a whole,
  1.6 §4.9), e.g. ``"Available"``, ``"Unavailable"``, ``"Faulted"``;
- a 2.0.1 station reports no status for itself (G01 is per connector): ``"Unavailable"``
  or ``"Faulted"`` when every EVSE says so, else ``"Available"``;
- ``"Unknown"`` when it is connected but has reported no such status yet;
- but a charger in use does not read ``Available``: ``"Charging"`` while one of its
  connectors reports Charging or a session of it is running, else ``"Occupied"`` while
  a connector is Preparing, SuspendedEV/EVSE, Finishing or (2.0.1) Occupied.
  ``Faulted`` and ``Unavailable`` are shown as they are.

``connectors`` lists connectors 1..n with their last reported status (kept while offline;
read them together with ``connected``). For a 2.0.1 station they are its EVSEs: connector N
is EVSE N on both versions (``evse_connector_id`` is the connector within the EVSE).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from csms.domain.billing.pricing import format_money
from csms.domain.charging.stations import password_state
from csms.domain.people.cards import card_state
from storage.crypto import mask_uid
from storage.records import (
    ApiTokenRecord,
    ChargerRecord,
    ConnectorRecord,
    CustomerRecord,
    IdTagRecord,
    InvoiceRecord,
    MeterSampleRecord,
    OutboxRecord,
    OwnerRecord,
    PaymentAttemptRecord,
    PaymentMethodRecord,
    TransactionRecord,
)

__all__ = [
    "CHARGING",
    "OCCUPIED",
    "OFFLINE",
    "UNKNOWN",
    "card_view",
    "charger_view",
    "customer_view",
    "device_model_view",
    "invoice_view",
    "iso",
    "meter_value_view",
    "money_view",
    "normalize_ocpp_version",
    "outbox_view",
    "owner_view",
    "payment_method_view",
    "session_view",
    "token_view",
]

OFFLINE = "Offline"
UNKNOWN = "Unknown"
CHARGING = "Charging"
OCCUPIED = "Occupied"
#: Charger statuses that say more than "in use".
_SHOWN_AS_IS = frozenset({"Faulted", "Unavailable"})
#: Connector statuses of a connector in use without energy flowing (1.6 §7.7, 2.0.1 G01).
_OCCUPIED = frozenset({"Preparing", "SuspendedEV", "SuspendedEVSE", "Finishing", "Occupied"})


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix (None stays None)."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def normalize_ocpp_version(version: str | None) -> str | None:
    """``"1.6"`` or ``"2.0.1"`` from a subprotocol (``ocpp1.6``) or a plain version."""
    if not version:
        return None
    return version.lower().removeprefix("ocpp").removesuffix("j")


def _station_status(evses: Iterable[ConnectorRecord]) -> str:
    """The status of a 2.0.1 station as a whole, from its EVSEs' statuses."""
    statuses = {c.status for c in evses}
    if not statuses:
        return UNKNOWN
    if len(statuses) == 1 and statuses <= {"Unavailable", "Faulted"}:
        return statuses.pop()
    return "Available"


def device_model_view(summary: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stored 2.0.1 device model summary (``csms.domain.charging.device_model``) as JSON."""
    if summary is None:
        return None
    return {**summary, "last_report_at": iso(summary.get("last_report_at"))}


def charger_view(
    charger: ChargerRecord,
    connectors: Iterable[ConnectorRecord],
    *,
    connected: bool,
    ocpp_version: str | None = None,
    owner: str | None = None,
    device_model: Mapping[str, Any] | None = None,
    active_sessions: int = 0,
) -> dict[str, Any]:
    """A charger: ``ocpp_version`` is the live connection's when connected, else the last known.

    ``device_model`` is the summary of a 2.0.1 station's reported device model
    (:func:`csms.domain.charging.device_model.device_model_summary`); always null for 1.6.
    ``active_sessions``: how many of its sessions are running (see the module doc for
    what that does to ``status``).
    """
    by_id = {c.connector_id: c for c in connectors}
    version = normalize_ocpp_version(ocpp_version or charger.ocpp_version)
    whole = by_id.get(0)
    if not connected:
        status = OFFLINE
    elif whole is not None:
        status = whole.status
    elif version == "2.0.1":
        status = _station_status(c for i, c in by_id.items() if i > 0)
    else:
        status = UNKNOWN
    if connected and status not in _SHOWN_AS_IS:
        in_use = {c.status for i, c in by_id.items() if i > 0}
        if active_sessions or "Charging" in in_use:
            status = CHARGING
        elif in_use & _OCCUPIED:
            status = OCCUPIED
    return {
        "id": charger.id,
        "name": charger.name,
        "owner": owner,
        "connected": connected,
        "ocpp_version": version,
        "status": status,
        "error_code": whole.error_code if whole is not None else None,
        "registration_status": charger.registration_status,
        "security_profile": charger.security_profile,
        "pending_security_profile": charger.pending_security_profile,
        "vendor": charger.vendor,
        "model": charger.model,
        "serial_number": charger.serial_number or charger.charge_box_serial_number,
        "firmware_version": charger.firmware_version,
        "last_boot": iso(charger.last_boot_at),
        "last_seen": iso(charger.last_seen_at),
        "created_at": iso(charger.created_at),
        "connectors": [
            {
                "id": c.connector_id,
                "status": c.status,
                "error_code": c.error_code,
                "info": c.info,
                "vendor_error_code": c.vendor_error_code,
                "evse_connector_id": c.evse_connector_id,
                "updated_at": iso(c.status_at or c.updated_at),
            }
            for connector_id, c in sorted(by_id.items())
            if connector_id > 0
        ],
        "device_model": device_model_view(device_model) if version == "2.0.1" else None,
        "password_state": password_state(charger),
        "password_detail": charger.password_detail,
        "archived_at": iso(charger.archived_at),
    }


def meter_value_view(sample: MeterSampleRecord) -> dict[str, Any]:
    """One sampled value; 2.0.1's ``multiplier`` and ``signed_meter_value`` (the station's
    signedMeterValue, verbatim) appear only on values that have them."""
    view: dict[str, Any] = {
        "timestamp": iso(sample.timestamp),
        "value": sample.value,
        "measurand": sample.measurand,
        "phase": sample.phase,
        "unit": sample.unit,
        "context": sample.context,
        "location": sample.location,
    }
    if sample.multiplier:
        view["multiplier"] = sample.multiplier
    if sample.signed_meter_value is not None:
        view["signed_meter_value"] = json.loads(sample.signed_meter_value)
    return view


def session_view(
    transaction: TransactionRecord,
    *,
    customer_number: int | None,
    include_id_tag: bool = True,
    meter_values: Iterable[MeterSampleRecord] | None = None,
    invoice: InvoiceRecord | None = None,
    invoice_details: bool = False,
) -> dict[str, Any]:
    """A charging session, the same fields for 1.6 and 2.0.1. ``id`` is the session's id
    (``csms sessions show ID``); ``transaction_id`` the one the charger uses: the integer the
    CSMS assigned in a 1.6 StartTransaction, or the string a 2.0.1 station chose itself (its
    transactionId, what an operator sees on the station and in its logs; the CSMS-assigned
    integer of a 2.0.1 row is internal). ``connector_id`` is the 1.6 connector or the 2.0.1
    EVSE. ``id_tag`` (a card UID: personal data) is left out for owner tokens. ``cost`` is
    the invoice's total once the completed session is billed (null before, and when no
    tariff was in force); ``invoice_details`` adds the invoice itself."""
    view: dict[str, Any] = {
        "id": transaction.id,
        "charger_id": transaction.charger_id,
        "connector_id": transaction.connector_id,
        "transaction_id": (
            transaction.station_transaction_id
            if transaction.station_transaction_id is not None
            else transaction.transaction_id
        ),
        "customer_number": customer_number,
        "auth_method": transaction.auth_method,
        "auth_status": transaction.auth_status,
        "started_at": iso(transaction.started_at),
        "stopped_at": iso(transaction.stopped_at),
        "charging_done_at": iso(transaction.charging_done_at),
        "meter_start_wh": transaction.meter_start_wh,
        "meter_stop_wh": transaction.meter_stop_wh,
        "energy_wh": transaction.energy_wh,
        "stop_reason": transaction.stop_reason,
        "status": transaction.status,
        "cost": money_view(invoice.total_minor, invoice.currency) if invoice else None,
        "closed_by": transaction.closed_by,
        "stop_note": transaction.stop_note,
    }
    if invoice_details:
        view["invoice"] = invoice_view(invoice) if invoice is not None else None
    if include_id_tag:
        view["id_tag"] = transaction.id_tag
    if meter_values is not None:
        view["meter_values"] = [meter_value_view(s) for s in meter_values]
    return view


def money_view(amount_minor: int, currency: str) -> dict[str, str]:
    return {"amount": format_money(amount_minor, currency), "currency": currency}


def invoice_view(
    invoice: InvoiceRecord,
    *,
    customer_number: int | None = None,
    attempts: Iterable[PaymentAttemptRecord] | None = None,
    card: PaymentMethodRecord | None = None,
    include_customer: bool = False,
) -> dict[str, Any]:
    """An invoice: its lines, net, tax and total, and where its payment stands."""
    currency = invoice.currency
    view: dict[str, Any] = {
        "id": invoice.id,
        "session_id": invoice.transaction_pk,
        "currency": currency,
        "lines": invoice.lines,
        "net": format_money(invoice.net_minor, currency),
        "tax_rate": invoice.tax_rate,
        "tax": format_money(invoice.tax_minor, currency),
        "total": format_money(invoice.total_minor, currency),
        "payment_status": invoice.payment_status,
        "payment_reference": invoice.payment_reference,
        "declines": invoice.declines,
        "decline_code": invoice.decline_code,
        "created_at": iso(invoice.created_at),
        "paid_at": iso(invoice.paid_at),
        "number": invoice.number,
        "seller": invoice.seller,
        "held_reason": invoice.held_reason,
        "released_at": iso(invoice.released_at),
        "adjusted_energy_wh": invoice.adjusted_energy_wh,
        "adjust_reason": invoice.adjust_reason,
    }
    if include_customer:
        view["customer_number"] = customer_number
    if card is not None:
        view["card"] = payment_method_view(card)
    if attempts is not None:
        view["payment_attempts"] = [
            {
                "at": iso(a.created_at),
                "status": a.status,
                "amount": format_money(a.amount_minor, a.currency),
                "reference": a.reference,
                "decline_code": a.decline_code,
                "message": a.message,
            }
            for a in attempts
        ]
    return view


def payment_method_view(method: PaymentMethodRecord) -> dict[str, Any]:
    """A card as its owner sees it: brand, last 4 digits, expiry (never the token)."""
    return {
        "id": method.id,
        "brand": method.brand,
        "last4": method.last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
        "status": method.status,
        "created_at": iso(method.created_at),
    }


def outbox_view(record: OutboxRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "topic": record.topic,
        "key": record.key,
        "payload": record.payload,
        "status": record.status,
        "attempts": record.attempts,
        "next_attempt_at": iso(record.next_attempt_at) if record.status == "pending" else None,
        "last_error": record.last_error,
        "result": record.result,
        "created_at": iso(record.created_at),
        "done_at": iso(record.done_at),
    }


def vehicle_view(vehicle: str | None) -> dict[str, Any] | None:
    """``make/model/year`` as stored, as an object."""
    if not vehicle:
        return None
    parts = vehicle.split("/")
    return {
        "make": parts[0],
        "model": parts[1] if len(parts) > 1 else None,
        "year": int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None,
    }


def notify_view(customer: CustomerRecord) -> list[str]:
    return [
        channel
        for channel, chosen in (("email", customer.notify_email), ("sms", customer.notify_sms))
        if chosen
    ]


def customer_view(customer: CustomerRecord) -> dict[str, Any]:
    """A customer as operators and the customer see them (never shown to owners)."""
    return {
        "customer_number": customer.customer_number,
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "address": customer.address,
        "vehicle": vehicle_view(customer.vehicle),
        "notify": notify_view(customer),
        "marketing_opt_in": customer.marketing_opt_in,
        "pin_set": customer.pin_hash is not None,
        "pin_locked_until": iso(customer.pin_locked_until),
        "created_at": iso(customer.created_at),
        "erased_at": iso(customer.erased_at),
    }


def card_view(
    card: IdTagRecord, *, customer_number: int | None, now: datetime, masked: bool = False
) -> dict[str, Any]:
    """A card; ``status`` is ``active``, ``blocked`` or ``expired`` (derived from the expiry).
    ``masked``: the UID shows only its last 4 characters (exports, the customer API)."""
    return {
        "uid": mask_uid(card.uid) if masked else card.uid,
        "group": card.parent_id_tag,
        "status": card_state(card, now=now).value,
        "expires_at": iso(card.expires_at),
        "customer_number": customer_number,
        "created_at": iso(card.created_at),
    }


def owner_view(owner: OwnerRecord, *, chargers: int | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {"name": owner.name, "created_at": iso(owner.created_at)}
    if chargers is not None:
        view["chargers"] = chargers
    return view


def token_view(record: ApiTokenRecord, *, owner: str | None) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "role": record.role,
        "owner": owner,
        "created_at": iso(record.created_at),
    }
