"""Notifications to a real SMTP server and a Twilio-shaped SMS gateway on 127.0.0.1:
"your EV is done charging" and the receipt, by the customer's choice, never for anyone
else, the same identity on a redelivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.domain.billing.payment_cards import store_card
from csms.domain.billing.tariffs import add_tariff, assign_tariff
from csms.domain.people.customers import add_customer
from notify.billing import bill_session
from notify.email import OutgoingEmail
from notify.errors import DeliveryError
from notify.messages import InvoiceFacts, SessionFacts, receipt_email
from notify.notifications import Notifier, fan_out_charging_done
from notify.outbox import Outcome
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import ChargerRecord, OutboxRecord, SampledValue, TransactionRecord
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.smtp_server import FakeSmtpServer

T0 = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
START = T0 + timedelta(minutes=5)
EMAIL = "nadia.notify@example.org"
PHONE = "+4917011223344"


def _session(uow: UnitOfWork, *, notify: tuple[str, ...], completed: bool) -> TransactionRecord:
    uow.chargers.add(
        ChargerRecord(
            id="CP-N1", name="Marktplatz 1", registration_status="Accepted", created_at=T0
        )
    )
    customer = add_customer(
        uow, name="Nadia Notify", email=EMAIL, phone=PHONE, notify=notify, now=T0
    )
    tariff = add_tariff(
        uow, name="n", per_kwh="0.50", idle_per_minute="0.20", idle_grace_minutes=10, now=T0
    )
    assign_tariff(uow, tariff.name, charger_id=None, now=T0)
    return uow.transactions.add(
        TransactionRecord(
            id=0,
            transaction_id=424242,
            charger_id="CP-N1",
            connector_id=2,
            start_key="CP-N1|n",
            started_at=START,
            stopped_at=START + timedelta(minutes=75) if completed else None,
            charging_done_at=START + timedelta(minutes=60),
            meter_start_wh=1000,
            meter_stop_wh=12_000 if completed else None,
            energy_wh=11_000 if completed else None,
            status="completed" if completed else "active",
            created_at=START,
            updated_at=START,
            customer_id=customer.id,
        )
    )


def _enqueued(uow: UnitOfWork, topic: str) -> OutboxRecord:
    [record] = [r for r in uow.outbox.list() if r.topic == topic]
    return record


async def _deliver(notifier: Notifier, db: Database, topic: str) -> Outcome:
    record = await db.read(lambda uow: _enqueued(uow, topic))
    return await notifier(record, T0)


async def _charging_done(db: Database, *, notify: tuple[str, ...]) -> str:
    def run(uow: UnitOfWork) -> str:
        tx = _session(uow, notify=notify, completed=False)
        uow.outbox.enqueue(
            topic="charging.done",
            key=f"charging.done:{tx.id}",
            payload={"transaction_pk": tx.id},
            now=T0,
        )
        return fan_out_charging_done(uow, _enqueued(uow, "charging.done"), T0)

    return await db.write(run)


async def test_done_charging_goes_by_email_and_sms_when_the_customer_chose_both(
    sqlite_db: Database, notifier: Notifier, smtp: FakeSmtpServer, sms_gateway: FakeSmsGateway
) -> None:
    assert await _charging_done(sqlite_db, notify=("email", "sms")) == "notify by email, sms"
    email = await _deliver(notifier, sqlite_db, "email.charging_done")
    text = await _deliver(notifier, sqlite_db, "sms.charging_done")
    assert email.status == text.status == "done"
    [message] = smtp.messages
    assert message["To"] == EMAIL and message["Subject"] == "Your EV is done charging"
    assert message["Message-ID"].startswith("<email.charging_done.")
    assert message["Auto-Submitted"] == "auto-generated"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    body = plain.get_content()
    assert "Hello Nadia Notify" in body and "Marktplatz 1, connector 2" in body
    assert "after 10 minutes an idle fee of 0.20 EUR per minute" in body
    assert "<p>" in html.get_content()
    [sent] = sms_gateway.messages
    assert (sent.to, sent.from_) == (PHONE, "+4930000000")
    # the outbox key is what the gateway sees as Idempotency-Key
    assert "done charging" in sent.body and sent.idempotency_key == "sms.charging_done:1"


async def test_only_the_chosen_channel_is_used(sqlite_db: Database) -> None:
    assert await _charging_done(sqlite_db, notify=("sms",)) == "notify by sms"
    topics = await sqlite_db.read(lambda uow: sorted(r.topic for r in uow.outbox.list()))
    assert topics == ["charging.done", "sms.charging_done"]


async def test_a_customer_who_chose_no_notifications_gets_none(sqlite_db: Database) -> None:
    assert await _charging_done(sqlite_db, notify=()) == "customer chose no notifications"


async def test_a_customer_who_turned_email_off_before_delivery_gets_no_email(
    sqlite_db: Database, notifier: Notifier, smtp: FakeSmtpServer
) -> None:
    await _charging_done(sqlite_db, notify=("email",))
    await sqlite_db.write(lambda uow: uow.customers.update(1, notify_email=False))
    outcome = await _deliver(notifier, sqlite_db, "email.charging_done")
    assert (outcome.status, outcome.result) == ("done", "skipped: customer does not want email")
    assert smtp.messages == []


async def test_an_erased_customer_gets_nothing(
    sqlite_db: Database, notifier: Notifier, sms_gateway: FakeSmsGateway
) -> None:
    await _charging_done(sqlite_db, notify=("sms",))
    await sqlite_db.write(lambda uow: uow.customers.erase(1, now=T0))
    outcome = await _deliver(notifier, sqlite_db, "sms.charging_done")
    assert outcome.result == "skipped: no customer to notify" and sms_gateway.messages == []


async def test_an_unconfigured_channel_is_skipped_and_logged(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="notify")
    await _charging_done(sqlite_db, notify=("email",))
    outcome = await _deliver(
        Notifier(sqlite_db, email=None, sms=None), sqlite_db, "email.charging_done"
    )
    assert outcome.result == "skipped: email disabled"
    assert "email is disabled (set CSMS_SMTP_URL)" in caplog.text
    assert EMAIL not in caplog.text


async def test_the_receipt_shows_energy_duration_and_the_invoice(
    sqlite_db: Database, notifier: Notifier, smtp: FakeSmtpServer, sms_gateway: FakeSmsGateway
) -> None:
    def run(uow: UnitOfWork) -> None:
        tx = _session(uow, notify=("email", "sms"), completed=True)
        uow.outbox.enqueue(
            topic="session.completed",
            key=f"session.completed:{tx.id}",
            payload={"transaction_pk": tx.id},
            now=T0,
        )
        bill_session(uow, _enqueued(uow, "session.completed"), T0, payments_enabled=False)

    await sqlite_db.write(run)
    assert (await _deliver(notifier, sqlite_db, "email.receipt")).status == "done"
    assert (await _deliver(notifier, sqlite_db, "sms.receipt")).status == "done"
    [message] = smtp.messages
    plain = message.get_body(("plain",))
    assert plain is not None
    body = plain.get_content()
    # 11 kWh × 0.50 = 5.50; idle 15 min − 10 grace = 5 × 0.20 = 1.00; total 6.50
    for expected in ("11.000 kWh", "1 h 15 min", "5.50 EUR", "1.00 EUR", "Total", "6.50 EUR"):
        assert expected in body, expected
    assert "Please add a card in the app" in body
    [sent] = sms_gateway.messages
    assert "11.000 kWh" in sent.body and "total 6.50 EUR" in sent.body


async def test_a_redelivered_email_carries_the_same_message_id(
    sqlite_db: Database, notifier: Notifier, smtp: FakeSmtpServer
) -> None:
    await _charging_done(sqlite_db, notify=("email",))
    await _deliver(notifier, sqlite_db, "email.charging_done")
    await _deliver(notifier, sqlite_db, "email.charging_done")  # e.g. after a crash
    # the server saw two DATA commands with one Message-ID: one message for the driver
    assert smtp.data_commands == 2 and len(smtp.messages) == 1


async def test_a_receiver_failure_is_a_delivery_error_the_worker_retries(
    sqlite_db: Database, notifier: Notifier, sms_gateway: FakeSmsGateway
) -> None:
    await _charging_done(sqlite_db, notify=("sms",))
    sms_gateway.fail_next(status=503)
    with pytest.raises(DeliveryError) as failed:
        await _deliver(notifier, sqlite_db, "sms.charging_done")
    assert not failed.value.permanent and PHONE not in str(failed.value)


async def test_done_charging_delivered_again_after_the_session_ended_says_the_same(
    sqlite_db: Database, notifier: Notifier, sms_gateway: FakeSmsGateway
) -> None:
    """A gateway that knows the Idempotency-Key refuses it with another body (the fake
    answers 409): a redelivery must say the same, whatever the meter did since."""
    await _charging_done(sqlite_db, notify=("sms",))

    def meter(uow: UnitOfWork, *readings: tuple[int, str]) -> None:
        uow.meter_samples.add_many(
            [SampledValue(START + timedelta(minutes=m), wh) for m, wh in readings],
            charger_id="CP-N1",
            connector_id=2,
            transaction_pk=1,
            reported_transaction_id=424242,
            source="MeterValues",
            received_at=T0,
        )

    await sqlite_db.write(lambda uow: meter(uow, (0, "1000"), (60, "6000")))
    assert (await _deliver(notifier, sqlite_db, "sms.charging_done")).status == "done"
    # the EV took a little more; the session ended; the delivery is made again (a crash)
    await sqlite_db.write(lambda uow: meter(uow, (70, "6400")))
    await sqlite_db.write(
        lambda uow: uow.transactions.update(1, status="completed", energy_wh=5400)
    )
    assert (await _deliver(notifier, sqlite_db, "sms.charging_done")).status == "done"
    assert sms_gateway.requests_seen == 2
    [sent] = sms_gateway.messages
    assert "(5.000 kWh)" in sent.body


def test_the_receipt_s_closing_paragraphs_are_inside_the_html_body() -> None:
    facts = SessionFacts(
        session_id=7,
        customer_number=123456789,
        name="Nadia Notify",
        charger="Marktplatz 1",
        connector_id=2,
        started_at=START,
        stopped_at=START + timedelta(minutes=75),
        charging_done_at=None,
        energy_wh=11_000,
        invoice=InvoiceFacts(
            currency="EUR",
            lines=[],
            net_minor=550,
            tax_rate="0",
            tax_minor=0,
            total_minor=550,
            payment_status="processing",
            card="visa •••• 4242",
        ),
    )

    page = receipt_email(facts).html

    assert page.startswith("<!DOCTYPE html><html><body>")
    assert page.endswith("</body></html>") and page.count("</html>") == 1
    body = page.removeprefix("<!DOCTYPE html><html><body>").removesuffix("</body></html>")
    assert body.index("</table>") < body.index("charged to your card visa •••• 4242")
    assert body.endswith("<p>Session 7, customer number 123456789.</p>")


class _RecordingEmail:
    """An email sender that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    async def send(self, message: OutgoingEmail) -> None:
        self.sent.append(message)


