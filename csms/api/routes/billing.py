"""``/api/tariffs``, ``/api/invoices``, ``/api/outbox``, ``/api/marketing``: billing and
what the outbox delivers, for operators (``csms tariffs``, ``csms invoices``,
``csms outbox``, ``csms customers marketing-export``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from csms.api.context import OperatorContext
from csms.api.schemas import (
    InvoiceAdjust,
    InvoiceOut,
    OutboxOut,
    TariffAssign,
    TariffCreate,
    TariffOut,
)
from csms.domain.billing.invoices import adjust_invoice, release_invoice
from csms.domain.billing.tariffs import add_tariff, assign_tariff, tariff_view, tariffs_in_force
from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.model import PaymentStatusName
from csms.domain.people.marketing import marketing_csv, marketing_list
from csms.domain.views import invoice_view, outbox_view
from storage.ports import UnitOfWork

__all__ = ["router"]

router = APIRouter(tags=["billing"])


# -- tariffs --------------------------------------------------------------------------


@router.get("/api/tariffs", response_model=list[TariffOut])
async def list_tariffs(ctx: OperatorContext) -> list[dict[str, Any]]:
    """Every tariff, with the chargers it is in force on now and whether it is the default."""
    tariffs, chargers, default_id = await ctx.db.read(tariffs_in_force)
    return [
        tariff_view(t, chargers=chargers.get(t.id, []), default=t.id == default_id) for t in tariffs
    ]


@router.post("/api/tariffs", response_model=TariffOut, status_code=status.HTTP_201_CREATED)
async def create_tariff(body: TariffCreate, ctx: OperatorContext) -> dict[str, Any]:
    """A new tariff (prices net of tax). Tariffs never change: a new price is a new tariff."""
    now = ctx.now()
    tariff = await ctx.db.write(
        lambda uow: add_tariff(
            uow,
            name=body.name,
            currency=body.currency,
            per_kwh=body.per_kwh,
            per_hour=body.per_hour,
            session_fee=body.session_fee,
            idle_per_minute=body.idle_fee_per_minute,
            idle_grace_minutes=body.idle_grace_minutes,
            tax_rate=body.tax_rate,
            now=now,
        )
    )
    return tariff_view(tariff, chargers=[])


@router.post("/api/tariffs/{name}/assign", response_model=TariffOut)
async def assign(name: str, body: TariffAssign, ctx: OperatorContext) -> dict[str, Any]:
    """From now on, sessions that start on the charger (or, without ``charger_id``, on
    every charger without a tariff of its own) are billed under this tariff."""
    now = ctx.now()
    await ctx.db.write(lambda uow: assign_tariff(uow, name, charger_id=body.charger_id, now=now))
    tariffs, chargers, default_id = await ctx.db.read(tariffs_in_force)
    tariff = next(t for t in tariffs if t.name == name)
    return tariff_view(
        tariff, chargers=chargers.get(tariff.id, []), default=tariff.id == default_id
    )


# -- invoices -------------------------------------------------------------------------

PaymentStatusFilter = PaymentStatusName


def _number_of(uow: UnitOfWork, customer_id: int | None) -> int | None:
    if customer_id is None:
        return None
    customer = uow.customers.get(customer_id)
    return customer.customer_number if customer is not None else None


@router.get("/api/invoices", response_model=list[InvoiceOut])
async def list_invoices(
    ctx: OperatorContext,
    customer: Annotated[int | None, Query(description="a customer number")] = None,
    payment_status: Annotated[
        PaymentStatusFilter | None, Query(alias="status", description="only this status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Invoices, newest first."""

    def load(uow: UnitOfWork) -> list[dict[str, Any]]:
        customer_id = None
        if customer is not None:
            found = uow.customers.by_number(customer)
            if found is None:
                raise NotFound(f"customer {customer} not found: see `csms customers list`")
            customer_id = found.id
        invoices = uow.invoices.list(
            customer_id=customer_id, payment_status=payment_status, limit=limit
        )
        return [
            invoice_view(i, customer_number=_number_of(uow, i.customer_id), include_customer=True)
            for i in invoices
        ]

    return await ctx.db.read(load)


