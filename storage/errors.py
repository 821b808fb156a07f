"""Storage errors: what the domain sees instead of driver exceptions."""

from __future__ import annotations

__all__ = ["ConflictError", "StorageError", "StorageUnavailable"]


class StorageError(Exception):
    """A database operation failed."""


class ConflictError(StorageError):
    """A uniqueness or reference constraint refused the change."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or is not ready (e.g. not migrated)."""