async def test_a_redelivered_receipt_names_the_card_chosen_at_billing(
    sqlite_db: Database,
) -> None:
    def card(uow: UnitOfWork, customer_id: int, token: str, brand: str, last4: str) -> int:
        return store_card(
            uow,
            customer_id,
            token=token,
            customer_ref="cus_n",
            brand=brand,
            last4=last4,
            exp_month=12,
            exp_year=2031,
            now=T0,
        ).id

    def billed(uow: UnitOfWork) -> tuple[int, int]:
        tx = _session(uow, notify=("email",), completed=True)
        assert tx.customer_id is not None
        chosen = card(uow, tx.customer_id, "pm_n1", "visa", "4242")
        uow.outbox.enqueue(
            topic="session.completed",
            key=f"session.completed:{tx.id}",
            payload={"transaction_pk": tx.id},
            now=T0,
        )
        bill_session(uow, _enqueued(uow, "session.completed"), T0, payments_enabled=True)
        return tx.customer_id, chosen

    customer_id, chosen = await sqlite_db.write(billed)
    email = _RecordingEmail()
    notifier = Notifier(sqlite_db, email=email, sms=None)  # type: ignore[arg-type]
    assert (await _deliver(notifier, sqlite_db, "email.receipt")).status == "done"

    # a declined attempt moved the invoice to the customer's newest card
    def moved(uow: UnitOfWork) -> None:
        newer = card(uow, customer_id, "pm_n2", "mastercard", "4444")
        invoice = uow.invoices.by_transaction(1)
        assert invoice is not None and invoice.payment_method_id == chosen
        uow.invoices.update(invoice.id, payment_method_id=newer, payment_status="declined")

    await sqlite_db.write(moved)
    assert (await _deliver(notifier, sqlite_db, "email.receipt")).status == "done"
    # the first card was detached and its row deleted
    await sqlite_db.write(lambda uow: uow.payment_methods.delete(chosen))
    assert (await _deliver(notifier, sqlite_db, "email.receipt")).status == "done"

    first, again, gone = (message.text for message in email.sent)
    assert "The total is charged to your card visa •••• 4242." in first
    assert again == first
    assert "The total is charged to your card." in gone and "4242" not in gone
    assert gone.replace("charged to your card.", "") == first.replace(
        "charged to your card visa •••• 4242.", ""
    )
