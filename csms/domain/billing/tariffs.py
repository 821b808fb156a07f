"""Tariffs: what charging costs, per charger, with a default (``csms tariffs``).

A tariff never changes once created (a new price is a new tariff): an invoice can always
name the prices it was computed from. Assigning a tariff takes effect from that moment on;
a session is billed under the tariff in force on its charger when it *started* (the
charger's own assignment, else the default), so a price change never reaches a session
already under way. The prices and the rounding rule are in ``csms.domain.billing.pricing``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from csms.domain.billing.pricing import parse_amount, parse_currency
from csms.domain.errors import AlreadyExists, InvalidRequest, NotFound
from csms.domain.views import iso
from storage.ports import UnitOfWork
from storage.records import TariffRecord

__all__ = ["add_tariff", "assign_tariff", "get_tariff", "tariff_view", "tariffs_in_force"]

_MAX_GRACE_MINUTES = 24 * 60


def add_tariff(
    uow: UnitOfWork,
    *,
    name: str,
    currency: str = "EUR",
    per_kwh: str | Decimal = "0",
    per_hour: str | Decimal = "0",
    session_fee: str | Decimal = "0",
    idle_per_minute: str | Decimal = "0",
    idle_grace_minutes: int = 0,
    tax_rate: str | Decimal = "0",
    now: datetime,
) -> TariffRecord:
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidRequest("a tariff name is 1 to 100 characters")
    if uow.tariffs.by_name(name) is not None:
        raise AlreadyExists(
            f"tariff {name!r} exists; tariffs never change: add one under a new name and assign it"
        )
    try:
        code = parse_currency(currency)
        prices = {
            "per_kwh": parse_amount(per_kwh, what="--per-kwh"),
            "per_hour": parse_amount(per_hour, what="--per-hour"),
            "session_fee": parse_amount(session_fee, what="--session-fee"),
            "idle_per_minute": parse_amount(idle_per_minute, what="--idle-fee"),
        }
        tax = parse_amount(tax_rate, what="--tax-rate")
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if tax > 100:
        raise InvalidRequest("--tax-rate is a percentage from 0 to 100 (19 for 19 %)")
    if not 0 <= idle_grace_minutes <= _MAX_GRACE_MINUTES:
        raise InvalidRequest(f"--idle-grace is 0 to {_MAX_GRACE_MINUTES} minutes")
    record = TariffRecord(
        id=0,
        name=name,
        currency=code,
        per_kwh=str(prices["per_kwh"]),
        per_hour=str(prices["per_hour"]),
        session_fee=str(prices["session_fee"]),
        idle_per_minute=str(prices["idle_per_minute"]),
        idle_grace_minutes=idle_grace_minutes,
        tax_rate=str(tax),
        created_at=now,
    )
    return uow.tariffs.add(record)


def get_tariff(uow: UnitOfWork, name: str) -> TariffRecord:
    tariff = uow.tariffs.by_name(name)
    if tariff is None:
        raise NotFound(f"tariff {name!r} not found: `csms tariffs list` shows them")
    return tariff


def assign_tariff(
    uow: UnitOfWork, name: str, *, charger_id: str | None, now: datetime
) -> TariffRecord:
    """From now on, sessions starting on ``charger_id`` (None: on every charger without a
    tariff of its own) are billed under tariff ``name``."""
    tariff = get_tariff(uow, name)
    if charger_id is not None and uow.chargers.get(charger_id) is None:
        raise NotFound(f"charger {charger_id!r} not found")
    uow.tariffs.assign(tariff_id=tariff.id, charger_id=charger_id, at=now)
    return tariff


def tariff_view(
    tariff: TariffRecord, *, chargers: list[str] | None = None, default: bool = False
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "name": tariff.name,
        "currency": tariff.currency,
        "per_kwh": tariff.per_kwh,
        "per_hour": tariff.per_hour,
        "session_fee": tariff.session_fee,
        "idle_fee_per_minute": tariff.idle_per_minute,
        "idle_grace_minutes": tariff.idle_grace_minutes,
        "tax_rate": tariff.tax_rate,
        "created_at": iso(tariff.created_at),
        "default": default,
    }
    if chargers is not None:
        view["chargers"] = chargers
    return view


def tariffs_in_force(
    uow: UnitOfWork,
) -> tuple[list[TariffRecord], dict[int, list[str]], int | None]:
    """Every tariff, the chargers each is in force on now, and the default's id."""
    current: dict[str | None, int] = {}
    for assignment in uow.tariffs.assignments():  # newest first: the first one counts
        current.setdefault(assignment.charger_id, assignment.tariff_id)
    chargers: dict[int, list[str]] = {}
    for charger_id, tariff_id in current.items():
        if charger_id is not None:
            chargers.setdefault(tariff_id, []).append(charger_id)
    for names in chargers.values():
        names.sort()
    return uow.tariffs.list(), chargers, current.get(None)
