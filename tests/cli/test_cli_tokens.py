"""``csms token list | revoke NAME | create NAME --expires DURATION``: API tokens an operator
can see and take back, on SQLite and PostgreSQL (these commands work on the database)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from csms.config import Settings
from csms.domain.security.tokens import create_token
from csms.security import hash_token
from csms.server import CsmsServer, running_server
from storage.sql import tables as t
from tests.cli.conftest import run_cli


@pytest.fixture
async def server(
    settings_factory: Callable[..., Settings], database_url: str
) -> AsyncIterator[CsmsServer]:
    """A running csms on SQLite and on PostgreSQL."""
    async with running_server(settings_factory(database_url=database_url)) as running:
        yield running


@pytest.fixture
def env(server: CsmsServer) -> dict[str, str]:
    return {
        "CSMS_HOME": str(server.settings.home),
        "CSMS_API_URL": server.api_url,
        "CSMS_DATABASE_URL": server.settings.database.url,
    }


async def _status(server: CsmsServer, token: str) -> tuple[int, str]:
    async with httpx.AsyncClient(base_url=server.api_url) as client:
        response = await client.get("/api/chargers", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json().get("error", "") if response.is_error else ""


async def _create(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = await run_cli(env, "token", "create", *args, "--json")
    assert result.code == 0, result.err
    data: dict[str, Any] = result.json()
    return data


async def _listed(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = await run_cli(env, "token", "list", "--json")
    assert result.code == 0, result.err
    return {row["name"]: row for row in result.json()}


async def test_token_list_shows_name_role_owner_and_dates_but_never_the_token(
    server: CsmsServer, env: dict[str, str]
) -> None:
    await run_cli(env, "owners", "add", "ACME")
    ci = await _create(env, "ci", "--role", "operator")
    acme = await _create(env, "acme", "--role", "owner", "--owner", "ACME")
    rows = await _listed(env)
    assert set(rows) == {"admin", "ci", "acme"}
    assert (rows["ci"]["role"], rows["ci"]["owner"], rows["ci"]["status"]) == (
        "operator",
        None,
        "active",
    )
    assert (rows["acme"]["role"], rows["acme"]["owner"]) == ("owner", "ACME")
    assert rows["ci"]["created_at"].endswith("Z")
    assert rows["ci"]["expires_at"] is None and rows["ci"]["revoked_at"] is None
    assert set(rows["ci"]) == {
        "name",
        "role",
        "owner",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "status",
    }
    table = await run_cli(env, "token", "list")
    assert table.code == 0, table.err
    header = table.out.splitlines()[0].split()
    assert header[:3] == ["NAME", "ROLE", "OWNER"] and "EXPIRES" in header
    secrets = [ci["token"], acme["token"], server.admin_token]
    secrets += [hash_token(s) for s in secrets]
    for secret in secrets:
        assert secret not in table.out and secret not in str(rows)


async def test_a_revoked_token_gets_401_at_once(server: CsmsServer, env: dict[str, str]) -> None:
    token = (await _create(env, "ci"))["token"]
    assert (await _status(server, token))[0] == 200
    revoked = await run_cli(env, "token", "revoke", "ci")
    assert revoked.code == 0, revoked.err
    assert "revoked operator token 'ci'" in revoked.out
    code, error = await _status(server, token)
    assert code == 401
    assert "API token 'ci' was revoked" in error
    assert (await _listed(env))["ci"]["status"] == "revoked"
    # The admin token is untouched.
    assert (await _status(server, server.admin_token))[0] == 200


async def test_revoke_of_an_unknown_name_says_where_to_look(env: dict[str, str]) -> None:
    result = await run_cli(env, "token", "revoke", "nobody")
    assert result.code == 1
    assert "no token named 'nobody'" in result.err and "csms token list" in result.err


async def test_a_name_is_used_by_one_live_token_only(env: dict[str, str]) -> None:
    await _create(env, "ci")
    again = await run_cli(env, "token", "create", "ci")
    assert again.code == 1
    assert "a token named 'ci' exists" in again.err and "csms token revoke ci" in again.err
    assert (await run_cli(env, "token", "revoke", "ci", "--json")).json()["name"] == "ci"
    await _create(env, "ci")  # the name is free again once revoked


async def test_token_with_expiry_lists_it_and_works_until_then(
    server: CsmsServer, env: dict[str, str]
) -> None:
    before = datetime.now(UTC)
    created = await _create(env, "contractor", "--expires", "30d")
    expires = datetime.fromisoformat(created["expires_at"])
    assert before + timedelta(days=30) <= expires <= datetime.now(UTC) + timedelta(days=30)
    assert (await _listed(env))["contractor"]["expires_at"] == created["expires_at"]
    assert (await _status(server, created["token"]))[0] == 200
    people = await run_cli(env, "token", "create", "visitor", "--expires", "12h")
    assert people.code == 0 and "expires 20" in people.err


async def test_an_expired_token_gets_401_saying_it_expired(
    server: CsmsServer, env: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    assert server.db is not None
    _, token = await server.db.write(
        lambda uow: create_token(
            uow,
            name="last-month",
            role="operator",
            now=now - timedelta(days=31),
            expires_at=now - timedelta(days=1),
        )
    )
    code, error = await _status(server, token)
    assert code == 401
    assert "API token 'last-month' expired on" in error
    assert (await _listed(env))["last-month"]["status"] == "expired"
    cli = await run_cli({**env, "CSMS_API_TOKEN": token}, "chargers", "list")
    assert cli.code == 1 and "expired on" in cli.err


@pytest.mark.parametrize("duration", ["soon", "0", "-5d", "200000d"])
async def test_expires_takes_a_duration(env: dict[str, str], duration: str) -> None:
    result = await run_cli(env, "token", "create", "x", "--expires", duration)
    assert result.code == 2
    assert "--expires" in result.err


async def test_last_use_is_recorded_at_most_once_a_minute_and_listed(
    server: CsmsServer, env: dict[str, str]
) -> None:
    token = (await _create(env, "ci"))["token"]
    assert (await _listed(env))["ci"]["last_used_at"] is None
    assert (await _status(server, token))[0] == 200
    first = (await _listed(env))["ci"]["last_used_at"]
    assert first is not None
    assert (await _status(server, token))[0] == 200
    assert (await _listed(env))["ci"]["last_used_at"] == first  # no write per request
    table = await run_cli(env, "token", "list")
    assert first[:10] in next(line for line in table.out.splitlines() if line.startswith("ci "))
    # A minute later, the next request records the new use.
    assert server.db is not None
    await server.db.write(
        lambda uow: uow.conn.execute(
            update(t.api_tokens)
            .where(t.api_tokens.c.name == "ci")
            .values(last_used_at=datetime.now(UTC) - timedelta(minutes=2))
        )
    )
    assert (await _status(server, token))[0] == 200
    assert (await _listed(env))["ci"]["last_used_at"] > first
