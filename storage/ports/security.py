"""Ports of security records: API tokens, the security event log, issued certificates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from storage.records import ApiTokenRecord, IssuedCertificateRecord, SecurityEventRecord

__all__ = ["ApiTokenRepository", "IssuedCertificateRepository", "SecurityEventRepository"]


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

    def newest_for_charger(
        self,
        charger_id: str,
        *,
        since: datetime | None = None,
        before: tuple[datetime, int | None] | None = None,
        limit: int = 100,
    ) -> Sequence[SecurityEventRecord]:
        """The security events csms recorded about the charger, newest first (by time,
        then id), from ``since`` on, after ``before`` (a time and id; no id: that time or
        older)."""
        ...


class IssuedCertificateRepository(Protocol):
    """The certificates csms's CA signed for chargers (``serial``: upper-case hex)."""

    def add(
        self,
        *,
        serial: str,
        charger_id: str,
        certificate_type: str,
        subject: str,
        not_before: datetime,
        not_after: datetime,
        fingerprint: str,
        pem: str,
        issued_at: datetime,
    ) -> IssuedCertificateRecord: ...
    def get(self, serial: str) -> IssuedCertificateRecord | None: ...
    def list(
        self,
        *,
        charger_id: str | None = None,
        expiring_before: datetime | None = None,
        newest_per_charger: bool = False,
        limit: int | None = None,
    ) -> list[IssuedCertificateRecord]:
        """Newest first (by issue); ``expiring_before``: only those whose not-after is
        before it (expired ones included); ``newest_per_charger``: only the last one
        issued to each charger."""
        ...