@router.get("/api/invoices/{invoice_id}", response_model=InvoiceOut)
async def show_invoice(invoice_id: int, ctx: OperatorContext) -> dict[str, Any]:
    """An invoice with every payment attempt."""

    def load(uow: UnitOfWork) -> dict[str, Any]:
        invoice = uow.invoices.get(invoice_id)
        if invoice is None:
            raise NotFound(f"invoice {invoice_id} not found: see `csms invoices list`")
        card = (
            uow.payment_methods.get(invoice.payment_method_id)
            if invoice.payment_method_id is not None
            else None
        )
        return invoice_view(
            invoice,
            customer_number=_number_of(uow, invoice.customer_id),
            include_customer=True,
            attempts=uow.payment_attempts.for_invoice(invoice.id),
            card=card,
        )

    return await ctx.db.read(load)


def _payments_enabled(request: Request) -> bool:
    """Whether card payments are configured: the app was given a payment processor."""
    return request.app.state.payments is not None


def _shown(uow: UnitOfWork, invoice_id: int) -> dict[str, Any]:
    invoice = uow.invoices.get(invoice_id)
    assert invoice is not None
    return invoice_view(
        invoice, customer_number=_number_of(uow, invoice.customer_id), include_customer=True
    )


@router.post("/api/invoices/{invoice_id}/release", response_model=InvoiceOut)
async def release(invoice_id: int, ctx: OperatorContext, request: Request) -> dict[str, Any]:
    """Charge a held invoice as billed: the card charge and the receipts go out through the
    outbox as for any invoice (charged at most once)."""
    now = ctx.now()
    enabled = _payments_enabled(request)

    def run(uow: UnitOfWork) -> dict[str, Any]:
        invoice = release_invoice(uow, invoice_id, now=now, payments_enabled=enabled)
        return _shown(uow, invoice.id)

    return await ctx.db.write(run)


@router.post("/api/invoices/{invoice_id}/adjust", response_model=InvoiceOut)
async def adjust(
    invoice_id: int, body: InvoiceAdjust, ctx: OperatorContext, request: Request
) -> dict[str, Any]:
    """Price a held invoice again from the corrected energy, under the tariff of its
    session, then release it. The session keeps what the charger reported."""
    now = ctx.now()
    enabled = _payments_enabled(request)

    def run(uow: UnitOfWork) -> dict[str, Any]:
        invoice = adjust_invoice(
            uow,
            invoice_id,
            energy_kwh=str(body.energy_kwh)[:40],
            reason=body.reason,
            now=now,
            payments_enabled=enabled,
        )
        return _shown(uow, invoice.id)

    return await ctx.db.write(run)


# -- the outbox -----------------------------------------------------------------------


@router.get("/api/outbox", response_model=list[OutboxOut])
async def list_outbox(
    ctx: OperatorContext,
    outbox_status: Annotated[
        Literal["pending", "done", "failed"] | None,
        Query(alias="status", description="only this status (failed: what needs a look)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Deliveries (billing, card charges, emails, SMS), newest first."""
    records = await ctx.db.read(lambda uow: uow.outbox.list(status=outbox_status, limit=limit))
    return [outbox_view(r) for r in records]


@router.post("/api/outbox/{outbox_id}/retry", response_model=OutboxOut)
async def retry_outbox(outbox_id: int, ctx: OperatorContext) -> dict[str, Any]:
    """Queue a failed delivery again, due now, with a fresh count of attempts."""
    now = ctx.now()

    def run(uow: UnitOfWork) -> dict[str, Any]:
        record = uow.outbox.get(outbox_id)
        if record is None:
            raise NotFound(f"outbox entry {outbox_id} not found: see `csms outbox list`")
        if not uow.outbox.retry(outbox_id, now=now):
            raise InvalidRequest(
                f"outbox entry {outbox_id} is {record.status}, not failed: only failed "
                "deliveries are retried (pending ones are retried by themselves)"
            )
        retried = uow.outbox.get(outbox_id)
        assert retried is not None
        return outbox_view(retried)

    return await ctx.db.write(run)


# -- marketing ------------------------------------------------------------------------


@router.get(
    "/api/marketing/export",
    responses={200: {"content": {"text/csv": {}}, "description": "the opted-in customers"}},
)
async def marketing_export(ctx: OperatorContext, request: Request) -> Response:
    """The customers who opted in to marketing (CSV: customer number, name, email, when they
    opted in, their unsubscribe link), for a newsletter tool. Unsubscribed and erased
    customers are never in it."""
    now = ctx.now()
    public = ctx.settings.api.public_url or str(request.base_url).rstrip("/")
    base = f"{public}/api/app/unsubscribe"
    rows = await ctx.db.write(lambda uow: marketing_list(uow, unsubscribe_base=base, now=now))
    return Response(
        marketing_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="csms-marketing.csv"',
            "Cache-Control": "no-store",
        },
    )
