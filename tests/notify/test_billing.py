"""Billing a completed session: the tariff in force when it started, one invoice per
session, the card charge under idempotency keys (against a Stripe-shaped processor on
127.0.0.1), the same request on every redelivery of an attempt, declines and refusals
recorded, declines retried per policy."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from csms.domain.billing.invoices import PaymentStatus
from csms.domain.billing.payment_cards import processor_customer, remove_card, store_card
from csms.domain.billing.payments import CardDetails, ChargeResult
from csms.domain.billing.tariffs import add_tariff, assign_tariff
from csms.domain.outbox_events import enqueue_session_completed
from csms.domain.people.customers import add_customer
from csms.domain.people.rights import erase_customer
from notify.billing import PaymentCharger, bill_session
from notify.errors import DeliveryError
from notify.outbox import Outcome
from notify.payments import ChargeUnresolved, StripeGateway
from notify.service import CardDetacher
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import ChargerRecord, OutboxRecord, TransactionRecord
from tests.fakes.payment_processor import FakeStripe, parse_form

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = T0 + timedelta(hours=2)


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


def _setup(uow: UnitOfWork, *, notify: tuple[str, ...] = ("email", "sms")) -> int:
    uow.chargers.add(ChargerRecord(id="CP-B1", registration_status="Accepted", created_at=T0))
    uow.chargers.add(ChargerRecord(id="CP-B2", registration_status="Accepted", created_at=T0))
    customer = add_customer(
        uow,
        name="Berit Billing",
        email="berit@example.com",
        phone="+4915112340000",
        notify=notify,
        now=T0,
    )
    default = add_tariff(uow, name="standard", per_kwh="0.40", now=T0)
    assign_tariff(uow, default.name, charger_id=None, now=T0)
    return customer.id


def _session(
    uow: UnitOfWork,
    customer_id: int | None,
    *,
    charger_id: str = "CP-B1",
    energy_wh: int = 10_000,
    started_at: datetime = START,
    minutes: int = 60,
) -> TransactionRecord:
    tx = uow.transactions.add(
        TransactionRecord(
            id=0,
            transaction_id=abs(hash((charger_id, started_at))) % 2**31,
            charger_id=charger_id,
            connector_id=1,
            start_key=f"{charger_id}|{started_at.isoformat()}",
            started_at=started_at,
            stopped_at=started_at + timedelta(minutes=minutes),
            meter_start_wh=0,
            meter_stop_wh=energy_wh,
            energy_wh=energy_wh,
            status="completed",
            created_at=started_at,
            updated_at=started_at,
            customer_id=customer_id,
            auth_method="card",
        )
    )
    enqueue_session_completed(uow, tx, now=tx.stopped_at or started_at)
    return tx


def _completed_record(uow: UnitOfWork, tx: TransactionRecord) -> OutboxRecord:
    [record] = [r for r in uow.outbox.list() if r.key == f"session.completed:{tx.id}"]
    return record


def _bill(uow: UnitOfWork, tx: TransactionRecord, *, payments: bool = True) -> str:
    return bill_session(uow, _completed_record(uow, tx), T0, payments_enabled=payments)


def _topics(uow: UnitOfWork) -> list[str]:
    return sorted(r.key for r in uow.outbox.list() if not r.key.startswith("session."))


async def test_a_session_is_invoiced_once_under_the_tariff_in_force_when_it_started(
    db: Database,
) -> None:
    def run(uow: UnitOfWork) -> tuple[TransactionRecord, str, str]:
        customer_id = _setup(uow)
        # a new price on CP-B1 from an hour after the session started: not for this one
        later = add_tariff(uow, name="pricier", per_kwh="0.90", now=T0)
        uow.tariffs.assign(tariff_id=later.id, charger_id="CP-B1", at=START + timedelta(hours=1))
        tx = _session(uow, customer_id)
        return tx, _bill(uow, tx), _bill(uow, tx)

    tx, first, again = await db.write(run)
    invoice = await db.read(lambda uow: uow.invoices.by_transaction(tx.id))
    assert invoice is not None
    assert (invoice.total_minor, invoice.currency, invoice.lines[0]["unit_price"]) == (
        400,
        "EUR",
        "0.40",
    )
    assert first.startswith(f"invoice {invoice.id}") and again == "invoice exists"
    assert len(await db.read(lambda uow: uow.invoices.list())) == 1


async def test_a_charger_s_own_tariff_wins_over_the_default(db: Database) -> None:
    def run(uow: UnitOfWork) -> TransactionRecord:
        customer_id = _setup(uow)
        own = add_tariff(uow, name="fast", per_kwh="0.60", session_fee="1", now=T0)
        assign_tariff(uow, own.name, charger_id="CP-B2", now=T0)
        tx = _session(uow, customer_id, charger_id="CP-B2")
        _bill(uow, tx)
        return tx

    tx = await db.write(run)
    invoice = await db.read(lambda uow: uow.invoices.by_transaction(tx.id))
    assert invoice is not None and invoice.total_minor == 700  # 10 kWh × 0.60 + 1.00


async def test_billing_enqueues_the_charge_and_the_receipts_the_customer_chose(
    db: Database,
) -> None:
    def run(uow: UnitOfWork) -> tuple[TransactionRecord, list[str]]:
        customer_id = _setup(uow, notify=("sms",))
        store_card(
            uow,
            customer_id,
            token="pm_x",
            customer_ref="cus_x",
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2031,
            now=T0,
        )
        tx = _session(uow, customer_id)
        _bill(uow, tx)
        return tx, _topics(uow)

    tx, topics = await db.write(run)
    invoice = await db.read(lambda uow: uow.invoices.by_transaction(tx.id))
    assert invoice is not None and invoice.payment_status == PaymentStatus.PROCESSING
    assert topics == [f"payment.charge:{invoice.id}", f"sms.receipt:{tx.id}"]


async def test_without_a_processor_or_a_card_the_invoice_waits_and_nothing_is_charged(
    db: Database,
) -> None:
    def run(uow: UnitOfWork) -> tuple[str, str, list[str]]:
        customer_id = _setup(uow, notify=())
        no_card = _session(uow, customer_id)
        _bill(uow, no_card)
        store_card(
            uow,
            customer_id,
            token="pm_y",
            customer_ref="cus_y",
            brand="visa",
            last4="1881",
            exp_month=1,
            exp_year=2030,
            now=T0,
        )
        no_processor = _session(uow, customer_id, started_at=START + timedelta(hours=5))
        _bill(uow, no_processor, payments=False)
        first = uow.invoices.by_transaction(no_card.id)
        second = uow.invoices.by_transaction(no_processor.id)
        assert first is not None and second is not None
        return first.payment_status, second.payment_status, _topics(uow)

    assert await db.write(run) == (
        PaymentStatus.NO_PAYMENT_METHOD,
        PaymentStatus.PENDING,
        [],  # no charge, and no receipt for a customer who chose no notifications
    )


async def test_no_tariff_no_invoice_and_a_session_without_customer_gets_no_receipt(
    db: Database,
) -> None:
    def run(uow: UnitOfWork) -> tuple[str, list[str], int]:
        uow.chargers.add(ChargerRecord(id="CP-B1", registration_status="Accepted", created_at=T0))
        tx = _session(uow, None)
        return _bill(uow, tx), _topics(uow), len(uow.invoices.list())

    assert await db.write(run) == ("not billed: no tariff in force", [], 0)


# -- charging the card --------------------------------------------------------------


async def _invoice_with_card(db: Database, stripe: FakeStripe, number: str) -> tuple[int, int]:
    """A billed session whose customer has the card ``number`` at the processor; (invoice
    id, outbox id of its charge)."""
    gateway = StripeGateway(api_key=stripe.key, base_url=stripe.url, timeout=2)
    try:
        card = await gateway.add_card(
            CardDetails.parse(number, 12, 2031, "123", today=T0.date()),
            customer_ref=None,
            description="csms customer test",
            idempotency_key=f"add-{number}",
        )
    finally:
        await gateway.aclose()

    def run(uow: UnitOfWork) -> tuple[int, int]:
        customer_id = _setup(uow, notify=())
        store_card(
            uow,
            customer_id,
            token=card.token,
            customer_ref=card.customer_ref,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            now=T0,
        )
        tx = _session(uow, customer_id, energy_wh=12_345)
        _bill(uow, tx)
        invoice = uow.invoices.by_transaction(tx.id)
        assert invoice is not None
        [charge] = [r for r in uow.outbox.list() if r.topic == "payment.charge"]
        return invoice.id, charge.id

    return await db.write(run)


async def _charge(db: Database, stripe: FakeStripe, outbox_id: int, *, timeout: float = 2):
    gateway = StripeGateway(api_key=stripe.key, base_url=stripe.url, timeout=timeout)
    try:
        charger = PaymentCharger(db, gateway, retry_delays=(3600, 86400))
        record = await db.read(lambda uow: uow.outbox.get(outbox_id))
        assert record is not None
        outcome = await charger(record, T0)
        if outcome.write is not None:
            await db.write(outcome.write)
        return outcome
    finally:
        await gateway.aclose()


async def test_a_successful_charge_pays_the_invoice_for_its_exact_total(
    db: Database, stripe: FakeStripe
) -> None:
    invoice_id, outbox_id = await _invoice_with_card(db, stripe, "4242424242424242")
    outcome = await _charge(db, stripe, outbox_id)
    assert outcome.status == "done"
    [charge] = stripe.charges
    assert (charge.amount, charge.currency, charge.idempotency_key) == (
        494,  # 12.345 kWh × 0.40 = 4.938 → 4.94
        "eur",
        f"invoice-{invoice_id}-attempt-1",
    )
    assert charge.metadata["invoice"] == str(invoice_id)
    invoice = await db.read(lambda uow: uow.invoices.get(invoice_id))
    attempts = await db.read(lambda uow: uow.payment_attempts.for_invoice(invoice_id))
    assert invoice is not None and invoice.payment_status == PaymentStatus.PAID
    assert invoice.payment_reference == charge.id and invoice.paid_at is not None
    assert [(a.status, a.reference) for a in attempts] == [("succeeded", charge.id)]
    # delivered again (a crash before its commit): the processor replays, nothing new moves
    again = await _charge(db, stripe, outbox_id)
    assert again.status == "done" and again.result == "skipped: invoice paid"
    assert len(stripe.charges) == 1


async def test_a_charge_whose_answer_was_lost_is_retried_under_the_same_key_and_charged_once(
    db: Database, stripe: FakeStripe
) -> None:
    invoice_id, outbox_id = await _invoice_with_card(db, stripe, "4242424242424242")
    stripe.delay_next(1.5)  # the processor charges; csms times out before the answer
    with pytest.raises(DeliveryError) as lost:
        await _charge(db, stripe, outbox_id, timeout=0.5)
    assert not lost.value.permanent
    await _wait_until(lambda: len(stripe.charges) == 1)
    outcome = await _charge(db, stripe, outbox_id)
    assert outcome.status == "done"
    assert len(stripe.charges) == 1  # the retry found the first charge under its key
    keys = [r.idempotency_key for r in stripe.requests_seen if r.path == "/v1/payment_intents"]
    assert keys == [f"invoice-{invoice_id}-attempt-1"] * 2


async def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


async def test_a_soft_decline_is_recorded_and_retried_later_under_a_new_key(
    db: Database, stripe: FakeStripe
) -> None:
    invoice_id, outbox_id = await _invoice_with_card(db, stripe, "4000000000009995")
    first = await _charge(db, stripe, outbox_id)
    assert first.status == "retry" and first.retry_at == T0 + timedelta(hours=1)
    assert "insufficient_funds" in (first.error or "")
    second = await _charge(db, stripe, outbox_id)
    assert second.status == "retry" and second.retry_at == T0 + timedelta(days=1)
    third = await _charge(db, stripe, outbox_id)  # the retries are used up
    assert third.status == "failed"
    invoice = await db.read(lambda uow: uow.invoices.get(invoice_id))
    attempts = await db.read(lambda uow: uow.payment_attempts.for_invoice(invoice_id))
    assert invoice is not None
    assert (invoice.payment_status, invoice.declines, invoice.decline_code) == (
        PaymentStatus.FAILED,
        3,
        "insufficient_funds",
    )
    assert [a.idempotency_key for a in attempts] == [
        f"invoice-{invoice_id}-attempt-{n}" for n in (1, 2, 3)
    ]
    assert stripe.charges == []


async def test_a_hard_decline_fails_the_invoice_at_once(db: Database, stripe: FakeStripe) -> None:
    invoice_id, outbox_id = await _invoice_with_card(db, stripe, "4000000000009979")
    outcome = await _charge(db, stripe, outbox_id)
    assert outcome.status == "failed" and "stolen_card" in (outcome.error or "")
    invoice = await db.read(lambda uow: uow.invoices.get(invoice_id))
    assert invoice is not None and invoice.payment_status == PaymentStatus.FAILED


# -- the same request on every redelivery of an attempt ---------------------------------


async def _add_card(db: Database, stripe: FakeStripe, customer_id: int, number: str) -> int:
    """The customer adds another card (at the processor, under their processor customer,
    then in csms); its payment method id."""
    customer_ref = await db.read(lambda uow: processor_customer(uow, customer_id))
    gateway = StripeGateway(api_key=stripe.key, base_url=stripe.url, timeout=2)
    try:
        card = await gateway.add_card(
            CardDetails.parse(number, 11, 2032, "321", today=T0.date()),
            customer_ref=customer_ref,
            description="csms customer test",
            idempotency_key=f"add-{number}-{customer_id}",
        )
    finally:
        await gateway.aclose()

    def run(uow: UnitOfWork) -> int:
        return store_card(
            uow,
            customer_id,
            token=card.token,
            customer_ref=card.customer_ref,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            now=T0 + timedelta(hours=5),
        ).id

    return await db.write(run)


async def _detach(db: Database, stripe: FakeStripe) -> Outcome:
    """Deliver the ``payment.detach`` row (and record what it writes)."""
    gateway = StripeGateway(api_key=stripe.key, base_url=stripe.url, timeout=2)
    try:
        [record] = await db.read(
            lambda uow: [r for r in uow.outbox.list() if r.topic == "payment.detach"]
        )
        outcome = await CardDetacher(db, gateway)(record, T0)
        if outcome.write is not None:
            await db.write(outcome.write)
        return outcome
    finally:
        await gateway.aclose()


def _intent_requests(stripe: FakeStripe) -> list[tuple[str | None, str]]:
    """(idempotency key, payment method) of every payment intent request the fake saw."""
    return [
        (seen.idempotency_key, parse_form(seen.body)["payment_method"])
        for seen in stripe.requests_seen
        if seen.path == "/v1/payment_intents"
    ]


async def _lose_the_answer(db: Database, stripe: FakeStripe, outbox_id: int) -> None:
    """The processor charges; csms times out before the answer (nothing recorded)."""
    stripe.delay_next(1.5)
    with pytest.raises(DeliveryError) as lost:
        await _charge(db, stripe, outbox_id, timeout=0.5)
    assert not lost.value.permanent
    await _wait_until(lambda: len(stripe.charges) == 1)


async def test_a_card_added_after_a_lost_answer_does_not_change_the_redelivered_charge(
    db: Database, stripe: FakeStripe
) -> None:
    invoice_id, outbox_id = await _invoice_with_card(db, stripe, "4242424242424242")
    invoice = await db.read(lambda uow: uow.invoices.get(invoice_id))
    assert invoice is not None and invoice.customer_id is not None
    first_card = await db.read(lambda uow: uow.payment_methods.list(invoice.customer_id or 0))
    await _lose_the_answer(db, stripe, outbox_id)
    await _add_card(db, stripe, invoice.customer_id, "5555555555554444")  # now the newest

    outcome = await _charge(db, stripe, outbox_id)

    assert outcome.status == "done", outcome.error
    [charge] = stripe.charges
    key = f"invoice-{invoice_id}-attempt-1"
    # the same request again, the first card included: the processor replayed its answer
    assert _intent_requests(stripe) == [(key, first_card[0].token)] * 2
    assert stripe.requests_seen[-1].replayed
    paid = await db.read(lambda uow: uow.invoices.get(invoice_id))
    assert paid is not None and paid.payment_status == PaymentStatus.PAID
    assert (paid.payment_reference, paid.payment_method_id) == (charge.id, first_card[0].id)
    assert charge.id not in (outcome.result or "")  # shown masked (outbox list, logs)


@pytest.mark.parametrize("how", ["card removed", "customer erased"])
async def test_a_card_removed_after_a_lost_answer_is_kept_until_the_charge_is_settled(
    db: Database, stripe: FakeStripe, how: str
) -> None:
    invoice_id, outbox_id = await _invoice_with_card(db, stripe, "4242424242424242")
    invoice = await db.read(lambda uow: uow.invoices.get(invoice_id))
    assert invoice is not None and invoice.customer_id is not None
    customer_id = invoice.customer_id
    [card] = await db.read(lambda uow: uow.payment_methods.list(customer_id))
    await _lose_the_answer(db, stripe, outbox_id)

    def remove(uow: UnitOfWork) -> None:
        if how == "card removed":
            remove_card(uow, customer_id, card.id, now=T0)
        else:
            customer = uow.customers.get(customer_id)
            assert customer is not None
            erase_customer(uow, customer.customer_number, now=T0)

    await db.write(remove)
    # the charge may have gone through with this card: its token stays until it is settled
    waiting = await _detach(db, stripe)
    assert waiting.status == "retry" and f"invoice {invoice_id}" in (waiting.error or "")
    assert stripe.payment_methods[card.token]["customer"] == card.customer_ref

    outcome = await _charge(db, stripe, outbox_id)

    assert outcome.status == "done", outcome.error
    assert len(stripe.charges) == 1
    assert _intent_requests(stripe) == [(f"invoice-{invoice_id}-attempt-1", card.token)] * 2
    paid = await db.read(lambda uow: uow.invoices.get(invoice_id))
    assert paid is not None and paid.payment_status == PaymentStatus.PAID
    # settled: now the card is detached and its token deleted
    assert (await _detach(db, stripe)).status == "done"
    assert stripe.payment_methods[card.token]["customer"] is None
    assert await db.read(lambda uow: uow.payment_methods.get(card.id)) is None


async def test_after_a_decline_the_next_attempt_charges_the_customer_s_newest_card(
    db: Database, stripe: FakeStripe
) -> None:
    invoice_id, outbox_id = await _invoice_with_card(db, stripe, "4000000000009995")
    assert (await _charge(db, stripe, outbox_id)).status == "retry"  # insufficient funds
    invoice = await db.read(lambda uow: uow.invoices.get(invoice_id))
    assert invoice is not None and invoice.customer_id is not None
    new_card = await _add_card(db, stripe, invoice.customer_id, "4242424242424242")
    new_token = (await db.read(lambda uow: uow.payment_methods.get(new_card))).token

    outcome = await _charge(db, stripe, outbox_id)

    assert outcome.status == "done", outcome.error
    [charge] = stripe.charges
    assert (charge.payment_method, charge.idempotency_key) == (
        new_token,
        f"invoice-{invoice_id}-attempt-2",
    )
    paid = await db.read(lambda uow: uow.invoices.get(invoice_id))
    assert paid is not None and paid.payment_method_id == new_card


# -- requests the processor refuses ------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(400, "amount_too_small"), (401, None), (400, "resource_missing")]
)
async def test_a_charge_the_processor_refuses_is_recorded_and_fails_the_invoice(
    db: Database, stripe: FakeStripe, status: int, code: str | None
) -> None:
    invoice_id, outbox_id = await _invoice_with_card(db, stripe, "4242424242424242")
    [card] = await db.read(
        lambda uow: [m for c in uow.customers.list() for m in uow.payment_methods.list(c.id)]
    )
    stripe.fail_next(status, code=code, message=f"No such PaymentMethod: '{card.token}'")

    outcome = await _charge(db, stripe, outbox_id)

    assert outcome.status == "failed"
    assert f"HTTP {status}" in (outcome.error or "")
    assert card.token not in (outcome.error or "")
    invoice = await db.read(lambda uow: uow.invoices.get(invoice_id))
    attempts = await db.read(lambda uow: uow.payment_attempts.for_invoice(invoice_id))
    assert invoice is not None and invoice.payment_status == PaymentStatus.FAILED
    [attempt] = attempts
    assert (attempt.status, attempt.idempotency_key) == ("error", f"invoice-{invoice_id}-attempt-1")
    assert attempt.message == outcome.error and card.token not in (attempt.message or "")
    assert stripe.charges == []
    # `csms outbox retry` once the cause is fixed: a new attempt, under a new key
    again = await _charge(db, stripe, outbox_id)
    assert again.status == "done", again.error
    [charge] = stripe.charges
    assert charge.idempotency_key == f"invoice-{invoice_id}-attempt-2"
    paid = await db.read(lambda uow: uow.invoices.get(invoice_id))
    assert paid is not None and paid.payment_status == PaymentStatus.PAID


class _Unresolved:
    """A processor that leaves every payment intent ``processing``."""

    async def charge(self, **_: object) -> ChargeResult:
        raise ChargeUnresolved("payment intent pi_****9zzz is still processing", reference="pi_1")

    async def aclose(self) -> None:
        return None


async def test_a_payment_left_processing_is_recorded_with_its_payment_intent(
    db: Database, stripe: FakeStripe
) -> None:
    invoice_id, outbox_id = await _invoice_with_card(db, stripe, "4242424242424242")
    charger = PaymentCharger(db, _Unresolved(), retry_delays=())  # type: ignore[arg-type]
    record = await db.read(lambda uow: uow.outbox.get(outbox_id))
    assert record is not None

    outcome = await charger(record, T0)

    assert outcome.status == "failed" and outcome.write is not None
    await db.write(outcome.write)
    [attempt] = await db.read(lambda uow: uow.payment_attempts.for_invoice(invoice_id))
    assert (attempt.status, attempt.reference) == ("error", "pi_1")
    assert "still processing" in (attempt.message or "")
    invoice = await db.read(lambda uow: uow.invoices.get(invoice_id))
    assert invoice is not None and invoice.payment_status == PaymentStatus.FAILED
