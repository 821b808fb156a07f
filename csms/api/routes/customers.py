"""``/api/customers``: drivers and their customer numbers (operators only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from csms.api.context import OperatorContext
from csms.api.schemas import CustomerCreate, CustomerOut
from csms.domain.customers import add_customer, get_customer, list_customers
from csms.domain.views import customer_view

__all__ = ["router"]

router = APIRouter(prefix="/api/customers", tags=["customers"])


@router.get("", response_model=list[CustomerOut])
async def list_all(ctx: OperatorContext) -> list[dict[str, Any]]:
    return [customer_view(c) for c in await ctx.db.read(list_customers)]


@router.post("", response_model=CustomerOut, status_code=status.HTTP_201_CREATED)
async def create(body: CustomerCreate, ctx: OperatorContext) -> dict[str, Any]:
    now = ctx.now()
    customer = await ctx.db.write(
        lambda uow: add_customer(uow, name=body.name, email=body.email, now=now)
    )
    return customer_view(customer)


@router.get("/{customer_number}", response_model=CustomerOut)
async def show(customer_number: int, ctx: OperatorContext) -> dict[str, Any]:
    return customer_view(await ctx.db.read(lambda uow: get_customer(uow, customer_number)))
