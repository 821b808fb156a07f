"""``/api/app``: the customer API that the driver's app uses: registration, login, the
profile and its preferences, the customer's data (export, deletion). Charging with it (RFID
cards, favorites, sessions, paying) is in ``csms.api.routes.app_charging``.

Every route under ``/api/app/me`` acts for the customer whose login token it was given
and for nobody else: ids of cards and sessions are looked up among that customer's own
records, so another customer's id answers 404 exactly like an id that does not exist.
Card UIDs are only ever shown masked; the app token that starts sessions is never shown.

Registration, login and the unsubscribe link need no token. Passwords and PINs are
hashed in a worker thread (argon2id takes ~40 ms) so chargers are never kept waiting.
Neither registration nor login tells whether an account exists: registering answers the
same for a new and a taken email address (the owner of a taken one is told by email),
and every refused login answers alike after the same hash work.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from csms.api.customer_context import CustomerApiContext, CustomerContext
from csms.api.errors import ApiError
from csms.api.throttle import account_key, login_throttle, source_key, too_many
from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.people import accounts
from csms.domain.people.consents import set_marketing, unsubscribe
from csms.domain.people.customers import (
    MAX_ADDRESS_LENGTH,
    MAX_EMAIL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    CustomerProfile,
    get_customer,
)
from csms.domain.people.rights import export_customer
from csms.domain.views import (
    customer_view,
    iso,
)
from storage.ports import UnitOfWork
from storage.records import CustomerRecord, CustomerTokenRecord

__all__ = ["AppRequest", "no_store", "router", "unprocessable"]


def no_store(response: Response) -> None:
    # Personal data and tokens: no shared or browser cache may keep an answer.
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(prefix="/api/app", tags=["app"], dependencies=[Depends(no_store)])

Channel = Literal["email", "sms"]

# -- request bodies -------------------------------------------------------------------


class AppRequest(BaseModel):
    # A misspelt field is an error, not silently ignored.
    model_config = ConfigDict(extra="forbid")


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RegisterRequest(AppRequest):
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


class LoginRequest(AppRequest):
    login: str = Field(min_length=1, max_length=MAX_EMAIL_LENGTH, description="email or phone")
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class ProfileChange(AppRequest):
    """Fields to change; leave one out to keep it. ``null`` or ``""`` removes the phone
    number, address or vehicle; name and email can be changed but not removed."""

    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)
    email: str | None = Field(default=None, min_length=3, max_length=MAX_EMAIL_LENGTH)
    phone: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=MAX_ADDRESS_LENGTH)
    vehicle: str | None = Field(default=None, max_length=200, description="MAKE/MODEL/YEAR")
    notify: list[Channel] | None = None


class PasswordChange(AppRequest):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)


class PinChange(AppRequest):
    current_password: str = Field(
        min_length=1, max_length=MAX_PASSWORD_LENGTH, description="your password"
    )
    pin: str = Field(description="4-8 digits, not one digit repeated, not a run like 1234")


class NotificationsChange(AppRequest):
    notify: list[Channel] = Field(description='[], ["email"], ["sms"] or both')


class MarketingChange(AppRequest):
    opt_in: bool


class AccountDeletion(AppRequest):
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


# -- answers --------------------------------------------------------------------------


class TokenOut(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer TOKEN'; shown only once")
    expires_at: datetime
    customer_number: int


class RegistrationOut(BaseModel):
    message: str = Field(
        description="the same for every registration: log in next (POST /api/app/login)"
    )
    login: str = Field(description="where to log in with your email address and password")


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


class AccountDeleted(BaseModel):
    customer_number: int
    erased_at: datetime
    message: str


# -- helpers --------------------------------------------------------------------------


@contextmanager
def unprocessable() -> Iterator[None]:
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


# -- registration and login -----------------------------------------------------------


@router.post("/register", response_model=RegistrationOut, status_code=status.HTTP_202_ACCEPTED)
async def register(body: RegisterRequest, request: Request) -> dict[str, Any]:
    """Create an account (18 or older only), then log in with ``POST /api/app/login``.

    The answer is the same whether the email address was new or already had an account:
    for a taken address no account is made and its owner is told by email instead, so the
    answer never tells anyone whether an address is registered.
    """
    db = request.app.state.db
    now = CustomerApiContext.now()
    with unprocessable():
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
    with unprocessable():
        await db.write(
            lambda uow: accounts.register_or_tell_owner(
                uow, registration, password_hash=password_hash, pin_hash=pin_hash, now=now
            )
        )
    return {"message": accounts.REGISTRATION_RECEIVED, "login": "/api/app/login"}


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
    now = CustomerApiContext.now()
    if customer is None:
        # recorded like a wrong password is: the same write, so the same time
        await db.write(lambda uow: accounts.record_unknown_login(uow, now=now))
        raise ApiError(401, _LOGIN_FAILED)
    token = accounts.new_customer_token()
    address = _client_address(request)
    customer_id = customer.id

    # A hash of an older scheme (scrypt) is replaced now that the password is known.
    rehashed = (
        await asyncio.to_thread(
            accounts.rehash_login_password, body.password, stored, matches=matches
        )
        if matches
        else None
    )

    def run(uow: UnitOfWork) -> CustomerTokenRecord | None:
        # (recorded in the write, so that concurrent guesses each see the count before)
        if not accounts.record_login_attempt(uow, customer_id, matches=matches, now=now):
            return None
        if rehashed is not None and stored is not None:
            accounts.store_rehashed_password(uow, customer_id, old_hash=stored, new_hash=rehashed)
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
        value: str | None = getattr(body, field)
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
    with unprocessable():
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
    with unprocessable():
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
    with unprocessable():
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
