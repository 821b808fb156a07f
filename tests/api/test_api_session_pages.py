"""``GET /api/sessions`` pages, filters by date, and shows running sessions' progress
(issue 18 item 13), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from csms.domain.billing.tariffs import add_tariff, assign_tariff
from storage.database import Database
from tests.api.conftest import NOW, Api, add_charger_for, add_session


@pytest.fixture
async def sqlite_db(db: Database) -> Database:
    """The ``api`` fixture over each database kind."""
    return db


async def _page(api: Api, **params: Any) -> tuple[list[dict[str, Any]], str | None]:
    response = await api.operator.get("/api/sessions", params=params)
    assert response.status_code == 200, response.text
    return response.json(), response.headers.get("X-Next-Before")


async def test_sessions_are_paged_with_a_cursor_until_none_are_left(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    ids = [await add_session(api.db, "CP1", stop=True, minute=m) for m in (0, 10, 20, 30)]
    # two sessions starting at the same moment are ordered too (by id)
    ids.append(await add_session(api.db, "CP1", stop=True, minute=30, connector_id=2))
    expected = sorted(ids, key=lambda i: (ids.index(i) >= 3, i), reverse=True)

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["before"] = cursor
        rows, cursor = await _page(api, **params)
        pages += 1
        seen += [row["id"] for row in rows]
        if cursor is None:
            break
        assert cursor == str(rows[-1]["id"])
        assert len(rows) == 2
    assert pages == 3
    assert seen == expected


async def test_the_next_page_link_keeps_the_filters(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    for minute in (0, 1, 2):
        await add_session(api.db, "CP1", stop=True, minute=minute)
    response = await api.operator.get("/api/sessions", params={"limit": 1, "charger": "CP1"})
    link = response.headers["Link"]
    assert 'rel="next"' in link and "charger=CP1" in link and "limit=1" in link
    assert f"before={response.headers['X-Next-Before']}" in link
    # exactly as many as asked for: no next page
    _, cursor = await _page(api, limit=3)
    assert cursor is None


async def test_sessions_are_filtered_by_their_start_date(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    day_one = await add_session(api.db, "CP1", stop=True, minute=0)
    day_two = await add_session(api.db, "CP1", stop=True, minute=24 * 60)
    day = NOW.date().isoformat()
    rows, _ = await _page(api, **{"from": day, "to": day})
    assert [r["id"] for r in rows] == [day_one]
    rows, _ = await _page(api, **{"from": NOW.replace(hour=23).isoformat()})
    assert [r["id"] for r in rows] == [day_two]
    bad = await api.operator.get("/api/sessions", params={"from": "yesterday"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


async def test_an_active_session_shows_its_energy_and_cost_so_far(api: Api) -> None:
    await add_charger_for(api.db, "CP1")

    def tariff(uow: Any) -> None:
        add_tariff(uow, name="std", per_kwh="0.40", now=NOW)
        assign_tariff(uow, "std", charger_id=None, now=NOW)

    await api.db.write(tariff)
    running = await add_session(api.db, "CP1", minute=1)  # 1000 Wh at start, 1500 Wh later
    done = await add_session(api.db, "CP1", stop=True, minute=0, connector_id=2)

    rows, _ = await _page(api)
    by_id = {r["id"]: r for r in rows}
    assert by_id[running]["energy_so_far_wh"] == 500
    assert by_id[running]["cost_so_far"] == {"amount": "0.20", "currency": "EUR"}
    assert by_id[running]["energy_wh"] is None and by_id[running]["cost"] is None
    assert "energy_so_far_wh" not in by_id[done] and "cost_so_far" not in by_id[done]

    shown = (await api.operator.get(f"/api/sessions/{running}")).json()
    assert shown["energy_so_far_wh"] == 500
    assert shown["cost_so_far"] == {"amount": "0.20", "currency": "EUR"}
