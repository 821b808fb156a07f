"""``/api/owners``: station owners (site hosts)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, status

from csms.api.context import AdminContext, OperatorContext
from csms.api.schemas import OwnerCreate, OwnerOut
from csms.domain.people.owners import add_owner, list_owners
from csms.domain.views import owner_view
from storage.ports import UnitOfWork
from storage.records import OwnerRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/owners", tags=["owners"])


@router.get("", response_model=list[OwnerOut])
async def list_all(ctx: OperatorContext) -> list[dict[str, Any]]:
    def load(uow: UnitOfWork) -> tuple[list[OwnerRecord], Counter[int]]:
        counts = Counter(c.owner_id for c in uow.chargers.list() if c.owner_id is not None)
        return list_owners(uow), counts

    owners, counts = await ctx.db.read(load)
    return [owner_view(o, chargers=counts[o.id]) for o in owners]


@router.post("", response_model=OwnerOut, status_code=status.HTTP_201_CREATED)
async def create(body: OwnerCreate, ctx: AdminContext) -> dict[str, Any]:
    now = ctx.now()
    owner = await ctx.db.write(lambda uow: add_owner(uow, name=body.name, now=now))
    return owner_view(owner, chargers=0)
