"""``/api/customers``, ``/api/cards``, ``/api/owners``."""

from __future__ import annotations

from tests.api.conftest import Api, add_charger_for


async def _customer(api: Api, name: str = "Ann", email: str = "ann@example.com") -> int:
    response = await api.operator.post("/api/customers", json={"name": name, "email": email})
    assert response.status_code == 201, response.text
    return int(response.json()["customer_number"])


async def test_customer_add_list_show(api: Api) -> None:
    number = await _customer(api)
    assert 10_000_000 <= number <= 99_999_999
    listed = (await api.operator.get("/api/customers")).json()
    assert [(c["customer_number"], c["name"], c["email"]) for c in listed] == [
        (number, "Ann", "ann@example.com")
    ]
    shown = (await api.operator.get(f"/api/customers/{number}")).json()
    assert shown["email"] == "ann@example.com" and shown["name"] == "Ann"


async def test_customer_with_bad_email_is_400_and_says_the_expected_shape(api: Api) -> None:
    response = await api.operator.post("/api/customers", json={"name": "A", "email": "ann@"})
    assert response.status_code == 400
    assert "name@example.com" in response.json()["error"]


async def test_unknown_customer_is_404(api: Api) -> None:
    response = await api.operator.get("/api/customers/10000000")
    assert response.status_code == 404
    assert "csms customers list" in response.json()["error"]


async def test_card_add_with_customer_and_expiry(api: Api) -> None:
    number = await _customer(api)
    response = await api.operator.post(
        "/api/cards", json={"uid": "04A1B2", "customer_number": number, "expires": "2099-12-31"}
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "uid": "04A1B2",
        "status": "active",
        "expires_at": "2099-12-31T23:59:59Z",
        "customer_number": number,
        "created_at": response.json()["created_at"],
        "group": None,
    }
    listed = (await api.operator.get("/api/cards")).json()
    assert [c["uid"] for c in listed] == ["04A1B2"]
    assert (await api.operator.get("/api/cards/04A1B2")).json()["customer_number"] == number


async def test_card_list_filters_by_customer(api: Api) -> None:
    ann = await _customer(api)
    bob = await _customer(api, "Bob", "bob@example.com")
    await api.operator.post("/api/cards", json={"uid": "ANN", "customer_number": ann})
    await api.operator.post("/api/cards", json={"uid": "BOB", "customer_number": bob})
    listed = (await api.operator.get("/api/cards", params={"customer": bob})).json()
    assert [c["uid"] for c in listed] == ["BOB"]


async def test_card_block_and_unblock(api: Api) -> None:
    await api.operator.post("/api/cards", json={"uid": "C1"})
    blocked = await api.operator.post("/api/cards/C1/block")
    assert blocked.status_code == 200 and blocked.json()["status"] == "blocked"
    stored = await api.db.read(lambda uow: uow.id_tags.by_uid("C1"))
    assert stored is not None and stored.status == "blocked"
    unblocked = await api.operator.post("/api/cards/C1/unblock")
    assert unblocked.json()["status"] == "active"


async def test_card_errors(api: Api) -> None:
    await api.operator.post("/api/cards", json={"uid": "C1"})
    duplicate = await api.operator.post("/api/cards", json={"uid": "C1"})
    assert duplicate.status_code == 409
    unknown_customer = await api.operator.post(
        "/api/cards", json={"uid": "C2", "customer_number": 10000000}
    )
    assert unknown_customer.status_code == 404
    bad_date = await api.operator.post("/api/cards", json={"uid": "C3", "expires": "31.12.2030"})
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.json()["error"]
    past = await api.operator.post("/api/cards", json={"uid": "C4", "expires": "2001-01-01"})
    assert past.status_code == 400 and "in the past" in past.json()["error"]
    missing = await api.operator.post("/api/cards/NOPE/block")
    assert missing.status_code == 404 and "csms cards list" in missing.json()["error"]


async def test_owner_add_and_list_with_charger_counts(api: Api) -> None:
    response = await api.admin.post("/api/owners", json={"name": "Parking Co"})
    assert response.status_code == 201
    assert response.json()["name"] == "Parking Co"
    await add_charger_for(api.db, "CP1", owner="Parking Co")
    await add_charger_for(api.db, "CP2", owner="Parking Co")
    listed = {o["name"]: o["chargers"] for o in (await api.operator.get("/api/owners")).json()}
    assert listed == {"ACME": 0, "Other": 0, "Parking Co": 2}


async def test_owner_add_twice_is_409(api: Api) -> None:
    response = await api.admin.post("/api/owners", json={"name": "ACME"})
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]
