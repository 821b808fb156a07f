"""Security headers on every API response (issue 18, item 9).

- ``X-Content-Type-Options: nosniff`` everywhere: a browser never guesses a type (a
  JSON error echoing input is never run as HTML or script).
- On HTML (the API docs, the console): ``X-Frame-Options: DENY`` and a
  ``Content-Security-Policy`` that allows nothing but what the pages load, all from their
  own origin (the Swagger UI assets are served from the package, csms.api.docs; no inline
  script), plus inline styles, which Swagger UI sets on its elements.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SecurityHeadersMiddleware"]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
_ALWAYS = [(b"x-content-type-options", b"nosniff")]
_HTML = [
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
]


class SecurityHeadersMiddleware:
    """Adds the headers above to each HTTP response ``app`` sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(_ALWAYS)
                content_type = next(
                    (value for name, value in headers if name.lower() == b"content-type"), b""
                )
                if content_type.lower().startswith(b"text/html"):
                    headers.extend(_HTML)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
