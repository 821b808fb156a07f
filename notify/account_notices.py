"""Security notices about a customer's account, by email.

``email.registration_attempt`` (``csms.domain.people.accounts.register_or_tell_owner``):
someone tried to register with the address of an existing account. The registration
answered as if the address were new, so the owner is the only one who learns of it, and
they do whatever their notification choices: this is about their account's security, not
a notification they opted in to. The customer is read at delivery time (the outbox holds
the id only): an account erased in between gets nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from notify.email import EmailSender, OutgoingEmail
from notify.messages import registration_attempt_email
from notify.outbox import Outcome
from storage.database import Database
from storage.records import OutboxRecord

__all__ = ["RegistrationAttemptNotice"]

log = logging.getLogger(__name__)


class RegistrationAttemptNotice:
    """The ``email.registration_attempt`` delivery."""

    def __init__(
        self, db: Database, *, email: EmailSender | None, message_domain: str = "csms.invalid"
    ) -> None:
        self.db = db
        self.email = email
        self.message_domain = message_domain

    async def __call__(self, record: OutboxRecord, now: datetime) -> Outcome:
        customer_id = int(record.payload["customer_id"])
        customer = await self.db.read(lambda uow: uow.customers.get(customer_id))
        if customer is None or customer.erased_at is not None or not customer.email:
            return Outcome("done", result="skipped: no customer to tell")
        if self.email is None:
            log.info(
                "registration attempt notice for customer %s not sent: email is disabled "
                "(set CSMS_SMTP_URL)",
                customer.customer_number,
            )
            return Outcome("done", result="skipped: email disabled")
        text = registration_attempt_email(name=customer.name, at=record.created_at)
        message_id = f"<{record.key.replace(':', '.')}@{self.message_domain}>"
        await self.email.send(
            OutgoingEmail(
                to=customer.email,
                subject=text.subject,
                text=text.text,
                html=text.html,
                message_id=message_id,
            )
        )
        return Outcome("done", result=f"sent {message_id}")
