"""``/api/customers``: drivers and their customer numbers (operators only: owner tokens see
customer numbers in sessions and reports, never who a customer is).

``GET /{number}/export`` is everything held about a customer (their right of access);
``POST /{number}/erase`` removes their identity for good (their right to erasure):
sessions stay under the customer number. Both are recorded as security events.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, status

from csms.api.context import OperatorContext
from csms.api.schemas import CustomerCreate, CustomerOut
from csms.domain.errors import AlreadyExists, InvalidRequest
from csms.domain.people.customers import add_customer, get_customer, list_customers
from csms.domain.people.rights import erase_customer, export_customer
from csms.domain.views import customer_view
from csms.security import hash_pin, validate_pin
from storage.ports import UnitOfWork
from storage.records import CustomerRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/customers", tags=["customers"])


@router.get("", response_model=list[CustomerOut])
async def list_all(ctx: OperatorContext) -> list[dict[str, Any]]:
    return [customer_view(c) for c in await ctx.db.read(list_customers)]


@router.post("", response_model=CustomerOut, status_code=status.HTTP_201_CREATED)
async def create(body: CustomerCreate, ctx: OperatorContext) -> dict[str, Any]:
    """Add a customer (the operator vouches for their age). The PIN, if given, is kept as
    a slow salted hash only."""
    now = ctx.now()
    pin_hash = None
    if body.pin is not None:
        problem = validate_pin(body.pin)
        if problem:
            raise InvalidRequest(problem)
        # (argon2id in a worker thread: never inside the unit of work, which would hold up
        # every charger's commit and run again if the batch were retried)
        pin_hash = await asyncio.to_thread(hash_pin, body.pin)
    customer = await ctx.db.write(
        lambda uow: add_customer(
            uow,
            name=body.name,
            email=body.email,
            now=now,
            phone=body.phone,
            address=body.address,
            vehicle=body.vehicle,
            notify=body.notify,
            pin_hash=pin_hash,
        )
    )
    return customer_view(customer)


@router.get("/{customer_number}", response_model=CustomerOut)
async def show(customer_number: int, ctx: OperatorContext) -> dict[str, Any]:
    return customer_view(await ctx.db.read(lambda uow: get_customer(uow, customer_number)))


@router.get("/{customer_number}/export")
async def export(customer_number: int, ctx: OperatorContext) -> dict[str, Any]:
    """Everything held about the customer as one JSON document (identity, preferences,
    cards with masked UIDs, sessions with meter values, logins, security events)."""
    now = ctx.now()
    caller = ctx.caller.name

    def run(uow: UnitOfWork) -> dict[str, Any]:
        customer = get_customer(uow, customer_number)
        document = export_customer(uow, customer, now=now)
        uow.security_events.add(
            kind="CustomerExported",
            details={"customer_number": customer_number, "by_token": caller},
            created_at=now,
            customer_id=customer.id,
        )
        return document

    return await ctx.db.write(run)


@router.post("/{customer_number}/erase", response_model=CustomerOut)
async def erase(customer_number: int, ctx: OperatorContext) -> dict[str, Any]:
    """Erase the customer's identity for good: name, contact, address, vehicle, password,
    PIN, cards and logins. Sessions stay under the customer number. Erasing again changes
    nothing. Refused while a session of theirs is running (stop it first)."""
    now = ctx.now()

    def run(uow: UnitOfWork) -> CustomerRecord:
        customer = get_customer(uow, customer_number)
        running = uow.transactions.list(customer_id=customer.id, active=True, limit=1)
        if running and customer.erased_at is None:
            raise AlreadyExists(
                f"session {running[0].id} of customer {customer_number} is still running: "
                f"stop it (`csms sessions stop {running[0].id}`), then erase"
            )
        return erase_customer(uow, customer_number, now=now)

    return customer_view(await ctx.db.write(run))
