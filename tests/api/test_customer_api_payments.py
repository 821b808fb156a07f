"""Payment cards in the customer API, against a Stripe-shaped processor on 127.0.0.1: the
number and CVC go to the processor and nowhere else (SPEC "Personal data"); only its
token (encrypted), the brand and the last 4 digits are kept; removal and erasure detach
the card at the processor; one customer never touches another's card."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from csms.config import Settings
from csms.server import running_server
from tests.api.test_customer_api import PASSWORD, AppUsers
from tests.fakes.payment_processor import FakeStripe
from tests.waiting import eventually

NUMBER = "4242424242424242"
#: The thread the fake processor serves from (tests.fakes.http_server).
FAKE_SERVER_THREAD = "fake-http"
CARD = {"number": NUMBER, "exp_month": 9, "exp_year": 2032, "cvc": "123"}


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
async def paying(
    settings_factory: Callable[..., Settings], stripe: FakeStripe
) -> AsyncIterator[AppUsers]:
    settings = settings_factory(payment_url=stripe.url, payment_key=stripe.key)
    async with running_server(settings) as server, AppUsers.open(server) as users:
        yield users


def _stored_bytes(home: Path) -> str:
    return b"".join(p.read_bytes() for p in home.glob("csms.sqlite3*") if p.is_file()).decode(
        "latin-1"
    )


async def test_a_card_goes_to_the_processor_and_only_token_brand_and_last4_are_kept(
    paying: AppUsers, stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    ann = await paying.register()
    added = await ann.app.post("/api/app/me/payment-cards", json=CARD)
    assert added.status_code == 201, added.text
    card = added.json()
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (
        "visa",
        "4242",
        9,
        2032,
    )
    assert "token" not in card
    listed = (await ann.app.get("/api/app/me/payment-cards")).json()
    assert [c["id"] for c in listed] == [card["id"]]
    # the processor got the number; csms kept its token, encrypted
    assert any(NUMBER.encode() in body for body in stripe.raw_bodies)
    [(token, method)] = stripe.payment_methods.items()
    server = paying.server
    customer = await server.db.read(lambda uow: uow.customers.by_number(ann.number))
    [stored] = await server.db.read(lambda uow: uow.payment_methods.list(customer.id))
    assert (stored.token, stored.customer_ref) == (token, method["customer"])
    stored_text = _stored_bytes(server.settings.home)
    for secret in (NUMBER, NUMBER[-12:], token):
        assert secret not in stored_text, secret
    assert "cvc" not in stored_text.lower()
    assert NUMBER not in caplog.text and "cvc" not in caplog.text.lower()
    # nor the processor's ids (with the secret key, a token can be charged): in what csms
    # logged, that is, not counting the fake processor's own access log
    logged = "\n".join(r.getMessage() for r in caplog.records if r.threadName != FAKE_SERVER_THREAD)
    assert "payment method pm_****" in logged
    for secret in (token, method["customer"]):
        assert secret not in logged, secret
    assert not paying.saw(NUMBER) and not paying.saw(token)


async def test_a_card_added_again_with_the_same_idempotency_key_is_kept_once(
    paying: AppUsers, stripe: FakeStripe
) -> None:
    """The answer to the first request got lost; the app sends it again with its key."""
    ann = await paying.register()
    headers = {"Idempotency-Key": "add-card-7f3a"}
    first = await ann.app.post("/api/app/me/payment-cards", json=CARD, headers=headers)
    again = await ann.app.post("/api/app/me/payment-cards", json=CARD, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert len(stripe.payment_methods) == 1  # the processor replayed its answer
    listed = (await ann.app.get("/api/app/me/payment-cards")).json()
    assert [c["id"] for c in listed] == [first.json()["id"]]
    customer = await paying.server.db.read(lambda uow: uow.customers.by_number(ann.number))
    methods = await paying.server.db.read(
        lambda uow: uow.payment_methods.list(customer.id, active_only=False)
    )
    assert len(methods) == 1


async def test_the_processor_s_customer_is_reused_for_a_second_card(
    paying: AppUsers, stripe: FakeStripe
) -> None:
    ann = await paying.register()
    for number in (NUMBER, "5555555555554444"):
        response = await ann.app.post("/api/app/me/payment-cards", json={**CARD, "number": number})
        assert response.status_code == 201, response.text
    assert len(stripe.customers) == 1
    cards = (await ann.app.get("/api/app/me/payment-cards")).json()
    assert [c["brand"] for c in cards] == ["mastercard", "visa"]  # newest first: charged


async def test_a_declined_card_is_refused_and_nothing_is_kept(
    paying: AppUsers, stripe: FakeStripe
) -> None:
    ann = await paying.register()
    declined = await ann.app.post(
        "/api/app/me/payment-cards", json={**CARD, "number": "4000000000000002"}
    )
    assert declined.status_code == 402
    assert declined.json()["error"].startswith("the card was declined")
    assert (await ann.app.get("/api/app/me/payment-cards")).json() == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"number": "4242424242424241"}, "card number"),
        ({"cvc": "12"}, "CVC"),
        ({"exp_year": 2020}, "expired"),
    ],
)
async def test_an_invalid_card_is_refused_before_it_reaches_the_processor(
    paying: AppUsers, stripe: FakeStripe, change: dict[str, Any], problem: str
) -> None:
    ann = await paying.register()
    before = len(stripe.requests_seen)
    refused = await ann.app.post("/api/app/me/payment-cards", json={**CARD, **change})
    assert refused.status_code == 422
    assert problem.lower() in refused.json()["error"].lower()
    assert NUMBER not in refused.text and "4242424242424241" not in refused.text
    assert len(stripe.requests_seen) == before


async def test_without_a_payment_processor_cards_cannot_be_added(csms_server: Any) -> None:
    async with AppUsers.open(csms_server) as users:
        ann = await users.register()
        refused = await ann.app.post("/api/app/me/payment-cards", json=CARD)
    assert refused.status_code == 503
    assert "card payments are not available" in refused.json()["error"]


async def test_a_processor_that_is_down_answers_503_and_keeps_nothing(
    paying: AppUsers, stripe: FakeStripe
) -> None:
    ann = await paying.register()
    stripe.fail_next(503)
    refused = await ann.app.post("/api/app/me/payment-cards", json=CARD)
    assert refused.status_code == 503 and "try again" in refused.json()["error"]
    assert (await ann.app.get("/api/app/me/payment-cards")).json() == []


async def test_a_removed_card_is_detached_at_the_processor_then_its_token_deleted(
    paying: AppUsers, stripe: FakeStripe
) -> None:
    ann = await paying.register()
    card = (await ann.app.post("/api/app/me/payment-cards", json=CARD)).json()
    removed = await ann.app.delete(f"/api/app/me/payment-cards/{card['id']}")
    assert removed.status_code == 200 and removed.json()["status"] == "removed"
    assert (await ann.app.get("/api/app/me/payment-cards")).json() == []
    db = paying.server.db
    await eventually(lambda: db.read(lambda uow: uow.payment_methods.get(card["id"]) is None))
    detached = [r for r in stripe.requests_seen if r.path.endswith("/detach")]
    assert len(detached) == 1
    [(_, method)] = stripe.payment_methods.items()
    assert method["customer"] is None


async def test_another_customer_s_card_cannot_be_removed(
    paying: AppUsers, stripe: FakeStripe
) -> None:
    ann = await paying.register()
    bob = await paying.register(name="Bob Bobolink", email="bob@example.com")
    bobs = (await bob.app.post("/api/app/me/payment-cards", json=CARD)).json()
    refused = await ann.app.delete(f"/api/app/me/payment-cards/{bobs['id']}")
    absent = await ann.app.delete("/api/app/me/payment-cards/987654")
    assert refused.status_code == absent.status_code == 404
    assert refused.json()["error"].replace(str(bobs["id"]), "ID") == absent.json()["error"].replace(
        "987654", "ID"
    )
    assert [c["id"] for c in (await bob.app.get("/api/app/me/payment-cards")).json()] == [
        bobs["id"]
    ]


async def test_erasure_detaches_every_card_and_the_export_showed_them_masked(
    paying: AppUsers, stripe: FakeStripe
) -> None:
    ann = await paying.register()
    await ann.app.post("/api/app/me/payment-cards", json=CARD)
    exported = (await ann.app.get("/api/app/me/export")).json()
    assert [(c["brand"], c["last4"]) for c in exported["payment_cards"]] == [("visa", "4242")]
    assert NUMBER not in str(exported)
    deleted = await ann.app.request("DELETE", "/api/app/me", json={"password": PASSWORD})
    assert deleted.status_code == 200, deleted.text
    db = paying.server.db
    customer = await db.read(lambda uow: uow.customers.by_number(ann.number))

    async def gone() -> bool:
        methods = await db.read(
            lambda uow: uow.payment_methods.list(customer.id, active_only=False)
        )
        return methods == []

    await eventually(gone)
    assert len([r for r in stripe.requests_seen if r.path.endswith("/detach")]) == 1
