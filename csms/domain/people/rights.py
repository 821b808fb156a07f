"""A person's rights over their data: see everything held (export) and erasure.

Export gathers every record that concerns the customer: identity, preferences, consents,
cards (UIDs masked: the full UID is a credential), payment cards (brand, last 4 digits),
favorites, every session with its meter values and invoice, invoices with their payment
attempts, app logins and security events about them.

Erasure removes identity for good: the encrypted identity fields, their keyed hashes, the
password and PIN hashes, cards and app/login tokens, favorites and app sessions are
deleted; payment cards are detached at the processor and deleted (``payment.detach``).
Sessions and invoices stay (energy, times, amounts: the operator's books and the owners'
reports need them) under the customer number only; the idTags in them are cleared too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from csms.domain.billing.payment_cards import remove_all_cards
from csms.domain.errors import NotFound
from csms.domain.people.customers import get_customer
from csms.domain.views import (
    card_view,
    customer_view,
    invoice_view,
    iso,
    payment_method_view,
    session_view,
)
from storage.ports import UnitOfWork
from storage.records import CustomerRecord

__all__ = ["EXPORT_FORMAT", "erase_customer", "export_customer"]

#: Version of the export document, so that a reader can tell what to expect.
EXPORT_FORMAT = "csms-customer-export/1"


def export_customer(uow: UnitOfWork, customer: CustomerRecord, *, now: datetime) -> dict[str, Any]:
    """Everything held about ``customer``, as one JSON-able document."""
    number = customer.customer_number
    cards = [
        card_view(card, customer_number=number, now=now, masked=True)
        for card in uow.id_tags.list(customer_id=customer.id)
    ]
    sessions = []
    transactions = uow.transactions.list(customer_id=customer.id, limit=1_000_000)
    invoices_of = uow.invoices.for_transactions(tx.id for tx in transactions)
    for tx in transactions:
        view = session_view(
            tx,
            customer_number=number,
            include_id_tag=False,
            meter_values=uow.meter_samples.for_transaction(tx.id),
            invoice=invoices_of.get(tx.id),
        )
        sessions.append(view)
    invoices = [
        invoice_view(
            invoice,
            customer_number=number,
            include_customer=True,
            attempts=uow.payment_attempts.for_invoice(invoice.id),
        )
        for invoice in uow.invoices.list(customer_id=customer.id, limit=1_000_000)
    ]
    payment_cards = [
        payment_method_view(m) for m in uow.payment_methods.list(customer.id, active_only=False)
    ]
    logins = [
        {
            "created_at": iso(t.created_at),
            "expires_at": iso(t.expires_at),
            "last_used_at": iso(t.last_used_at),
            "ip_address": t.created_ip,
            "revoked_at": iso(t.revoked_at),
        }
        for t in uow.customer_tokens.list(customer.id)
    ]
    security = [
        {"kind": e.kind, "at": iso(e.created_at), "details": e.details}
        for e in uow.security_events.list(customer_id=customer.id)
    ]
    profile = customer_view(customer)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": iso(now),
        "customer": profile,
        "preferences": {"notify": profile["notify"]},
        "consents": {
            "marketing": customer.marketing_opt_in,
            "marketing_changed_at": iso(customer.marketing_changed_at),
        },
        "credentials": {
            "password_set": customer.password_hash is not None,
            "pin_set": customer.pin_hash is not None,
        },
        "cards": cards,
        "favorites": [
            {"charger_id": charger_id, "added_at": iso(added)}
            for charger_id, added in uow.favorites.list(customer.id)
        ],
        "payment_cards": payment_cards,
        "sessions": sessions,
        "invoices": invoices,
        "app_logins": logins,
        "security_events": security,
    }


def erase_customer(uow: UnitOfWork, customer_number: int, *, now: datetime) -> CustomerRecord:
    """Erase a customer's identity for good (idempotent); sessions keep the number."""
    customer = get_customer(uow, customer_number)
    if customer.erased_at is not None:
        return customer
    for tx in uow.transactions.list(customer_id=customer.id, limit=1_000_000):
        uow.transactions.forget_id_tags(tx.id, now=now)
    remove_all_cards(uow, customer.id, now=now)
    uow.customers.erase(customer.id, now=now)
    uow.security_events.add(
        kind="CustomerErased",
        details={"customer_number": customer.customer_number},
        created_at=now,
        customer_id=customer.id,
    )
    erased = uow.customers.get(customer.id)
    if erased is None:  # pragma: no cover - the row is kept by design
        raise NotFound(f"customer {customer_number} not found")
    return erased
