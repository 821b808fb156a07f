"""How a domain service that needs more than one unit of work runs them.

Most domain services are synchronous functions of one :class:`~storage.ports.UnitOfWork`;
the caller runs them (``await db.write(lambda uow: service(uow, ...))``). The few that need
several units of work in a row (a read, work off the event loop, then a write) or a lock
around them take a :class:`UnitsOfWork` instead: something that runs a function in a new
unit of work, read-only or committed. :class:`storage.database.Database` is one (its
``read`` and ``write``, with group commit); a service never sees the rest of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from storage.crypto import KeyRing
from storage.ports import UnitOfWork

__all__ = ["DataKeyHolder", "KeyRingHolder", "UnitsOfWork"]

T = TypeVar("T")


class UnitsOfWork(Protocol):
    """Runs a function in a new unit of work and returns what it returned."""

    async def read(self, fn: Callable[[UnitOfWork], T]) -> T:
        """``fn(uow)`` on a read-only unit of work (nothing is committed)."""
        ...

    async def write(self, fn: Callable[[UnitOfWork], T]) -> T:
        """``fn(uow)`` in a unit of work, returned once that is committed."""
        ...


class KeyRingHolder(Protocol):
    """What holds the data keys in use, newest first."""

    @property
    def ring(self) -> KeyRing: ...


class DataKeyHolder(UnitsOfWork, Protocol):
    """Units of work over data encrypted under a key ring that can be replaced (key rotation)."""

    @property
    def vault(self) -> KeyRingHolder:
        """The keys the units of work encrypt and decrypt with."""
        ...

    def set_keys(self, keys: KeyRing) -> None:
        """Use ``keys`` from the next unit of work on."""
        ...
