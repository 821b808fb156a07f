"""``/api/sessions``: charging sessions (transactions), remote start and stop."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Response

from csms.api.command_answers import command_answer
from csms.api.command_bodies import CommandAnswer, SessionStartCommand
from csms.api.context import AnyRoleContext, ApiContext, OperatorContext
from csms.api.errors import ApiError
from csms.api.routes.chargers import load_charger
from csms.api.schemas import SessionClose, SessionDetail, SessionOut
from csms.domain.billing.invoices import terms_of
from csms.domain.billing.pricing import price_session
from csms.domain.billing.reports import parse_report_bound
from csms.domain.charging.remote_commands import (
    GetTransactionStatus,
    NoStationTransactionId,
    RemoteStart,
    RemoteStop,
)
from csms.domain.charging.transaction_events import energy_wh
from csms.domain.charging.transactions import close_session
from csms.domain.errors import NotFound
from csms.domain.model import TransactionStatus
from csms.domain.people.customers import get_customer
from csms.domain.views import money_view, session_view
from storage.ports import UnitOfWork
from storage.records import InvoiceRecord, MeterSampleRecord, TransactionRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/sessions", tags=["sessions"])

# Views leave ``id_tag`` out for owner tokens; ``response_model_exclude_unset`` keeps it out
# of the answer instead of turning it into null.


def _customer_numbers(uow: UnitOfWork, transactions: list[TransactionRecord]) -> dict[int, int]:
    numbers: dict[int, int] = {}
    for customer_id in {tx.customer_id for tx in transactions if tx.customer_id is not None}:
        customer = uow.customers.get(customer_id)
        if customer is not None:
            numbers[customer_id] = customer.customer_number
    return numbers


def _number(numbers: dict[int, int], tx: TransactionRecord) -> int | None:
    return numbers.get(tx.customer_id) if tx.customer_id is not None else None


#: Response header of ``GET /api/sessions`` naming the cursor of the next page (the
#: ``before`` value to ask for), present only when more sessions match.
NEXT_PAGE_HEADER = "X-Next-Before"


def _progress(
    uow: UnitOfWork, tx: TransactionRecord, *, now: datetime
) -> tuple[int | None, dict[str, str] | None]:
    """Energy (Wh) and cost so far of an active session: the latest energy register
    reading against the meter start, priced with the tariff in force when it started and
    the time plugged in until now. (None, None) before any reading."""
    readings = [
        wh for r in uow.meter_samples.energy_registers(tx.id) if (wh := energy_wh(r)) is not None
    ]
    if not readings:
        return None, None
    start = tx.meter_start_wh if tx.meter_start_wh is not None else readings[0]
    energy = readings[-1] - start
    if energy < 0:
        return None, None
    tariff = uow.tariffs.in_force(tx.charger_id, tx.started_at)
    if tariff is None:
        return energy, None
    price = price_session(
        terms_of(tariff),
        energy_wh=energy,
        started_at=tx.started_at,
        stopped_at=max(now, tx.started_at),
        charging_done_at=tx.charging_done_at,
    )
    return energy, money_view(price.total_minor, price.currency)


def _view_with_progress(
    view: dict[str, Any], progress: tuple[int | None, dict[str, str] | None] | None
) -> dict[str, Any]:
    if progress is not None:
        view["energy_so_far_wh"], view["cost_so_far"] = progress
    return view


@router.get("", response_model=list[SessionOut], response_model_exclude_unset=True)
async def list_sessions(
    ctx: AnyRoleContext,
    response: Response,
    charger: Annotated[str | None, Query(description="only this charger's sessions")] = None,
    active: Annotated[bool | None, Query(description="true: running, false: completed")] = None,
    customer: Annotated[int | None, Query(description="a customer number")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None,
        Query(
            ge=1,
            le=2**63 - 1,
            description=f"a cursor: the sessions listed after this one (the {NEXT_PAGE_HEADER} "
            "header of the previous page)",
        ),
    ] = None,
    start: Annotated[
        str | None,
        Query(alias="from", description="started from: YYYY-MM-DD (midnight UTC) or ISO 8601"),
    ] = None,
    end: Annotated[
        str | None,
        Query(alias="to", description="started before: YYYY-MM-DD (through that day) or ISO 8601"),
    ] = None,
) -> list[dict[str, Any]]:
    """The most recent sessions first (by start, then id), ``limit`` of them. When more
    match, the ``X-Next-Before`` header gives the ``before`` cursor of the next page (and
    ``Link`` its URL, ``rel="next"``). Active sessions carry ``energy_so_far_wh`` and
    ``cost_so_far``."""
    caller = ctx.caller
    since = parse_report_bound(start, end=False) if start else None
    until = parse_report_bound(end, end=True) if end else None
    now = ctx.now()

    def load(
        uow: UnitOfWork,
    ) -> tuple[
        list[TransactionRecord],
        dict[int, int],
        dict[int, InvoiceRecord],
        dict[int, tuple[int | None, dict[str, str] | None]],
    ]:
        if customer is not None:
            found = uow.customers.by_number(customer)
            if found is None:
                if caller.is_owner:
                    # (no 404: an owner could otherwise probe which numbers exist)
                    return [], {}, {}, {}
                get_customer(uow, customer)  # raises NotFound, saying what to do
            customer_id = found.id if found is not None else None
        else:
            customer_id = None
        transactions = uow.transactions.list(
            charger_id=charger,
            active=active,
            customer_id=customer_id,
            owner_id=caller.owner_id if caller.is_owner else None,
            started_from=since,
            started_before=until,
            after_pk=before,
            limit=limit + 1,
        )
        invoices = uow.invoices.for_transactions(tx.id for tx in transactions[:limit])
        progress = {
            tx.id: _progress(uow, tx, now=now)
            for tx in transactions[:limit]
            if tx.status == TransactionStatus.ACTIVE.value
        }
        return transactions, _customer_numbers(uow, transactions), invoices, progress

    transactions, numbers, invoices, progress = await ctx.db.read(load)
    if len(transactions) > limit:
        transactions = transactions[:limit]
        cursor = transactions[-1].id
        response.headers[NEXT_PAGE_HEADER] = str(cursor)
        params = {
            k: v
            for k, v in {
                "charger": charger,
                "active": None if active is None else str(active).lower(),
                "customer": customer,
                "limit": limit,
                "before": cursor,
                "from": start,
                "to": end,
            }.items()
            if v is not None
        }
        response.headers["Link"] = f'</api/sessions?{urlencode(params)}>; rel="next"'
    return [
        _view_with_progress(
            session_view(
                tx,
                customer_number=_number(numbers, tx),
                include_id_tag=not caller.is_owner,
                invoice=invoices.get(tx.id),
            ),
            progress.get(tx.id),
        )
        for tx in transactions
    ]


async def _load_session(ctx: ApiContext, session_id: int) -> TransactionRecord:
    caller = ctx.caller

    def load(uow: UnitOfWork) -> TransactionRecord:
        tx = uow.transactions.by_pk(session_id)
        if tx is not None and caller.is_owner:
            charger = uow.chargers.get(tx.charger_id)
            if charger is None or not caller.sees_owner(charger.owner_id):
                tx = None
        if tx is None:
            raise NotFound(f"session {session_id} not found: see `csms sessions list`")
        return tx

    return await ctx.db.read(load)


@router.get("/{session_id}", response_model=SessionDetail, response_model_exclude_unset=True)
async def show_session(session_id: int, ctx: AnyRoleContext) -> dict[str, Any]:
    """A session with all its meter values and (not for owner tokens) its invoice."""
    tx = await _load_session(ctx, session_id)

    def load(
        uow: UnitOfWork,
    ) -> tuple[list[MeterSampleRecord], dict[int, int], InvoiceRecord | None]:
        return (
            uow.meter_samples.for_transaction(tx.id),
            _customer_numbers(uow, [tx]),
            uow.invoices.by_transaction(tx.id),
        )

    samples, numbers, invoice = await ctx.db.read(load)
    progress = None
    if tx.status == TransactionStatus.ACTIVE.value:
        now = ctx.now()
        progress = await ctx.db.read(lambda uow: _progress(uow, tx, now=now))
    view = session_view(
        tx,
        customer_number=_number(numbers, tx),
        include_id_tag=not ctx.caller.is_owner,
        meter_values=samples,
        invoice=invoice,
        # (an owner sees what the session cost, not how its driver paid: declines are theirs)
        invoice_details=not ctx.caller.is_owner,
    )
    return _view_with_progress(view, progress)


def _station_transaction_id(tx: TransactionRecord) -> str | None:
    """The transaction id the station gave the session (None if it gave none)."""
    return tx.station_transaction_id


@router.post("/start", response_model=CommandAnswer)
async def start_session(body: SessionStartCommand, ctx: OperatorContext) -> dict[str, Any]:
    """Ask a charger to start a session: 1.6 RemoteStartTransaction for an id tag; 2.0.1
    RequestStartTransaction with an idToken (type ``Central`` unless given) and a fresh
    ``remote_start_id``. The session appears once the charger reports it started."""
    await load_charger(ctx, body.charger_id)
    command = RemoteStart(
        id_tag=body.id_tag,
        connector_id=body.connector_id,
        evse_id=body.evse_id,
        token_type=body.token_type,
    )
    return await command_answer(ctx.router, body.charger_id, command)


@router.post("/{session_id}/stop", response_model=CommandAnswer)
async def stop_session(session_id: int, ctx: OperatorContext) -> dict[str, Any]:
    """Ask the charger to stop a running session (1.6 RemoteStopTransaction, 2.0.1
    RequestStopTransaction with the station's transaction id)."""
    tx = await _load_session(ctx, session_id)
    if tx.status != TransactionStatus.ACTIVE.value:
        raise ApiError(409, f"session {session_id} is already {tx.status}: nothing to stop")
    command = RemoteStop(
        transaction_id=tx.transaction_id, station_transaction_id=_station_transaction_id(tx)
    )
    return await command_answer(ctx.router, tx.charger_id, command)


@router.post("/{session_id}/close", response_model=SessionOut, response_model_exclude_unset=True)
async def close_session_(
    session_id: int, ctx: OperatorContext, body: SessionClose | None = None
) -> dict[str, Any]:
    """End an active session without the charger (it went offline for good, its stop
    never came): meter stop from ``meter_stop_wh``, else the last meter value; stop reason
    ``closed_by_operator`` with ``reason``; ``closed_by`` this API token's name. Billed and
    notified as any completed session, and the card is free again. The charger's own stop,
    if it comes later, is acknowledged and kept, not billed again."""
    loaded = await _load_session(ctx, session_id)
    if loaded.status != TransactionStatus.ACTIVE.value:
        raise ApiError(409, f"session {session_id} is already {loaded.status}: nothing to close")
    now = ctx.now()
    options = body or SessionClose()
    name = ctx.caller.name

    def run(uow: UnitOfWork) -> tuple[TransactionRecord, dict[int, int]]:
        tx = close_session(
            uow,
            session_id=session_id,
            closed_by=name,
            now=now,
            meter_stop_wh=options.meter_stop_wh,
            note=options.reason,
        )
        return tx, _customer_numbers(uow, [tx])

    tx, numbers = await ctx.db.write(run)
    return session_view(tx, customer_number=_number(numbers, tx))


@router.post("/{session_id}/status", response_model=CommandAnswer)
async def session_status(session_id: int, ctx: OperatorContext) -> dict[str, Any]:
    """Ask a 2.0.1 station whether the session's transaction is still ongoing and whether
    it still holds messages of it (GetTransactionStatus)."""
    tx = await _load_session(ctx, session_id)
    command = GetTransactionStatus(
        station_transaction_id=_station_transaction_id(tx), of_session=True
    )
    try:
        return await command_answer(ctx.router, tx.charger_id, command)
    except NoStationTransactionId:
        raise ApiError(
            409,
            f"session {session_id} has no transaction id from the station, so its status "
            "cannot be asked for; see `csms sessions show` instead",
        ) from None
