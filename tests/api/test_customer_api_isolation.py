"""One customer's token never reads or changes another customer's data.

Two customers, Ann and Bob, each with a card, a favorite, an ended and a running session.
Every ``/api/app`` route that takes an id answers 404 for Bob's ids on Ann's token — the
same answer as for an id that does not exist — and changes nothing; nothing Ann's token
reads ever holds anything of Bob's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from csms.domain.charging.stations import add_charger
from simulators import ChargePoint16, ChargingPlan
from tests.api.conftest import add_charger_for, add_session
from tests.api.test_customer_api import PASSWORD, AppCustomer, AppUsers

ANN_CARD = "04ANNCARD0001"
BOB_CARD = "04BOBCARD0002"
#: an id that no session or card has
NO_SUCH_ID = 987_654


@dataclass
class Holdings:
    """What one customer has: card id and session ids."""

    customer: AppCustomer
    card_id: int
    ended_session: int
    running_session: int


@dataclass
class TwoCustomers:
    users: AppUsers
    ann: Holdings
    bob: Holdings


async def _holdings(
    users: AppUsers, customer: AppCustomer, uid: str, *, connector_id: int, minute: int
) -> Holdings:
    db = users.server.db
    card = await customer.app.post("/api/app/me/cards", json={"uid": uid})
    assert card.status_code == 201, card.text
    await customer.app.put("/api/app/me/favorites/CP-" + uid[2:5])
    ended = await add_session(db, "CP1", id_tag=uid, stop=True, connector_id=connector_id)
    running = await add_session(db, "CP1", id_tag=uid, connector_id=connector_id, minute=minute)
    return Holdings(customer, card.json()["id"], ended, running)


@pytest.fixture
async def two(csms_server: Any) -> AsyncIterator[TwoCustomers]:
    async with AppUsers.open(csms_server) as users:
        for charger_id in ("CP1", "CP-ANN", "CP-BOB"):
            await add_charger_for(csms_server.db, charger_id)
        ann = await users.register(
            name="Ann Aardvark", email="ann@example.com", phone="+4930100001"
        )
        bob = await users.register(
            name="Bob Bobolink",
            email="bob@example.com",
            phone="+4930200002",
            address="Bobstreet 2",
            vehicle="Tesla/Model 3/2022",
        )
        yield TwoCustomers(
            users,
            await _holdings(users, ann, ANN_CARD, connector_id=1, minute=10),
            await _holdings(users, bob, BOB_CARD, connector_id=2, minute=20),
        )


def _same_answer(one: Any, other: Any, *, ids: tuple[int, int]) -> bool:
    """Whether two 404 answers say the same thing once the id in them is set aside."""
    return bool(
        one.json()["error"].replace(str(ids[0]), "ID")
        == other.json()["error"].replace(str(ids[1]), "ID")
    )


async def _bob_as_stored(two: TwoCustomers) -> tuple[Any, ...]:
    bob = two.bob

    def load(uow: Any) -> tuple[Any, ...]:
        customer = uow.customers.by_number(bob.customer.number)
        return (
            customer,
            uow.id_tags.by_uid(BOB_CARD),
            uow.transactions.by_pk(bob.ended_session),
            uow.transactions.by_pk(bob.running_session),
            uow.favorites.list(customer.id),
            uow.customer_tokens.list(customer.id),
        )

    return await two.users.server.db.read(load)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/app/me/sessions/{ended_session}"),
        ("GET", "/api/app/me/sessions/{running_session}"),
        ("POST", "/api/app/me/sessions/{running_session}/stop"),
        ("POST", "/api/app/me/sessions/{ended_session}/stop"),
        ("POST", "/api/app/me/cards/{card_id}/block"),
    ],
)
async def test_customer_gets_404_for_another_customers_ids_and_nothing_changes(
    two: TwoCustomers, method: str, path: str
) -> None:
    bob = two.bob
    before = await _bob_as_stored(two)
    ids = {
        "ended_session": bob.ended_session,
        "running_session": bob.running_session,
        "card_id": bob.card_id,
    }
    name = path.split("{")[1].split("}")[0]
    response = await two.ann.customer.app.request(method, path.format(**ids))
    assert response.status_code == 404, response.text
    absent = await two.ann.customer.app.request(method, path.format(**{name: NO_SUCH_ID}))
    assert absent.status_code == 404
    assert _same_answer(response, absent, ids=(ids[name], NO_SUCH_ID))
    assert await _bob_as_stored(two) == before
    for secret in ("Bob", "bob@example.com", str(bob.customer.number), BOB_CARD[-4:]):
        assert secret not in response.text


async def test_customer_reads_only_their_own_data_on_every_reading_route(
    two: TwoCustomers,
) -> None:
    ann, bob = two.ann, two.bob
    app = ann.customer.app
    seen = len(two.users.answers)
    sessions = (await app.get("/api/app/me/sessions")).json()
    assert {s["id"] for s in sessions} == {ann.ended_session, ann.running_session}
    assert {s["customer_number"] for s in sessions} == {ann.customer.number}
    cards = (await app.get("/api/app/me/cards")).json()
    assert [c["id"] for c in cards] == [ann.card_id]
    favorites = (await app.get("/api/app/me/favorites")).json()
    assert [f["charger_id"] for f in favorites] == ["CP-ANN"]
    me = (await app.get("/api/app/me")).json()
    assert me["customer_number"] == ann.customer.number and me["name"] == "Ann Aardvark"
    export = (await app.get("/api/app/me/export")).json()
    assert {s["id"] for s in export["sessions"]} == {ann.ended_session, ann.running_session}
    assert [c["uid"] for c in export["cards"]] == ["****0001"]
    assert [f["charger_id"] for f in export["favorites"]] == ["CP-ANN"]
    assert len(export["app_logins"]) == 1

    everything = "\n".join(two.users.answers[seen:])
    assert len(two.users.answers) - seen == 5
    for secret in (
        "Bob Bobolink",
        "bob@example.com",
        "+4930200002",
        "Bobstreet",
        "Tesla",
        str(bob.customer.number),
        "****0002",
        "CP-BOB",
    ):
        assert secret not in everything, secret


async def test_customer_cannot_take_over_another_customers_card_email_or_phone(
    two: TwoCustomers,
) -> None:
    app = two.ann.customer.app
    before = await _bob_as_stored(two)
    card = await app.post("/api/app/me/cards", json={"uid": BOB_CARD})
    email = await app.patch("/api/app/me", json={"email": "bob@example.com"})
    phone = await app.patch("/api/app/me", json={"phone": "+49 30 200002"})
    assert (card.status_code, email.status_code, phone.status_code) == (409, 409, 409)
    assert await _bob_as_stored(two) == before
    me = (await app.get("/api/app/me")).json()
    assert (me["email"], me["phone"]) == ("ann@example.com", "+4930100001")


async def test_removing_a_favorite_touches_only_the_callers_favorites(
    two: TwoCustomers,
) -> None:
    app = two.ann.customer.app
    removed = await app.delete("/api/app/me/favorites/CP-BOB")
    assert removed.json() == {"charger_id": "CP-BOB", "removed": False}
    bob = (await two.bob.customer.app.get("/api/app/me/favorites")).json()
    assert [f["charger_id"] for f in bob] == ["CP-BOB"]


async def test_changes_through_one_token_stay_with_that_customer(two: TwoCustomers) -> None:
    bob_before = (await two.bob.customer.app.get("/api/app/me")).json()
    app = two.ann.customer.app
    await app.patch("/api/app/me", json={"name": "Ann Changed", "vehicle": "Kia/EV6/2023"})
    await app.put("/api/app/me/pin", json={"current_password": PASSWORD, "pin": "4826"})
    await app.put("/api/app/me/marketing", json={"opt_in": True})
    await app.put("/api/app/me/notifications", json={"notify": ["sms"]})
    await app.put(
        "/api/app/me/password",
        json={"current_password": PASSWORD, "new_password": "ann's new secret"},
    )
    await app.post(f"/api/app/me/cards/{two.ann.card_id}/block")
    assert (await two.bob.customer.app.get("/api/app/me")).json() == bob_before
    bob_cards = (await two.bob.customer.app.get("/api/app/me/cards")).json()
    assert [c["status"] for c in bob_cards] == ["active"]


async def test_deleting_an_account_leaves_the_other_customer_untouched(
    two: TwoCustomers,
) -> None:
    app = two.ann.customer.app
    await two.users.server.db.write(
        lambda uow: uow.transactions.update(two.ann.running_session, status="completed")
    )
    deleted = await app.request("DELETE", "/api/app/me", json={"password": PASSWORD})
    assert deleted.status_code == 200, deleted.text
    bob = await _bob_as_stored(two)
    customer, card, _, running, favorites, tokens = bob
    assert customer.name == "Bob Bobolink" and customer.erased_at is None
    assert card is not None and running.id_tag == BOB_CARD
    assert favorites and tokens
    assert (await two.bob.customer.app.get("/api/app/me")).status_code == 200


async def test_customer_cannot_stop_another_customers_session_on_a_live_charger(
    csms_server: Any,
) -> None:
    """With a real charger online, a foreign stop never reaches it."""
    from datetime import UTC, datetime

    _, password = await csms_server.db.write(
        lambda uow: add_charger(uow, charger_id="LIVE1", now=datetime.now(UTC), password=None)
    )
    async with (
        AppUsers.open(csms_server) as users,
        ChargePoint16(
            url=csms_server.ocpp_url,
            identity="LIVE1",
            password=str(password),
            speed=60,
            meter_interval=60,
            charging_plan=ChargingPlan(energy_wh=50_000, power_w=11_000),
        ) as cp,
    ):
        await cp.boot()
        bob = await users.register(name="Bob", email="bob@example.com")
        ann = await users.register(name="Ann", email="ann@example.com")
        started = await bob.app.post("/api/app/me/sessions", json={"charger_id": "LIVE1"})
        assert started.status_code == 200, started.text
        for _ in range(200):
            running = (await bob.app.get("/api/app/me/sessions", params={"active": "true"})).json()
            if running:
                break
            await asyncio.sleep(0.05)
        (session,) = running
        refused = await ann.app.post(f"/api/app/me/sessions/{session['id']}/stop")
        assert refused.status_code == 404
        await asyncio.sleep(0.2)
        received = [r.action for r in cp.history if r.direction == "received" and r.kind == "call"]
        assert "RemoteStopTransaction" not in received
        still = (await bob.app.get(f"/api/app/me/sessions/{session['id']}")).json()
        assert still["status"] == "active"
        stopped = await bob.app.post(f"/api/app/me/sessions/{session['id']}/stop")
        assert stopped.json()["status"] == "Accepted"
