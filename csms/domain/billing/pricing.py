"""Prices of a charging session: tariffs, money, and the one rounding rule.

Money is ``Decimal``, never float. A tariff's prices are net of tax, in its currency:

- ``per_kwh``: per kWh delivered (the session's energy, from its meter values);
- ``per_hour``: per hour plugged in, from start to stop, to the second;
- ``session_fee``: once per session;
- ``idle_per_minute``: per full minute the EV stays plugged in after charging is done
  (the session's "charging done" moment), once ``idle_grace_minutes`` have passed.

**Rounding** (the one rule): every amount is rounded half-up to the currency's minor unit
(cents for EUR) as soon as it is computed: each line, then the tax on the sum of the
rounded lines. The total is the rounded net plus the rounded tax, so the lines of a
receipt always add up to its total. A line's amount is computed from the exact quantity
(the time line from the seconds plugged in: seconds × price per hour / 3600) and rounded
once; the quantity a line shows is for reading only (kWh to the Wh, hours to 4 decimal
places, whole idle minutes) and is never what the amount is computed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "CURRENCY_EXPONENTS",
    "Price",
    "PriceLine",
    "TariffTerms",
    "format_money",
    "minor_units",
    "parse_amount",
    "parse_currency",
    "price_session",
    "to_decimal",
]

#: ISO 4217 minor-unit exponents of the currencies csms bills in. Three-decimal currencies
#: (BHD, KWD, ...) are not offered: the payment processor takes their amounts only in
#: multiples of 10 fils, which the one rounding rule (to the minor unit) does not give.
CURRENCY_EXPONENTS: dict[str, int] = {
    "AUD": 2,
    "BGN": 2,
    "CAD": 2,
    "CHF": 2,
    "CZK": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "HUF": 2,
    "ISK": 0,
    "JPY": 0,
    "KRW": 0,
    "NOK": 2,
    "NZD": 2,
    "PLN": 2,
    "RON": 2,
    "SEK": 2,
    "USD": 2,
}

_MAX_AMOUNT = Decimal("1000000")


def parse_currency(code: str) -> str:
    """An ISO 4217 code csms knows the minor unit of (``eur`` → ``EUR``)."""
    normalized = code.strip().upper()
    if normalized not in CURRENCY_EXPONENTS:
        known = ", ".join(sorted(CURRENCY_EXPONENTS))
        raise ValueError(f"unknown currency {code!r}: use one of {known}")
    return normalized


def parse_amount(text: str | int | Decimal, *, what: str) -> Decimal:
    """A price as given by an operator: a non-negative decimal (``0.39``, ``1``), at most
    six decimal places (a price per kWh can be finer than a cent)."""
    try:
        value = text if isinstance(text, Decimal) else Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f"{what} must be a decimal number like 0.39, not {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be zero or more, not {text!r}")
    if value >= _MAX_AMOUNT:
        raise ValueError(f"{what} must be below {_MAX_AMOUNT}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        raise ValueError(f"{what} may have at most 6 decimal places, not {text!r}")
    return value


def to_decimal(text: str) -> Decimal:
    """A stored decimal string."""
    return Decimal(text)


def _quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-CURRENCY_EXPONENTS[currency])


def round_money(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up to the currency's minor unit (the one rounding rule)."""
    return amount.quantize(_quantum(currency), rounding=ROUND_HALF_UP)


def minor_units(amount: Decimal, currency: str) -> int:
    """A rounded amount in integer minor units (cents): what invoices store and what the
    payment processor is asked for."""
    return int(round_money(amount, currency).scaleb(CURRENCY_EXPONENTS[currency]))


def format_money(amount_minor: int, currency: str) -> str:
    """Integer minor units as the decimal string shown to people and in JSON (``"3.12"``)."""
    exponent = CURRENCY_EXPONENTS[currency]
    return str(Decimal(amount_minor).scaleb(-exponent).quantize(_quantum(currency)))


@dataclass(frozen=True, slots=True)
class TariffTerms:
    """A tariff's prices (net of tax) and tax rate in percent."""

    currency: str
    per_kwh: Decimal = Decimal(0)
    per_hour: Decimal = Decimal(0)
    session_fee: Decimal = Decimal(0)
    idle_per_minute: Decimal = Decimal(0)
    idle_grace_minutes: int = 0
    tax_rate: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class PriceLine:
    kind: str  # energy | time | session | idle
    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "description": self.description,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "unit_price": str(self.unit_price),
            "amount": str(self.amount),
        }


@dataclass(frozen=True, slots=True)
class Price:
    currency: str
    lines: tuple[PriceLine, ...]
    net: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal

    @property
    def net_minor(self) -> int:
        return minor_units(self.net, self.currency)

    @property
    def tax_minor(self) -> int:
        return minor_units(self.tax, self.currency)

    @property
    def total_minor(self) -> int:
        return minor_units(self.total, self.currency)


def idle_minutes(
    *, charging_done_at: datetime | None, stopped_at: datetime, grace_minutes: int
) -> int:
    """Full minutes plugged in after charging was done, beyond the grace period."""
    if charging_done_at is None or charging_done_at >= stopped_at:
        return 0
    idle_seconds = (stopped_at - charging_done_at).total_seconds() - grace_minutes * 60
    return max(0, int(idle_seconds // 60))


def price_session(
    terms: TariffTerms,
    *,
    energy_wh: int | None,
    started_at: datetime,
    stopped_at: datetime,
    charging_done_at: datetime | None,
) -> Price:
    """What a completed session costs under ``terms`` (see the module doc for the rule).

    Unknown energy (no meter reading; a meter replaced mid-session) bills no energy line
    rather than guessing. A stop before the start (a station clock jump) bills no time.
    Lines with a zero price are left out.
    """
    currency = terms.currency
    lines: list[PriceLine] = []

    def add(
        kind: str,
        description: str,
        quantity: Decimal,
        unit: str,
        price: Decimal,
        *,
        exact: Decimal | None = None,
    ) -> None:
        """A line showing ``quantity``; its amount is ``exact`` (else ``quantity × price``),
        rounded once."""
        if price == 0:
            return
        amount = round_money(quantity * price if exact is None else exact, currency)
        lines.append(PriceLine(kind, description, quantity, unit, price, amount))

    if energy_wh is not None and energy_wh > 0:
        kwh = (Decimal(energy_wh) / 1000).quantize(Decimal("0.001"))
        add("energy", "Energy", kwh, "kWh", terms.per_kwh)
    seconds = max(0, int((stopped_at - started_at).total_seconds()))
    if seconds:
        shown = (Decimal(seconds) / 3600).quantize(Decimal("0.0001"))
        exact = Decimal(seconds) * terms.per_hour / 3600
        add("time", "Charging time", shown, "h", terms.per_hour, exact=exact)
    add("session", "Session fee", Decimal(1), "session", terms.session_fee)
    minutes = idle_minutes(
        charging_done_at=charging_done_at,
        stopped_at=stopped_at,
        grace_minutes=terms.idle_grace_minutes,
    )
    if minutes:
        add(
            "idle",
            f"Idle fee (after {terms.idle_grace_minutes} min grace)",
            Decimal(minutes),
            "min",
            terms.idle_per_minute,
        )
    net = round_money(sum((line.amount for line in lines), Decimal(0)), currency)
    tax = round_money(net * terms.tax_rate / 100, currency)
    return Price(
        currency=currency,
        lines=tuple(lines),
        net=net,
        tax_rate=terms.tax_rate,
        tax=tax,
        total=net + tax,
    )
