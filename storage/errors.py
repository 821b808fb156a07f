"""Storage errors: what the domain sees instead of driver exceptions."""

from __future__ import annotations

__all__ = ["ConflictError", "DatabaseUnavailable", "StorageError", "StorageUnavailable"]


class StorageError(Exception):
    """A database operation failed."""


class ConflictError(StorageError):
    """A uniqueness or reference constraint refused the change."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or is not ready (e.g. not migrated)."""


class DatabaseUnavailable(StorageUnavailable):
    """The database server cannot be reached right now: connections refused, dropped or
    timed out, or the server is shutting down or starting up. Worth trying again shortly:
    ``Database.write`` holds a write through a short outage before it gives up with this
    (``CSMS_DB_OUTAGE_HOLD``), and the pool reconnects by itself once the server is back."""
