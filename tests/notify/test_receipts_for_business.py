"""Issue 18 item 15: receipts a business can send. The seller's name, address and VAT id
(CSMS_SELLER_*) and the invoice number are on the email receipt (text and HTML) and, short,
on the SMS; a released invoice's receipt goes out after the release and states the energy
billed. Against a real SMTP server and an SMS gateway on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from csms.domain.billing.invoices import adjust_invoice, seller_of
from csms.domain.billing.tariffs import add_tariff, assign_tariff
from csms.domain.people.customers import add_customer
from notify.billing import bill_session
from notify.messages import InvoiceFacts, SessionFacts, receipt_email, receipt_sms
from notify.notifications import Notifier
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import ChargerRecord, TransactionRecord
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.smtp_server import FakeSmtpServer

T0 = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
START = T0 + timedelta(minutes=5)
SELLER = seller_of(
    name="Stadtwerke Beispiel GmbH",
    address="Hauptstraße 1\n12345 Beispielstadt\nGermany",
    vat_id="DE123456789",
)


def _billed(uow: UnitOfWork, *, meter_stop: int = 12_000) -> TransactionRecord:
    uow.chargers.add(ChargerRecord(id="CP-R1", registration_status="Accepted", created_at=T0))
    customer = add_customer(
        uow,
        name="Rita Receipt",
        email="rita@example.org",
        phone="+4917099887766",
        notify=("email", "sms"),
        now=T0,
    )
    tariff = add_tariff(uow, name="r", per_kwh="0.50", tax_rate="19", now=T0)
    assign_tariff(uow, tariff.name, charger_id=None, now=T0)
    tx = uow.transactions.add(
        TransactionRecord(
            id=0,
            transaction_id=515151,
            charger_id="CP-R1",
            connector_id=1,
            start_key="CP-R1|r",
            started_at=START,
            stopped_at=START + timedelta(minutes=60),
            meter_start_wh=1000,
            meter_stop_wh=meter_stop,
            energy_wh=meter_stop - 1000,
            status="completed",
            created_at=START,
            updated_at=START,
            customer_id=customer.id,
        )
    )
    uow.outbox.enqueue(
        topic="session.completed",
        key=f"session.completed:{tx.id}",
        payload={"transaction_pk": tx.id},
        now=T0,
    )
    [record] = [r for r in uow.outbox.list() if r.topic == "session.completed"]
    bill_session(uow, record, T0, payments_enabled=False, seller=SELLER)
    return tx


async def _deliver(notifier: Notifier, db: Database, topic: str) -> Any:
    [record] = await db.read(lambda uow: [r for r in uow.outbox.list() if r.topic == topic])
    return await notifier(record, T0)


async def test_the_receipt_names_the_seller_its_vat_id_and_the_invoice_number(
    sqlite_db: Database, notifier: Notifier, smtp: FakeSmtpServer, sms_gateway: FakeSmsGateway
) -> None:
    await sqlite_db.write(_billed)
    assert (await _deliver(notifier, sqlite_db, "email.receipt")).status == "done"
    assert (await _deliver(notifier, sqlite_db, "sms.receipt")).status == "done"
    [message] = smtp.messages
    assert "2026-000001" in str(message["Subject"])
    plain, page = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and page is not None
    text, html = plain.get_content(), page.get_content()
    for expected in (
        "Stadtwerke Beispiel GmbH",
        "Hauptstraße 1",
        "12345 Beispielstadt",
        "VAT id DE123456789",
        "2026-000001",
    ):
        assert expected in text, expected
        assert expected in html, expected
    # the seller heads the receipt, above the greeting
    assert text.index("Stadtwerke Beispiel GmbH") < text.index("Hello Rita Receipt")
    [sent] = sms_gateway.messages
    assert sent.body.startswith("Stadtwerke Beispiel GmbH receipt 2026-000001:")
    assert "total 6.55 EUR" in sent.body  # 11 kWh × 0.50 = 5.50, 19 % tax 1.045 → 1.05
    assert "DE123456789" not in sent.body and len(sent.body) <= 160


def test_the_sms_receipt_shortens_a_long_seller_name_and_escapes_nothing_into_html() -> None:
    facts = SessionFacts(
        session_id=7,
        customer_number=12345678,
        name="Ann <b>",
        charger="CP-7",
        connector_id=1,
        started_at=START,
        stopped_at=START + timedelta(minutes=42),
        charging_done_at=None,
        energy_wh=9_999,
        invoice=InvoiceFacts(
            currency="EUR",
            lines=[],
            net_minor=100,
            tax_rate="0",
            tax_minor=0,
            total_minor=100,
            payment_status="pending",
            number="2026-000042",
            seller={
                "name": "Very Long Charging Network <Holding> & Sons AG",
                "address": None,
                "vat_id": None,
            },
        ),
    )
    sms = receipt_sms(facts)
    assert sms.startswith("Very Long Charging Network <Ho receipt 2026-000042:")
    assert len(sms) <= 160
    page = receipt_email(facts).html
    assert "&lt;Holding&gt; &amp; Sons AG" in page and "<Holding>" not in page


def test_without_a_seller_the_receipt_is_as_before() -> None:
    facts = SessionFacts(
        session_id=8,
        customer_number=1,
        name=None,
        charger="CP-8",
        connector_id=1,
        started_at=START,
        stopped_at=START + timedelta(minutes=5),
        charging_done_at=None,
        energy_wh=1_000,
    )
    assert receipt_email(facts).text.startswith("Hello,")
    assert receipt_sms(facts).startswith("csms receipt: CP-8,")


async def test_an_adjusted_invoice_s_receipt_goes_out_after_release_with_the_billed_energy(
    sqlite_db: Database, notifier: Notifier, smtp: FakeSmtpServer
) -> None:
    def run(uow: UnitOfWork) -> list[str]:
        _billed(uow, meter_stop=2_147_483_647)  # held: no receipt yet
        return [r.topic for r in uow.outbox.list() if r.topic.endswith(".receipt")]

    assert await sqlite_db.write(run) == []
    [invoice] = await sqlite_db.read(lambda uow: uow.invoices.list())

    await sqlite_db.write(
        lambda uow: adjust_invoice(
            uow, invoice.id, energy_kwh="20", reason=None, now=T0, payments_enabled=False
        )
    )
    assert (await _deliver(notifier, sqlite_db, "email.receipt")).status == "done"
    [message] = smtp.messages
    plain = message.get_body(("plain",))
    assert plain is not None
    text = plain.get_content()
    # 20 kWh × 0.50 = 10.00, 19 % tax 1.90: 11.90 EUR
    assert "20.000 kWh" in text and "11.90 EUR" in text and "2147483" not in text
