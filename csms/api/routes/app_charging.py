"""``/api/app``: charging through the customer API (the driver's app): RFID cards,
favorite chargers, sessions (started and stopped remotely), and paying: cards at the payment
processor and invoices. Registration, login and the profile are in
``csms.api.routes.app_api``.

Every route acts for the customer whose login token it was given and for nobody else: ids
of cards and sessions are looked up among that customer's own records, so another
customer's id answers 404 exactly like an id that does not exist. Card UIDs are only ever
shown masked; the app token that starts sessions is never shown.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, status
from pydantic import BaseModel, Field, SecretStr

from csms.api.command_answers import command_answer
from csms.api.customer_context import CustomerApiContext, CustomerContext
from csms.api.errors import ApiError
from csms.api.routes.app_api import AppRequest, no_store, unprocessable
from csms.api.schemas import DriverSessionDetail as SessionDetail
from csms.api.schemas import DriverSessionOut as SessionOut
from csms.api.schemas import InvoiceOut, PaymentMethodOut
from csms.domain.billing.payment_cards import processor_customer, remove_card, store_card
from csms.domain.billing.payments import (
    CardDetails,
    CardRejected,
    PaymentGateway,
    PaymentProcessorError,
)
from csms.domain.charging.remote_commands import RemoteStart, RemoteStop
from csms.domain.errors import InvalidRequest
from csms.domain.people import accounts
from csms.domain.views import (
    card_view,
    invoice_view,
    iso,
    payment_method_view,
    session_view,
)
from storage.ports import UnitOfWork
from storage.records import InvoiceRecord, TransactionRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/app", tags=["app"], dependencies=[Depends(no_store)])


# -- request bodies and answers -------------------------------------------------------


class CardRegistration(AppRequest):
    uid: str = Field(min_length=1, max_length=36, description="the UID of an RFID card you hold")


class StartRequest(AppRequest):
    charger_id: str = Field(min_length=1, max_length=48)
    connector_id: int | None = Field(default=None, ge=1, description="any free one if left out")


class CardOut(BaseModel):
    id: int = Field(description="how the API refers to the card")
    uid: str = Field(description="masked: only the last 4 characters")
    status: Literal["active", "blocked", "expired"]
    expires_at: datetime | None = None
    created_at: datetime


class FavoriteOut(BaseModel):
    charger_id: str
    name: str | None = None
    added_at: datetime


class FavoriteRemoved(BaseModel):
    charger_id: str
    removed: bool


class ChargerAnswer(BaseModel):
    charger_id: str
    status: str | None = Field(description="the charger's answer: Accepted or Rejected")
    message: str
    reason: str | None = Field(default=None, description="the charger's reason, when it gave one")
    session_id: int | None = None


def _card_answer(card: Any, *, now: datetime) -> dict[str, Any]:
    return {"id": card.id, **card_view(card, customer_number=None, now=now, masked=True)}


def _session_answer(
    tx: TransactionRecord,
    customer_number: int,
    meter_values: Any = None,
    *,
    invoice: InvoiceRecord | None = None,
    invoice_details: bool = False,
) -> dict[str, Any]:
    return session_view(
        tx,
        customer_number=customer_number,
        include_id_tag=False,
        meter_values=meter_values,
        invoice=invoice,
        invoice_details=invoice_details,
    )


async def _to_charger(ctx: CustomerApiContext, charger_id: str, command: Any) -> dict[str, Any]:
    """Send a command, with the charger's failures said the way a driver understands."""
    try:
        return await command_answer(ctx.router, charger_id, command)
    except ApiError as exc:
        messages = {
            503: f"charger {charger_id} is offline right now: try again later or choose "
            "another charger",
            504: f"charger {charger_id} did not answer in time: try again in a moment",
        }
        message = messages.get(
            exc.status_code,
            f"charger {charger_id} could not do this: try again, or contact support if it "
            "keeps failing",
        )
        raise ApiError(exc.status_code, message) from None
    except InvalidRequest as exc:
        raise ApiError(422, str(exc)) from None


# -- cards ----------------------------------------------------------------------------


@router.get("/me/cards", response_model=list[CardOut])
async def list_cards(ctx: CustomerContext) -> list[dict[str, Any]]:
    """Your RFID cards, UIDs masked."""
    customer_id, now = ctx.caller.customer_id, ctx.now()
    cards = await ctx.db.read(lambda uow: accounts.own_cards(uow, customer_id))
    return [_card_answer(card, now=now) for card in cards]


@router.post("/me/cards", response_model=CardOut, status_code=status.HTTP_201_CREATED)
async def add_card(body: CardRegistration, ctx: CustomerContext) -> dict[str, Any]:
    """Register an RFID card you hold: charging with it is then on your account."""
    customer_id, now = ctx.caller.customer_id, ctx.now()
    with unprocessable():
        card = await ctx.db.write(
            lambda uow: accounts.register_card(uow, customer_id, body.uid.strip(), now=now)
        )
    return _card_answer(card, now=now)


