"""Card payments through the Stripe adapter, over real HTTP to the local fake processor:
cards are stored as tokens, charges are idempotent and sent in the processor's unit of the
currency, declines and outages are classified, and no card number, CVC, API key or unmasked
processor id leaks into anything csms could log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import date
from urllib.parse import parse_qs

import pytest

from csms.domain.billing.payments import CardDetails, CardRejected, ChargeResult, StoredCard
from csms.domain.billing.pricing import CURRENCY_EXPONENTS
from notify.errors import DeliveryError
from notify.payments import (
    DEFAULT_STRIPE_URL,
    STRIPE_API_VERSION,
    StripeGateway,
    mask_id,
    redact_ids,
)
from tests.fakes.payment_processor import FakeStripe
from tests.waiting import eventually

TODAY = date.today()
EXP_YEAR = TODAY.year + 3
CVC = "737"
VISA = "4242424242424242"
DECLINED_AT_ADD = "4000000000000002"
EXPIRED_AT_ADD = "4000000000000069"
DECLINES_GENERIC = "4000000000000341"
INSUFFICIENT_FUNDS = "4000000000009995"
STOLEN = "4000000000009979"
FRAUDULENT = "4100000000000019"
NEEDS_AUTHENTICATION = "4000002760003184"
REQUIRES_ACTION = "4000002500003155"


def card(number: str = VISA, cvc: str = CVC) -> CardDetails:
    return CardDetails.parse(number, 12, EXP_YEAR, cvc, today=TODAY)


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
async def gateway(stripe: FakeStripe) -> AsyncIterator[StripeGateway]:
    gateway = StripeGateway(api_key=stripe.key, base_url=stripe.url, timeout=0.5)
    yield gateway
    await gateway.aclose()


async def stored(gateway: StripeGateway, number: str = VISA, key: str = "add-1") -> StoredCard:
    return await gateway.add_card(
        card(number),
        customer_ref=None,
        description="csms customer 123456789",
        idempotency_key=key,
        customer_number="123456789",
    )


async def charge(
    gateway: StripeGateway, on: StoredCard, key: str, amount: int = 1234
) -> ChargeResult:
    return await gateway.charge(
        amount_minor=amount,
        currency="EUR",
        card=on,
        idempotency_key=key,
        description="csms invoice 42",
        metadata={"invoice": "42", "session": "7"},
    )


async def all_answered(stripe: FakeStripe) -> None:
    """Wait until the fake has answered every request it received (late ones included);
    the bound is generous, for a busy machine: it only ends a test that is failing."""
    try:
        await eventually(
            lambda: all(seen.status is not None for seen in stripe.requests_seen),
            timeout=30,
            interval=0.01,
        )
    except TimeoutError:
        raise AssertionError("the fake processor still has unanswered requests") from None


# --- adding cards ---------------------------------------------------------------------


async def test_add_card_returns_token_brand_last4_and_the_processor_holds_it_under_a_new_customer(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    result = await stored(gateway)

    assert result.token.startswith("pm_")
    assert result.customer_ref.startswith("cus_")
    assert (result.brand, result.last4) == ("visa", "4242")
    assert (result.exp_month, result.exp_year) == (12, EXP_YEAR)
    customer = stripe.customers[result.customer_ref]
    assert customer["description"] == "csms customer 123456789"
    assert customer["metadata"] == {"csms_customer": "123456789"}
    assert customer["name"] is None and customer["email"] is None
    assert stripe.payment_methods[result.token]["customer"] == result.customer_ref
    # The number went to the processor (and only there), form-encoded with Stripe's brackets.
    created = next(b for b in stripe.raw_bodies if b"card%5Bnumber%5D" in b)
    assert parse_qs(created.decode())["card[number]"] == [VISA]
    for seen in stripe.requests_seen:
        assert seen.headers["authorization"] == f"Bearer {stripe.key}"
        assert seen.headers["stripe-version"] == STRIPE_API_VERSION
        assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
        assert seen.idempotency_key


async def test_add_card_with_customer_ref_reuses_the_processor_customer(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    first = await stored(gateway)

    second = await gateway.add_card(
        card("5555555555554444"),
        customer_ref=first.customer_ref,
        description="csms customer 123456789",
        idempotency_key="add-2",
    )

    assert second.customer_ref == first.customer_ref
    assert second.token != first.token
    assert (second.brand, second.last4) == ("mastercard", "4444")
    assert list(stripe.customers) == [first.customer_ref]
    assert stripe.payment_methods[second.token]["customer"] == first.customer_ref


async def test_add_card_retried_with_the_same_key_creates_no_second_customer_or_card(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    first = await stored(gateway, key="add-retry")

    again = await stored(gateway, key="add-retry")

    assert again == first
    assert len(stripe.customers) == 1
    assert len(stripe.payment_methods) == 1
    assert [seen.replayed for seen in stripe.requests_seen] == [False] * 3 + [True] * 3


@pytest.mark.parametrize(
    ("number", "code"), [(DECLINED_AT_ADD, "generic_decline"), (EXPIRED_AT_ADD, "expired_card")]
)
async def test_a_card_refused_at_add_raises_card_rejected_with_the_code(
    stripe: FakeStripe, gateway: StripeGateway, number: str, code: str
) -> None:
    with pytest.raises(CardRejected) as raised:
        await stored(gateway, number)

    assert raised.value.code == code
    assert isinstance(raised.value, ValueError)
    assert raised.value.message
    assert number not in str(raised.value) and CVC not in str(raised.value)
    assert all(method["customer"] is None for method in stripe.payment_methods.values())


async def test_processor_error_texts_echoing_the_card_number_or_key_are_redacted(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    customer_ref = (await stored(gateway)).customer_ref
    stripe.fail_next(
        402, type="card_error", code="card_declined", message=f"card {VISA} with cvc {CVC}"
    )
    with pytest.raises(CardRejected) as rejected:
        await gateway.add_card(
            card(), customer_ref=customer_ref, description="d", idempotency_key="echo-1"
        )
    stripe.fail_next(500, message=f"boom for {stripe.key} and 4242 4242 4242 4242")
    with pytest.raises(DeliveryError) as failed:
        await gateway.add_card(
            card(), customer_ref=customer_ref, description="d", idempotency_key="echo-2"
        )

    for text in (str(rejected.value), rejected.value.message, str(failed.value)):
        assert VISA not in text and "4242 4242" not in text
        assert CVC not in text
        assert stripe.key not in text
        assert "[redacted]" in text


# --- charging -------------------------------------------------------------------------


async def test_charge_succeeds_with_amount_currency_and_metadata_as_sent(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway)

    result = await charge(gateway, on, "invoice-42-attempt-1", amount=1234)

    assert result.status == "succeeded"
    assert result.decline_code is None and not result.retryable
    [charged] = stripe.charges
    assert charged.id == result.reference
    assert (charged.amount, charged.currency) == (1234, "eur")
    assert (charged.customer, charged.payment_method) == (on.customer_ref, on.token)
    assert charged.metadata == {"invoice": "42", "session": "7"}
    assert charged.description == "csms invoice 42"
    assert charged.idempotency_key == "invoice-42-attempt-1"
    assert stripe.payment_intents[charged.id]["off_session"] is True


async def test_charge_retried_with_the_same_key_after_a_held_and_timed_out_answer_charges_once(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway)
    stripe.hold()

    with pytest.raises(DeliveryError) as timed_out:
        await charge(gateway, on, "invoice-7-attempt-1")
    assert not timed_out.value.permanent
    assert stripe.wait_held()
    assert len(stripe.charges) == 1  # the money moved; csms did not learn it
    with pytest.raises(DeliveryError) as in_use:  # the first request is still being answered
        await charge(gateway, on, "invoice-7-attempt-1")
    assert not in_use.value.permanent
    stripe.release()

    result = await charge(gateway, on, "invoice-7-attempt-1")

    assert result.status == "succeeded"
    [charged] = stripe.charges
    assert result.reference == charged.id
    assert stripe.requests_seen[-1].replayed
    assert len(stripe.payment_intents) == 1


@pytest.mark.parametrize(
    ("number", "code", "retryable"),
    [
        (INSUFFICIENT_FUNDS, "insufficient_funds", True),
        (DECLINES_GENERIC, "generic_decline", True),
        (STOLEN, "stolen_card", False),
        (FRAUDULENT, "fraudulent", False),
        (NEEDS_AUTHENTICATION, "authentication_required", False),
    ],
)
async def test_a_declined_charge_is_a_result_retryable_only_for_soft_declines(
    stripe: FakeStripe, gateway: StripeGateway, number: str, code: str, retryable: bool
) -> None:
    on = await stored(gateway, number)

    result = await charge(gateway, on, "invoice-1-attempt-1")

    assert result.status == "declined"
    assert result.decline_code == code
    assert result.retryable is retryable
    assert result.message
    assert result.reference in stripe.payment_intents
    assert stripe.charges == []


async def test_a_charge_needing_customer_action_is_a_hard_authentication_decline(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway, REQUIRES_ACTION)

    result = await charge(gateway, on, "invoice-3-attempt-1")

    assert (result.status, result.decline_code, result.retryable) == (
        "declined",
        "authentication_required",
        False,
    )
    assert stripe.payment_intents[result.reference or ""]["status"] == "requires_action"
    assert stripe.charges == []


async def test_a_retry_after_a_decline_needs_a_new_key_the_same_key_replays_the_decline(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway, INSUFFICIENT_FUNDS)
    first = await charge(gateway, on, "invoice-9-attempt-1")

    replayed = await charge(gateway, on, "invoice-9-attempt-1")
    fresh = await charge(gateway, on, "invoice-9-attempt-2")

    assert replayed == first
    assert stripe.requests_seen[-2].replayed
    assert fresh.reference != first.reference
    assert len(stripe.payment_intents) == 2


# --- failures -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 429, 409])
async def test_processor_errors_are_transient_and_a_retry_with_the_same_key_charges_once(
    stripe: FakeStripe, gateway: StripeGateway, status: int
) -> None:
    on = await stored(gateway)
    stripe.fail_next(status)

    with pytest.raises(DeliveryError) as failed:
        await charge(gateway, on, "invoice-5-attempt-1")
    assert not failed.value.permanent
    assert f"HTTP {status}" in str(failed.value)
    result = await charge(gateway, on, "invoice-5-attempt-1")

    assert result.status == "succeeded"
    assert len(stripe.charges) == 1


async def test_a_timeout_is_transient_and_the_late_request_does_not_charge_twice(
    stripe: FakeStripe,
) -> None:
    # The fake takes the first charge in and does nothing with it until the test lets it
    # in, so that call times out however busy the machine is, and it is still in hand when
    # the retry comes. Its client's timeout only has to cover connecting and sending (2 s:
    # far more than a loaded machine needs); the card and the retry go through a client
    # with the default timeout. No step waits for a time to pass.
    async with (
        StripeGateway(api_key=stripe.key, base_url=stripe.url, timeout=2.0) as impatient,
        StripeGateway(api_key=stripe.key, base_url=stripe.url) as patient,
    ):
        on = await stored(patient)
        stripe.arrive_late()

        with pytest.raises(DeliveryError) as timed_out:
            await charge(impatient, on, "invoice-6-attempt-1")
        assert not timed_out.value.permanent
        assert "in time" in str(timed_out.value)
        arrived = await asyncio.to_thread(stripe.wait_arrived_late, 30.0)
        assert arrived, "the charge that timed out never reached the processor"
        retried = await charge(patient, on, "invoice-6-attempt-1")
        stripe.let_late_in()  # the first request reaches the processor after its retry
        await all_answered(stripe)

    assert retried.status == "succeeded"
    [charged] = stripe.charges
    assert charged.id == retried.reference
    assert sum(seen.replayed for seen in stripe.requests_seen) == 1


async def test_a_processor_that_is_down_is_transient_and_works_again_after_restart(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway)
    stripe.stop()

    with pytest.raises(DeliveryError) as down:
        await charge(gateway, on, "invoice-8-attempt-1")
    assert not down.value.permanent
    stripe.restart()
    result = await charge(gateway, on, "invoice-8-attempt-1")

    assert result.status == "succeeded"
    assert len(stripe.charges) == 1


async def test_a_wrong_api_key_is_permanent_and_never_echoed(stripe: FakeStripe) -> None:
    wrong = "sk_test_wrong_key_0123456789abcdef"
    async with StripeGateway(api_key=wrong, base_url=stripe.url, timeout=0.5) as gateway:
        with pytest.raises(DeliveryError) as failed:
            await stored(gateway)

    assert failed.value.permanent
    assert "HTTP 401" in str(failed.value) and "CSMS_PAYMENT_KEY" in str(failed.value)
    assert wrong not in str(failed.value)
    assert VISA not in str(failed.value)
    assert stripe.customers == {}


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_requests_the_processor_refuses_are_permanent(
    stripe: FakeStripe, gateway: StripeGateway, status: int
) -> None:
    on = await stored(gateway)
    stripe.fail_next(status)

    with pytest.raises(DeliveryError) as failed:
        await charge(gateway, on, "invoice-2-attempt-1")

    assert failed.value.permanent
    assert stripe.charges == []


async def test_a_key_reused_with_other_parameters_is_a_permanent_idempotency_error(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway)
    await charge(gateway, on, "invoice-4-attempt-1", amount=1000)

    with pytest.raises(DeliveryError) as failed:
        await charge(gateway, on, "invoice-4-attempt-1", amount=2000)

    assert failed.value.permanent
    assert "idempotency_error" in str(failed.value)
    assert [c.amount for c in stripe.charges] == [1000]


async def test_charging_an_unknown_card_is_permanent(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway)
    gone = StoredCard("pm_unknown", on.customer_ref, "visa", "4242", 12, EXP_YEAR)

    with pytest.raises(DeliveryError) as failed:
        await charge(gateway, gone, "invoice-10-attempt-1")

    assert failed.value.permanent
    assert "resource_missing" in str(failed.value)


async def test_charge_arguments_are_checked_before_anything_is_sent(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway)
    before = len(stripe.requests_seen)

    with pytest.raises(ValueError, match="amount_minor"):
        await charge(gateway, on, "k", amount=0)
    with pytest.raises(ValueError, match="currency"):
        await gateway.charge(
            amount_minor=1,
            currency="EURO",
            card=on,
            idempotency_key="k",
            description="",
            metadata={},
        )
    with pytest.raises(ValueError, match="metadata"):
        await gateway.charge(
            amount_minor=1,
            currency="EUR",
            card=on,
            idempotency_key="k",
            description="",
            metadata={"a[b]": "c"},
        )
    with pytest.raises(ValueError, match="idempotency_key"):
        await charge(gateway, on, "")

    assert len(stripe.requests_seen) == before


# --- removing cards -------------------------------------------------------------------


async def test_detach_card_removes_it_and_detaching_again_or_an_unknown_card_is_done(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway)

    await gateway.detach_card(on.token, idempotency_key="detach-1")
    await gateway.detach_card(on.token, idempotency_key="detach-2")
    await gateway.detach_card("pm_never_existed", idempotency_key="detach-3")

    assert stripe.payment_methods[on.token]["customer"] is None
    detach_paths = [s.path for s in stripe.requests_seen if s.path.endswith("/detach")]
    assert detach_paths == [f"/v1/payment_methods/{on.token}/detach"] * 2 + [
        "/v1/payment_methods/pm_never_existed/detach"
    ]


async def test_detach_card_when_the_processor_fails_is_transient(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway)
    stripe.fail_next(503)

    with pytest.raises(DeliveryError) as failed:
        await gateway.detach_card(on.token, idempotency_key="detach-1")

    assert not failed.value.permanent
    assert stripe.payment_methods[on.token]["customer"] == on.customer_ref


# --- nothing secret in logs -----------------------------------------------------------


async def test_nothing_logged_contains_the_card_number_cvc_or_api_key(
    stripe: FakeStripe, gateway: StripeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    on = await stored(gateway)
    await charge(gateway, on, "invoice-11-attempt-1")
    stripe.fail_next(500)
    with pytest.raises(DeliveryError):
        await stored(gateway, key="add-2")
    with pytest.raises(CardRejected):
        await stored(gateway, DECLINED_AT_ADD, key="add-3")

    assert caplog.records
    for secret in (VISA, DECLINED_AT_ADD, stripe.key):
        assert secret not in caplog.text
    assert f"={CVC}" not in caplog.text and f" {CVC} " not in caplog.text


# --- card details ---------------------------------------------------------------------


def test_card_details_parse_normalises_spaces_dashes_and_a_two_digit_year() -> None:
    parsed = CardDetails.parse("4242 4242-4242 4242", "07", "31", " 123 ", today=date(2026, 1, 1))

    assert parsed == CardDetails(number=VISA, exp_month=7, exp_year=2031, cvc="123")
    assert CardDetails.parse("378282246310005", 1, 2031, "1234", today=TODAY).cvc == "1234"


def test_card_details_repr_and_str_show_only_the_last_four_digits_and_expiry() -> None:
    details = CardDetails.parse(VISA, 12, 2030, CVC, today=date(2026, 1, 1))

    for text in (repr(details), str(details), f"{details}", repr([details])):
        assert VISA not in text and CVC not in text
        assert "****4242" in text and "12/2030" in text


@pytest.mark.parametrize(
    ("number", "month", "year", "cvc", "complaint"),
    [
        ("4242424242424241", 12, 2030, "123", "check digit"),  # Luhn
        ("42424242424", 12, 2030, "123", "12 to 19 digits"),
        ("42424242424242424242", 12, 2030, "123", "12 to 19 digits"),
        ("4242x42424242424", 12, 2030, "123", "only digits"),
        ("4242424242424242", 0, 2030, "123", "month"),
        ("4242424242424242", 13, 2030, "123", "month"),
        ("4242424242424242", "ab", 2030, "123", "month"),
        ("4242424242424242", 12, "203", "123", "year"),
        ("4242424242424242", 5, 2026, "123", "expired"),
        ("4242424242424242", 12, 2025, "123", "expired"),
        ("4242424242424242", 12, 2030, "12", "CVC"),
        ("4242424242424242", 12, 2030, "12345", "CVC"),
        ("4242424242424242", 12, 2030, "12a", "CVC"),
    ],
)
def test_card_details_parse_refuses_bad_cards_without_echoing_number_or_cvc(
    number: str, month: int | str, year: int | str, cvc: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint) as raised:
        CardDetails.parse(number, month, year, cvc, today=date(2026, 6, 15))

    text = str(raised.value)
    assert number not in text and number[-8:] not in text
    assert cvc not in text
    assert raised.value.__cause__ is None


def test_a_card_is_valid_through_the_end_of_its_expiry_month() -> None:
    details = CardDetails.parse(VISA, 6, 2026, CVC, today=date(2026, 6, 30))

    assert (details.exp_month, details.exp_year) == (6, 2026)


# --- configuration --------------------------------------------------------------------


def test_from_settings_without_url_or_key_disables_payments() -> None:
    assert StripeGateway.from_settings(None, None) is None
    assert StripeGateway.from_settings("", "  ") is None


async def test_from_settings_with_only_a_key_talks_to_stripe() -> None:
    gateway = StripeGateway.from_settings(None, "sk_test_only_a_key")

    assert gateway is not None
    assert gateway.base_url == DEFAULT_STRIPE_URL
    await gateway.aclose()


async def test_from_settings_builds_a_gateway_that_reaches_the_processor(
    stripe: FakeStripe,
) -> None:
    gateway = StripeGateway.from_settings(stripe.url + "/", stripe.key, timeout=0.5)
    assert gateway is not None
    async with gateway:
        result = await stored(gateway)

    assert result.token in stripe.payment_methods


def test_from_settings_with_a_url_but_no_key_names_csms_payment_key() -> None:
    with pytest.raises(ValueError, match="CSMS_PAYMENT_KEY"):
        StripeGateway.from_settings("https://api.stripe.com", None)


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "ftp://api.stripe.com",
        "https://",
        "https://api.stripe.com:notaport",
        "http://payments.example.com",  # the secret key would travel in clear text
        "https://user:sk_live_in_the_url@api.stripe.com",
        "https://api.stripe.com/?key=sk_live_in_the_query",
    ],
)
def test_from_settings_with_a_bad_url_names_csms_payment_url_and_echoes_no_secret(
    url: str,
) -> None:
    key = "sk_live_secret_0123456789"

    with pytest.raises(ValueError, match="CSMS_PAYMENT_URL") as raised:
        StripeGateway.from_settings(url, key)

    assert key not in str(raised.value)
    assert "sk_live_in_the" not in str(raised.value)


@pytest.mark.parametrize("key", ["pk_live_publishable_0123456789", "sk_live_with space"])
def test_from_settings_with_a_bad_key_names_csms_payment_key_and_does_not_echo_it(
    key: str,
) -> None:
    with pytest.raises(ValueError, match="CSMS_PAYMENT_KEY") as raised:
        StripeGateway.from_settings("https://api.stripe.com", key)

    assert key not in str(raised.value)


# --- amounts in the processor's unit ---------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "amount_minor", "sent"),
    [
        ("EUR", 1234, 1234),  # cents at both
        ("ISK", 5, 500),  # csms bills whole krónur; Stripe takes ISK with two decimals
        ("ISK", 1999, 199_900),
        ("HUF", 12_345, 12_345),  # fillér at both: Stripe charges HUF with two decimals
        ("JPY", 137, 137),  # zero-decimal at both
        ("KRW", 1500, 1500),
    ],
)
async def test_the_processor_gets_the_amount_in_its_own_minor_unit(
    stripe: FakeStripe, gateway: StripeGateway, currency: str, amount_minor: int, sent: int
) -> None:
    on = await stored(gateway)

    result = await gateway.charge(
        amount_minor=amount_minor,
        currency=currency,
        card=on,
        idempotency_key=f"invoice-1-{currency}-{amount_minor}",
        description="d",
        metadata={},
    )

    assert result.status == "succeeded"
    [charged] = stripe.charges
    assert (charged.amount, charged.currency) == (sent, currency.lower())


async def test_a_three_decimal_amount_not_ending_in_zero_is_refused_before_it_is_sent(
    stripe: FakeStripe, gateway: StripeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # csms does not bill in KWD (CURRENCY_EXPONENTS leaves it out); were it added, Stripe
    # would take only amounts ending in 0
    monkeypatch.setitem(CURRENCY_EXPONENTS, "KWD", 3)
    on = await stored(gateway)
    before = len(stripe.requests_seen)

    with pytest.raises(DeliveryError, match="multiples of 10") as refused:
        await gateway.charge(
            amount_minor=5125,
            currency="KWD",
            card=on,
            idempotency_key="invoice-1-attempt-1",
            description="d",
            metadata={},
        )

    assert refused.value.permanent
    assert len(stripe.requests_seen) == before
    await gateway.charge(
        amount_minor=5120,
        currency="KWD",
        card=on,
        idempotency_key="invoice-1-attempt-2",
        description="d",
        metadata={},
    )
    assert [(c.amount, c.currency) for c in stripe.charges] == [(5120, "kwd")]


async def test_a_currency_csms_knows_no_minor_unit_of_is_not_charged(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway)
    with pytest.raises(DeliveryError, match="BHD") as refused:
        await gateway.charge(
            amount_minor=5120,
            currency="BHD",
            card=on,
            idempotency_key="invoice-1-attempt-1",
            description="d",
            metadata={},
        )
    assert refused.value.permanent
    assert stripe.charges == []


# --- processor ids ---------------------------------------------------------------------


def test_processor_ids_are_masked_to_their_last_four_characters() -> None:
    text = (
        "No such PaymentMethod: 'pm_1PqRsT2uVwXyZ3aB'; customer cus_9QxYzA1b2C3d4E, "
        "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH, card_1MvoiELkdIwH, "
        "src_1AbCdEfGhIjK, seti_1Mm8s8LkdIwHu7ixrCnQq5Wz (type=card_error code=card_declined)"
    )

    redacted = redact_ids(text)

    for secret in ("pm_1PqRsT2uVwXyZ3aB", "cus_9QxYzA1b2C3d4E", "card_1MvoiELkdIwH", "seti_1Mm8"):
        assert secret not in redacted
    assert "Ghfz" not in redacted and "_secret_" not in redacted
    assert "'pm_****Z3aB'" in redacted and "cus_****d4E" not in redacted
    assert "cus_****3d4E" in redacted
    assert "type=card_error code=card_declined" in redacted  # codes are not ids
    assert mask_id("pm_1PqRsT2uVwXyZ3aB") == "pm_****Z3aB"
    assert mask_id("pm_short") == "pm_****" and mask_id(None) == "-"


async def test_processor_ids_in_the_processor_s_error_texts_are_masked(
    stripe: FakeStripe, gateway: StripeGateway
) -> None:
    on = await stored(gateway)
    gone = StoredCard("pm_1PqRsT2uVwXyZ3aB", on.customer_ref, "visa", "4242", 12, EXP_YEAR)

    with pytest.raises(DeliveryError) as unknown:  # "No such PaymentMethod: 'pm_...'"
        await charge(gateway, gone, "invoice-12-attempt-1")
    stripe.fail_next(500, message=f"trouble with {on.token} of {on.customer_ref}")
    with pytest.raises(DeliveryError) as failed:
        await charge(gateway, on, "invoice-13-attempt-1")
    stripe.fail_next(402, type="card_error", code="card_declined", message=f"no {on.token}")
    declined = await charge(gateway, on, "invoice-14-attempt-1")

    assert "pm_****Z3aB" in str(unknown.value)
    for text in (str(unknown.value), str(failed.value), declined.message or ""):
        for secret in (gone.token, on.token, on.customer_ref):
            assert secret not in text, text


async def test_nothing_logged_contains_a_processor_id_unmasked(
    stripe: FakeStripe, gateway: StripeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    on = await stored(gateway)
    result = await charge(gateway, on, "invoice-15-attempt-1")
    await gateway.detach_card(on.token, idempotency_key="detach-15")
    await gateway.detach_card(on.token, idempotency_key="detach-16")  # not attached any more
    await gateway.detach_card("pm_1PqRsT2uVwXyZ3aB", idempotency_key="detach-17")  # unknown

    assert caplog.records
    for secret in (on.token, on.customer_ref, result.reference or "?", "pm_1PqRsT2uVwXyZ3aB"):
        assert secret not in caplog.text, secret
    assert mask_id(on.token) in caplog.text
