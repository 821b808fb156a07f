"""Notifications: "your EV is done charging" and the receipt, by email and SMS, as each
customer chose.

- ``fan_out_charging_done`` (the internal ``charging.done`` delivery) enqueues one delivery
  per channel the customer chose (``email.charging_done``, ``sms.charging_done``).
- ``Notifier`` delivers them and the receipts billing enqueued. It reads the customer at
  delivery time (the outbox holds ids only): a customer who turned a channel off or was
  erased in between gets nothing, and nobody gets a message about a session without a
  customer. An unconfigured channel (no ``CSMS_SMTP_URL`` / ``CSMS_SMS_URL``) is logged and
  the delivery marked skipped.

Redeliveries carry the same identity: an email's Message-ID and the SMS gateway's
Idempotency-Key come from the outbox row's key, so a receiver that has the message already
recognises the copy a crash made csms send again. A redelivery also says the same thing
(a gateway may refuse a known key with another body): "done charging" tells the energy at
the charging-done moment, not what the meter says by the time of a retry, and the receipt
says how the invoice is paid, not how far the payment has got, naming the card chosen at
billing (its id is in the receipt's payload), not the one a later attempt may charge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from csms.domain.charging.transaction_events import energy_wh
from csms.domain.outbox_events import enqueue_for_session
from csms.domain.views import notify_view
from notify.email import EmailSender, OutgoingEmail
from notify.messages import (
    InvoiceFacts,
    SessionFacts,
    charging_done_email,
    charging_done_sms,
    receipt_email,
    receipt_sms,
)
from notify.outbox import Outcome
from notify.sms import SmsSender
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import CustomerRecord, InvoiceRecord, OutboxRecord, TransactionRecord

__all__ = [
    "CHARGING_DONE_TOPICS",
    "NOTIFICATION_TOPICS",
    "Notifier",
    "fan_out_charging_done",
]

log = logging.getLogger(__name__)

CHARGING_DONE_TOPICS = {"email": "email.charging_done", "sms": "sms.charging_done"}
NOTIFICATION_TOPICS = (
    "email.charging_done",
    "sms.charging_done",
    "email.receipt",
    "sms.receipt",
)


def fan_out_charging_done(uow: UnitOfWork, record: OutboxRecord, now: datetime) -> str:
    tx = uow.transactions.by_pk(int(record.payload["transaction_pk"]))
    customer = uow.customers.get(tx.customer_id) if tx and tx.customer_id is not None else None
    if tx is None or customer is None or customer.erased_at is not None:
        return "nobody to notify"
    channels = notify_view(customer)
    for channel in channels:
        enqueue_for_session(uow, CHARGING_DONE_TOPICS[channel], tx.id, now=now)
    return f"notify by {', '.join(channels)}" if channels else "customer chose no notifications"


@dataclass(frozen=True, slots=True)
class _Channel:
    """How a channel is named in results and logs, the setting that turns it on, and where
    the customer gets it (None, or empty, when they did not choose it)."""

    label: str
    setting: str
    address: Callable[[CustomerRecord], str | None]


_CHANNELS = {
    "email": _Channel("email", "CSMS_SMTP_URL", lambda c: c.email if c.notify_email else None),
    "sms": _Channel("SMS", "CSMS_SMS_URL", lambda c: c.phone if c.notify_sms else None),
}


@dataclass(frozen=True, slots=True)
class _Recipient:
    customer: CustomerRecord
    facts: SessionFacts


class Notifier:
    """The external deliveries of ``NOTIFICATION_TOPICS``."""

    def __init__(
        self,
        db: Database,
        *,
        email: EmailSender | None,
        sms: SmsSender | None,
        message_domain: str = "csms.invalid",
    ) -> None:
        self.db = db
        self.email = email
        self.sms = sms
        self.message_domain = message_domain

    async def __call__(self, record: OutboxRecord, now: datetime) -> Outcome:
        channel, _, kind = record.topic.partition(".")
        pk = int(record.payload["transaction_pk"])
        receipt = kind == "receipt"
        recipient = await self.db.read(
            lambda uow: _load(uow, pk, receipt=receipt, billed=record.payload)
        )
        if recipient is None:
            return Outcome("done", result="skipped: no customer to notify")
        spec = _CHANNELS.get(channel)
        if spec is None:
            return Outcome("failed", error=f"unknown notification topic {record.topic!r}")
        to = spec.address(recipient.customer)
        if not to:
            return Outcome("done", result=f"skipped: customer does not want {spec.label}")
        if (self.email if channel == "email" else self.sms) is None:
            log.info(
                "%s %s for session %d not sent: %s is disabled (set %s)",
                spec.label,
                kind,
                recipient.facts.session_id,
                spec.label,
                spec.setting,
            )
            return Outcome("done", result=f"skipped: {spec.label} disabled")
        send = self._send_email if channel == "email" else self._send_sms
        sent = await send(record, kind, to, recipient.facts)
        return Outcome("done", result=f"sent {sent}")

    async def _send_email(
        self, record: OutboxRecord, kind: str, to: str, facts: SessionFacts
    ) -> str:
        assert self.email is not None
        text = charging_done_email(facts) if kind == "charging_done" else receipt_email(facts)
        message_id = f"<{record.key.replace(':', '.')}@{self.message_domain}>"
        await self.email.send(
            OutgoingEmail(
                to=to, subject=text.subject, text=text.text, html=text.html, message_id=message_id
            )
        )
        return message_id

    async def _send_sms(self, record: OutboxRecord, kind: str, to: str, facts: SessionFacts) -> str:
        assert self.sms is not None
        body = charging_done_sms(facts) if kind == "charging_done" else receipt_sms(facts)
        return await self.sms.send(to=to, body=body, idempotency_key=record.key)


def _load(
    uow: UnitOfWork, transaction_pk: int, *, receipt: bool, billed: Mapping[str, Any]
) -> _Recipient | None:
    tx = uow.transactions.by_pk(transaction_pk)
    if tx is None or tx.customer_id is None:
        return None
    customer = uow.customers.get(tx.customer_id)
    if customer is None or customer.erased_at is not None:
        return None
    charger = uow.chargers.get(tx.charger_id)
    invoice = uow.invoices.by_transaction(tx.id)
    invoice_facts = None
    if invoice is not None:
        invoice_facts = InvoiceFacts(
            currency=invoice.currency,
            lines=invoice.lines,
            net_minor=invoice.net_minor,
            tax_rate=invoice.tax_rate,
            tax_minor=invoice.tax_minor,
            total_minor=invoice.total_minor,
            payment_status=invoice.payment_status,
            card=_card_line(uow, billed),
            number=invoice.number,
            seller=invoice.seller,
        )
    tariff = uow.tariffs.in_force(tx.charger_id, tx.started_at)
    idle_fee = None
    if tariff is not None and Decimal(tariff.idle_per_minute) > 0:
        idle_fee = f"{tariff.idle_per_minute} {tariff.currency}"
    facts = SessionFacts(
        session_id=tx.id,
        customer_number=customer.customer_number,
        name=customer.name,
        charger=(charger.name or charger.id) if charger is not None else tx.charger_id,
        connector_id=tx.connector_id,
        started_at=tx.started_at,
        stopped_at=tx.stopped_at,
        charging_done_at=tx.charging_done_at,
        energy_wh=_billed_energy(tx, invoice) if receipt else _energy_at_done(uow, tx),
        invoice=invoice_facts,
        idle_fee=idle_fee,
        idle_grace_minutes=tariff.idle_grace_minutes if tariff is not None else 0,
    )
    return _Recipient(customer, facts)


def _billed_energy(tx: TransactionRecord, invoice: InvoiceRecord | None) -> int | None:
    """The energy a receipt states: what the invoice billed (an operator's correction of
    an implausible reading), else the session's."""
    if invoice is not None and invoice.adjusted_energy_wh is not None:
        return invoice.adjusted_energy_wh
    return tx.energy_wh


def _card_line(uow: UnitOfWork, billed: Mapping[str, Any]) -> str | None:
    """The card a receipt names: the one chosen at billing (in the receipt's payload), so
    that a receipt delivered again says the same even after a later attempt moved the
    invoice to another card. "" when that card's row is gone (detached and deleted): the
    receipt then says "your card"."""
    method_id = billed.get("payment_method_id")
    if method_id is None:
        return None
    card = uow.payment_methods.get(int(method_id))
    return f"{card.brand} •••• {card.last4}" if card is not None else ""


def _energy_at_done(uow: UnitOfWork, tx: TransactionRecord) -> int | None:
    """The energy the session had taken at its charging-done moment (its registers up to
    then), the same however late "done charging" is delivered."""
    until = tx.charging_done_at
    values = [
        wh
        for s in uow.meter_samples.energy_registers(tx.id)
        if (until is None or s.timestamp <= until) and (wh := energy_wh(s)) is not None
    ]
    start = tx.meter_start_wh if tx.meter_start_wh is not None else (values[0] if values else None)
    if start is None or not values:
        return None
    return max(0, values[-1] - start)
