"""API routers, one module per resource."""

from __future__ import annotations

from csms.api.routes import cards, chargers, customers, owners, sessions

__all__ = ["cards", "chargers", "customers", "owners", "sessions"]
