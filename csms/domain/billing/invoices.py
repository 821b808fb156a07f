"""Invoices: a completed session is priced under its tariff, invoiced under the next number
of its year, and its card charge and receipts enqueued; an implausible one is held.

``invoice_session`` (run by notify's ``session.completed`` delivery, ``notify.billing``) runs
in one unit of work: it prices the session under the tariff in force when it started
(csms.domain.billing.pricing), stores the invoice (one per session: a second run finds it and adds
nothing) under the next number of its year (``2026-000001``, gapless: taken in the same
commit), and enqueues what follows in the same commit: the card charge (``payment.charge``)
and the receipts the customer chose (``email.receipt``, ``sms.receipt``).

A session whose energy the connector cannot have delivered (csms.domain.billing.plausibility: a
meter jump, meterStop below meterStart, a clock jump) is invoiced but **held**: nothing is
charged and no receipt sent; a WARNING says which session and why. An operator then
releases it as billed (``release_invoice``) or with the energy corrected
(``adjust_invoice``); either enqueues the charge and the receipts exactly as billing would
have, under the same outbox keys, so the card is still charged at most once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from csms.domain.billing.plausibility import (
    DEFAULT_MAX_CHARGER_KW,
    Implausible,
    check_session_energy,
)
from csms.domain.billing.pricing import Price, TariffTerms, price_session, to_decimal
from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.outbox_events import enqueue_for_session
from csms.domain.views import notify_view
from storage.ports import UnitOfWork
from storage.records import (
    DeviceVariableRecord,
    InvoiceRecord,
    PaymentMethodRecord,
    TariffRecord,
    TransactionRecord,
)

__all__ = [
    "PAYMENT_CHARGE",
    "RECEIPT_TOPICS",
    "PaymentStatus",
    "adjust_invoice",
    "card_to_charge",
    "invoice_number",
    "invoice_session",
    "parse_energy_kwh",
    "plausibility_of",
    "price_of",
    "release_invoice",
    "seller_of",
    "terms_of",
]

log = logging.getLogger(__name__)

PAYMENT_CHARGE = "payment.charge"
RECEIPT_TOPICS = {"email": "email.receipt", "sms": "sms.receipt"}


class PaymentStatus:
    """``invoices.payment_status``."""

    NOT_REQUIRED = "not_required"
    PENDING = "pending"
    NO_PAYMENT_METHOD = "no_payment_method"
    PROCESSING = "processing"
    PAID = "paid"
    DECLINED = "declined"
    FAILED = "failed"
    #: An implausible session: never charged until an operator releases or adjusts it.
    HELD = "held"


def seller_of(
    *, name: str | None, address: str | None, vat_id: str | None
) -> dict[str, Any] | None:
    """The seller an invoice names (CSMS_SELLER_NAME/ADDRESS/VAT_ID); None when unset."""
    if not (name or address or vat_id):
        return None
    return {"name": name, "address": address, "vat_id": vat_id}


def invoice_number(year: int, sequence: int) -> str:
    """``2026-000001``: the year, then the invoice's place in it."""
    return f"{year}-{sequence:06d}"


def terms_of(tariff: TariffRecord) -> TariffTerms:
    return TariffTerms(
        currency=tariff.currency,
        per_kwh=to_decimal(tariff.per_kwh),
        per_hour=to_decimal(tariff.per_hour),
        session_fee=to_decimal(tariff.session_fee),
        idle_per_minute=to_decimal(tariff.idle_per_minute),
        idle_grace_minutes=tariff.idle_grace_minutes,
        tax_rate=to_decimal(tariff.tax_rate),
    )


def price_of(tx: TransactionRecord, tariff: TariffRecord, *, energy_wh: int | None = None) -> Price:
    """The session's price; ``energy_wh`` (an operator's correction) replaces its energy."""
    assert tx.stopped_at is not None
    return price_session(
        terms_of(tariff),
        energy_wh=tx.energy_wh if energy_wh is None else energy_wh,
        started_at=tx.started_at,
        stopped_at=tx.stopped_at,
        charging_done_at=tx.charging_done_at,
    )


