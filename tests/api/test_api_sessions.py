"""``/api/sessions``: listing, filters, detail with meter values."""

from __future__ import annotations

from csms.domain.people.cards import add_card
from csms.domain.people.customers import add_customer
from tests.api.conftest import NOW, Api, add_charger_for, add_session

SPEC_SESSION_FIELDS = {
    "id",
    "charger_id",
    "connector_id",
    "transaction_id",
    "customer_number",
    "auth_method",
    "started_at",
    "stopped_at",
    "meter_start_wh",
    "meter_stop_wh",
    "energy_wh",
    "stop_reason",
    "status",
    "cost",
}


async def test_completed_session_shows_energy_and_meter_values(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    session_id = await add_session(api.db, "CP1", stop=True)
    response = await api.operator.get(f"/api/sessions/{session_id}")
    assert response.status_code == 200
    session = response.json()
    assert SPEC_SESSION_FIELDS | {"meter_values"} <= set(session)
    assert session["status"] == "completed"
    assert (session["meter_start_wh"], session["meter_stop_wh"], session["energy_wh"]) == (
        1000,
        4000,
        3000,
    )
    assert session["started_at"] == "2026-11-22T10:00:00Z"
    assert session["stopped_at"] == "2026-11-22T11:00:00Z"
    assert session["stop_reason"] == "EVDisconnected"
    assert session["auth_method"] == "card"
    assert session["cost"] is None
    assert session["meter_values"] == [
        {
            "timestamp": "2026-11-22T10:00:30Z",
            "value": "1500",
            "measurand": "Energy.Active.Import.Register",
            "phase": None,
            "unit": "Wh",
            "context": "Sample.Periodic",
            "location": "Outlet",
        }
    ]


async def test_list_is_most_recent_first_without_meter_values(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    first = await add_session(api.db, "CP1", stop=True, minute=0)
    second = await add_session(api.db, "CP1", minute=90, id_tag="CARD2")
    listed = (await api.operator.get("/api/sessions")).json()
    assert [s["id"] for s in listed] == [second, first]
    assert set(listed[0]) >= SPEC_SESSION_FIELDS
    assert "meter_values" not in listed[0]


async def test_list_filters_by_charger_active_and_limit(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    await add_charger_for(api.db, "CP2")
    done = await add_session(api.db, "CP1", stop=True)
    running = await add_session(api.db, "CP1", minute=90, id_tag="CARD2")
    other = await add_session(api.db, "CP2", id_tag="CARD3")

    async def ids(**params: str | int) -> list[int]:
        response = await api.operator.get("/api/sessions", params=params)
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()]

    assert await ids(charger="CP1") == [running, done]
    assert sorted(await ids(active="true")) == sorted([running, other])
    assert await ids(active="false") == [done]
    assert len(await ids(limit=1)) == 1


async def test_list_filters_by_customer_number(api: Api) -> None:
    await add_charger_for(api.db, "CP1")

    def customer_with_card(uow: object) -> int:
        customer = add_customer(uow, name="Ann", email="ann@example.com", now=NOW)  # type: ignore[arg-type]
        add_card(uow, uid="ANN1", customer_number=customer.customer_number, now=NOW)  # type: ignore[arg-type]
        return customer.customer_number

    number = await api.db.write(customer_with_card)
    mine = await add_session(api.db, "CP1", id_tag="ANN1", stop=True)
    await add_session(api.db, "CP1", id_tag="STRANGER", minute=90)
    listed = (await api.operator.get("/api/sessions", params={"customer": number})).json()
    assert [(s["id"], s["customer_number"]) for s in listed] == [(mine, number)]


async def test_list_by_unknown_customer_is_404(api: Api) -> None:
    response = await api.operator.get("/api/sessions", params={"customer": 12345678})
    assert response.status_code == 404
    assert "csms customers list" in response.json()["error"]


async def test_show_unknown_session_is_404(api: Api) -> None:
    response = await api.operator.get("/api/sessions/41")
    assert response.status_code == 404


async def test_show_with_non_numeric_id_is_422(api: Api) -> None:
    response = await api.operator.get("/api/sessions/abc")
    assert response.status_code == 422
    assert "session_id" in response.json()["error"]
