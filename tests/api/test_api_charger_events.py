"""``GET /api/chargers/{id}/events``: security events and connections, newest first, paged."""

from __future__ import annotations

from datetime import timedelta

from csms.domain.security.events import record_security_event
from storage.ports import UnitOfWork
from tests.api.conftest import NOW, Api, add_charger_for


async def _history(api: Api) -> None:
    await add_charger_for(api.db, "CP1")

    def write(uow: UnitOfWork) -> None:
        uow.connection_log.add(charger_id="CP1", remote_address="192.0.2.1", connected_at=NOW)
        record_security_event(
            uow,
            charger_id="CP1",
            payload={"type": "SettingSystemTime", "timestamp": NOW.isoformat()},
            now=NOW + timedelta(hours=1),
        )
        uow.security_events.add(
            kind="charger_auth_throttled",
            details={"source": "192.0.2.9", "rate": "10/min"},
            created_at=NOW + timedelta(days=1),
            charger_id="CP1",
        )

    await api.db.write(write)


async def test_events_are_listed_newest_first_with_their_kind(api: Api) -> None:
    await _history(api)
    response = await api.operator.get("/api/chargers/CP1/events")
    assert response.status_code == 200, response.text
    assert [(e["kind"], e["type"], e["source"]) for e in response.json()] == [
        ("security", "charger_auth_throttled", "csms"),
        ("security", "SettingSystemTime", "charger"),
        ("connection", "Connected", "csms"),
    ]
    assert "X-Next-Before" not in response.headers


async def test_security_true_shows_only_security_events(api: Api) -> None:
    await _history(api)
    response = await api.operator.get("/api/chargers/CP1/events", params={"security": "true"})
    assert {e["kind"] for e in response.json()} == {"security"}


async def test_since_a_date_keeps_what_happened_from_that_day_on(api: Api) -> None:
    await _history(api)
    day = (NOW + timedelta(days=1)).date().isoformat()
    response = await api.operator.get("/api/chargers/CP1/events", params={"since": day})
    assert [e["type"] for e in response.json()] == ["charger_auth_throttled"]


async def test_a_bad_since_is_400_saying_the_format(api: Api) -> None:
    await _history(api)
    response = await api.operator.get("/api/chargers/CP1/events", params={"since": "yesterday"})
    assert response.status_code == 400
    assert "use YYYY-MM-DD or an ISO 8601 date-time" in response.json()["error"]


async def test_a_full_page_names_the_next_one(api: Api) -> None:
    await _history(api)
    first = await api.operator.get("/api/chargers/CP1/events", params={"limit": 2})
    assert len(first.json()) == 2
    cursor = first.headers["X-Next-Before"]
    assert first.headers["Link"].endswith('rel="next"') and cursor in first.headers["Link"]
    rest = await api.operator.get("/api/chargers/CP1/events", params={"limit": 2, "before": cursor})
    assert [e["type"] for e in rest.json()] == ["Connected"]
    assert "X-Next-Before" not in rest.headers


async def test_a_bad_cursor_is_400(api: Api) -> None:
    await _history(api)
    response = await api.operator.get("/api/chargers/CP1/events", params={"before": "page2"})
    assert response.status_code == 400
    assert "X-Next-Before" in response.json()["error"]


async def test_a_limit_over_1000_is_refused(api: Api) -> None:
    await _history(api)
    response = await api.operator.get("/api/chargers/CP1/events", params={"limit": 1001})
    assert response.status_code == 422


async def test_events_of_an_unknown_charger_are_404(api: Api) -> None:
    response = await api.operator.get("/api/chargers/NOPE/events")
    assert response.status_code == 404
    assert "charger NOPE not found" in response.json()["error"]


async def test_an_owner_token_does_not_see_connection_addresses(api: Api) -> None:
    await _history(api)
    response = await api.owner.get("/api/chargers/CP1/events")
    assert response.status_code == 403
