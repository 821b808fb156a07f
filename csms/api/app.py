"""The FastAPI application. The server serves it with uvicorn in the gateway's event loop,
so routes stay thin: one database round trip or one command each, no background work."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import Depends, FastAPI

from csms.api.body_limit import BodyLimitMiddleware, route_body_limits
from csms.api.docs import router as docs_router
from csms.api.errors import install_error_handlers, integers_in_range
from csms.api.headers import SecurityHeadersMiddleware
from csms.api.routes import (
    app_api,
    app_charging,
    billing,
    cards,
    charger_certificates,
    charger_events,
    chargers,
    customers,
    owners,
    sessions,
)
from csms.api.routes.certificates import router as certificates_router
from csms.api.routes.charger_credentials import router as charger_credentials_router
from csms.api.routes.privacy import router as privacy_router
from csms.api.routes.reports import router as reports_router
from csms.api.schemas import Health
from csms.config import Settings
from csms.domain.billing.payments import PaymentGateway
from csms.ratelimit import GuessThrottle
from csms.routing import CommandRouter
from storage.database import Database

__all__ = ["create_app"]


def _version() -> str:
    try:
        return version("csms")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def create_app(
    *,
    db: Database,
    router: CommandRouter,
    settings: Settings,
    payments: PaymentGateway | None = None,
) -> FastAPI:
    """The HTTP API over ``db``, sending charger commands through ``router``; cards go to
    the payment processor ``payments`` (None: card payments are not configured)."""
    app = FastAPI(
        title="csms",
        version=_version(),
        description="OCPP central system: chargers, sessions, customers, cards, owners. "
        "Authenticate with 'Authorization: Bearer TOKEN' (`csms token create`).",
        docs_url=None,  # csms.api.docs serves it, without a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
        dependencies=[Depends(integers_in_range)],
    )
    app.state.db = db
    app.state.router = router
    app.state.settings = settings
    app.state.payments = payments
    # Failed logins and tokens per source and per account (csms/api/throttle.py).
    app.state.login_throttle = GuessThrottle(settings.api.rate_limit_login)
    install_error_handlers(app)
    # Request bodies are bounded before they are read (csms/api/body_limit.py).
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.api.max_body,
        overrides=lambda: route_body_limits(app.router.routes),
    )
    # nosniff everywhere, no framing and a CSP on HTML (csms/api/headers.py); added last,
    # so outermost: the body limit's own 413 gets them too.
    app.add_middleware(SecurityHeadersMiddleware)
    for module in (chargers, sessions, customers, cards, owners, billing):
        app.include_router(module.router)
    app.include_router(app_api.router)
    app.include_router(charger_certificates.router)
    app.include_router(charger_events.router)
    app.include_router(app_charging.router)
    app.include_router(reports_router)
    app.include_router(privacy_router)
    app.include_router(certificates_router)
    app.include_router(charger_credentials_router)
    app.include_router(docs_router)
    api_version = _version()

    @app.get("/api/health", response_model=Health, tags=["health"])
    async def health() -> dict[str, Any]:
        """Liveness, without authentication (what `csms` checks to tell "not running")."""
        return {"status": "ok", "version": api_version}

    return app
