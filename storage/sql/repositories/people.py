"""People: station owners, customers (identity sealed, found by keyed hash), the id tags
they charge with, their app sessions and favourite chargers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from storage.crypto import FieldCipher
from storage.records import CustomerRecord, CustomerTokenRecord, IdTagRecord, OwnerRecord
from storage.sql import tables as t
from storage.sql.repositories.common import Repository, SealingRepository, record_values, upsert

__all__ = ["SqlCustomerTokens", "SqlCustomers", "SqlFavorites", "SqlIdTags", "SqlOwners"]


class SqlOwners(Repository[OwnerRecord]):
    table = t.owners
    record_type = OwnerRecord

    def add(self, *, name: str, created_at: datetime) -> OwnerRecord:
        pk = self._insert({"name": name, "created_at": created_at})
        return OwnerRecord(id=pk, name=name, created_at=created_at)

    def get(self, owner_id: int) -> OwnerRecord | None:
        return self._one(t.owners.c.id == owner_id)

    def by_name(self, name: str) -> OwnerRecord | None:
        return self._one(t.owners.c.name == name)

    def list(self) -> list[OwnerRecord]:
        return self._all(select(t.owners).order_by(t.owners.c.name))


_CUSTOMER_SEALED = {
    "name": ("name_enc", None),
    "email": ("email_enc", "email"),
    "phone": ("phone_enc", "phone"),
    "address": ("address_enc", None),
    "vehicle": ("vehicle_enc", None),
    "pin_hash": ("pin_hash_enc", None),
    "unsubscribe_token": ("unsubscribe_token_enc", None),
}
_CUSTOMER_PLAIN = (
    "customer_number",
    "created_at",
    "password_hash",
    "pin_failures",
    "pin_locked_until",
    "login_failures",
    "login_locked_until",
    "notify_email",
    "notify_sms",
    "marketing_opt_in",
    "marketing_changed_at",
    "updated_at",
    "erased_at",
)


class SqlCustomers(SealingRepository[CustomerRecord]):
    table = t.customers
    record_type = CustomerRecord

    def _columns(self, values: dict[str, Any]) -> dict[str, Any]:
        columns: dict[str, Any] = {}
        for name, value in values.items():
            sealed = _CUSTOMER_SEALED.get(name)
            if sealed is None:
                columns[name] = value
                continue
            column, kind = sealed
            columns[column] = self.vault.seal(value, f"customers.{name}")
            if kind is not None:
                columns[f"{name}_hash"] = self.vault.digest(value, kind)
        return columns

    def _from_row(self, row: Any) -> CustomerRecord:
        m = row._mapping
        record = CustomerRecord(id=m["id"], **{name: m[name] for name in _CUSTOMER_PLAIN})
        for name, (column, _kind) in _CUSTOMER_SEALED.items():
            setattr(record, name, self.vault.open(m[column], f"customers.{name}"))
        return record

    def add(self, customer: CustomerRecord) -> CustomerRecord:
        values = record_values(customer, without_id=True)
        customer.id = self._insert(self._columns(values))
        return customer

    def get(self, customer_id: int) -> CustomerRecord | None:
        return self._one(t.customers.c.id == customer_id)

    def by_number(self, customer_number: int) -> CustomerRecord | None:
        return self._one(t.customers.c.customer_number == customer_number)

    def by_email(self, email: str) -> CustomerRecord | None:
        return self._one(t.customers.c.email_hash.in_(self.vault.candidates(email, "email")))

    def by_phone(self, phone: str) -> CustomerRecord | None:
        return self._one(t.customers.c.phone_hash.in_(self.vault.candidates(phone, "phone")))

    def by_unsubscribe_hash(self, token_hash: str) -> CustomerRecord | None:
        return self._one(t.customers.c.unsubscribe_token_hash == token_hash)

    def number_taken(self, customer_number: int) -> bool:
        query = select(t.customers.c.id).where(t.customers.c.customer_number == customer_number)
        return self.conn.execute(query).first() is not None

    def update(self, customer_id: int, **values: Any) -> None:
        """Change fields by record name (``email=...``); ``unsubscribe_token_hash`` too."""
        self.conn.execute(
            update(t.customers)
            .where(t.customers.c.id == customer_id)
            .values(**self._columns(values))
        )

    def list(self, *, marketing_opt_in: bool | None = None) -> list[CustomerRecord]:
        query = select(t.customers).order_by(t.customers.c.customer_number)
        if marketing_opt_in is not None:
            query = query.where(
                t.customers.c.marketing_opt_in == marketing_opt_in,
                t.customers.c.erased_at.is_(None),
            )
        return self._all(query)

    def erase(self, customer_id: int, *, now: datetime) -> None:
        """Remove identity for good: every personal column cleared, the number kept."""
        cleared: dict[str, Any] = {column: None for column, _kind in _CUSTOMER_SEALED.values()}
        cleared.update(email_hash=None, phone_hash=None, unsubscribe_token_hash=None)
        cleared.update(
            password_hash=None,
            pin_failures=0,
            pin_locked_until=None,
            login_failures=0,
            login_locked_until=None,
            notify_email=False,
            notify_sms=False,
            marketing_opt_in=False,
            marketing_changed_at=now,
            updated_at=now,
            erased_at=now,
        )
        self.conn.execute(
            update(t.customers).where(t.customers.c.id == customer_id).values(**cleared)
        )
        self.conn.execute(
            delete(t.customer_favorites).where(t.customer_favorites.c.customer_id == customer_id)
        )
        self.conn.execute(
            delete(t.customer_tokens).where(t.customer_tokens.c.customer_id == customer_id)
        )
        self.conn.execute(delete(t.id_tags).where(t.id_tags.c.customer_id == customer_id))

    def rotate(self) -> int:
        """Re-encrypt and re-hash every row not under the newest key; the number changed."""
        changed = 0
        newest = self.vault.ring.newest.key_id
        for row in self.conn.execute(select(t.customers)).all():
            m = row._mapping
            stale = any(
                m[column] is not None and FieldCipher.key_id_of(m[column]) != newest
                for column, _kind in _CUSTOMER_SEALED.values()
            ) or any(
                m[f"{name}_hash"] is not None and not m[f"{name}_hash"].startswith(newest + ".")
                for name in ("email", "phone")
            )
            if stale:
                record = self._from_row(row)
                self.update(record.id, **{name: getattr(record, name) for name in _CUSTOMER_SEALED})
                changed += 1
        return changed


_UID_FIELD = "id_tags.uid"


class SqlIdTags(SealingRepository[IdTagRecord]):
    table = t.id_tags
    record_type = IdTagRecord

    def _from_row(self, row: Any) -> IdTagRecord:
        m = dict(row._mapping)
        m.pop("uid_hash")
        m["uid"] = self.vault.open(m.pop("uid_enc"), _UID_FIELD)
        return IdTagRecord(**m)

    def add(
        self,
        *,
        uid: str,
        status: str,
        created_at: datetime,
        customer_id: int | None = None,
        expires_at: datetime | None = None,
        parent_id_tag: str | None = None,
        kind: str = "card",
    ) -> IdTagRecord:
        values: dict[str, Any] = {
            "status": status,
            "created_at": created_at,
            "customer_id": customer_id,
            "expires_at": expires_at,
            "parent_id_tag": parent_id_tag,
            "kind": kind,
        }
        sealed = {
            "uid_hash": self.vault.digest(uid, "uid"),
            "uid_enc": self.vault.seal(uid, _UID_FIELD),
        }
        pk = self._insert({**sealed, **values})
        return IdTagRecord(id=pk, uid=uid, **values)

    def _matching(self, uid: str) -> Any:
        return t.id_tags.c.uid_hash.in_(self.vault.candidates(uid, "uid"))

    def by_uid(self, uid: str) -> IdTagRecord | None:
        return self._one(self._matching(uid))

    def update(self, uid: str, **values: Any) -> None:
        self.conn.execute(update(t.id_tags).where(self._matching(uid)).values(**values))

    def delete(self, tag_id: int) -> bool:
        result = self.conn.execute(delete(t.id_tags).where(t.id_tags.c.id == tag_id))
        return bool(result.rowcount)

    def list(
        self, *, customer_id: int | None = None, kind: str | None = "card"
    ) -> list[IdTagRecord]:
        query = select(t.id_tags)
        if customer_id is not None:
            query = query.where(t.id_tags.c.customer_id == customer_id)
        if kind is not None:
            query = query.where(t.id_tags.c.kind == kind)
        return sorted(self._all(query), key=lambda r: r.uid)

    def purge_expired_logins(self, before: datetime) -> int:
        """Delete one-time tokens (touchscreen login and app start) that expired before
        ``before``; how many. A token that started a session still running is kept: its
        StopTransaction names it."""
        running = select(t.transactions.c.id_tag_hash).where(
            t.transactions.c.status == "active", t.transactions.c.id_tag_hash.is_not(None)
        )
        result = self.conn.execute(
            delete(t.id_tags).where(
                t.id_tags.c.kind.in_(("login", "app")),
                t.id_tags.c.expires_at < before,
                t.id_tags.c.uid_hash.not_in(running),
            )
        )
        return int(result.rowcount or 0)

    def rotate(self) -> int:
        changed = 0
        newest = self.vault.ring.newest.key_id
        for row in self.conn.execute(select(t.id_tags)).all():
            m = row._mapping
            if FieldCipher.key_id_of(m["uid_enc"]) == newest and m["uid_hash"].startswith(
                newest + "."
            ):
                continue
            uid = self.vault.open(m["uid_enc"], _UID_FIELD)
            assert uid is not None
            self.conn.execute(
                update(t.id_tags)
                .where(t.id_tags.c.id == m["id"])
                .values(
                    uid_hash=self.vault.digest(uid, "uid"), uid_enc=self.vault.seal(uid, _UID_FIELD)
                )
            )
            changed += 1
        return changed


class SqlCustomerTokens(Repository[CustomerTokenRecord]):
    table = t.customer_tokens
    record_type = CustomerTokenRecord

    def add(
        self,
        *,
        customer_id: int,
        token_hash: str,
        created_at: datetime,
        expires_at: datetime,
        created_ip: str | None = None,
    ) -> CustomerTokenRecord:
        values: dict[str, Any] = {
            "customer_id": customer_id,
            "token_hash": token_hash,
            "created_at": created_at,
            "expires_at": expires_at,
            "created_ip": created_ip,
        }
        return CustomerTokenRecord(id=self._insert(values), **values)

    def by_hash(self, token_hash: str) -> CustomerTokenRecord | None:
        return self._one(t.customer_tokens.c.token_hash == token_hash)

    def touch(self, token_id: int, when: datetime) -> None:
        self.conn.execute(
            update(t.customer_tokens)
            .where(t.customer_tokens.c.id == token_id)
            .values(last_used_at=when)
        )

    def revoke(self, token_id: int, when: datetime) -> None:
        self.conn.execute(
            update(t.customer_tokens)
            .where(t.customer_tokens.c.id == token_id)
            .values(revoked_at=when)
        )

    def list(self, customer_id: int) -> list[CustomerTokenRecord]:
        query = (
            select(t.customer_tokens)
            .where(t.customer_tokens.c.customer_id == customer_id)
            .order_by(t.customer_tokens.c.id)
        )
        return self._all(query)

    def forget_addresses_before(self, cutoff: datetime) -> int:
        """Retention: drop the login address of sessions created before ``cutoff``."""
        ct = t.customer_tokens.c
        result = self.conn.execute(
            update(t.customer_tokens)
            .where(ct.created_at < cutoff, ct.created_ip.is_not(None))
            .values(created_ip=None)
        )
        return int(result.rowcount or 0)

    def purge_expired_before(self, cutoff: datetime) -> int:
        result = self.conn.execute(
            delete(t.customer_tokens).where(t.customer_tokens.c.expires_at < cutoff)
        )
        return int(result.rowcount or 0)


class SqlFavorites:
    """A customer's favourite chargers (rows of ``customer_favorites``, no record type)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, customer_id: int, charger_id: str, *, now: datetime) -> bool:
        query = (
            upsert(self.conn, t.customer_favorites)
            .values(customer_id=customer_id, charger_id=charger_id, created_at=now)
            .on_conflict_do_nothing()
        )
        return bool(self.conn.execute(query).rowcount)

    def remove(self, customer_id: int, charger_id: str) -> bool:
        fav = t.customer_favorites.c
        result = self.conn.execute(
            delete(t.customer_favorites).where(
                fav.customer_id == customer_id, fav.charger_id == charger_id
            )
        )
        return bool(result.rowcount)

    def list(self, customer_id: int) -> list[tuple[str, datetime]]:
        fav = t.customer_favorites.c
        query = (
            select(fav.charger_id, fav.created_at)
            .where(fav.customer_id == customer_id)
            .order_by(fav.charger_id)
        )
        return [(row[0], row[1]) for row in self.conn.execute(query)]
