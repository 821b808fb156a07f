"""Reports for station owners: their chargers' sessions, never who the drivers are.

A row holds what an owner needs for their books (when, where, how much energy, what was
collected) and the numeric customer number, the pseudonym owners see (SPEC "Personal
data"). Nothing identifying is in it: no name, contact, card UID, address or vehicle.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from csms.domain.billing.pricing import format_money
from csms.domain.errors import InvalidRequest
from csms.domain.model import parse_moment
from csms.domain.views import iso
from storage.ports import UnitOfWork
from storage.records import InvoiceRecord, TransactionRecord

__all__ = [
    "SESSION_REPORT_COLUMNS",
    "parse_report_bound",
    "session_report",
    "session_report_csv",
]

#: The columns of a session report, in order (CSV header and JSON keys alike). ``billed``
#: is the session's invoice total, ``amount`` what was collected (the total once the card
#: charge succeeded, else 0), both in ``currency``; all three empty for a session that was
#: not billed (running, or no tariff in force).
SESSION_REPORT_COLUMNS = (
    "session_id",
    "charger_id",
    "connector_id",
    "started_at",
    "stopped_at",
    "status",
    "energy_wh",
    "billed",
    "amount",
    "currency",
    "payment_status",
    "customer_number",
    "auth_method",
)

#: Sessions read per report at most (the newest first, then sorted by start).
_MAX_SESSIONS = 1_000_000


def parse_report_bound(text: str, *, end: bool) -> datetime:
    """A period bound from ``YYYY-MM-DD`` or an ISO 8601 date-time (UTC if no zone).

    A date as the start means that day's midnight (UTC); as the end, the whole day is in
    the period (the bound is the next midnight, excluded).
    """

    def midnight(day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1) if end else day, time(0), tzinfo=UTC)

    return parse_moment(text, day=midnight, example="2026-01-31T12:00:00Z")


def _row(
    tx: TransactionRecord, customer_number: int | None, invoice: InvoiceRecord | None
) -> dict[str, Any]:
    billed = amount = currency = status = None
    if invoice is not None:
        currency = invoice.currency
        billed = format_money(invoice.total_minor, currency)
        collected = invoice.total_minor if invoice.payment_status == "paid" else 0
        amount = format_money(collected, currency)
        status = invoice.payment_status
    return {
        "session_id": tx.id,
        "charger_id": tx.charger_id,
        "connector_id": tx.connector_id,
        "started_at": iso(tx.started_at),
        "stopped_at": iso(tx.stopped_at),
        "status": tx.status,
        "energy_wh": tx.energy_wh,
        "billed": billed,
        "amount": amount,
        "currency": currency,
        "payment_status": status,
        "customer_number": customer_number,
        "auth_method": tx.auth_method,
    }


def session_report(
    uow: UnitOfWork,
    *,
    owner_id: int | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict[str, Any]]:
    """The sessions on the owner's chargers (None: every charger, whoever owns it) that
    started in [start, end), oldest first."""
    if start is not None and end is not None and start >= end:
        raise InvalidRequest("the period is empty: --from must be before --to")
    sessions = uow.transactions.list(
        owner_id=owner_id, started_from=start, started_before=end, limit=_MAX_SESSIONS
    )
    sessions.sort(key=lambda tx: (tx.started_at, tx.id))
    numbers: dict[int, int] = {}
    for customer_id in {tx.customer_id for tx in sessions if tx.customer_id is not None}:
        customer = uow.customers.get(customer_id)
        if customer is not None:
            numbers[customer_id] = customer.customer_number
    invoices = uow.invoices.for_transactions(tx.id for tx in sessions)
    return [
        _row(
            tx,
            numbers.get(tx.customer_id) if tx.customer_id is not None else None,
            invoices.get(tx.id),
        )
        for tx in sessions
    ]


def session_report_csv(rows: Iterable[dict[str, Any]]) -> str:
    """The rows as CSV (RFC 4180: CRLF line ends, fields quoted where needed), with a
    header row; empty cells for nulls."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(SESSION_REPORT_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in SESSION_REPORT_COLUMNS])
    return buffer.getvalue()
