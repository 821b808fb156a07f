"""``csms db upgrade`` and ``csms token create``: direct database access."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from storage.migrate import head_revision
from tests.cli.conftest import run_cli


async def test_db_upgrade_creates_the_sqlite_directory_and_prints_the_revision(
    tmp_path: Path,
) -> None:
    home = tmp_path / "fresh" / "var"
    env = {"CSMS_HOME": str(home)}
    result = await run_cli(env, "db", "upgrade")
    assert result.code == 0, result.err
    assert (home / "csms.sqlite3").exists()
    assert result.out.strip().endswith(f"is at revision {head_revision()}")
    again = await run_cli(env, "db", "upgrade", "--json")
    assert again.json()["revision"] == head_revision()


async def test_db_upgrade_hides_the_database_password(tmp_path: Path) -> None:
    env = {
        "CSMS_HOME": str(tmp_path),
        "CSMS_DATABASE_URL": "postgresql+asyncpg://csms:hunter2@127.0.0.1:9/csms",
    }
    result = await run_cli(env, "db", "upgrade")
    assert result.code == 1
    assert "hunter2" not in result.err
    assert "check CSMS_DATABASE_URL" in result.err


async def test_token_create_before_upgrade_says_to_upgrade(tmp_path: Path) -> None:
    result = await run_cli({"CSMS_HOME": str(tmp_path)}, "token", "create", "ci")
    assert result.code == 1
    assert "csms db upgrade" in result.err


async def test_token_create_prints_a_working_token_once(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    created = await run_cli(cli_env, "token", "create", "ci", "--role", "operator")
    assert created.code == 0, created.err
    token = created.out.strip()
    assert token.startswith("csms_") and "shown only now" in created.err
    operator_env = {**cli_env, "CSMS_API_TOKEN": token}
    assert (await run_cli(operator_env, "chargers", "list", "--json")).json() == []
    # Operators manage chargers but not owners.
    denied = await run_cli(operator_env, "owners", "add", "ACME")
    assert denied.code == 1 and "needs an admin token" in denied.err


async def test_owner_token_is_scoped_to_its_chargers(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    await run_cli(cli_env, "owners", "add", "ACME")
    await run_cli(cli_env, "chargers", "add", "CP-ACME", "--owner", "ACME")
    await run_cli(cli_env, "chargers", "add", "CP-OTHER")
    created = await run_cli(
        cli_env, "token", "create", "acme", "--role", "owner", "--owner", "ACME", "--json"
    )
    data = json.loads(created.out)
    assert (data["role"], data["owner"]) == ("owner", "ACME")
    owner_env = {**cli_env, "CSMS_API_TOKEN": data["token"]}
    listed = await run_cli(owner_env, "chargers", "list", "--json")
    assert [c["id"] for c in listed.json()] == ["CP-ACME"]
    denied = await run_cli(owner_env, "customers", "list")
    assert denied.code == 1 and "owner token cannot do this" in denied.err


async def test_owner_token_needs_owner_option(cli_env: dict[str, str]) -> None:
    result = await run_cli(cli_env, "token", "create", "acme", "--role", "owner")
    assert result.code == 1
    assert "--owner OWNER" in result.err
