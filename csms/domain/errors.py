"""Errors the domain raises for operator and API requests (never for charger messages)."""

from __future__ import annotations

__all__ = ["AlreadyExists", "DomainError", "InvalidRequest", "NotFound"]


class DomainError(Exception):
    """A request the domain refuses; the message says what to do."""


class NotFound(DomainError):
    pass


class AlreadyExists(DomainError):
    pass


class InvalidRequest(DomainError):
    pass
