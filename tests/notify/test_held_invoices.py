"""Issue 18 item 1: a session whose energy the connector cannot have delivered is invoiced
but held, never charged or receipted automatically; an operator releases it (charged
exactly once, through the outbox) or adjusts its energy (priced again under the session's
tariff). On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from csms.domain.billing.invoices import PaymentStatus, adjust_invoice, release_invoice
from csms.domain.billing.payment_cards import store_card
from csms.domain.billing.payments import CardDetails
from csms.domain.billing.tariffs import add_tariff, assign_tariff
from csms.domain.errors import InvalidRequest
from csms.domain.outbox_events import enqueue_session_completed
from csms.domain.people.customers import add_customer
from notify.billing import PaymentCharger, bill_session
from notify.payments import StripeGateway
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import (
    ChargerRecord,
    DeviceVariableRecord,
    InvoiceRecord,
    OutboxRecord,
    TransactionRecord,
)
from tests.fakes.payment_processor import FakeStripe

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
START = T0 + timedelta(hours=2)
NAME, EMAIL = "Hella Held", "hella@example.com"


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


def _setup(
    uow: UnitOfWork,
    *,
    card_token: str | None = None,
    card_ref: str = "cus_held",
    per_hour: str = "0",
) -> int:
    uow.chargers.add(ChargerRecord(id="CP-H1", registration_status="Accepted", created_at=T0))
    customer = add_customer(uow, name=NAME, email=EMAIL, notify=("email",), now=T0)
    tariff = add_tariff(
        uow,
        name="standard",
        per_kwh="0.40",
        per_hour=per_hour,
        session_fee="0.50",
        tax_rate="19",
        now=T0,
    )
    assign_tariff(uow, tariff.name, charger_id=None, now=T0)
    if card_token is not None:
        store_card(
            uow,
            customer.id,
            token=card_token,
            customer_ref=card_ref,
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2031,
            now=T0,
        )
    return customer.id


def _session(
    uow: UnitOfWork,
    customer_id: int,
    *,
    meter_start: int,
    meter_stop: int,
    seconds: int = 3600,
    started_at: datetime = START,
) -> TransactionRecord:
    """A completed session as 1.6 StopTransaction stores it (energy = stop − start, null
    when negative)."""
    energy = meter_stop - meter_start
    tx = uow.transactions.add(
        TransactionRecord(
            id=0,
            transaction_id=abs(hash(started_at)) % 2**31,
            charger_id="CP-H1",
            connector_id=1,
            start_key=f"CP-H1|{started_at.isoformat()}",
            started_at=started_at,
            stopped_at=started_at + timedelta(seconds=seconds),
            meter_start_wh=meter_start,
            meter_stop_wh=meter_stop,
            energy_wh=energy if energy >= 0 else None,
            status="completed",
            created_at=started_at,
            updated_at=started_at,
            customer_id=customer_id,
            auth_method="card",
        )
    )
    enqueue_session_completed(uow, tx, now=T0)
    return tx


def _bill(
    uow: UnitOfWork, tx: TransactionRecord, *, max_charger_kw: Decimal | None = Decimal(350)
) -> str:
    [record] = [r for r in uow.outbox.list() if r.key == f"session.completed:{tx.id}"]
    return bill_session(uow, record, T0, payments_enabled=True, max_charger_kw=max_charger_kw)


def _keys(uow: UnitOfWork) -> list[str]:
    """What billing enqueued after the session (charges, receipts)."""
    return sorted(r.key for r in uow.outbox.list() if not r.key.startswith("session."))


async def _billed(
    db: Database, *, meter_start: int, meter_stop: int, seconds: int = 3600, **setup: str
) -> tuple[TransactionRecord, InvoiceRecord, list[str], str]:
    """A customer's session billed; (session, invoice, what billing enqueued, its result)."""

    def bill(uow: UnitOfWork) -> tuple[TransactionRecord, InvoiceRecord, list[str], str]:
        customer_id = _setup(uow, **setup)
        tx = _session(
            uow, customer_id, meter_start=meter_start, meter_stop=meter_stop, seconds=seconds
        )
        outcome = _bill(uow, tx)
        invoice = uow.invoices.by_transaction(tx.id)
        assert invoice is not None
        return tx, invoice, _keys(uow), outcome

    return await db.write(bill)


