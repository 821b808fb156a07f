"""Version-neutral JSON views of domain records: what the HTTP API and ``csms --json`` show.

Every function returns a dict of JSON values (timestamps as ISO 8601 UTC strings ending
in ``Z``), the same whether the charger speaks OCPP 1.6J or 2.0.1.

Charger ``status``:

- ``"Offline"`` when the charger has no open connection to this server;
- otherwise the status the charger last reported for connector 0 (the charger as a whole,
  1.6 §4.9), e.g. ``"Available"``, ``"Unavailable"``, ``"Faulted"``;
- ``"Unknown"`` when it is connected but has not reported connector 0 yet.

``connectors`` lists connectors 1..n with their last reported status (kept while offline;
read them together with ``connected``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from csms.domain.cards import card_state
from storage.records import (
    ApiTokenRecord,
    ChargerRecord,
    ConnectorRecord,
    CustomerRecord,
    IdTagRecord,
    MeterSampleRecord,
    OwnerRecord,
    TransactionRecord,
)

__all__ = [
    "OFFLINE",
    "UNKNOWN",
    "card_view",
    "charger_view",
    "customer_view",
    "iso",
    "meter_value_view",
    "normalize_ocpp_version",
    "owner_view",
    "session_view",
    "token_view",
]

OFFLINE = "Offline"
UNKNOWN = "Unknown"


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


def charger_view(
    charger: ChargerRecord,
    connectors: Iterable[ConnectorRecord],
    *,
    connected: bool,
    ocpp_version: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """A charger: ``ocpp_version`` is the live connection's when connected, else the last known."""
    by_id = {c.connector_id: c for c in connectors}
    whole = by_id.get(0)
    if not connected:
        status = OFFLINE
    elif whole is not None:
        status = whole.status
    else:
        status = UNKNOWN
    return {
        "id": charger.id,
        "name": charger.name,
        "owner": owner,
        "connected": connected,
        "ocpp_version": normalize_ocpp_version(ocpp_version or charger.ocpp_version),
        "status": status,
        "error_code": whole.error_code if whole is not None else None,
        "registration_status": charger.registration_status,
        "security_profile": charger.security_profile,
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
                "updated_at": iso(c.status_at or c.updated_at),
            }
            for connector_id, c in sorted(by_id.items())
            if connector_id > 0
        ],
    }


def meter_value_view(sample: MeterSampleRecord) -> dict[str, Any]:
    return {
        "timestamp": iso(sample.timestamp),
        "value": sample.value,
        "measurand": sample.measurand,
        "phase": sample.phase,
        "unit": sample.unit,
        "context": sample.context,
        "location": sample.location,
    }


def session_view(
    transaction: TransactionRecord,
    *,
    customer_number: int | None,
    include_id_tag: bool = True,
    meter_values: Iterable[MeterSampleRecord] | None = None,
) -> dict[str, Any]:
    """A charging session. ``id`` is the session's id (``csms sessions show ID``);
    ``transaction_id`` the one the charger uses. ``id_tag`` (a card UID: personal data) is
    left out for owner tokens. ``cost`` is null until tariffs exist."""
    view: dict[str, Any] = {
        "id": transaction.id,
        "charger_id": transaction.charger_id,
        "connector_id": transaction.connector_id,
        "transaction_id": transaction.transaction_id,
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
        "cost": None,
    }
    if include_id_tag:
        view["id_tag"] = transaction.id_tag
    if meter_values is not None:
        view["meter_values"] = [meter_value_view(s) for s in meter_values]
    return view


def customer_view(customer: CustomerRecord) -> dict[str, Any]:
    return {
        "customer_number": customer.customer_number,
        "name": customer.name,
        "email": customer.email,
        "phone": None,
        "vehicle": None,
        "notify": None,
        "created_at": iso(customer.created_at),
    }


def card_view(card: IdTagRecord, *, customer_number: int | None, now: datetime) -> dict[str, Any]:
    """A card; ``status`` is ``active``, ``blocked`` or ``expired`` (derived from the expiry)."""
    return {
        "uid": card.uid,
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
