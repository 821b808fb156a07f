"""The caller of the customer API (the driver's app): one customer, by their login token.

Customer tokens live in ``customer_tokens`` and operator/owner/admin tokens in
``api_tokens``; each context looks in its own table only, so neither kind of token opens
the other API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from csms.api.errors import ApiError
from csms.api.throttle import token_failed
from csms.config import Settings
from csms.domain.billing.payments import PaymentGateway
from csms.domain.people.accounts import authenticate_customer
from csms.routing import CommandRouter
from storage.database import Database

__all__ = ["CustomerApiContext", "CustomerCaller", "CustomerContext"]

# last_used_at shows the customer (export) and support when a login was last used; a
# minute is precise enough and spares a write per request.
_TOUCH_INTERVAL = timedelta(minutes=1)

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class CustomerCaller:
    """The logged-in customer: which login (token) and whose it is."""

    token_id: int
    customer_id: int
    customer_number: int


@dataclass(frozen=True, slots=True)
class CustomerApiContext:
    db: Database
    router: CommandRouter
    settings: Settings
    caller: CustomerCaller
    #: The payment processor (None: card payments are not configured).
    payments: PaymentGateway | None = None

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="CustomerToken",
    description="a customer login token (POST /api/app/login)",
)


async def _customer_context(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> CustomerApiContext:
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401,
            "you are not logged in: log in (POST /api/app/login) and send the token as "
            "'Authorization: Bearer TOKEN'",
            headers=_UNAUTHORIZED,
        )
    state = request.app.state
    db: Database = state.db
    token = credentials.credentials
    now = datetime.now(UTC)
    login = await db.read(lambda uow: authenticate_customer(uow, token, now=now))
    if login is None:
        token_failed(request)
        raise ApiError(
            401,
            "your login has expired or was ended: log in again (POST /api/app/login)",
            headers=_UNAUTHORIZED,
        )
    record = login.token
    if record.last_used_at is None or now - record.last_used_at > _TOUCH_INTERVAL:
        token_id = record.id
        await db.write(lambda uow: uow.customer_tokens.touch(token_id, now))
    caller = CustomerCaller(
        token_id=record.id,
        customer_id=login.customer.id,
        customer_number=login.customer.customer_number,
    )
    return CustomerApiContext(
        db=db,
        router=state.router,
        settings=state.settings,
        caller=caller,
        payments=getattr(state, "payments", None),
    )


#: Route parameter type: ``ctx: CustomerContext`` admits a valid customer token only.
CustomerContext = Annotated[CustomerApiContext, Depends(_customer_context)]
