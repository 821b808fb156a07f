"""Billing: tariffs and their assignments, customers' payment cards (processor token
sealed), invoices with their yearly number counters, and payment attempts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update

from storage.crypto import FieldCipher
from storage.records import (
    InvoiceRecord,
    PaymentAttemptRecord,
    PaymentMethodRecord,
    TariffAssignmentRecord,
    TariffRecord,
)
from storage.sql import tables as t
from storage.sql.repositories.common import (
    Repository,
    SealingRepository,
    inserted_pk,
    record_of,
    record_values,
    upsert,
)

__all__ = ["SqlInvoices", "SqlPaymentAttempts", "SqlPaymentMethods", "SqlTariffs"]


class SqlTariffs(Repository[TariffRecord]):
    table = t.tariffs
    record_type = TariffRecord

    def add(self, tariff: TariffRecord) -> TariffRecord:
        tariff.id = self._insert(record_values(tariff, without_id=True))
        return tariff

    def get(self, tariff_id: int) -> TariffRecord | None:
        return self._one(t.tariffs.c.id == tariff_id)

    def by_name(self, name: str) -> TariffRecord | None:
        return self._one(t.tariffs.c.name == name)

    def assign(self, *, tariff_id: int, charger_id: str | None, at: datetime) -> None:
        self.conn.execute(
            insert(t.tariff_assignments).values(
                tariff_id=tariff_id, charger_id=charger_id, assigned_at=at
            )
        )

    def _assigned(self, charger: ColumnElement[bool], at: datetime) -> TariffRecord | None:
        ta = t.tariff_assignments.c
        query = (
            select(t.tariffs)
            .join(t.tariff_assignments, ta.tariff_id == t.tariffs.c.id)
            .where(charger, ta.assigned_at <= at)
            .order_by(ta.assigned_at.desc(), ta.id.desc())
            .limit(1)
        )
        return self._first(query)

    def in_force(self, charger_id: str, at: datetime) -> TariffRecord | None:
        ta = t.tariff_assignments.c
        own = self._assigned(ta.charger_id == charger_id, at)
        return own if own is not None else self._assigned(ta.charger_id.is_(None), at)

    def assignments(self, *, charger_id: str | None = None) -> list[TariffAssignmentRecord]:
        ta = t.tariff_assignments.c
        query = select(t.tariff_assignments).order_by(ta.assigned_at.desc(), ta.id.desc())
        if charger_id is not None:
            query = query.where(ta.charger_id == charger_id)
        return [record_of(TariffAssignmentRecord, r) for r in self.conn.execute(query)]

    def list(self) -> list[TariffRecord]:
        query = select(t.tariffs).order_by(t.tariffs.c.name)
        return self._all(query)


_PAYMENT_SEALED = {"token": "token_enc", "customer_ref": "customer_ref_enc"}


class SqlPaymentMethods(SealingRepository[PaymentMethodRecord]):
    """Cards at the payment processor; the processor's token and customer reference are
    encrypted like identity (with them, a stolen database could charge the card)."""

    table = t.payment_methods
    record_type = PaymentMethodRecord

    def _from_row(self, row: Any) -> PaymentMethodRecord:
        m = dict(row._mapping)
        for name, column in _PAYMENT_SEALED.items():
            m[name] = self.vault.open(m.pop(column), f"payment_methods.{name}")
        return PaymentMethodRecord(**m)

    def _sealed(self, values: dict[str, Any]) -> dict[str, Any]:
        for name, column in _PAYMENT_SEALED.items():
            if name in values:
                values[column] = self.vault.seal(values.pop(name), f"payment_methods.{name}")
        return values

    def add(self, method: PaymentMethodRecord) -> PaymentMethodRecord:
        values = record_values(method, without_id=True)
        method.id = self._insert(self._sealed(values))
        return method

    def get(self, method_id: int) -> PaymentMethodRecord | None:
        return self._one(t.payment_methods.c.id == method_id)

    def list(self, customer_id: int, *, active_only: bool = True) -> list[PaymentMethodRecord]:
        pm = t.payment_methods.c
        query = (
            select(t.payment_methods)
            .where(pm.customer_id == customer_id)
            .order_by(pm.created_at.desc(), pm.id.desc())
        )
        if active_only:
            query = query.where(pm.status == "active")
        return self._all(query)

    def mark_removed(self, method_id: int, *, now: datetime) -> None:
        self.conn.execute(
            update(t.payment_methods)
            .where(t.payment_methods.c.id == method_id)
            .values(status="removed", removed_at=now)
        )

    def delete(self, method_id: int) -> None:
        self.conn.execute(delete(t.payment_methods).where(t.payment_methods.c.id == method_id))

    def rotate(self) -> int:
        newest = self.vault.ring.newest.key_id
        changed = 0
        for row in self.conn.execute(select(t.payment_methods)).all():
            m = row._mapping
            if all(FieldCipher.key_id_of(m[c]) == newest for c in _PAYMENT_SEALED.values()):
                continue
            record = self._from_row(row)
            values = self._sealed({"token": record.token, "customer_ref": record.customer_ref})
            self.conn.execute(
                update(t.payment_methods)
                .where(t.payment_methods.c.id == record.id)
                .values(**values)
            )
            changed += 1
        return changed


class SqlInvoices(Repository[InvoiceRecord]):
    table = t.invoices
    record_type = InvoiceRecord

    def add(self, invoice: InvoiceRecord) -> bool:
        values = record_values(invoice, without_id=True)
        statement = (
            upsert(self.conn, t.invoices)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["transaction_pk"])
        )
        result = self.conn.execute(statement)
        if not result.rowcount:
            return False
        invoice.id = inserted_pk(result)
        return True

    def get(self, invoice_id: int) -> InvoiceRecord | None:
        return self._one(t.invoices.c.id == invoice_id)

    def by_transaction(self, transaction_pk: int) -> InvoiceRecord | None:
        return self._one(t.invoices.c.transaction_pk == transaction_pk)

    def for_transactions(self, transaction_pks: Iterable[int]) -> dict[int, InvoiceRecord]:
        pks = list(transaction_pks)
        if not pks:
            return {}
        query = select(t.invoices).where(t.invoices.c.transaction_pk.in_(pks))
        records = self._all(query)
        return {r.transaction_pk: r for r in records}

    def update(self, invoice_id: int, **values: Any) -> None:
        self.conn.execute(update(t.invoices).where(t.invoices.c.id == invoice_id).values(**values))

    def next_number(self, year: int) -> int:
        # One statement that raises the year's counter and returns it: on PostgreSQL the
        # row lock makes a concurrent biller wait for this commit; SQLite has one writer.
        ic = t.invoice_counters
        statement = (
            upsert(self.conn, ic)
            .values(year=year, last_number=1)
            .on_conflict_do_update(
                index_elements=["year"], set_={"last_number": ic.c.last_number + 1}
            )
            .returning(ic.c.last_number)
        )
        return int(self.conn.execute(statement).scalar_one())

    def list(
        self,
        *,
        customer_id: int | None = None,
        payment_status: str | None = None,
        limit: int = 1000,
    ) -> list[InvoiceRecord]:
        inv = t.invoices.c
        query = select(t.invoices).order_by(inv.id.desc()).limit(limit)
        if customer_id is not None:
            query = query.where(inv.customer_id == customer_id)
        if payment_status is not None:
            query = query.where(inv.payment_status == payment_status)
        return self._all(query)


class SqlPaymentAttempts(Repository[PaymentAttemptRecord]):
    table = t.payment_attempts
    record_type = PaymentAttemptRecord

    def add(self, attempt: PaymentAttemptRecord) -> None:
        attempt.id = self._insert(record_values(attempt, without_id=True))

    def for_invoice(self, invoice_id: int) -> list[PaymentAttemptRecord]:
        pa = t.payment_attempts.c
        query = select(t.payment_attempts).where(pa.invoice_id == invoice_id).order_by(pa.id)
        return self._all(query)
