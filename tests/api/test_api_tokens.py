"""API tokens: creation rules and the admin token written on first start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.people.owners import add_owner
from csms.domain.security.tokens import authenticate, create_token, ensure_admin_token
from csms.security import hash_token
from storage.database import Database
from tests.api.conftest import NOW


async def test_token_is_stored_only_as_its_hash(sqlite_db: Database) -> None:
    record, token = await sqlite_db.write(
        lambda uow: create_token(uow, name="ci", role="operator", now=NOW)
    )
    assert token.startswith("csms_") and len(token) > 40
    assert record.token_hash == hash_token(token) and token not in record.token_hash
    found = await sqlite_db.read(lambda uow: authenticate(uow, token))
    assert found is not None and found.role == "operator"
    assert await sqlite_db.read(lambda uow: authenticate(uow, token + "x")) is None


async def test_owner_token_needs_an_existing_owner(sqlite_db: Database) -> None:
    with pytest.raises(InvalidRequest, match="--owner"):
        await sqlite_db.write(lambda uow: create_token(uow, name="o", role="owner", now=NOW))
    with pytest.raises(NotFound, match="csms owners add ACME"):
        await sqlite_db.write(
            lambda uow: create_token(uow, name="o", role="owner", owner="ACME", now=NOW)
        )
    await sqlite_db.write(lambda uow: add_owner(uow, name="ACME", now=NOW))
    record, _ = await sqlite_db.write(
        lambda uow: create_token(uow, name="o", role="owner", owner="ACME", now=NOW)
    )
    assert record.owner_id is not None


async def test_unknown_role_and_owner_on_non_owner_token_are_refused(sqlite_db: Database) -> None:
    with pytest.raises(InvalidRequest, match="admin, operator or owner"):
        await sqlite_db.write(lambda uow: create_token(uow, name="x", role="root", now=NOW))
    await sqlite_db.write(lambda uow: add_owner(uow, name="ACME", now=NOW))
    with pytest.raises(InvalidRequest, match="--role owner"):
        await sqlite_db.write(
            lambda uow: create_token(uow, name="x", role="operator", owner="ACME", now=NOW)
        )


async def test_first_start_writes_an_admin_token_readable_only_by_its_owner(
    sqlite_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "home" / "admin.token"
    await ensure_admin_token(sqlite_db, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    record = await sqlite_db.read(lambda uow: authenticate(uow, token))
    assert record is not None and record.role == "admin"


async def test_later_starts_keep_the_admin_token(sqlite_db: Database, tmp_path: Path) -> None:
    path = tmp_path / "admin.token"
    await ensure_admin_token(sqlite_db, path)
    first = path.read_text()
    await ensure_admin_token(sqlite_db, path)
    assert path.read_text() == first
    assert await sqlite_db.read(lambda uow: uow.api_tokens.count()) == 1


async def test_stale_token_file_is_replaced_when_the_database_has_no_admin(
    sqlite_db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "admin.token"
    path.write_text("csms_from-another-database\n")
    await ensure_admin_token(sqlite_db, path)
    token = path.read_text().strip()
    assert token != "csms_from-another-database"
    assert await sqlite_db.read(lambda uow: authenticate(uow, token)) is not None


async def test_missing_file_is_not_recreated_when_an_admin_token_exists(
    sqlite_db: Database, tmp_path: Path
) -> None:
    await sqlite_db.write(lambda uow: create_token(uow, name="ops", role="admin", now=NOW))
    path = tmp_path / "admin.token"
    await ensure_admin_token(sqlite_db, path)
    assert not path.exists()
    assert await sqlite_db.read(lambda uow: uow.api_tokens.count()) == 1


async def test_operator_tokens_do_not_count_as_admin(sqlite_db: Database, tmp_path: Path) -> None:
    await sqlite_db.write(lambda uow: create_token(uow, name="ci", role="operator", now=NOW))
    path = tmp_path / "admin.token"
    await ensure_admin_token(sqlite_db, path)
    record = await sqlite_db.read(lambda uow: authenticate(uow, path.read_text().strip()))
    assert record is not None and record.role == "admin"