@router.post("/me/cards/{card_id}/block", response_model=CardOut)
async def block_card(card_id: int, ctx: CustomerContext) -> dict[str, Any]:
    """Block one of your cards (lost or stolen): chargers refuse it from now on."""
    customer_id, now = ctx.caller.customer_id, ctx.now()
    card = await ctx.db.write(lambda uow: accounts.block_own_card(uow, customer_id, card_id))
    return _card_answer(card, now=now)


# -- favorites ------------------------------------------------------------------------


def _favorite_answer(favorite: accounts.Favorite) -> dict[str, Any]:
    return {
        "charger_id": favorite.charger_id,
        "name": favorite.name,
        "added_at": iso(favorite.added_at),
    }


@router.get("/me/favorites", response_model=list[FavoriteOut])
async def list_favorites(ctx: CustomerContext) -> list[dict[str, Any]]:
    customer_id = ctx.caller.customer_id
    chosen = await ctx.db.read(lambda uow: accounts.favorites(uow, customer_id))
    return [_favorite_answer(f) for f in chosen]


@router.put("/me/favorites/{charger_id}", response_model=FavoriteOut)
async def add_favorite(charger_id: str, ctx: CustomerContext) -> dict[str, Any]:
    """Mark a charger as a favorite (again is fine)."""
    customer_id, now = ctx.caller.customer_id, ctx.now()
    favorite = await ctx.db.write(
        lambda uow: accounts.add_favorite(uow, customer_id, charger_id, now=now)
    )
    return _favorite_answer(favorite)


@router.delete("/me/favorites/{charger_id}", response_model=FavoriteRemoved)
async def remove_favorite(charger_id: str, ctx: CustomerContext) -> dict[str, Any]:
    customer_id = ctx.caller.customer_id
    removed = await ctx.db.write(lambda uow: accounts.remove_favorite(uow, customer_id, charger_id))
    return {"charger_id": charger_id, "removed": removed}


# -- sessions -------------------------------------------------------------------------