def _power_limit(variable: DeviceVariableRecord) -> Decimal | None:
    """A device model ``Power`` variable's maxLimit in W (its unit W or kW), if any."""
    characteristics = variable.characteristics or {}
    limit = characteristics.get("maxLimit")
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
        return None
    watts = Decimal(str(limit))
    if str(characteristics.get("unit") or "W").lower() == "kw":
        watts *= 1000
    return watts


def _max_power_w(
    uow: UnitOfWork, tx: TransactionRecord, ceiling_kw: Decimal | None
) -> tuple[Decimal | None, str]:
    """The most the session's connector can deliver, in W, and where that comes from: the
    2.0.1 device model's ``EVSE`` (this EVSE) or ``ChargingStation`` ``Power`` maxLimit
    (2.0.1 part 2 appendix, "Power": maxLimit is the maximum power), else the ceiling.
    No ceiling (``CSMS_MAX_CHARGER_KW=off``): no limit at all."""
    if ceiling_kw is None:
        return None, "off"
    for component, evse_id in (("EVSE", tx.connector_id), ("ChargingStation", None)):
        for variable in uow.device_model.variables(
            tx.charger_id, component_name=component, variable_name="Power"
        ):
            if evse_id is not None and variable.evse_id != evse_id:
                continue
            watts = _power_limit(variable)
            if watts is not None:
                return watts, "charger"
    return ceiling_kw * 1000, "ceiling"


def plausibility_of(
    uow: UnitOfWork,
    tx: TransactionRecord,
    *,
    max_charger_kw: Decimal | None = DEFAULT_MAX_CHARGER_KW,
) -> Implausible | None:
    """Why a completed session cannot be charged as it is (None: it can)."""
    assert tx.stopped_at is not None
    power, source = _max_power_w(uow, tx, max_charger_kw)
    return check_session_energy(
        energy_wh=tx.energy_wh,
        meter_start_wh=tx.meter_start_wh,
        meter_stop_wh=tx.meter_stop_wh,
        started_at=tx.started_at,
        stopped_at=tx.stopped_at,
        max_power_w=power,
        power_source=source,
    )


def invoice_session(
    uow: UnitOfWork,
    transaction_pk: int,
    *,
    now: datetime,
    payments_enabled: bool,
    max_charger_kw: Decimal | None = DEFAULT_MAX_CHARGER_KW,
    seller: dict[str, Any] | None = None,
) -> str:
    """Invoice a completed session and enqueue its charge and receipts (idempotent); hold
    the invoice instead when the session's energy is implausible. Returns what it did."""
    tx = uow.transactions.by_pk(transaction_pk)
    if tx is None or tx.stopped_at is None:
        return "skipped: no completed session"
    invoice = uow.invoices.by_transaction(tx.id)
    outcome = "invoice exists"
    if invoice is None:
        implausible = plausibility_of(uow, tx, max_charger_kw=max_charger_kw)
        if implausible is not None:
            log.warning(
                "session %d on %s: implausible energy, invoice held for an operator: %s",
                tx.id,
                tx.charger_id,
                implausible.reason,
            )
        tariff = uow.tariffs.in_force(tx.charger_id, tx.started_at)
        if tariff is None:
            outcome = "not billed: no tariff in force"
        else:
            invoice = _new_invoice(
                uow,
                tx,
                tariff,
                now=now,
                payments_enabled=payments_enabled,
                held=implausible,
                seller=seller,
            )
            outcome = f"invoice {invoice.id}: {invoice.total_minor} {invoice.currency} minor units"
            if implausible is not None:
                outcome = f"{outcome}, held: {implausible.reason}"
    if invoice is not None and invoice.payment_status == PaymentStatus.HELD:
        return outcome  # no receipt while held: release_invoice sends it
    _enqueue_receipts(uow, tx, invoice, now=now)
    return outcome


