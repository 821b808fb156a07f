"""Archived chargers in ``/api/chargers`` (issue 18 item 13), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from storage.database import Database
from tests.api.conftest import Api, add_charger_for, add_session


@pytest.fixture
async def sqlite_db(db: Database) -> Database:
    """The ``api`` fixture over each database kind."""
    return db


async def _ids(api: Api, client: str = "operator", **params: str) -> list[str]:
    response = await getattr(api, client).get("/api/chargers", params=params)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()]


async def test_archiving_hides_a_charger_from_the_list_until_it_is_unarchived(api: Api) -> None:
    await add_charger_for(api.db, "CP1", owner="ACME")
    await add_charger_for(api.db, "CP2", owner="ACME")
    session = await add_session(api.db, "CP1", stop=True)

    refused = await api.operator.delete("/api/chargers/CP1")
    assert refused.status_code == 409 and "csms chargers archive CP1" in refused.text

    archived = await api.operator.post("/api/chargers/CP1/archive")
    assert archived.status_code == 200 and archived.json()["archived_at"] is not None
    assert await _ids(api) == ["CP2"]
    assert await _ids(api, "owner") == ["CP2"]
    assert await _ids(api, archived="only") == ["CP1"]
    assert await _ids(api, archived="include") == ["CP1", "CP2"]
    assert (await api.operator.get(f"/api/sessions/{session}")).status_code == 200
    assert (await api.owner.post("/api/chargers/CP2/archive")).status_code == 403

    unarchived = await api.operator.post("/api/chargers/CP1/unarchive")
    assert unarchived.status_code == 200 and unarchived.json()["archived_at"] is None
    assert await _ids(api) == ["CP1", "CP2"]
