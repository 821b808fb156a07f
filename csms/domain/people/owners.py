"""Station owners (site hosts): the companies whose chargers the network operates."""

from __future__ import annotations

from datetime import datetime

from csms.domain.errors import AlreadyExists, InvalidRequest, NotFound
from storage.ports import UnitOfWork
from storage.records import OwnerRecord

__all__ = ["MAX_OWNER_NAME_LENGTH", "add_owner", "get_owner", "list_owners"]

MAX_OWNER_NAME_LENGTH = 100


def add_owner(uow: UnitOfWork, *, name: str, now: datetime) -> OwnerRecord:
    """Add an owner; names are unique and used to refer to it (``--owner NAME``)."""
    name = name.strip()
    if not name:
        raise InvalidRequest("owner name is empty: give a name, e.g. `csms owners add ACME`")
    if len(name) > MAX_OWNER_NAME_LENGTH:
        raise InvalidRequest(f"owner name is longer than {MAX_OWNER_NAME_LENGTH} characters")
    if uow.owners.by_name(name) is not None:
        raise AlreadyExists(f"owner {name!r} already exists: see `csms owners list`")
    return uow.owners.add(name=name, created_at=now)


def get_owner(uow: UnitOfWork, name: str) -> OwnerRecord:
    owner = uow.owners.by_name(name)
    if owner is None:
        raise NotFound(f"owner {name!r} not found: add it with `csms owners add {name}`")
    return owner


def list_owners(uow: UnitOfWork) -> list[OwnerRecord]:
    return uow.owners.list()
