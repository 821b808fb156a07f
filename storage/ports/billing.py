"""Ports of the billing aggregate: tariffs, payment cards, invoices and payment attempts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from storage.records import (
    InvoiceRecord,
    PaymentAttemptRecord,
    PaymentMethodRecord,
    TariffAssignmentRecord,
    TariffRecord,
)

__all__ = [
    "InvoiceRepository",
    "PaymentAttemptRepository",
    "PaymentMethodRepository",
    "TariffRepository",
]


class TariffRepository(Protocol):
    def add(self, tariff: TariffRecord) -> TariffRecord: ...
    def get(self, tariff_id: int) -> TariffRecord | None: ...
    def by_name(self, name: str) -> TariffRecord | None: ...
    def assign(self, *, tariff_id: int, charger_id: str | None, at: datetime) -> None:
        """From ``at`` on, ``charger_id`` (None: every charger without one of its own)
        charges from this tariff."""
        ...

    def in_force(self, charger_id: str, at: datetime) -> TariffRecord | None:
        """The tariff the charger charged from at ``at``: its own latest assignment made
        by then, else the default's; None when there was neither."""
        ...

    def assignments(self, *, charger_id: str | None = None) -> list[TariffAssignmentRecord]:
        """Newest first; every charger's and the default's when ``charger_id`` is None."""
        ...

    def list(self) -> list[TariffRecord]: ...


class PaymentMethodRepository(Protocol):
    def add(self, method: PaymentMethodRecord) -> PaymentMethodRecord: ...
    def get(self, method_id: int) -> PaymentMethodRecord | None: ...
    def list(self, customer_id: int, *, active_only: bool = True) -> list[PaymentMethodRecord]:
        """Newest first."""
        ...

    def mark_removed(self, method_id: int, *, now: datetime) -> None: ...
    def delete(self, method_id: int) -> None: ...
    def rotate(self) -> int: ...


class InvoiceRepository(Protocol):
    def add(self, invoice: InvoiceRecord) -> bool:
        """Store the invoice; False (nothing stored) when its session has one already."""
        ...

    def get(self, invoice_id: int) -> InvoiceRecord | None: ...
    def by_transaction(self, transaction_pk: int) -> InvoiceRecord | None: ...
    def for_transactions(self, transaction_pks: Iterable[int]) -> dict[int, InvoiceRecord]: ...
    def update(self, invoice_id: int, **fields: Any) -> None: ...
    def next_number(self, year: int) -> int:
        """Take the next invoice number of ``year`` (1, 2, ...) in this unit of work: no
        gap (a rolled-back unit of work gives its number back) and no duplicate (a
        concurrent one waits for this one's commit)."""
        ...

    def list(
        self,
        *,
        customer_id: int | None = None,
        payment_status: str | None = None,
        limit: int = 1000,
    ) -> list[InvoiceRecord]:
        """Newest first."""
        ...


class PaymentAttemptRepository(Protocol):
    def add(self, attempt: PaymentAttemptRecord) -> None: ...
    def for_invoice(self, invoice_id: int) -> list[PaymentAttemptRecord]:
        """Oldest first."""
        ...
