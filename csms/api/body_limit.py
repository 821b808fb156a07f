"""Bounded request bodies: a body over the limit is refused with 413 before it is read.

A 30 MB body sent to any route used to be read in full before the route could refuse it
(eight at once took the server from 455 to 799 MB). This ASGI middleware sits in front of
the routes:

- a declared ``Content-Length`` over the limit is answered 413 at once, without reading a
  byte of the body;
- a body without one (``Transfer-Encoding: chunked``) is counted as it streams, and the
  request fails with 413 as soon as the count passes the limit: at most the limit is ever
  held in memory.

Either way the answer carries ``Connection: close``, so the server does not go on reading
(and discarding) the rest of the body.

The limit is ``CSMS_API_MAX_BODY`` (default 1 MB) for every route; a route that takes
larger bodies (file uploads) says so with :func:`max_body` on its endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "BodyTooLarge", "max_body", "route_body_limits"]

_ATTRIBUTE = "__csms_max_body__"
_CLOSE = (b"connection", b"close")

_F = TypeVar("_F", bound=Callable[..., Any])


def max_body(limit: int) -> Callable[[_F], _F]:
    """Give one route its own body limit in bytes (instead of ``CSMS_API_MAX_BODY``).

    Put it under the route decorator::

        @router.put("/uploads/{token}/{name}")
        @max_body(100 * 1024 * 1024)
        async def upload(...): ...
    """

    def mark(endpoint: _F) -> _F:
        setattr(endpoint, _ATTRIBUTE, limit)
        return endpoint

    return mark


def route_body_limits(routes: list[BaseRoute]) -> list[tuple[BaseRoute, int]]:
    """The routes that have a limit of their own (:func:`max_body`), with it."""
    found = []
    for route in routes:
        limit = getattr(getattr(route, "endpoint", None), _ATTRIBUTE, None)
        if isinstance(limit, int):
            found.append((route, limit))
    return found


def _describe(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} kB"
    return f"{limit} bytes"


class BodyTooLarge(HTTPException):
    """The request body passed the limit (answered 413 by the API's error handlers)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"request body too large: at most {_describe(limit)} is accepted here",
            headers={"Connection": "close"},
        )


class BodyLimitMiddleware:
    """Refuse HTTP request bodies over ``default_limit`` bytes (or the route's own)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        default_limit: int,
        overrides: Callable[[], list[tuple[BaseRoute, int]]] = list,
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        # (a callable: routes are added to the app after the middleware is declared)
        self._overrides = overrides
        self._resolved: list[tuple[BaseRoute, int]] | None = None

    def _limit_for(self, scope: Scope) -> int:
        overrides = self._resolved
        if overrides is None:
            overrides = self._resolved = self._overrides()
        for route, limit in overrides:
            if route.matches(scope)[0] is Match.FULL:
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)  # the body is never read
            return
        received = 0
        exceeded = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def closing_send(message: Message) -> None:
            if exceeded and message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, _CLOSE]}
            await send(message)

        await self.app(scope, counting_receive, closing_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see it
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"error": BodyTooLarge(limit).detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                _CLOSE,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
