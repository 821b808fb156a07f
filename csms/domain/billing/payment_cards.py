"""A customer's cards for paying (SPEC "Personal data": card numbers and CVC never stored).

The card number and CVC go from the customer API straight to the payment processor
(``csms.domain.billing.payments.PaymentGateway.add_card``); what comes back, the
processor's token and customer reference, the brand, the last 4 digits and the expiry, is
all that is stored.
A removed card (by the customer, or because the customer was erased) stays until the
outbox has detached it at the processor (``payment.detach``), then its row goes.
"""

from __future__ import annotations

from datetime import datetime

from csms.domain.errors import NotFound
from csms.domain.outbox_events import enqueue_card_detach
from storage.ports import UnitOfWork
from storage.records import PaymentMethodRecord

__all__ = ["processor_customer", "remove_all_cards", "remove_card", "store_card"]


def processor_customer(uow: UnitOfWork, customer_id: int) -> str | None:
    """The customer's reference at the processor, from a card added before (None: new)."""
    for method in uow.payment_methods.list(customer_id, active_only=False):
        return method.customer_ref
    return None


def store_card(
    uow: UnitOfWork,
    customer_id: int,
    *,
    token: str,
    customer_ref: str,
    brand: str,
    last4: str,
    exp_month: int,
    exp_year: int,
    now: datetime,
) -> PaymentMethodRecord:
    """Keep a card the processor stored; it becomes the one charged (the newest).

    A card the customer has already (the same processor token: a request retried with the
    same Idempotency-Key after its answer got lost, which the processor answers with the
    card it stored the first time) is returned as it is, not added again.
    """
    for method in uow.payment_methods.list(customer_id):
        if method.token == token:
            return method
    return uow.payment_methods.add(
        PaymentMethodRecord(
            id=0,
            customer_id=customer_id,
            token=token,
            customer_ref=customer_ref,
            brand=brand,
            last4=last4,
            exp_month=exp_month,
            exp_year=exp_year,
            status="active",
            created_at=now,
        )
    )


def remove_card(
    uow: UnitOfWork, customer_id: int, method_id: int, *, now: datetime
) -> PaymentMethodRecord:
    """Remove one of the customer's cards (NotFound for anyone else's)."""
    method = uow.payment_methods.get(method_id)
    if method is None or method.customer_id != customer_id or method.status != "active":
        raise NotFound(
            f"payment card {method_id} not found: see your cards (GET /api/app/me/payment-cards)"
        )
    uow.payment_methods.mark_removed(method.id, now=now)
    enqueue_card_detach(uow, method.id, now=now)
    method.status, method.removed_at = "removed", now
    return method


def remove_all_cards(uow: UnitOfWork, customer_id: int, *, now: datetime) -> int:
    """Remove every card of the customer (erasure); how many."""
    methods = uow.payment_methods.list(customer_id, active_only=False)
    for method in methods:
        if method.status == "active":
            uow.payment_methods.mark_removed(method.id, now=now)
        enqueue_card_detach(uow, method.id, now=now)
    return len(methods)
