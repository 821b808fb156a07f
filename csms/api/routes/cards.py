"""``/api/cards``: RFID cards (id tags), operators only (a card UID is personal data and a
credential: owner tokens never see one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from csms.api.context import ApiContext, OperatorContext
from csms.api.schemas import CardCreate, CardOut
from csms.domain.people.cards import (
    add_card,
    block_card,
    get_card,
    list_cards,
    parse_expiry,
    unblock_card,
)
from csms.domain.views import card_view
from storage.ports import UnitOfWork
from storage.records import IdTagRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/cards", tags=["cards"])


def _number(uow: UnitOfWork, card: IdTagRecord) -> int | None:
    if card.customer_id is None:
        return None
    customer = uow.customers.get(card.customer_id)
    return customer.customer_number if customer else None


async def _one(
    ctx: ApiContext, fn: Callable[[UnitOfWork], IdTagRecord], *, write: bool
) -> dict[str, Any]:
    def run(uow: UnitOfWork) -> tuple[IdTagRecord, int | None]:
        card = fn(uow)
        return card, _number(uow, card)

    card, number = await (ctx.db.write(run) if write else ctx.db.read(run))
    return card_view(card, customer_number=number, now=ctx.now())


@router.get("", response_model=list[CardOut])
async def list_all(
    ctx: OperatorContext,
    customer: Annotated[int | None, Query(description="a customer number")] = None,
    masked: Annotated[
        bool, Query(description="show only the last 4 characters of each UID")
    ] = False,
) -> list[dict[str, Any]]:
    """Cards sorted by UID. Operators provision cards, so UIDs are shown in full unless
    ``masked`` (for a screen others can see, or a list to pass on)."""

    def load(uow: UnitOfWork) -> tuple[list[IdTagRecord], dict[int, int]]:
        cards = list_cards(uow, customer_number=customer)
        numbers = {c.id: c.customer_number for c in uow.customers.list()}
        return cards, numbers

    cards, numbers = await ctx.db.read(load)
    now = ctx.now()
    return [
        card_view(
            c,
            customer_number=numbers.get(c.customer_id) if c.customer_id is not None else None,
            now=now,
            masked=masked,
        )
        for c in cards
    ]


@router.post("", response_model=CardOut, status_code=status.HTTP_201_CREATED)
async def create(body: CardCreate, ctx: OperatorContext) -> dict[str, Any]:
    expires_at = parse_expiry(body.expires) if body.expires else None
    now = ctx.now()
    return await _one(
        ctx,
        lambda uow: add_card(
            uow,
            uid=body.uid,
            now=now,
            customer_number=body.customer_number,
            expires_at=expires_at,
            group=body.group,
        ),
        write=True,
    )


@router.get("/{uid}", response_model=CardOut)
async def show(uid: str, ctx: OperatorContext) -> dict[str, Any]:
    return await _one(ctx, lambda uow: get_card(uow, uid), write=False)


@router.post("/{uid}/block", response_model=CardOut)
async def block(uid: str, ctx: OperatorContext) -> dict[str, Any]:
    """Block a card: chargers asking about it hear Blocked from now on."""
    return await _one(ctx, lambda uow: block_card(uow, uid), write=True)


@router.post("/{uid}/unblock", response_model=CardOut)
async def unblock(uid: str, ctx: OperatorContext) -> dict[str, Any]:
    return await _one(ctx, lambda uow: unblock_card(uow, uid), write=True)
