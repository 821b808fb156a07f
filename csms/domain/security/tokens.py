"""API tokens: bearer tokens for the HTTP API, stored as SHA-256 hashes only.

Roles: ``admin`` (everything), ``operator`` (chargers, sessions, customers, cards;
not owners or tokens), ``owner`` (read-only: its owner's chargers and sessions, never
who the drivers are). A token is shown once, when it is created.

A token is named for who uses it, and the name is how an operator lists and revokes it:
two live tokens never share a name. A token may expire (``--expires 30d``); a revoked or
expired one is refused at once, with a message that says which of the two it is.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.people.owners import get_owner
from csms.domain.units_of_work import UnitsOfWork
from csms.security import generate_token, hash_token
from storage.ports import UnitOfWork
from storage.records import ApiTokenRecord

__all__ = [
    "MAX_TOKEN_NAME_LENGTH",
    "Role",
    "TokenView",
    "authenticate",
    "create_token",
    "ensure_admin_token",
    "list_tokens",
    "read_token_file",
    "refusal",
    "revoke_token",
    "write_secret_file",
]

log = logging.getLogger(__name__)

MAX_TOKEN_NAME_LENGTH = 100


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    OWNER = "owner"


def create_token(
    uow: UnitOfWork,
    *,
    name: str,
    role: str,
    now: datetime,
    owner: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiTokenRecord, str]:
    """Create an API token; returns its record and the token itself (shown once).

    ``expires_at`` (None: never) must lie after ``now``.
    """
    name = name.strip()
    if not name:
        raise InvalidRequest("token name is empty: give a name that says who uses it")
    if len(name) > MAX_TOKEN_NAME_LENGTH:
        raise InvalidRequest(f"token name is longer than {MAX_TOKEN_NAME_LENGTH} characters")
    if expires_at is not None and expires_at <= now:
        raise InvalidRequest("the token would expire before it is used: give a later expiry")
    if uow.api_tokens.live_by_name(name):
        raise InvalidRequest(
            f"a token named {name!r} exists: choose another name, or revoke it first "
            f"(`csms token revoke {name}`)"
        )
    try:
        parsed = Role(role)
    except ValueError:
        raise InvalidRequest(f"role {role!r}: use admin, operator or owner") from None
    owner_id: int | None = None
    if parsed is Role.OWNER:
        if owner is None:
            raise InvalidRequest("an owner token needs --owner OWNER (see `csms owners list`)")
        owner_id = get_owner(uow, owner).id
    elif owner is not None:
        raise InvalidRequest("--owner is only for owner tokens: add --role owner")
    token = generate_token()
    record = uow.api_tokens.add(
        name=name,
        role=parsed.value,
        token_hash=hash_token(token),
        created_at=now,
        owner_id=owner_id,
        expires_at=expires_at,
    )
    return record, token


def authenticate(
    uow: UnitOfWork, token: str, *, now: datetime | None = None
) -> ApiTokenRecord | None:
    """The live token record for a presented bearer token, or None (unknown, revoked or
    expired at ``now``, default the current time)."""
    record = uow.api_tokens.by_hash(hash_token(token))
    if record is None or refusal(record, now=now or datetime.now(UTC)) is not None:
        return None
    return record


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def refusal(record: ApiTokenRecord, *, now: datetime) -> str | None:
    """Why the token of ``record`` is refused at ``now`` (revoked or expired), or None."""
    if record.revoked_at is not None:
        return (
            f"API token {record.name!r} was revoked on {_when(record.revoked_at)}: "
            "create a new one with `csms token create NAME`"
        )
    if record.expires_at is not None and record.expires_at <= now:
        return (
            f"API token {record.name!r} expired on {_when(record.expires_at)}: "
            "create a new one with `csms token create NAME --expires DURATION`"
        )
    return None


@dataclass(frozen=True, slots=True)
class TokenView:
    """What ``csms token list`` shows of a token: everything but the token (or its hash)."""

    name: str
    role: str
    owner: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    #: ``active``, ``expired`` or ``revoked``
    status: str


def list_tokens(uow: UnitOfWork, *, now: datetime) -> list[TokenView]:
    """Every token, oldest first, with its owner's name and its status at ``now``."""
    owners = {o.id: o.name for o in uow.owners.list()}
    views = []
    for record in uow.api_tokens.list():
        if record.revoked_at is not None:
            status = "revoked"
        elif record.expires_at is not None and record.expires_at <= now:
            status = "expired"
        else:
            status = "active"
        views.append(
            TokenView(
                name=record.name,
                role=record.role,
                owner=owners.get(record.owner_id) if record.owner_id is not None else None,
                created_at=record.created_at,
                last_used_at=record.last_used_at,
                expires_at=record.expires_at,
                revoked_at=record.revoked_at,
                status=status,
            )
        )
    return views


def revoke_token(uow: UnitOfWork, *, name: str, now: datetime) -> ApiTokenRecord:
    """Revoke the token called ``name``: from the commit on, it gets 401."""
    live = uow.api_tokens.live_by_name(name)
    if not live:
        raise NotFound(f"no token named {name!r} to revoke: see `csms token list`")
    for record in live:  # one, unless made before names were unique
        uow.api_tokens.revoke(record.id, now)
        record.revoked_at = now
    return live[-1]


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


async def ensure_admin_token(units: UnitsOfWork, path: Path) -> None:
    """On first start, create an admin token and write it to ``path`` (mode 0600).

    Nothing happens when ``path`` holds a valid admin token, or when the database already
    has an admin token (then a missing file is reported, not replaced: the operator
    creates one with ``csms token create NAME --role admin``). The token is never logged.
    """
    presented = read_token_file(path)
    if presented:
        record = await units.read(lambda uow: authenticate(uow, presented))
        if record is not None and record.role == Role.ADMIN.value:
            return

    def create_if_none(uow: UnitOfWork) -> bool:
        if uow.api_tokens.count(role=Role.ADMIN.value):
            return False
        name, n = "admin", 1
        while uow.api_tokens.live_by_name(name):  # an operator token may be called admin
            n += 1
            name = f"admin-{n}"
        _, token = create_token(uow, name=name, role=Role.ADMIN.value, now=datetime.now(UTC))
        # Written before the commit: if the commit fails, the file holds a token that does
        # not exist and the next start replaces it; never a committed token nobody has.
        write_secret_file(path, token + "\n")
        return True

    if await units.write(create_if_none):
        log.info("created an admin API token in %s", path)
    else:
        log.warning(
            "%s holds no valid admin token; create one with "
            "`csms token create NAME --role admin` and set CSMS_API_TOKEN",
            path,
        )
