"""Billing deliveries: ``bill_session`` (the internal ``session.completed`` delivery) and
``PaymentCharger`` (the external ``payment.charge`` delivery).

``bill_session`` invoices a completed session in the unit of work that completes the outbox
row (``csms.domain.billing.invoices.invoice_session``: priced, numbered, held when its energy
is implausible, its charge and receipts enqueued in the same commit).

``PaymentCharger`` charges the invoice's total through the payment processor, with the
idempotency key ``invoice-ID-attempt-N``: a retry after a timeout or a crash reuses the key
*and the request* (the same card, the same metadata), so the processor charges at most
once; a retry after a recorded attempt (a *decline*, a new attempt the customer may have
fixed their card for, or a refusal an operator retries) takes the next N and the customer's
newest card. Declines are recorded on the invoice and as payment attempts, retried after the
configured delays when the processor says a retry may succeed (insufficient funds), and the
invoice fails for good otherwise (a stolen card) or after the last retry. A request the
processor refuses itself (an amount below its minimum, a wrong API key) is recorded as an
attempt with status ``error`` and fails the invoice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from csms.domain.billing.invoices import PaymentStatus, card_to_charge, invoice_session
from csms.domain.billing.payments import PaymentGateway
from csms.domain.billing.plausibility import DEFAULT_MAX_CHARGER_KW
from notify.errors import DeliveryError
from notify.outbox import Outcome
from notify.payments import ChargeUnresolved, mask_id
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import (
    InvoiceRecord,
    OutboxRecord,
    PaymentAttemptRecord,
    PaymentMethodRecord,
)

__all__ = ["PaymentCharger", "bill_session"]

log = logging.getLogger(__name__)


def bill_session(
    uow: UnitOfWork,
    record: OutboxRecord,
    now: datetime,
    *,
    payments_enabled: bool,
    max_charger_kw: Decimal | None = DEFAULT_MAX_CHARGER_KW,
    seller: dict[str, Any] | None = None,
) -> str:
    """The ``session.completed`` delivery: invoice the session the row names
    (``invoice_session``)."""
    return invoice_session(
        uow,
        int(record.payload["transaction_pk"]),
        now=now,
        payments_enabled=payments_enabled,
        max_charger_kw=max_charger_kw,
        seller=seller,
    )


@dataclass(frozen=True, slots=True)
class _ChargeJob:
    invoice: InvoiceRecord
    #: The attempt this delivery makes: the payment attempts recorded so far, plus one.
    attempt: int
    #: Whether the attempt may have reached the processor already (the invoice is
    #: ``processing``): then its request must be the one sent before, card included.
    started: bool
    card: PaymentMethodRecord | None
    customer_number: int | None


def _attempt(
    invoice: InvoiceRecord,
    key: str,
    *,
    now: datetime,
    status: str,
    reference: str | None,
    decline_code: str | None = None,
    message: str | None,
) -> PaymentAttemptRecord:
    """The record of one attempt to charge ``invoice`` (its message cut to 300 characters)."""
    return PaymentAttemptRecord(
        id=0,
        invoice_id=invoice.id,
        idempotency_key=key,
        amount_minor=invoice.total_minor,
        currency=invoice.currency,
        status=status,
        reference=reference,
        decline_code=decline_code,
        message=(message or "")[:300] or None,
        created_at=now,
    )


def _next_card_id(uow: UnitOfWork, customer_id: int | None, current: int) -> int:
    """The card the next attempt charges, stored with the outcome of this one: the
    customer's newest card (``current`` when they have none left)."""
    newest = card_to_charge(uow, customer_id)
    return newest.id if newest is not None else current