def _enqueue_receipts(
    uow: UnitOfWork, tx: TransactionRecord, invoice: InvoiceRecord | None, *, now: datetime
) -> None:
    customer = uow.customers.get(tx.customer_id) if tx.customer_id is not None else None
    if customer is not None and customer.erased_at is None:
        # The card chosen now goes with the receipt: it says how the invoice is paid even
        # if a later attempt moves to another card.
        card_id = invoice.payment_method_id if invoice is not None else None
        for channel in notify_view(customer):
            enqueue_for_session(
                uow, RECEIPT_TOPICS[channel], tx.id, now=now, payment_method_id=card_id
            )


def _payable(
    price_total_minor: int, method: PaymentMethodRecord | None, *, payments_enabled: bool
) -> str:
    """The payment status an invoice that may be charged starts with."""
    if price_total_minor == 0:
        return PaymentStatus.NOT_REQUIRED
    if method is None:
        return PaymentStatus.NO_PAYMENT_METHOD
    if not payments_enabled:
        return PaymentStatus.PENDING
    return PaymentStatus.PROCESSING


def _enqueue_charge(uow: UnitOfWork, invoice_id: int, *, now: datetime) -> None:
    # One key per invoice: whoever enqueues it (billing, a release), it is charged once.
    uow.outbox.enqueue(
        topic=PAYMENT_CHARGE,
        key=f"{PAYMENT_CHARGE}:{invoice_id}",
        payload={"invoice_id": invoice_id},
        now=now,
    )


def _new_invoice(
    uow: UnitOfWork,
    tx: TransactionRecord,
    tariff: TariffRecord,
    *,
    now: datetime,
    payments_enabled: bool,
    held: Implausible | None = None,
    seller: dict[str, Any] | None = None,
) -> InvoiceRecord:
    price = price_of(tx, tariff)
    method = None if held is not None else card_to_charge(uow, tx.customer_id)
    if held is not None:
        status = PaymentStatus.HELD
    else:
        status = _payable(price.total_minor, method, payments_enabled=payments_enabled)
    invoice = InvoiceRecord(
        id=0,
        transaction_pk=tx.id,
        customer_id=tx.customer_id,
        tariff_id=tariff.id,
        currency=price.currency,
        lines=[line.as_dict() for line in price.lines],
        net_minor=price.net_minor,
        tax_rate=str(price.tax_rate),
        tax_minor=price.tax_minor,
        total_minor=price.total_minor,
        payment_status=status,
        payment_method_id=method.id if method is not None else None,
        created_at=now,
        updated_at=now,
        held_reason=held.reason[:300] if held is not None else None,
        seller=seller,
    )
    if not uow.invoices.add(invoice):
        existing = uow.invoices.by_transaction(tx.id)
        assert existing is not None
        return existing
    # The number is taken only once the invoice is stored, in the same commit: a session
    # billed twice at once takes one number, a rolled-back commit gives it back.
    year = now.astimezone(UTC).year
    invoice.number = invoice_number(year, uow.invoices.next_number(year))
    uow.invoices.update(invoice.id, number=invoice.number)
    if status == PaymentStatus.PROCESSING:
        _enqueue_charge(uow, invoice.id, now=now)
    return invoice


def _held(uow: UnitOfWork, invoice_id: int) -> tuple[InvoiceRecord, TransactionRecord]:
    invoice = uow.invoices.get(invoice_id)
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} not found: see `csms invoices list --held`")
    if invoice.payment_status != PaymentStatus.HELD:
        raise InvalidRequest(
            f"invoice {invoice_id} is {invoice.payment_status}, not held: only held invoices "
            "are released or adjusted (`csms invoices list --held`)"
        )
    tx = uow.transactions.by_pk(invoice.transaction_pk)
    assert tx is not None and tx.stopped_at is not None  # invoices are of completed sessions
    return invoice, tx