async def test_the_issue_s_meter_jump_is_invoiced_but_held_and_never_charged(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """meterStart 7, meterStop 2147483647 an hour later: 2,147,483,640 Wh would cost
    1,022,203.41 EUR; 350 kW for an hour can deliver at most 385 kWh (+ 1 kWh)."""
    with caplog.at_level(logging.WARNING, logger="notify.billing"):
        tx, invoice, keys, outcome = await _billed(
            db, meter_start=7, meter_stop=2_147_483_647, card_token="pm_held"
        )
    assert invoice.payment_status == PaymentStatus.HELD
    assert invoice.held_reason is not None and "2147483640 Wh in 3600 s" in invoice.held_reason
    assert "350 kW (ceiling)" in invoice.held_reason
    assert keys == []  # no payment.charge, no email.receipt
    assert "held" in outcome
    # the session stays as the charger reported it
    kept = await db.read(lambda uow: uow.transactions.by_pk(tx.id))
    assert kept is not None and (kept.energy_wh, kept.meter_stop_wh) == (
        2_147_483_640,
        2_147_483_647,
    )
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"session {tx.id}" in warning.getMessage() and "held" in warning.getMessage()
    assert NAME not in warning.getMessage() and EMAIL not in warning.getMessage()


async def test_a_meter_stop_below_the_meter_start_is_held(db: Database) -> None:
    _tx, invoice, keys, _ = await _billed(
        db, meter_start=50_000, meter_stop=1_000, card_token="pm_held"
    )
    assert invoice.payment_status == PaymentStatus.HELD
    assert invoice.held_reason == "meter stop 1000 Wh is below meter start 50000 Wh"
    assert keys == []


async def test_a_session_that_stopped_before_it_started_is_held(db: Database) -> None:
    """A station clock that jumped back between start and stop."""
    _tx, invoice, keys, _ = await _billed(
        db, meter_start=0, meter_stop=5_000, seconds=-7200, card_token="pm_held"
    )
    assert invoice.payment_status == PaymentStatus.HELD
    assert invoice.held_reason is not None and "before it started" in invoice.held_reason
    assert keys == []


async def test_a_plausible_session_is_still_charged_and_receipted(db: Database) -> None:
    tx, invoice, keys, _ = await _billed(
        db, meter_start=1_000, meter_stop=23_000, card_token="pm_ok"
    )
    assert invoice.payment_status == PaymentStatus.PROCESSING and invoice.held_reason is None
    assert keys == [f"email.receipt:{tx.id}", f"payment.charge:{invoice.id}"]


async def test_the_charger_s_own_max_power_is_the_limit_where_csms_knows_it(
    db: Database,
) -> None:
    """2.0.1 device model: EVSE 1 reports Power maxLimit 11 kW; 30 kWh in one hour is
    more than 11 kW × 1 h × 1.1 + 1 kWh = 13.1 kWh, though far below the 350 kW ceiling."""

    def run(uow: UnitOfWork) -> tuple[InvoiceRecord, InvoiceRecord]:
        customer_id = _setup(uow, card_token="pm_dm")
        uow.device_model.upsert_variables(
            [
                DeviceVariableRecord(
                    charger_id="CP-H1",
                    variable_key="EVSE/1/Power",
                    component_name="EVSE",
                    variable_name="Power",
                    evse_id=1,
                    attributes=[{"type": "Actual", "value": "0"}],
                    characteristics={"unit": "W", "dataType": "decimal", "maxLimit": 11000},
                    request_id=1,
                    reported_at=T0,
                )
            ]
        )
        fast = _session(uow, customer_id, meter_start=0, meter_stop=30_000)
        fine = _session(
            uow, customer_id, meter_start=0, meter_stop=13_000, started_at=START + timedelta(1)
        )
        _bill(uow, fast)
        _bill(uow, fine)
        held, charged = uow.invoices.by_transaction(fast.id), uow.invoices.by_transaction(fine.id)
        assert held is not None and charged is not None
        return held, charged

    held, charged = await db.write(run)
    assert held.payment_status == PaymentStatus.HELD
    assert held.held_reason is not None and "11 kW (charger)" in held.held_reason
    assert charged.payment_status == PaymentStatus.PROCESSING


async def test_with_the_power_check_off_only_the_signs_hold_an_invoice(db: Database) -> None:
    """CSMS_MAX_CHARGER_KW=off (a bench of time-compressed simulators): 200 kWh in 10
    minutes is charged; a meter running backwards is still held."""

    def run(uow: UnitOfWork) -> tuple[str, str]:
        customer_id = _setup(uow, card_token="pm_off")
        fast = _session(uow, customer_id, meter_start=0, meter_stop=200_000, seconds=600)
        backwards = _session(
            uow, customer_id, meter_start=9_000, meter_stop=10, started_at=START + timedelta(1)
        )
        _bill(uow, fast, max_charger_kw=None)
        _bill(uow, backwards, max_charger_kw=None)
        statuses = [uow.invoices.by_transaction(tx.id) for tx in (fast, backwards)]
        assert all(statuses)
        return statuses[0].payment_status, statuses[1].payment_status  # type: ignore[union-attr]

    assert await db.write(run) == (PaymentStatus.PROCESSING, PaymentStatus.HELD)


async def _real_card(stripe: FakeStripe) -> dict[str, str]:
    """A card stored at the processor: ``_setup``'s card arguments."""
    gateway = StripeGateway(api_key=stripe.key, base_url=stripe.url, timeout=2)
    try:
        card = await gateway.add_card(
            CardDetails.parse("4242424242424242", 12, 2031, "123", today=T0.date()),
            customer_ref=None,
            description="csms customer test",
            idempotency_key="add-held",
        )
    finally:
        await gateway.aclose()
    return {"card_token": card.token, "card_ref": card.customer_ref}


async def _deliver_charge(db: Database, stripe: FakeStripe, record: OutboxRecord) -> str:
    gateway = StripeGateway(api_key=stripe.key, base_url=stripe.url, timeout=2)
    try:
        outcome = await PaymentCharger(db, gateway, retry_delays=())(record, T0)
    finally:
        await gateway.aclose()
    if outcome.write is not None:
        await db.write(outcome.write)
    return outcome.result or outcome.status


async def test_releasing_a_held_invoice_charges_it_exactly_once(
    db: Database, stripe: FakeStripe
) -> None:
    """200 kWh in 10 minutes (350 kW can give 65.2 kWh): held. Released as billed:
    200 × 0.40 + 0.50 = 80.50 net, 19 % tax 15.295 → 15.30, total 95.80 EUR."""
    card = await _real_card(stripe)
    tx, invoice, _keys_before, _ = await _billed(
        db, meter_start=0, meter_stop=200_000, seconds=600, **card
    )
    assert invoice.payment_status == PaymentStatus.HELD and invoice.total_minor == 9580

    def release(uow: UnitOfWork) -> tuple[InvoiceRecord, list[str]]:
        return release_invoice(uow, invoice.id, now=T0, payments_enabled=True), _keys(uow)

    released, keys = await db.write(release)
    assert released.payment_status == PaymentStatus.PROCESSING
    assert keys == [f"email.receipt:{tx.id}", f"payment.charge:{invoice.id}"]
    with pytest.raises(InvalidRequest, match="not held"):
        await db.write(lambda uow: release_invoice(uow, invoice.id, now=T0, payments_enabled=True))
    # billing delivered again (a crash before its commit): still one charge to make
    again = await db.write(lambda uow: _bill(uow, tx))
    assert again == "invoice exists"
    charges = await db.read(
        lambda uow: [r for r in uow.outbox.list() if r.topic == "payment.charge"]
    )
    assert [r.key for r in charges] == [f"payment.charge:{invoice.id}"]
    # the charge delivered twice (a redelivery after a lost answer): charged once
    assert (await _deliver_charge(db, stripe, charges[0])).startswith("paid")
    assert await _deliver_charge(db, stripe, charges[0]) == "skipped: invoice paid"
    [charge] = stripe.charges
    assert (charge.amount, charge.currency) == (9580, "eur")
    paid = await db.read(lambda uow: uow.invoices.get(invoice.id))
    assert paid is not None and paid.payment_status == PaymentStatus.PAID
    assert paid.released_at == T0 and paid.held_reason is not None  # the reason stays


async def test_a_held_invoice_is_never_charged_even_if_a_charge_reaches_it(
    db: Database, stripe: FakeStripe
) -> None:
    card = await _real_card(stripe)
    _tx, invoice, _, _ = await _billed(db, meter_start=0, meter_stop=200_000, seconds=600, **card)
    record = OutboxRecord(
        id=0,
        topic="payment.charge",
        key=f"payment.charge:{invoice.id}",
        payload={"invoice_id": invoice.id},
        status="pending",
        attempts=0,
        next_attempt_at=T0,
        created_at=T0,
        updated_at=T0,
    )
    assert await _deliver_charge(db, stripe, record) == "skipped: invoice held"
    assert stripe.charges == []


async def test_adjusting_prices_the_corrected_energy_under_the_session_s_tariff(
    db: Database,
) -> None:
    """Hand-checked: 12.345 kWh × 0.40 = 4.938 → 4.94; 1 h × 1.20 = 1.20; fee 0.50;
    net 6.64; 19 % tax 1.2616 → 1.26; total 7.90 EUR."""
    tx, invoice, _, _ = await _billed(
        db, meter_start=7, meter_stop=2_147_483_647, card_token="pm_adj", per_hour="1.20"
    )
    assert invoice.payment_status == PaymentStatus.HELD

    def adjust(uow: UnitOfWork) -> tuple[InvoiceRecord, list[str]]:
        adjusted = adjust_invoice(
            uow,
            invoice.id,
            energy_kwh="12.345",
            reason="meter register overflow, reading from the meter display",
            now=T0,
            payments_enabled=True,
        )
        return adjusted, _keys(uow)

    adjusted, keys = await db.write(adjust)
    assert keys == [f"email.receipt:{tx.id}", f"payment.charge:{invoice.id}"]
    stored = await db.read(lambda uow: uow.invoices.get(invoice.id))
    assert stored is not None and stored.payment_status == PaymentStatus.PROCESSING
    assert [(line["kind"], line["quantity"], line["amount"]) for line in stored.lines] == [
        ("energy", "12.345", "4.94"),
        ("time", "1.0000", "1.20"),
        ("session", "1", "0.50"),
    ]
    assert (stored.net_minor, stored.tax_minor, stored.total_minor) == (664, 126, 790)
    assert stored.adjusted_energy_wh == 12_345
    assert stored.adjust_reason == "meter register overflow, reading from the meter display"
    assert adjusted.total_minor == 790
    kept = await db.read(lambda uow: uow.transactions.by_pk(tx.id))
    assert kept is not None and kept.energy_wh == 2_147_483_640  # as the charger reported


@pytest.mark.parametrize(
    ("energy", "message"),
    [
        ("-1", "zero or more"),
        ("lots", "a number of kWh"),
        ("1.0001", "at most 3 decimal places"),
        ("NaN", "zero or more"),
    ],
)
async def test_an_adjustment_with_bad_energy_is_refused_and_the_invoice_stays_held(
    sqlite_db: Database, energy: str, message: str
) -> None:
    _tx, invoice, _, _ = await _billed(sqlite_db, meter_start=7, meter_stop=2_147_483_647)
    with pytest.raises(InvalidRequest, match=message):
        await sqlite_db.write(
            lambda uow: adjust_invoice(
                uow, invoice.id, energy_kwh=energy, reason=None, now=T0, payments_enabled=True
            )
        )
    kept = await sqlite_db.read(lambda uow: uow.invoices.get(invoice.id))
    assert kept is not None and kept.payment_status == PaymentStatus.HELD
    assert kept.lines == invoice.lines
