"""HTTP errors: every error body is ``{"error": "<what went wrong and what to do>"}``.

Domain, storage and command errors map to status codes here, so routes just raise; no
stack trace ever reaches a client (unexpected errors are logged, answered with 500).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from csms.domain.errors import AlreadyExists, DomainError, InvalidRequest, NotFound
from csms.routing import ChargerNotConnected, CommandError, CommandTimeout
from storage.errors import ConflictError, StorageError, StorageUnavailable

__all__ = ["ApiError", "install_error_handlers", "integers_in_range", "validation_message"]

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer with its HTTP status."""

    def __init__(
        self, status_code: int, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def _location(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "request body"


def validation_message(errors: Sequence[Any]) -> str:
    """One line per problem: ``field: what is wrong``."""
    lines = []
    for err in errors:
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        elif err.get("type") == "json_invalid":
            msg = "the body is not valid JSON"
        lines.append(f"{_location(err.get('loc', ()))}: {msg}")
    return "invalid request: " + "; ".join(lines)


#: What the database columns behind integer path and query parameters hold: ids are
#: INTEGER (32-bit on PostgreSQL), customer numbers BIGINT.
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_WIDE_PARAMETERS = frozenset({"customer_number", "customer"})


async def integers_in_range(request: Request) -> None:
    """Refuse an integer path or query parameter that no row can have, before it reaches
    the database: ``/api/sessions/99999999999999999999999`` is 404 (a query parameter:
    422), not an overflow in the driver answered 500 with a traceback in the log."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    for fields, values, status in (
        (dependant.path_params, request.path_params, 404),
        (dependant.query_params, request.query_params, 422),
    ):
        for field in fields:
            if field.field_info.annotation not in (int, int | None):
                continue
            raw = values.get(field.alias)
            if raw is None:
                continue
            try:
                value = int(raw)
            except ValueError:
                continue  # not a number: the route's own validation says so
            low, high = _INT64 if field.name in _WIDE_PARAMETERS else _INT32
            if not low <= value <= high:
                name = field.name.replace("_", " ")
                if status == 404:
                    raise ApiError(404, f"no such {name}: {raw[:30]} is out of range")
                raise ApiError(422, f"invalid request: {field.alias}: out of range")


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return _error(exc.status_code, exc.message, exc.headers)

    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        status = 400
        if isinstance(exc, NotFound):
            status = 404
        elif isinstance(exc, AlreadyExists):
            status = 409
        elif isinstance(exc, InvalidRequest):
            status = 400
        return _error(status, str(exc))

    async def storage_error(_: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, ConflictError):
            return _error(409, "the change conflicts with existing data (it may already exist)")
        if isinstance(exc, StorageUnavailable):
            log.error("database unavailable: %s", exc)
            return _error(503, "the database is unavailable: check the server log")
        log.error("database error: %s", exc)
        return _error(500, "database error: check the server log")

    async def command_error(_: Request, exc: Exception) -> JSONResponse:
        # ChargerNotConnected and CommandTimeout are CommandErrors: most specific first.
        if isinstance(exc, ChargerNotConnected):
            return _error(503, f"{exc}: the charger is not connected; try again when it is")
        if isinstance(exc, CommandTimeout):
            return _error(504, f"{exc}: the charger did not answer in time; try again")
        assert isinstance(exc, CommandError)
        code = f" ({exc.error_code})" if exc.error_code else ""
        return _error(502, f"the charger refused the command with an error{code}: {exc}")

    async def request_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _error(422, validation_message(exc.errors()))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such API endpoint: see /api/docs"
        elif exc.status_code == 405:
            message = "method not allowed for this endpoint: see /api/docs"
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The server (uvicorn) logs the traceback; the client only learns that it failed.
        # The route's template, not the path: a path can hold a card UID or a token.
        route = request.scope.get("route")
        where = getattr(route, "path", None) or "(no route)"
        log.error("unexpected %s in %s %s", type(exc).__name__, request.method, where)
        return _error(500, "internal server error: see the server log")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(StorageError, storage_error)
    app.add_exception_handler(CommandError, command_error)
    app.add_exception_handler(RequestValidationError, request_validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
