"""Billing and notification inside a csms server: the outbox worker and its deliveries,
built from the settings (notify's own, notify/config.py: CSMS_SMTP_URL, CSMS_SMS_URL,
CSMS_PAYMENT_URL/KEY, unset channels logged and skipped; and csms's billing settings:
the plausibility ceiling, the seller). csms/wiring.py builds it for the server.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from email.utils import parseaddr

from csms.config import Settings
from csms.domain.billing.invoices import PAYMENT_CHARGE, PaymentStatus, seller_of
from csms.domain.billing.payments import PaymentGateway
from csms.domain.outbox_events import (
    CHARGING_DONE,
    PAYMENT_DETACH,
    REGISTRATION_ATTEMPT,
    SESSION_COMPLETED,
)
from notify.account_notices import RegistrationAttemptNotice
from notify.billing import PaymentCharger, bill_session
from notify.config import NotifySettings
from notify.email import EmailSender, SmtpSettings
from notify.notifications import NOTIFICATION_TOPICS, Notifier, fan_out_charging_done
from notify.outbox import ExternalHandler, OutboxWorker, Outcome, RetryPolicy
from notify.payments import StripeGateway
from notify.sms import SmsSender, SmsSettings
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import OutboxRecord, PaymentMethodRecord

__all__ = ["Billing", "CardDetacher", "payment_gateway"]

log = logging.getLogger(__name__)


def payment_gateway(settings: NotifySettings) -> PaymentGateway | None:
    """The configured payment processor (None: payments are off)."""
    return StripeGateway.from_settings(settings.payment_url, settings.payment_key)


class CardDetacher:
    """The ``payment.detach`` delivery: a removed card (the customer removed it, or was
    erased) is detached at the processor, then its row, token included, is deleted.

    Not while an invoice is being charged to it (``processing``): that charge may have
    reached the processor with its answer lost, and it is delivered again with the very
    same request (``PaymentCharger``), which needs the card's token. The detach waits
    until the charge has an outcome."""

    def __init__(self, db: Database, gateway: PaymentGateway | None) -> None:
        self.db = db
        self.gateway = gateway

    async def __call__(self, record: OutboxRecord, now: datetime) -> Outcome:
        method_id = int(record.payload["payment_method_id"])

        def load(uow: UnitOfWork) -> tuple[PaymentMethodRecord | None, int | None]:
            method = uow.payment_methods.get(method_id)
            if method is None:
                return None, None
            charging = uow.invoices.list(
                customer_id=method.customer_id, payment_status=PaymentStatus.PROCESSING
            )
            busy = next((i.id for i in charging if i.payment_method_id == method_id), None)
            return method, busy

        method, busy = await self.db.read(load)
        if method is None:
            return Outcome("done", result="already removed")
        if busy is not None:
            return Outcome(
                "retry",
                error=f"card {method_id} is being charged for invoice {busy}: "
                "detached once that charge has an outcome",
            )
        if self.gateway is None:
            # Nothing can reach the processor: keep the token until it can be detached.
            return Outcome("retry", error="no payment processor configured (CSMS_PAYMENT_KEY)")
        await self.gateway.detach_card(method.token, idempotency_key=record.key)
        return Outcome(
            "done",
            result="detached",
            write=lambda uow: uow.payment_methods.delete(method_id),
        )


class Billing:
    """The outbox worker with every delivery csms makes, and the clients they use."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        notify = NotifySettings.of(settings)
        billing = settings.billing
        self.gateway = payment_gateway(notify)
        self.email: EmailSender | None = None
        self.sms: SmsSender | None = None
        if notify.smtp_url and notify.mail_from:
            self.email = EmailSender(
                SmtpSettings.from_url(notify.smtp_url, sender=notify.mail_from)
            )
        if notify.sms_url and notify.sms_from:
            self.sms = SmsSender(SmsSettings.from_url(notify.sms_url, sender=notify.sms_from))
        domain = parseaddr(notify.mail_from or "")[1].rpartition("@")[2] or "csms.invalid"
        notifier = Notifier(db, email=self.email, sms=self.sms, message_domain=domain)
        external: dict[str, ExternalHandler] = dict.fromkeys(NOTIFICATION_TOPICS, notifier)
        external[PAYMENT_DETACH] = CardDetacher(db, self.gateway)
        external[REGISTRATION_ATTEMPT] = RegistrationAttemptNotice(
            db, email=self.email, message_domain=domain
        )
        if self.gateway is not None:
            external[PAYMENT_CHARGE] = PaymentCharger(
                db, self.gateway, retry_delays=notify.payment_retry_delays
            )
        self.worker = OutboxWorker(
            db,
            internal={
                SESSION_COMPLETED: functools.partial(
                    bill_session,
                    payments_enabled=self.gateway is not None,
                    max_charger_kw=billing.max_charger_kw,
                    seller=seller_of(
                        name=billing.seller_name,
                        address=billing.seller_address,
                        vat_id=billing.seller_vat_id,
                    ),
                ),
                CHARGING_DONE: fan_out_charging_done,
            },
            external=external,
            policy=RetryPolicy(
                max_attempts=notify.outbox_max_attempts,
                base=notify.outbox_retry_base,
                cap=notify.outbox_retry_max,
            ),
            lease=notify.outbox_lease,
        )
        for name, on in (
            ("email", self.email is not None),
            ("SMS", self.sms is not None),
            ("card payments", self.gateway is not None),
        ):
            if not on:
                log.info("%s disabled (not configured)", name)

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        if self.sms is not None:
            await self.sms.aclose()
        if self.gateway is not None:
            await self.gateway.aclose()
