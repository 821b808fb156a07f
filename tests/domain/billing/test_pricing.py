"""Session prices: every line of a tariff, the one rounding rule, money as Decimal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from csms.domain.billing.pricing import (
    TariffTerms,
    format_money,
    minor_units,
    parse_amount,
    parse_currency,
    price_session,
)

START = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def _price(terms: TariffTerms, *, energy_wh: int | None, minutes: float, done: float | None):
    return price_session(
        terms,
        energy_wh=energy_wh,
        started_at=START,
        stopped_at=START + timedelta(minutes=minutes),
        charging_done_at=START + timedelta(minutes=done) if done is not None else None,
    )


def test_energy_is_billed_per_kwh_from_the_sessions_energy() -> None:
    price = _price(
        TariffTerms("EUR", per_kwh=Decimal("0.39")), energy_wh=12_345, minutes=90, done=None
    )
    [line] = price.lines
    assert (line.kind, line.quantity, line.unit, line.amount) == (
        "energy",
        Decimal("12.345"),
        "kWh",
        Decimal("4.81"),  # 4.81455 rounded half-up to the cent
    )
    assert (price.net, price.tax, price.total, price.total_minor) == (
        Decimal("4.81"),
        Decimal("0.00"),
        Decimal("4.81"),
        481,
    )


def test_time_session_fee_and_idle_fee_after_the_grace_period_add_up() -> None:
    terms = TariffTerms(
        "EUR",
        per_kwh=Decimal("0.30"),
        per_hour=Decimal("1.20"),
        session_fee=Decimal("0.50"),
        idle_per_minute=Decimal("0.10"),
        idle_grace_minutes=15,
    )
    # plugged in 2 h; charging done after 60 min; 60 min idle, 15 min grace: 45 billed
    price = _price(terms, energy_wh=10_000, minutes=120, done=60)
    assert [(line.kind, line.quantity, line.amount) for line in price.lines] == [
        ("energy", Decimal("10.000"), Decimal("3.00")),
        ("time", Decimal("2.0000"), Decimal("2.40")),
        ("session", Decimal(1), Decimal("0.50")),
        ("idle", Decimal(45), Decimal("4.50")),
    ]
    assert price.total == Decimal("10.40")


def test_idle_fee_counts_full_minutes_only_and_none_within_the_grace_period() -> None:
    terms = TariffTerms("EUR", idle_per_minute=Decimal("0.25"), idle_grace_minutes=10)
    within = _price(terms, energy_wh=1000, minutes=40, done=30.5)  # 9.5 min idle
    assert within.lines == ()
    partial = _price(terms, energy_wh=1000, minutes=52, done=30.5)  # 21.5 idle: 11 billed
    assert [(line.quantity, line.amount) for line in partial.lines] == [
        (Decimal(11), Decimal("2.75"))
    ]


def test_tax_is_computed_on_the_rounded_net_and_rounded_half_up() -> None:
    # lines 0.125 → 0.13 and 0.125 → 0.13: net 0.26 (not 0.25), tax 19 % of 0.26 = 0.0494
    terms = TariffTerms(
        "EUR",
        per_kwh=Decimal("0.125"),
        session_fee=Decimal("0.125"),
        tax_rate=Decimal("19"),
    )
    price = _price(terms, energy_wh=1000, minutes=10, done=None)
    assert [line.amount for line in price.lines] == [Decimal("0.13"), Decimal("0.13")]
    assert (price.net, price.tax, price.total) == (
        Decimal("0.26"),
        Decimal("0.05"),
        Decimal("0.31"),
    )
    assert price.total == sum(line.amount for line in price.lines) + price.tax


def test_half_a_cent_rounds_up_not_to_even() -> None:
    # 0.5 kWh × 0.05 = 0.025: half-up gives 0.03 (banker's rounding would give 0.02)
    price = _price(TariffTerms("EUR", per_kwh=Decimal("0.05")), energy_wh=500, minutes=5, done=None)
    assert price.total == Decimal("0.03")


def test_unknown_energy_bills_no_energy_line_and_a_clock_jump_bills_no_time() -> None:
    terms = TariffTerms("EUR", per_kwh=Decimal("0.40"), per_hour=Decimal("2"))
    price = price_session(
        terms,
        energy_wh=None,
        started_at=START,
        stopped_at=START - timedelta(minutes=5),
        charging_done_at=None,
    )
    assert price.lines == () and price.total_minor == 0


def test_a_currency_without_minor_units_is_billed_in_whole_units() -> None:
    price = _price(
        TariffTerms("JPY", per_kwh=Decimal("45.5")), energy_wh=3000, minutes=30, done=None
    )
    assert price.total == Decimal("137") and price.total_minor == 137  # 136.5 half-up
    assert format_money(137, "JPY") == "137"
    assert format_money(312, "EUR") == "3.12" and minor_units(Decimal("3.125"), "EUR") == 313


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", "decimal number"),
        ("-1", "zero or more"),
        ("NaN", "zero or more"),
        ("0.1234567", "6 decimal places"),
        ("2000000", "below"),
    ],
)
def test_prices_that_are_not_plain_amounts_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_amount(text, what="--per-kwh")


def test_currencies_are_iso_codes_csms_knows_the_minor_unit_of() -> None:
    assert parse_currency(" eur ") == "EUR"
    with pytest.raises(ValueError, match="unknown currency 'EURO'"):
        parse_currency("EURO")


@pytest.mark.parametrize(
    ("per_hour", "seconds", "shown", "amount"),
    [
        # 3719 s × 4.99 / 3600 = 5.15495…: 5.15 (not 1.0331 h × 4.99 = 5.155… → 5.16)
        ("4.99", 3719, "1.0331", "5.15"),
        # 3 s × 6.00 / 3600 = 0.005: half-up 0.01 (not 0.0008 h × 6.00 = 0.0048 → 0.00)
        ("6.00", 3, "0.0008", "0.01"),
        ("1.20", 7200, "2.0000", "2.40"),
    ],
)
def test_time_is_billed_from_the_exact_seconds_and_shown_in_hours(
    per_hour: str, seconds: int, shown: str, amount: str
) -> None:
    price = price_session(
        TariffTerms("EUR", per_hour=Decimal(per_hour)),
        energy_wh=None,
        started_at=START,
        stopped_at=START + timedelta(seconds=seconds),
        charging_done_at=None,
    )
    [line] = price.lines
    assert (line.kind, line.quantity, line.unit, line.amount) == (
        "time",
        Decimal(shown),
        "h",
        Decimal(amount),
    )
    assert line.as_dict()["quantity"] == shown and price.total == Decimal(amount)


@pytest.mark.parametrize("code", ["BHD", "KWD", "bhd"])
def test_three_decimal_currencies_are_not_offered(code: str) -> None:
    # the processor takes them only in multiples of 10 fils (docs/adr/0009)
    with pytest.raises(ValueError, match="unknown currency"):
        parse_currency(code)
