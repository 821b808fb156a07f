"""SQLAlchemy Core implementations of the storage ports, over a synchronous ``Connection``,
one module per aggregate.

They run inside ``Database.write``/``Database.read`` (a worker thread for SQLite, the
async driver's greenlet bridge for PostgreSQL). They never commit: the unit of work
(``unit_of_work``) groups them and ``storage.database`` commits it. ``common`` holds what
the modules share; ``vault`` the encryption of personal data.
"""

from __future__ import annotations

from storage.sql.repositories.cache import StorageCache
from storage.sql.repositories.unit_of_work import SqlUnitOfWork
from storage.sql.repositories.vault import Vault

__all__ = ["SqlUnitOfWork", "StorageCache", "Vault"]
