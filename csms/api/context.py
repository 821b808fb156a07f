"""What every route needs: the database, the command router, settings, the caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from csms.api.errors import ApiError
from csms.api.throttle import token_failed
from csms.config import Settings
from csms.domain.security.tokens import Role, refusal
from csms.routing import CommandRouter
from csms.security import hash_token
from storage.database import Database

__all__ = [
    "ANY_ROLE",
    "OPERATORS",
    "AdminContext",
    "AnyRoleContext",
    "ApiContext",
    "Caller",
    "OperatorContext",
]

# last_used_at is a hint for operators, not an audit log: write it at most this often.
_TOUCH_INTERVAL = timedelta(minutes=1)

ANY_ROLE = (Role.ADMIN, Role.OPERATOR, Role.OWNER)
OPERATORS = (Role.ADMIN, Role.OPERATOR)


@dataclass(frozen=True, slots=True)
class Caller:
    token_id: int
    name: str
    role: Role
    owner_id: int | None

    @property
    def is_owner(self) -> bool:
        return self.role is Role.OWNER

    def sees_owner(self, owner_id: int | None) -> bool:
        """Whether this caller may see a charger of ``owner_id``."""
        return not self.is_owner or owner_id == self.owner_id


@dataclass(frozen=True, slots=True)
class ApiContext:
    db: Database
    router: CommandRouter
    settings: Settings
    caller: Caller

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


_bearer = HTTPBearer(auto_error=False, description="an API token (`csms token create`)")

_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def _caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    if credentials is None or not credentials.credentials:
        raise ApiError(
            401,
            "missing API token: send 'Authorization: Bearer TOKEN' "
            "(create one with `csms token create NAME`)",
            headers=_UNAUTHORIZED,
        )
    db: Database = request.app.state.db
    token_hash = hash_token(credentials.credentials)
    # Read on every request, never cached: a revoked token is refused from the commit on.
    record = await db.read(lambda uow: uow.api_tokens.by_hash(token_hash))
    if record is None:
        token_failed(request)
        raise ApiError(
            401,
            "invalid or revoked API token: check CSMS_API_TOKEN or create one "
            "with `csms token create NAME`",
            headers=_UNAUTHORIZED,
        )
    now = datetime.now(UTC)
    refused = refusal(record, now=now)
    if refused is not None:
        raise ApiError(401, refused, headers=_UNAUTHORIZED)
    if record.last_used_at is None or now - record.last_used_at > _TOUCH_INTERVAL:
        token_id = record.id
        await db.write(lambda uow: uow.api_tokens.touch(token_id, now))
    return Caller(record.id, record.name, Role(record.role), record.owner_id)


def _requires(roles: tuple[Role, ...]) -> Callable[..., Awaitable[ApiContext]]:
    allowed = " or ".join(r.value for r in roles)

    async def dependency(
        request: Request, caller: Annotated[Caller, Depends(_caller)]
    ) -> ApiContext:
        if caller.role not in roles:
            raise ApiError(
                403,
                f"a {caller.role.value} token cannot do this: it needs an {allowed} token "
                "(`csms token create NAME --role operator`)",
            )
        state = request.app.state
        return ApiContext(db=state.db, router=state.router, settings=state.settings, caller=caller)

    return dependency


#: Route parameter types: ``ctx: OperatorContext`` lets admin and operator tokens in.
AnyRoleContext = Annotated[ApiContext, Depends(_requires(ANY_ROLE))]
OperatorContext = Annotated[ApiContext, Depends(_requires(OPERATORS))]
AdminContext = Annotated[ApiContext, Depends(_requires((Role.ADMIN,)))]
