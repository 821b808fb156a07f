"""``/api/app``: the customer API that the driver's app uses.

Every route under ``/api/app/me`` acts for the customer whose login token it was given
and for nobody else: ids of cards and sessions are looked up among that customer's own
records, so another customer's id answers 404 exactly like an id that does not exist.
Card UIDs are only ever shown masked; the app token that starts sessions is never shown.

Registration, login and the unsubscribe link need no token. Passwords and PINs are
hashed in a worker thread (scrypt takes ~40 ms) so chargers are never kept waiting.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError

from csms.api.command_answers import command_answer as send_command
from csms.api.customer_context import CustomerApiContext, CustomerContext
from csms.api.errors import ApiError
from csms.api.schemas import DriverSessionDetail as SessionDetail
from csms.api.schemas import DriverSessionOut as SessionOut
from csms.api.schemas import InvoiceOut, PaymentMethodOut
from csms.api.throttle import account_key, login_throttle, source_key, too_many
from csms.domain import accounts
from csms.domain.charging.remote_commands import RemoteStart, RemoteStop
from csms.domain.consents import set_marketing, unsubscribe
from csms.domain.customers import (
    MAX_ADDRESS_LENGTH,
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    CustomerProfile,
    get_customer,
)
from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.payment_cards import processor_customer, remove_card, store_card
from csms.domain.rights import export_customer
from csms.domain.views import (
    card_view,
    customer_view,
    invoice_view,
    iso,
    payment_method_view,
    session_view,
)
from notify.errors import DeliveryError
from notify.payments import CardDetails, CardRejected, PaymentGateway
from storage.ports import UnitOfWork
from storage.records import CustomerRecord, CustomerTokenRecord, InvoiceRecord, TransactionRecord

__all__ = ["router"]


def _no_store(response: Response) -> None:
    # Personal data and tokens: no shared or browser cache may keep an answer.
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(prefix="/api/app", tags=["app"], dependencies=[Depends(_no_store)])

Channel = Literal["email", "sms"]

# -- request bodies -------------------------------------------------------------------


class _Request(BaseModel):
    # A misspelt field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RegisterRequest(_Request):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    email: str = Field(min_length=3, max_length=MAX_EMAIL_LENGTH)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    birth_date: date = Field(description="YYYY-MM-DD; only people 18 or older can register")
    phone: str | None = Field(default=None, max_length=32, description="+4930123456")
    address: str | None = Field(default=None, max_length=MAX_ADDRESS_LENGTH)
    vehicle: str | None = Field(default=None, max_length=200, description="MAKE/MODEL/YEAR")
    notify: list[Channel] = Field(default_factory=list, description="email and/or sms")
    marketing_opt_in: bool = False
    pin: str | None = Field(default=None, max_length=8, description="touchscreen PIN, 4-8 digits")

    @field_validator("birth_date", mode="before")
    @classmethod
    def _calendar_date(cls, value: Any) -> Any:
        if not isinstance(value, str) or not _DATE.match(value):
            raise PydanticCustomError("date_format", "use YYYY-MM-DD, e.g. 1990-04-27")
        return value


class LoginRequest(_Request):
    login: str = Field(min_length=1, max_length=MAX_EMAIL_LENGTH, description="email or phone")
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class ProfileChange(_Request):
    """Fields to change; leave one out to keep it. ``null`` or ``""`` removes the phone
    number, address or vehicle; name and email can be changed but not removed."""

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    email: str | None = Field(default=None, min_length=3, max_length=MAX_EMAIL_LENGTH)
    phone: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=MAX_ADDRESS_LENGTH)
    vehicle: str | None = Field(default=None, max_length=200, description="MAKE/MODEL/YEAR")
    notify: list[Channel] | None = None


class PasswordChange(_Request):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)


class PinChange(_Request):
    current_password: str = Field(
        min_length=1, max_length=MAX_PASSWORD_LENGTH, description="your password"
    )
    pin: str = Field(description="4-8 digits, not one digit repeated, not a run like 1234")


class NotificationsChange(_Request):
    notify: list[Channel] = Field(description='[], ["email"], ["sms"] or both')


class MarketingChange(_Request):
    opt_in: bool


class CardRegistration(_Request):
    uid: str = Field(min_length=1, max_length=36, description="the UID of an RFID card you hold")


class StartRequest(_Request):
    charger_id: str = Field(min_length=1, max_length=48)
    connector_id: int | None = Field(default=None, ge=1, description="any free one if left out")


class AccountDeletion(_Request):
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


# -- answers --------------------------------------------------------------------------


class TokenOut(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer TOKEN'; shown only once")
    expires_at: datetime
    customer_number: int


class LoggedOut(BaseModel):
    logged_out: bool


class VehicleOut(BaseModel):
    make: str
    model: str | None = None
    year: int | None = None


class ProfileOut(BaseModel):
    customer_number: int
    name: str | None
    email: str | None
    phone: str | None = None
    address: str | None = None
    vehicle: VehicleOut | None = None
    notify: list[str]
    marketing_opt_in: bool
    pin_set: bool
    pin_locked_until: datetime | None = None
    created_at: datetime
    cards: int
    favorites: int


class PasswordChanged(BaseModel):
    password_changed: bool
    other_logins_ended: int = Field(description="logins on other devices that were ended")


class PinSet(BaseModel):
    pin_set: bool


class NotificationsOut(BaseModel):
    notify: list[str]


class MarketingOut(BaseModel):
    opt_in: bool
    changed_at: datetime | None = None
    unsubscribe_url: str | None = Field(
        default=None, description="opens without logging in and opts out at once"
    )


class Unsubscribed(BaseModel):
    unsubscribed: bool
    message: str


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


class AccountDeleted(BaseModel):
    customer_number: int
    erased_at: datetime
    message: str


# -- helpers --------------------------------------------------------------------------


@contextmanager
def _unprocessable() -> Iterator[None]:
    """Domain validation failures answer 422, like malformed bodies do."""
    try:
        yield
    except InvalidRequest as exc:
        raise ApiError(422, str(exc)) from None


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client is not None else None


def _token_answer(customer: CustomerRecord, token: str, expires_at: datetime) -> dict[str, Any]:
    return {
        "token": token,
        "expires_at": iso(expires_at),
        "customer_number": customer.customer_number,
    }


async def _verify_password(ctx: CustomerApiContext, password: str) -> None:
    customer_id = ctx.caller.customer_id
    customer = await ctx.db.read(lambda uow: uow.customers.get(customer_id))
    stored = customer.password_hash if customer is not None else None
    if not await asyncio.to_thread(accounts.check_login_password, password, stored):
        raise ApiError(403, "the password is not correct: enter your current password")


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
        return await send_command(ctx.router, charger_id, command)
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


# -- registration and login -----------------------------------------------------------


@router.post("/register", response_model=TokenOut, status_code=status.HTTP_201_CREATED)
async def register(body: RegisterRequest, request: Request) -> dict[str, Any]:
    """Create an account (18 or older only) and log in: the answer holds the login token."""
    db = request.app.state.db
    now = CustomerApiContext.now()
    with _unprocessable():
        accounts.check_can_register(body.birth_date, today=now.date())
        if body.pin is not None:
            accounts.check_pin_rules(body.pin)
    # Hashed before the database is asked whether the address is taken, so that both
    # answers take the same time.
    password_hash, pin_hash = await asyncio.to_thread(
        accounts.hash_credentials, body.password, body.pin
    )
    assert password_hash is not None
    registration = accounts.Registration(
        name=body.name,
        email=body.email,
        birth_date=body.birth_date,
        phone=body.phone,
        address=body.address,
        vehicle=body.vehicle,
        notify=tuple(body.notify),
        marketing_opt_in=body.marketing_opt_in,
    )
    token = accounts.new_customer_token()
    address = _client_address(request)

    def run(uow: UnitOfWork) -> tuple[CustomerRecord, datetime]:
        customer = accounts.register_customer(
            uow, registration, password_hash=password_hash, pin_hash=pin_hash, now=now
        )
        login = accounts.issue_token(uow, customer.id, token=token, now=now, created_ip=address)
        return customer, login.expires_at

    with _unprocessable():
        customer, expires_at = await db.write(run)
    return _token_answer(customer, token, expires_at)


# The same answer for every refusal (unknown login, wrong password, a paused account), so
# that it never tells whether a login exists.
_LOGIN_FAILED = (
    "wrong email, phone number or password: check them and try again (after 10 wrong "
    "passwords in a row, logging in is paused for 15 minutes)"
)


@router.post("/login", response_model=TokenOut)
async def login(body: LoginRequest, request: Request) -> dict[str, Any]:
    """Log in with email address or phone number and password."""
    db = request.app.state.db
    throttle = login_throttle(request)
    guess = (source_key(request), account_key(body.login))
    decision = throttle.begin(*guess)
    if not decision.allowed:  # before any password is checked (issue 18, item 8)
        raise too_many(decision.retry_after)
    customer = await db.read(lambda uow: accounts.customer_for_login(uow, body.login))
    stored = customer.password_hash if customer is not None else None
    # Checked against a decoy hash when there is no such login: the same time either way.
    matches = await asyncio.to_thread(accounts.check_login_password, body.password, stored)
    if customer is None:
        raise ApiError(401, _LOGIN_FAILED)
    now = CustomerApiContext.now()
    token = accounts.new_customer_token()
    address = _client_address(request)
    customer_id = customer.id

    def run(uow: UnitOfWork) -> CustomerTokenRecord | None:
        # (recorded in the write, so that concurrent guesses each see the count before)
        if not accounts.record_login_attempt(uow, customer_id, matches=matches, now=now):
            return None
        return accounts.issue_token(uow, customer_id, token=token, now=now, created_ip=address)

    login = await db.write(run)
    if login is None:
        raise ApiError(401, _LOGIN_FAILED)
    throttle.succeeded(*guess)
    return _token_answer(customer, token, login.expires_at)


@router.post("/logout", response_model=LoggedOut)
async def logout(ctx: CustomerContext) -> dict[str, Any]:
    """End this login: its token stops working at once."""
    token_id, now = ctx.caller.token_id, ctx.now()
    await ctx.db.write(lambda uow: accounts.revoke_token(uow, token_id, now=now))
    return {"logged_out": True}


# -- profile and preferences ----------------------------------------------------------


async def _profile(ctx: CustomerApiContext) -> dict[str, Any]:
    customer_id = ctx.caller.customer_id

    def load(uow: UnitOfWork) -> tuple[CustomerRecord, int, int]:
        customer = uow.customers.get(customer_id)
        if customer is None:
            raise NotFound("this account no longer exists")
        cards = len(accounts.own_cards(uow, customer_id))
        return customer, cards, len(uow.favorites.list(customer_id))

    customer, cards, favorites = await ctx.db.read(load)
    return {**customer_view(customer), "cards": cards, "favorites": favorites}


@router.get("/me", response_model=ProfileOut)
async def show_profile(ctx: CustomerContext) -> dict[str, Any]:
    """Your profile, preferences and how many cards and favorites you have."""
    return await _profile(ctx)


@router.patch("/me", response_model=ProfileOut)
async def change_profile(body: ProfileChange, ctx: CustomerContext) -> dict[str, Any]:
    """Change name, email, phone, address, vehicle or notification channels."""
    given = body.model_fields_set
    for required in ("name", "email"):
        if required in given and getattr(body, required) is None:
            raise ApiError(422, f"{required} cannot be removed: give a new {required}")

    def clearable(field: str) -> str | None:
        value = getattr(body, field)
        if field in given and value is None:
            return ""  # null removes it
        return value

    profile = CustomerProfile(
        name=body.name,
        email=body.email,
        phone=clearable("phone"),
        address=clearable("address"),
        vehicle=clearable("vehicle"),
        notify=body.notify,
    )
    customer_id, now = ctx.caller.customer_id, ctx.now()
    with _unprocessable():
        await ctx.db.write(lambda uow: accounts.update_profile(uow, customer_id, profile, now=now))
    return await _profile(ctx)


@router.put("/me/password", response_model=PasswordChanged)
async def change_password(body: PasswordChange, ctx: CustomerContext) -> dict[str, Any]:
    """Change your password; your logins on other devices end (this one stays)."""
    await _verify_password(ctx, body.current_password)
    password_hash, _ = await asyncio.to_thread(accounts.hash_credentials, body.new_password, None)
    assert password_hash is not None
    caller, now = ctx.caller, ctx.now()
    ended = await ctx.db.write(
        lambda uow: accounts.set_password_hash(
            uow, caller.customer_id, password_hash, keep_token_id=caller.token_id, now=now
        )
    )
    return {"password_changed": True, "other_logins_ended": ended}


async def _verify_password_as_login(
    ctx: CustomerApiContext, request: Request, password: str
) -> None:
    """:func:`_verify_password`, counted like a login: a wrong password counts towards
    CSMS_RATE_LIMIT_LOGIN and towards the 10-wrong-passwords pause of the account, so a
    stolen app token does not open a way to guess the password."""
    throttle = login_throttle(request)
    customer_id = ctx.caller.customer_id
    guess = (source_key(request), ("customer", customer_id))
    decision = throttle.begin(*guess)
    if not decision.allowed:
        raise too_many(decision.retry_after)
    customer = await ctx.db.read(lambda uow: uow.customers.get(customer_id))
    stored = customer.password_hash if customer is not None else None
    matches = await asyncio.to_thread(accounts.check_login_password, password, stored)
    now = ctx.now()
    allowed = await ctx.db.write(
        lambda uow: accounts.record_login_attempt(uow, customer_id, matches=matches, now=now)
    )
    if not matches:
        raise ApiError(403, "the password is not correct: enter your current password")
    if not allowed:
        raise ApiError(403, _LOGIN_FAILED)
    throttle.succeeded(*guess)


@router.put("/me/pin", response_model=PinSet)
async def change_pin(body: PinChange, ctx: CustomerContext, request: Request) -> dict[str, Any]:
    """Set the PIN you log in with at a charger's touchscreen (your password is asked:
    the PIN starts charging sessions that you pay for)."""
    with _unprocessable():
        accounts.check_pin_rules(body.pin)
    await _verify_password_as_login(ctx, request, body.current_password)
    _, pin_hash = await asyncio.to_thread(accounts.hash_credentials, None, body.pin)
    assert pin_hash is not None
    customer_id, now = ctx.caller.customer_id, ctx.now()
    await ctx.db.write(lambda uow: accounts.set_pin_hash(uow, customer_id, pin_hash, now=now))
    return {"pin_set": True}


@router.put("/me/notifications", response_model=NotificationsOut)
async def change_notifications(body: NotificationsChange, ctx: CustomerContext) -> dict[str, Any]:
    """How to tell you that your car is charged: email, SMS, both or none."""
    profile = CustomerProfile(notify=body.notify)
    customer_id, now = ctx.caller.customer_id, ctx.now()
    with _unprocessable():
        await ctx.db.write(lambda uow: accounts.update_profile(uow, customer_id, profile, now=now))
    return {"notify": (await _profile(ctx))["notify"]}


@router.put("/me/marketing", response_model=MarketingOut)
async def change_marketing(
    body: MarketingChange, ctx: CustomerContext, request: Request
) -> dict[str, Any]:
    """Opt in to or out of marketing messages. Opting in answers the unsubscribe link that
    each message will carry."""
    customer_id, now = ctx.caller.customer_id, ctx.now()

    def run(uow: UnitOfWork) -> str | None:
        customer = uow.customers.get(customer_id)
        if customer is None:
            raise NotFound("this account no longer exists")
        return set_marketing(uow, customer, opt_in=body.opt_in, now=now)

    token = await ctx.db.write(run)
    answer: dict[str, Any] = {"opt_in": body.opt_in, "changed_at": iso(now)}
    if token is not None:
        answer["unsubscribe_url"] = str(request.url_for("unsubscribe_link", token=token))
    return answer


_UNSUBSCRIBED = "You are unsubscribed: you will get no more marketing messages from us."


async def _unsubscribe(request: Request, token: str) -> dict[str, Any]:
    db = request.app.state.db
    now = CustomerApiContext.now()
    try:
        await db.write(lambda uow: unsubscribe(uow, token, now=now))
    except NotFound:
        raise ApiError(
            404,
            "this unsubscribe link is not valid: copy the whole link from the message, or "
            "change your choice in the app",
        ) from None
    return {"unsubscribed": True, "message": _UNSUBSCRIBED}


@router.get("/unsubscribe/{token}", response_model=Unsubscribed, name="unsubscribe_link")
async def unsubscribe_link(token: str, request: Request) -> dict[str, Any]:
    """The link in marketing messages: opts out at once, no login needed (idempotent)."""
    return await _unsubscribe(request, token)


@router.post("/unsubscribe/{token}", response_model=Unsubscribed)
async def unsubscribe_one_click(token: str, request: Request) -> dict[str, Any]:
    """The same as the link, for mail programs' one-click unsubscribe (RFC 8058)."""
    return await _unsubscribe(request, token)


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
    with _unprocessable():
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


class PaymentCardRegistration(_Request):
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
    except DeliveryError:
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


# -- your data ------------------------------------------------------------------------


@router.get("/me/export")
async def export(ctx: CustomerContext, response: Response) -> dict[str, Any]:
    """Everything held about you, as one JSON document (card UIDs masked)."""
    number, now = ctx.caller.customer_number, ctx.now()
    document = await ctx.db.read(
        lambda uow: export_customer(uow, get_customer(uow, number), now=now)
    )
    response.headers["Content-Disposition"] = f'attachment; filename="csms-export-{number}.json"'
    return document


@router.delete("/me", response_model=AccountDeleted)
async def delete_account(body: AccountDeletion, ctx: CustomerContext) -> dict[str, Any]:
    """Delete your account: your identity, cards, logins and favorites are erased for good;
    sessions stay in the books under your customer number only."""
    await _verify_password(ctx, body.password)
    customer_id, now = ctx.caller.customer_id, ctx.now()
    erased = await ctx.db.write(lambda uow: accounts.close_account(uow, customer_id, now=now))
    return {
        "customer_number": erased.customer_number,
        "erased_at": iso(erased.erased_at),
        "message": "your account is deleted: your personal data is erased and you are logged out",
    }
