"""Ports of security records: API tokens and the security event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from storage.records import ApiTokenRecord, SecurityEventRecord

__all__ = ["ApiTokenRepository", "SecurityEventRepository"]


class ApiTokenRepository(Protocol):
    def add(
        self,
        *,
        name: str,
        role: str,
        token_hash: str,
        created_at: datetime,
        owner_id: int | None,
        expires_at: datetime | None = None,
    ) -> ApiTokenRecord: ...
    def by_hash(self, token_hash: str) -> ApiTokenRecord | None: ...
    def count(self, *, role: str | None = None) -> int: ...
    def touch(self, token_id: int, when: datetime) -> None: ...
    def live_by_name(self, name: str) -> list[ApiTokenRecord]:
        """The tokens called ``name`` that are not revoked (expired ones included)."""
        ...

    def revoke(self, token_id: int, when: datetime) -> None: ...
    def list(self) -> list[ApiTokenRecord]:
        """Every token, revoked and expired ones too, oldest first."""
        ...


class SecurityEventRepository(Protocol):
    def add(
        self,
        *,
        kind: str,
        details: dict[str, Any],
        created_at: datetime,
        customer_id: int | None = None,
        charger_id: str | None = None,
    ) -> None: ...
    def list(
        self, *, kind: str | None = None, customer_id: int | None = None, limit: int = 1000
    ) -> list[SecurityEventRecord]: ...
    def purge_before(self, cutoff: datetime) -> int:
        """Delete the events created before ``cutoff``; how many."""
        ...