def release_invoice(
    uow: UnitOfWork, invoice_id: int, *, now: datetime, payments_enabled: bool
) -> InvoiceRecord:
    """Charge a held invoice as it stands: the card is chosen now, the charge and the
    receipts are enqueued as billing enqueues them (the same outbox keys: once)."""
    invoice, tx = _held(uow, invoice_id)
    method = card_to_charge(uow, invoice.customer_id)
    status = _payable(invoice.total_minor, method, payments_enabled=payments_enabled)
    method_id = method.id if method is not None else None
    uow.invoices.update(
        invoice.id,
        payment_status=status,
        payment_method_id=method_id,
        released_at=now,
        updated_at=now,
    )
    invoice.payment_status, invoice.payment_method_id, invoice.released_at = (
        status,
        method_id,
        now,
    )
    invoice.updated_at = now
    if status == PaymentStatus.PROCESSING:
        _enqueue_charge(uow, invoice.id, now=now)
    _enqueue_receipts(uow, tx, invoice, now=now)
    log.info("invoice %d of session %d released: %s", invoice.id, tx.id, status)
    return invoice


def parse_energy_kwh(text: str | Decimal) -> int:
    """An operator's corrected energy in kWh (``12.5``) as whole Wh."""
    try:
        kwh = text if isinstance(text, Decimal) else Decimal(str(text).strip())
    except InvalidOperation:
        raise InvalidRequest(
            f"--energy-kwh must be a number of kWh like 12.5, not {text!r}"
        ) from None
    if not kwh.is_finite() or kwh < 0:
        raise InvalidRequest(f"--energy-kwh must be zero or more, not {text!r}")
    if kwh >= 1_000_000:
        raise InvalidRequest("--energy-kwh must be below 1000000 kWh")
    wh = kwh * 1000
    if wh != wh.to_integral_value():
        raise InvalidRequest(f"--energy-kwh has at most 3 decimal places (Wh), not {text!r}")
    return int(wh)


def adjust_invoice(
    uow: UnitOfWork,
    invoice_id: int,
    *,
    energy_kwh: str | Decimal,
    reason: str | None,
    now: datetime,
    payments_enabled: bool,
) -> InvoiceRecord:
    """Re-price a held invoice from the corrected energy under the tariff it was billed
    under (the session's: in force when it started), then release it. The session itself
    keeps what the charger reported."""
    energy_wh = parse_energy_kwh(energy_kwh)
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > 300:
        raise InvalidRequest("--reason is at most 300 characters")
    invoice, tx = _held(uow, invoice_id)
    tariff = uow.tariffs.get(invoice.tariff_id) if invoice.tariff_id is not None else None
    if tariff is None:
        raise InvalidRequest(f"invoice {invoice_id} names no tariff to price it again with")
    price = price_of(tx, tariff, energy_wh=energy_wh)
    uow.invoices.update(
        invoice.id,
        lines=[line.as_dict() for line in price.lines],
        net_minor=price.net_minor,
        tax_rate=str(price.tax_rate),
        tax_minor=price.tax_minor,
        total_minor=price.total_minor,
        adjusted_energy_wh=energy_wh,
        adjust_reason=reason,
        updated_at=now,
    )
    log.info(
        "invoice %d of session %d adjusted to %d Wh: %d %s minor units",
        invoice.id,
        tx.id,
        energy_wh,
        price.total_minor,
        price.currency,
    )
    return release_invoice(uow, invoice.id, now=now, payments_enabled=payments_enabled)


def card_to_charge(uow: UnitOfWork, customer_id: int | None) -> PaymentMethodRecord | None:
    """The customer's card to charge: the one added last."""
    if customer_id is None:
        return None
    cards = uow.payment_methods.list(customer_id)
    return cards[0] if cards else None