class PaymentCharger:
    """The ``payment.charge`` delivery: charge an invoice through ``gateway``.

    Attempt N is sent under ``invoice-ID-attempt-N`` (N: the payment attempts recorded for
    the invoice, plus one) with the same request every time it is delivered: the amount,
    the invoice's card (``invoice.payment_method_id``) and metadata that cannot change
    (invoice, session, customer number). A new attempt starts only after one was recorded
    (a decline, a refusal): only then does the charge move to the customer's newest card,
    stored on the invoice before anything is sent, with the invoice ``processing`` while
    the attempt is under way (``CardDetacher`` keeps that card meanwhile).
    """

    def __init__(
        self, db: Database, gateway: PaymentGateway, *, retry_delays: Sequence[float]
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.retry_delays = tuple(retry_delays)

    async def __call__(self, record: OutboxRecord, now: datetime) -> Outcome:
        invoice_id = int(record.payload["invoice_id"])

        def load(uow: UnitOfWork) -> _ChargeJob | None:
            invoice = uow.invoices.get(invoice_id)
            if invoice is None:
                return None
            customer = (
                uow.customers.get(invoice.customer_id) if invoice.customer_id is not None else None
            )
            started = invoice.payment_status == PaymentStatus.PROCESSING
            if started:
                method_id = invoice.payment_method_id
                card = uow.payment_methods.get(method_id) if method_id is not None else None
            else:
                card = card_to_charge(uow, invoice.customer_id)
            return _ChargeJob(
                invoice,
                attempt=len(uow.payment_attempts.for_invoice(invoice.id)) + 1,
                started=started,
                card=card,
                customer_number=customer.customer_number if customer is not None else None,
            )

        job = await self.db.read(load)
        if job is None:
            return Outcome("done", result="skipped: no such invoice")
        invoice = job.invoice
        if invoice.payment_status in (
            PaymentStatus.PAID,
            PaymentStatus.NOT_REQUIRED,
            PaymentStatus.HELD,
        ):
            # (held: an operator has not released it; the release enqueues its own charge)
            return Outcome("done", result=f"skipped: invoice {invoice.payment_status}")
        if job.card is None:
            return Outcome(
                "done",
                result="not charged: no card on file",
                write=lambda uow: uow.invoices.update(
                    invoice.id,
                    payment_status=PaymentStatus.NO_PAYMENT_METHOD,
                    payment_method_id=None,
                    updated_at=now,
                ),
            )
        card = job.card
        if not job.started:
            # A new attempt: its card is on the invoice before the processor hears of it.
            await self.db.write(
                lambda uow: uow.invoices.update(
                    invoice.id,
                    payment_status=PaymentStatus.PROCESSING,
                    payment_method_id=card.id,
                    updated_at=now,
                )
            )
        key = f"invoice-{invoice.id}-attempt-{job.attempt}"
        metadata = {"invoice": str(invoice.id), "session": str(invoice.transaction_pk)}
        if job.customer_number is not None:
            metadata["customer_number"] = str(job.customer_number)
        try:
            result = await self.gateway.charge(
                amount_minor=invoice.total_minor,
                currency=invoice.currency,
                card=card,
                idempotency_key=key,
                description=f"Charging session {invoice.transaction_pk}",
                metadata=metadata,
            )
        except DeliveryError as exc:
            if not exc.permanent:
                raise  # the outcome is unknown: delivered again under the same key
            return self._refused(invoice, card, key, exc, now)
        attempt = _attempt(
            invoice,
            key,
            now=now,
            status=result.status,
            reference=result.reference,
            decline_code=result.decline_code,
            message=result.message,
        )
        if result.status == "succeeded":

            def paid(uow: UnitOfWork) -> None:
                uow.payment_attempts.add(attempt)
                uow.invoices.update(
                    invoice.id,
                    payment_status=PaymentStatus.PAID,
                    payment_method_id=card.id,
                    payment_reference=result.reference,
                    paid_at=now,
                    updated_at=now,
                )

            return Outcome("done", result=f"paid: {mask_id(result.reference)}", write=paid)

        declines = invoice.declines + 1
        retry = result.retryable and declines <= len(self.retry_delays)
        status = PaymentStatus.DECLINED if retry else PaymentStatus.FAILED

        def declined(uow: UnitOfWork) -> None:
            uow.payment_attempts.add(attempt)
            uow.invoices.update(
                invoice.id,
                payment_status=status,
                payment_method_id=_next_card_id(uow, invoice.customer_id, card.id),
                declines=declines,
                decline_code=result.decline_code,
                updated_at=now,
            )

        error = f"card declined ({result.decline_code or 'no reason given'})"
        log.warning(
            "invoice %d: %s, decline %d%s",
            invoice.id,
            error,
            declines,
            "; retried later" if retry else "; not retried",
        )
        if retry:
            at = now + timedelta(seconds=self.retry_delays[declines - 1])
            return Outcome("retry", error=error, retry_at=at, write=declined)
        return Outcome("failed", error=error, write=declined)

    @staticmethod
    def _refused(
        invoice: InvoiceRecord,
        card: PaymentMethodRecord,
        key: str,
        exc: DeliveryError,
        now: datetime,
    ) -> Outcome:
        """The processor refused the charge itself (an amount below its minimum, a wrong
        API key, a payment intent left processing): the attempt is recorded as an error and
        the invoice fails; ``csms outbox retry`` starts a new attempt (a new key)."""
        error = str(exc)  # the adapter's text: no card number, key or unmasked processor id
        attempt = _attempt(
            invoice,
            key,
            now=now,
            status="error",
            reference=exc.reference if isinstance(exc, ChargeUnresolved) else None,
            message=error,
        )

        def failed(uow: UnitOfWork) -> None:
            uow.payment_attempts.add(attempt)
            uow.invoices.update(
                invoice.id,
                payment_status=PaymentStatus.FAILED,
                payment_method_id=_next_card_id(uow, invoice.customer_id, card.id),
                updated_at=now,
            )

        return Outcome("failed", error=error, write=failed)
