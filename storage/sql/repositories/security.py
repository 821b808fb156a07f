"""Security: the API's tokens (stored as hashes), the security event log and the
certificates csms's CA issued."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from storage.records import ApiTokenRecord, IssuedCertificateRecord, SecurityEventRecord
from storage.sql import tables as t
from storage.sql.repositories.common import Repository
from storage.sql.repositories.timeline import newest_for_charger

__all__ = ["SqlApiTokens", "SqlIssuedCertificates", "SqlSecurityEvents"]


class SqlApiTokens(Repository[ApiTokenRecord]):
    table = t.api_tokens
    record_type = ApiTokenRecord

    def add(
        self,
        *,
        name: str,
        role: str,
        token_hash: str,
        created_at: datetime,
        owner_id: int | None,
        expires_at: datetime | None = None,
    ) -> ApiTokenRecord:
        values: dict[str, Any] = {
            "name": name,
            "role": role,
            "token_hash": token_hash,
            "created_at": created_at,
            "owner_id": owner_id,
            "expires_at": expires_at,
        }
        pk = self._insert(values)
        return ApiTokenRecord(id=pk, **values)

    def by_hash(self, token_hash: str) -> ApiTokenRecord | None:
        return self._one(t.api_tokens.c.token_hash == token_hash)

    def count(self, *, role: str | None = None) -> int:
        query = select(func.count()).select_from(t.api_tokens)
        if role is not None:
            query = query.where(t.api_tokens.c.role == role, t.api_tokens.c.revoked_at.is_(None))
        return int(self.conn.execute(query).scalar_one())

    def touch(self, token_id: int, when: datetime) -> None:
        self.conn.execute(
            update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(last_used_at=when)
        )

    def live_by_name(self, name: str) -> list[ApiTokenRecord]:
        query = (
            select(t.api_tokens)
            .where(t.api_tokens.c.name == name, t.api_tokens.c.revoked_at.is_(None))
            .order_by(t.api_tokens.c.id)
        )
        return self._all(query)

    def revoke(self, token_id: int, when: datetime) -> None:
        self.conn.execute(
            update(t.api_tokens)
            .where(t.api_tokens.c.id == token_id, t.api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=when)
        )

    def list(self) -> list[ApiTokenRecord]:
        query = select(t.api_tokens).order_by(t.api_tokens.c.id)
        return self._all(query)


class SqlSecurityEvents(Repository[SecurityEventRecord]):
    table = t.security_events
    record_type = SecurityEventRecord

    def add(
        self,
        *,
        kind: str,
        details: dict[str, Any],
        created_at: datetime,
        customer_id: int | None = None,
        charger_id: str | None = None,
    ) -> None:
        self.conn.execute(
            insert(t.security_events).values(
                kind=kind,
                details=details,
                created_at=created_at,
                customer_id=customer_id,
                charger_id=charger_id,
            )
        )

    def list(
        self, *, kind: str | None = None, customer_id: int | None = None, limit: int = 1000
    ) -> list[SecurityEventRecord]:
        se = t.security_events.c
        query = select(t.security_events).order_by(se.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(se.kind == kind)
        if customer_id is not None:
            query = query.where(se.customer_id == customer_id)
        return self._all(query)

    def purge_before(self, cutoff: datetime) -> int:
        table = t.security_events
        result = self.conn.execute(delete(table).where(table.c.created_at < cutoff))
        return int(result.rowcount or 0)

    def newest_for_charger(
        self,
        charger_id: str,
        *,
        since: datetime | None = None,
        before: tuple[datetime, int | None] | None = None,
        limit: int = 100,
    ) -> Sequence[SecurityEventRecord]:
        query = newest_for_charger(
            t.security_events,
            t.security_events.c.created_at,
            charger_id=charger_id,
            since=since,
            before=before,
            limit=limit,
        )
        return self._all(query)


class SqlIssuedCertificates(Repository[IssuedCertificateRecord]):
    table = t.issued_certificates
    record_type = IssuedCertificateRecord

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
    ) -> IssuedCertificateRecord:
        values: dict[str, Any] = {
            "serial": serial,
            "charger_id": charger_id,
            "certificate_type": certificate_type,
            "subject": subject,
            "not_before": not_before,
            "not_after": not_after,
            "fingerprint": fingerprint,
            "pem": pem,
            "issued_at": issued_at,
        }
        pk = self._insert(values)
        return IssuedCertificateRecord(id=pk, **values)

    def get(self, serial: str) -> IssuedCertificateRecord | None:
        return self._one(t.issued_certificates.c.serial == serial)

    def list(
        self,
        *,
        charger_id: str | None = None,
        expiring_before: datetime | None = None,
        newest_per_charger: bool = False,
        limit: int | None = None,
    ) -> list[IssuedCertificateRecord]:
        c = t.issued_certificates.c
        query = select(t.issued_certificates).order_by(c.id.desc())
        if newest_per_charger:
            newest = select(func.max(c.id)).group_by(c.charger_id)
            if charger_id is not None:
                newest = newest.where(c.charger_id == charger_id)
            query = query.where(c.id.in_(newest.scalar_subquery()))
        if charger_id is not None:
            query = query.where(c.charger_id == charger_id)
        if expiring_before is not None:
            query = query.where(c.not_after < expiring_before)
        if limit is not None:
            query = query.limit(limit)
        return self._all(query)
