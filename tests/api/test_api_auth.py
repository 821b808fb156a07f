"""Bearer-token authentication and role checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from csms.domain.security.tokens import create_token
from storage.sql import tables as t
from tests.api.conftest import NOW, Api, add_charger_for, add_session


async def test_health_needs_no_token(api: Api) -> None:
    response = await api.anonymous.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_missing_token_is_401_with_bearer_challenge_and_hint(api: Api) -> None:
    response = await api.anonymous.get("/api/chargers")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "csms token create" in response.json()["error"]


async def test_unknown_token_is_401(api: Api) -> None:
    async with api.client("csms_not-a-real-token") as client:
        response = await client.get("/api/chargers")
    assert response.status_code == 401
    assert "invalid or revoked" in response.json()["error"]


async def test_non_bearer_scheme_is_401(api: Api) -> None:
    async with api.client(None) as client:
        response = await client.get("/api/chargers", headers={"Authorization": "Basic eDp5"})
    assert response.status_code == 401


async def test_revoked_token_is_401(api: Api) -> None:
    _, token = await api.db.write(
        lambda uow: create_token(uow, name="temp", role="operator", now=NOW)
    )
    async with api.client(token) as client:
        assert (await client.get("/api/chargers")).status_code == 200
        await api.db.write(
            lambda uow: uow.conn.execute(
                update(t.api_tokens)
                .where(t.api_tokens.c.name == "temp")
                .values(revoked_at=datetime.now(UTC))
            )
        )
        assert (await client.get("/api/chargers")).status_code == 401


async def test_successful_request_records_last_use(api: Api) -> None:
    await api.operator.get("/api/chargers")
    tokens = await api.db.read(
        lambda uow: (
            uow.conn.execute(t.api_tokens.select().where(t.api_tokens.c.name == "operator"))
            .mappings()
            .all()
        )
    )
    assert tokens[0]["last_used_at"] is not None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/chargers", {"id": "CPX"}),
        ("DELETE", "/api/chargers/CP-ACME", None),
        ("POST", "/api/chargers/CP-ACME/reset", {"type": "soft"}),
        ("POST", "/api/sessions/start", {"charger_id": "CP-ACME", "id_tag": "T"}),
        ("GET", "/api/customers", None),
        ("GET", "/api/cards", None),
        ("GET", "/api/owners", None),
    ],
)
async def test_owner_token_cannot_change_anything_or_see_drivers(
    api: Api, method: str, path: str, body: dict[str, str] | None
) -> None:
    await add_charger_for(api.db, "CP-ACME", owner="ACME")
    response = await api.owner.request(method, path, json=body)
    assert response.status_code == 403
    assert "owner token cannot do this" in response.json()["error"]


async def test_operator_token_cannot_add_owners(api: Api) -> None:
    response = await api.operator.post("/api/owners", json={"name": "New"})
    assert response.status_code == 403
    assert "admin" in response.json()["error"]


async def test_owner_token_sees_only_its_own_chargers(api: Api) -> None:
    await add_charger_for(api.db, "CP-ACME", owner="ACME")
    await add_charger_for(api.db, "CP-OTHER", owner="Other")
    await add_charger_for(api.db, "CP-NONE")
    listed = (await api.owner.get("/api/chargers")).json()
    assert [c["id"] for c in listed] == ["CP-ACME"]
    assert (await api.owner.get("/api/chargers/CP-ACME")).status_code == 200
    hidden = await api.owner.get("/api/chargers/CP-OTHER")
    assert hidden.status_code == 404  # not 403: other owners' charger ids stay unknown
    assert len((await api.admin.get("/api/chargers")).json()) == 3


async def test_owner_token_sees_only_its_chargers_sessions_without_card_uids(api: Api) -> None:
    await add_charger_for(api.db, "CP-ACME", owner="ACME")
    await add_charger_for(api.db, "CP-OTHER", owner="Other")
    mine = await add_session(api.db, "CP-ACME", id_tag="CARD-A")
    theirs = await add_session(api.db, "CP-OTHER", id_tag="CARD-B")
    listed = (await api.owner.get("/api/sessions")).json()
    assert [s["id"] for s in listed] == [mine]
    assert "id_tag" not in listed[0]
    shown = await api.owner.get(f"/api/sessions/{mine}")
    assert shown.status_code == 200 and "id_tag" not in shown.json()
    assert (await api.owner.get(f"/api/sessions/{theirs}")).status_code == 404
    # Filtering by another owner's charger does not widen the scope.
    assert (await api.owner.get("/api/sessions", params={"charger": "CP-OTHER"})).json() == []
    # Operators see the card UID.
    assert (await api.operator.get(f"/api/sessions/{theirs}")).json()["id_tag"] == "CARD-B"


async def test_openapi_document_lists_the_endpoints(api: Api) -> None:
    response = await api.anonymous.get("/api/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/chargers", "/api/chargers/{charger_id}/reset", "/api/sessions/start"} <= set(
        paths
    )
