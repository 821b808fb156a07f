"""Security: the API's tokens (stored as hashes) and the security event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from storage.records import ApiTokenRecord, SecurityEventRecord
from storage.sql import tables as t
from storage.sql.repositories.common import Repository

__all__ = ["SqlApiTokens", "SqlSecurityEvents"]


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
