"""The facts the OCPP side hands to billing and notification, written in the commit that
records them (the transactional outbox, docs/adr/0008-outbox.md).

- ``session.completed``: a session ended (1.6 StopTransaction, 2.0.1 TransactionEvent
  Ended, whatever order its events came in). Billing prices it, invoices it, charges the
  card and sends the receipt.
- ``charging.done``: the EV stopped drawing energy while still plugged in (the session's
  "charging done" moment); the customer hears "your EV is done charging".
- ``payment.detach``: a card was removed (by its customer, or with an erased customer): it
  is detached at the payment processor, then its token is deleted.
- ``email.registration_attempt``: someone tried to register with the email address of an
  existing account; its owner is told by email (``POST /api/app/register`` answers the
  same as for a new address, so only the owner learns of it).

Each fact is enqueued under a key of its own (``session.completed:42``), so recording the
same fact again (a replayed StopTransaction, a recomputed projection) adds nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.ports import UnitOfWork
from storage.records import TransactionRecord

__all__ = [
    "CHARGING_DONE",
    "PAYMENT_DETACH",
    "REGISTRATION_ATTEMPT",
    "SESSION_COMPLETED",
    "enqueue_card_detach",
    "enqueue_charging_done",
    "enqueue_for_session",
    "enqueue_registration_attempt",
    "enqueue_session_completed",
]

SESSION_COMPLETED = "session.completed"
CHARGING_DONE = "charging.done"
PAYMENT_DETACH = "payment.detach"
REGISTRATION_ATTEMPT = "email.registration_attempt"


def enqueue_for_session(
    uow: UnitOfWork, topic: str, transaction_pk: int, *, now: datetime, **payload: Any
) -> None:
    """Enqueue ``topic`` for a session, once per session (key ``TOPIC:PK``); ``payload``
    adds ids to the session's."""
    uow.outbox.enqueue(
        topic=topic,
        key=f"{topic}:{transaction_pk}",
        payload={"transaction_pk": transaction_pk, **payload},
        now=now,
    )


def enqueue_session_completed(uow: UnitOfWork, tx: TransactionRecord, *, now: datetime) -> None:
    enqueue_for_session(uow, SESSION_COMPLETED, tx.id, now=now)


def enqueue_charging_done(uow: UnitOfWork, tx: TransactionRecord, *, now: datetime) -> None:
    """Only for a session of a customer (nobody to tell otherwise)."""
    if tx.customer_id is not None:
        enqueue_for_session(uow, CHARGING_DONE, tx.id, now=now)


def enqueue_card_detach(uow: UnitOfWork, payment_method_id: int, *, now: datetime) -> None:
    uow.outbox.enqueue(
        topic=PAYMENT_DETACH,
        key=f"{PAYMENT_DETACH}:{payment_method_id}",
        payload={"payment_method_id": payment_method_id},
        now=now,
    )


def enqueue_registration_attempt(uow: UnitOfWork, customer_id: int, *, now: datetime) -> bool:
    """Tell customer ``customer_id`` that someone tried to register with their address; at
    most once per customer and UTC day (the key names the day), so that registering again
    and again cannot flood their inbox. Whether a message was enqueued."""
    return uow.outbox.enqueue(
        topic=REGISTRATION_ATTEMPT,
        key=f"{REGISTRATION_ATTEMPT}:{customer_id}:{now.date().isoformat()}",
        payload={"customer_id": customer_id},
        now=now,
    )
