"""Marketing consent: opt in, opt out, and the unsubscribe link that needs no login.

Every opted-in customer has a random unsubscribe token. Its SHA-256 finds the customer when
the link is opened; the token itself is kept encrypted, like identity, because the
marketing export puts each customer's link into the newsletter tool's list. Opening the
link opts the customer out at once, whoever follows it.
"""

from __future__ import annotations

from datetime import datetime

from csms.domain.errors import NotFound
from csms.security import hash_token
from storage.ports import UnitOfWork
from storage.records import CustomerRecord

__all__ = ["new_unsubscribe_token", "set_marketing", "unsubscribe"]

_TOKEN_PREFIX = "unsub_"


def new_unsubscribe_token(uow: UnitOfWork, customer: CustomerRecord) -> str:
    """A fresh unsubscribe token for ``customer`` (the previous one stops working)."""
    import secrets

    token = _TOKEN_PREFIX + secrets.token_urlsafe(24)
    uow.customers.update(
        customer.id, unsubscribe_token_hash=hash_token(token), unsubscribe_token=token
    )
    customer.unsubscribe_token = token
    return token


def set_marketing(
    uow: UnitOfWork, customer: CustomerRecord, *, opt_in: bool, now: datetime
) -> str | None:
    """Record the customer's choice; on opt-in, returns the new unsubscribe token."""
    uow.customers.update(
        customer.id, marketing_opt_in=opt_in, marketing_changed_at=now, updated_at=now
    )
    customer.marketing_opt_in = opt_in
    customer.marketing_changed_at = now
    if opt_in:
        return new_unsubscribe_token(uow, customer)
    # (the token stays: following the link twice says "unsubscribed" twice)
    return None


def unsubscribe(uow: UnitOfWork, token: str, *, now: datetime) -> int:
    """Opt out the customer the link belongs to; their customer number."""
    customer = uow.customers.by_unsubscribe_hash(hash_token(token.strip()))
    if customer is None:
        raise NotFound("this unsubscribe link is not valid (any more)")
    set_marketing(uow, customer, opt_in=False, now=now)
    return customer.customer_number