@router.get("/me/sessions", response_model=list[SessionOut])
async def list_sessions(
    ctx: CustomerContext,
    active: Annotated[bool | None, Query(description="true: charging now, false: ended")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Your charging sessions, newest first."""
    caller = ctx.caller

    def load(uow: UnitOfWork) -> tuple[list[TransactionRecord], dict[int, InvoiceRecord]]:
        sessions = accounts.own_sessions(uow, caller.customer_id, active=active, limit=limit)
        return sessions, uow.invoices.for_transactions(tx.id for tx in sessions)

    sessions, invoices = await ctx.db.read(load)
    return [
        _session_answer(tx, caller.customer_number, invoice=invoices.get(tx.id)) for tx in sessions
    ]


@router.get("/me/sessions/{session_id}", response_model=SessionDetail)
async def show_session(session_id: int, ctx: CustomerContext) -> dict[str, Any]:
    """One of your sessions with all its meter values."""
    caller = ctx.caller

    def load(uow: UnitOfWork) -> dict[str, Any]:
        tx = accounts.own_session(uow, caller.customer_id, session_id)
        samples = uow.meter_samples.for_transaction(tx.id)
        invoice = uow.invoices.by_transaction(tx.id)
        return _session_answer(
            tx, caller.customer_number, samples, invoice=invoice, invoice_details=True
        )

    return await ctx.db.read(load)


_START_MESSAGES = {
    "Accepted": "the charger is starting your session: plug in if you have not yet",
    "Rejected": "the charger refused to start: check that the connector is free and the "
    "cable is plugged in, or try another connector",
}


@router.post("/me/sessions", response_model=ChargerAnswer)
async def start_session(body: StartRequest, ctx: CustomerContext) -> dict[str, Any]:
    """Start charging at a charger: it is asked to start a session on your account."""
    customer_id, now = ctx.caller.customer_id, ctx.now()
    id_tag = await ctx.db.write(
        lambda uow: accounts.app_start_token(uow, customer_id, body.charger_id, now=now)
    )
    command = RemoteStart(id_tag=id_tag, connector_id=body.connector_id, token_type="Central")
    answer = await _to_charger(ctx, body.charger_id, command)
    charger_status = answer.get("status")
    return {
        "charger_id": body.charger_id,
        "status": charger_status,
        "reason": answer.get("reason"),
        "message": _START_MESSAGES.get(
            str(charger_status), f"the charger answered {charger_status}"
        ),
    }


_STOP_MESSAGES = {
    "Accepted": "the charger is stopping your session: unplug when it has stopped",
    "Rejected": "the charger refused to stop: stop the session at the charger, or contact support",
}


@router.post("/me/sessions/{session_id}/stop", response_model=ChargerAnswer)
async def stop_session(session_id: int, ctx: CustomerContext) -> dict[str, Any]:
    """Stop one of your running sessions."""
    customer_id = ctx.caller.customer_id
    tx = await ctx.db.read(lambda uow: accounts.own_active_session(uow, customer_id, session_id))
    command = RemoteStop(
        transaction_id=tx.transaction_id, station_transaction_id=tx.station_transaction_id
    )
    answer = await _to_charger(ctx, tx.charger_id, command)
    charger_status = answer.get("status")
    return {
        "charger_id": tx.charger_id,
        "session_id": tx.id,
        "status": charger_status,
        "reason": answer.get("reason"),
        "message": _STOP_MESSAGES.get(
            str(charger_status), f"the charger answered {charger_status}"
        ),
    }


# -- paying: cards at the payment processor, invoices ---------------------------------


class PaymentCardRegistration(AppRequest):
    """A card to pay with. Number and CVC are sent on to the payment processor and never
    stored or logged: only its token, the brand and the last 4 digits are kept."""

    number: SecretStr = Field(description="the card number (12-19 digits)")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=0, le=9999, description="YYYY (or YY)")
    cvc: SecretStr = Field(description="3 or 4 digits")


def _payments(ctx: CustomerApiContext) -> PaymentGateway:
    gateway = ctx.payments
    if gateway is None:
        raise ApiError(
            503,
            "card payments are not available on this server yet: charge with a card "
            "or PIN and pay as the operator tells you",
        )
    return gateway


@router.get("/me/payment-cards", response_model=list[PaymentMethodOut])
async def list_payment_cards(ctx: CustomerContext) -> list[dict[str, Any]]:
    """Your cards for paying: brand, last 4 digits, expiry. The newest is charged."""
    customer_id = ctx.caller.customer_id
    methods = await ctx.db.read(lambda uow: uow.payment_methods.list(customer_id))
    return [payment_method_view(m) for m in methods]


@router.post(
    "/me/payment-cards", response_model=PaymentMethodOut, status_code=status.HTTP_201_CREATED
)
async def add_payment_card(
    body: PaymentCardRegistration,
    ctx: CustomerContext,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=100,
            description="send the same key when retrying a request whose answer got lost",
        ),
    ] = None,
) -> dict[str, Any]:
    """Add a card to pay for your sessions with. It is charged at the end of each session."""
    gateway = _payments(ctx)
    caller, now = ctx.caller, ctx.now()
    try:
        card = CardDetails.parse(
            body.number.get_secret_value(),
            body.exp_month,
            body.exp_year,
            body.cvc.get_secret_value(),
            today=now.date(),
        )
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    customer_ref = await ctx.db.read(lambda uow: processor_customer(uow, caller.customer_id))
    key = f"card-{caller.customer_number}-{idempotency_key or secrets.token_hex(12)}"
    try:
        stored = await gateway.add_card(
            card,
            customer_ref=customer_ref,
            description=f"csms customer {caller.customer_number}",
            idempotency_key=key,
            customer_number=str(caller.customer_number),
        )
    except CardRejected as exc:
        raise ApiError(402, f"the card was declined: {exc.message}") from None
    except PaymentProcessorError:
        raise ApiError(
            503, "the payment processor cannot be reached right now: try again in a moment"
        ) from None
    method = await ctx.db.write(
        lambda uow: store_card(
            uow,
            caller.customer_id,
            token=stored.token,
            customer_ref=stored.customer_ref,
            brand=stored.brand,
            last4=stored.last4,
            exp_month=stored.exp_month,
            exp_year=stored.exp_year,
            now=now,
        )
    )
    return payment_method_view(method)


@router.delete("/me/payment-cards/{card_id}", response_model=PaymentMethodOut)
async def remove_payment_card(card_id: int, ctx: CustomerContext) -> dict[str, Any]:
    """Remove a card: it is no longer charged, and is deleted at the payment processor."""
    customer_id, now = ctx.caller.customer_id, ctx.now()
    method = await ctx.db.write(lambda uow: remove_card(uow, customer_id, card_id, now=now))
    return payment_method_view(method)


@router.get("/me/invoices", response_model=list[InvoiceOut])
async def list_invoices(
    ctx: CustomerContext, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """Your invoices, newest first, with every attempt to charge them."""
    customer_id = ctx.caller.customer_id

    def load(uow: UnitOfWork) -> list[dict[str, Any]]:
        return [
            invoice_view(
                invoice,
                attempts=uow.payment_attempts.for_invoice(invoice.id),
                card=uow.payment_methods.get(invoice.payment_method_id)
                if invoice.payment_method_id is not None
                else None,
            )
            for invoice in uow.invoices.list(customer_id=customer_id, limit=limit)
        ]

    return await ctx.db.read(load)
