"""API tokens: bearer tokens for the HTTP API, stored as SHA-256 hashes only.

Roles: ``admin`` (everything), ``operator`` (chargers, sessions, customers, cards;
not owners or tokens), ``owner`` (read-only: its owner's chargers and sessions, never
who the drivers are). A token is shown once, when it is created.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from csms.domain.errors import InvalidRequest, NotFound
from csms.security import generate_token, hash_token
from storage.database import Database
from storage.ports import UnitOfWork
from storage.records import ApiTokenRecord

__all__ = [
    "MAX_TOKEN_NAME_LENGTH",
    "Role",
    "authenticate",
    "create_token",
    "ensure_admin_token",
    "read_token_file",
    "write_secret_file",
]

log = logging.getLogger(__name__)

MAX_TOKEN_NAME_LENGTH = 100


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    OWNER = "owner"


def create_token(
    uow: UnitOfWork, *, name: str, role: str, now: datetime, owner: str | None = None
) -> tuple[ApiTokenRecord, str]:
    """Create an API token; returns its record and the token itself (shown once)."""
    name = name.strip()
    if not name:
        raise InvalidRequest("token name is empty: give a name that says who uses it")
    if len(name) > MAX_TOKEN_NAME_LENGTH:
        raise InvalidRequest(f"token name is longer than {MAX_TOKEN_NAME_LENGTH} characters")
    try:
        parsed = Role(role)
    except ValueError:
        raise InvalidRequest(f"role {role!r}: use admin, operator or owner") from None
    owner_id: int | None = None
    if parsed is Role.OWNER:
        if owner is None:
            raise InvalidRequest("an owner token needs --owner OWNER (see `csms owners list`)")
        owner_record = uow.owners.by_name(owner)
        if owner_record is None:
            raise NotFound(f"owner {owner!r} not found: add it with `csms owners add {owner}`")
        owner_id = owner_record.id
    elif owner is not None:
        raise InvalidRequest("--owner is only for owner tokens: add --role owner")
    token = generate_token()
    record = uow.api_tokens.add(
        name=name,
        role=parsed.value,
        token_hash=hash_token(token),
        created_at=now,
        owner_id=owner_id,
    )
    return record, token


def authenticate(uow: UnitOfWork, token: str) -> ApiTokenRecord | None:
    """The live token record for a presented bearer token, or None (unknown or revoked)."""
    record = uow.api_tokens.by_hash(hash_token(token))
    if record is None or record.revoked_at is not None:
        return None
    return record


def write_secret_file(path: Path, content: str) -> None:
    """Write ``content`` to ``path`` readable by the owner only (0600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_token_file(path: Path) -> str | None:
    """The token in ``path`` (surrounding whitespace removed), or None if there is none."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


async def ensure_admin_token(db: Database, path: Path) -> None:
    """On first start, create an admin token and write it to ``path`` (mode 0600).

    Nothing happens when ``path`` holds a valid admin token, or when the database already
    has an admin token (then a missing file is reported, not replaced: the operator
    creates one with ``csms token create NAME --role admin``). The token is never logged.
    """
    presented = read_token_file(path)
    if presented:
        record = await db.read(lambda uow: authenticate(uow, presented))
        if record is not None and record.role == Role.ADMIN.value:
            return

    def create_if_none(uow: UnitOfWork) -> bool:
        if uow.api_tokens.count(role=Role.ADMIN.value):
            return False
        _, token = create_token(uow, name="admin", role=Role.ADMIN.value, now=datetime.now(UTC))
        # Written before the commit: if the commit fails, the file holds a token that does
        # not exist and the next start replaces it; never a committed token nobody has.
        write_secret_file(path, token + "\n")
        return True

    if await db.write(create_if_none):
        log.info("created an admin API token in %s", path)
    else:
        log.warning(
            "%s holds no valid admin token; create one with "
            "`csms token create NAME --role admin` and set CSMS_API_TOKEN",
            path,
        )
