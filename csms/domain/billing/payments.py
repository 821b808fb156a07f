"""The payment port: the payment processor as billing and the customer API use it
(``PaymentGateway``), and the values that cross it.

What is kept
    A card number and its CVC go to the payment processor once, when a card is added, and
    are never stored or logged by csms (SPEC "Personal data"). The processor answers with a
    payment method id (``pm_...``), the customer it belongs to (``cus_...``) and the card's
    brand, last four digits and expiry: that ``StoredCard`` is all csms keeps. The token alone
    cannot be charged by anyone without the secret API key, last4 and brand let a driver
    recognise the card in the app, and the expiry lets csms ask for a new card in time.
    ``CardDetails`` hides the number and the CVC from ``repr``/``str``.

Failures
    A card the processor or the issuer refuses when it is added: ``CardRejected``; a charge
    they decline: a ``ChargeResult`` with ``status="declined"``. A processor that cannot be
    reached, or that refuses the request itself: ``PaymentProcessorError`` (notify's Stripe
    adapter, ``notify.payments.StripeGateway``, raises its ``PaymentDeliveryError``, which the
    outbox worker also retries as a ``DeliveryError``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

__all__ = [
    "CardDetails",
    "CardOnFile",
    "CardRejected",
    "ChargeResult",
    "PaymentGateway",
    "PaymentProcessorError",
    "StoredCard",
]


class PaymentProcessorError(Exception):
    """A request to the payment processor failed, or its outcome is unknown (a timeout).

    ``permanent`` (set by the adapter): the processor refused the request itself, so the
    same request cannot succeed; otherwise it may be retried under the same idempotency key.
    """

    permanent: bool = False


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _as_int(value: int | str, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number")
    if isinstance(value, int):
        return value
    text = value.strip()
    if not re.fullmatch(r"[0-9]{1,4}", text):
        raise ValueError(f"{what} must be a number")
    return int(text)


@dataclass(frozen=True, repr=False)
class CardDetails:
    """A card as the driver typed it: only ever passed on to the processor, never kept.

    Build it with ``CardDetails.parse`` (which normalises and checks it); ``repr`` and ``str``
    show the last four digits and the expiry only.
    """

    number: str
    exp_month: int
    exp_year: int
    cvc: str

    @classmethod
    def parse(
        cls,
        number: str,
        exp_month: int | str,
        exp_year: int | str,
        cvc: str,
        *,
        today: date,
    ) -> CardDetails:
        """Normalise (spaces and dashes out, a 2-digit year to 4) and check a card.

        Raises ``ValueError`` saying which field is wrong, never echoing the number or CVC.
        """
        if not isinstance(number, str):
            raise ValueError("card number must be a string of digits")
        digits = re.sub(r"[ \-]", "", number)
        if not re.fullmatch(r"[0-9]+", digits):
            raise ValueError("card number must contain only digits, spaces and dashes")
        month = _as_int(exp_month, "expiry month")
        year = _as_int(exp_year, "expiry year")
        if isinstance(exp_year, str) and len(exp_year.strip()) not in (2, 4):
            raise ValueError("expiry year must have 2 or 4 digits")
        if year < 100:
            year += 2000
        if not isinstance(cvc, str):
            raise ValueError("CVC must be a string of 3 or 4 digits")
        card = cls(number=digits, exp_month=month, exp_year=year, cvc=cvc.strip())
        card.validate(today=today)
        return card

    def validate(self, *, today: date) -> None:
        """Check the card as it is (already normalised); ``ValueError`` if it is not usable."""
        if not re.fullmatch(r"[0-9]{12,19}", self.number):
            raise ValueError("card number must have 12 to 19 digits")
        if not _luhn_ok(self.number):
            raise ValueError("card number is not valid (check digit mismatch): check for typos")
        if not 1 <= self.exp_month <= 12:
            raise ValueError("expiry month must be between 1 and 12")
        if not 2000 <= self.exp_year <= 2099:
            raise ValueError("expiry year must be a year such as 2030 (or 30)")
        # A card is valid through the last day of its expiry month.
        if (self.exp_year, self.exp_month) < (today.year, today.month):
            raise ValueError("card has expired")
        if not re.fullmatch(r"[0-9]{3,4}", self.cvc):
            raise ValueError("CVC must have 3 or 4 digits")

    @property
    def last4(self) -> str:
        return self.number[-4:]

    def __repr__(self) -> str:
        return f"CardDetails(****{self.last4}, {self.exp_month:02d}/{self.exp_year})"

    __str__ = __repr__


@dataclass(frozen=True)
class StoredCard:
    """What csms keeps of a card: the processor's token and what a driver needs to see."""

    token: str  # processor payment method id, pm_...
    customer_ref: str  # processor customer id, cus_...
    brand: str  # visa, mastercard, amex, ... as the processor names it
    last4: str
    exp_month: int
    exp_year: int


class CardOnFile(Protocol):
    """Anything that names a card at the processor: a ``StoredCard``, a storage row."""

    @property
    def token(self) -> str: ...

    @property
    def customer_ref(self) -> str: ...


@dataclass(frozen=True)
class ChargeResult:
    """The processor's final answer to a charge (a failure to get one is a
    ``PaymentProcessorError``)."""

    status: Literal["succeeded", "declined"]
    reference: str | None  # payment intent id (pi_...), also on most declines
    decline_code: str | None = None
    message: str | None = None  # the processor's text, safe to show the customer
    retryable: bool = False  # declined, and a charge with a *new* key may succeed later


class CardRejected(ValueError):
    """The processor or the issuer refused the card when it was added (an API answers 400)."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class PaymentGateway(Protocol):
    """The payment processor, as notify and the API use it."""

    async def add_card(
        self,
        card: CardDetails,
        *,
        customer_ref: str | None,
        description: str,
        idempotency_key: str,
        customer_number: str | None = None,
    ) -> StoredCard:
        """Store ``card`` at the processor, under ``customer_ref`` or a new processor customer.

        ``description`` (and ``customer_number``) name the customer by csms customer number
        only ("csms customer 123456789"), never by name or email. Raises ``CardRejected``
        or ``PaymentProcessorError``.
        """
        ...

    async def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        card: CardOnFile,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        """Charge a stored card off-session; ``PaymentProcessorError`` when the outcome is
        unknown."""
        ...

    async def detach_card(self, token: str, *, idempotency_key: str) -> None:
        """Remove a stored card at the processor (card removal, erasure); done if already gone."""
        ...

    async def aclose(self) -> None: ...
