"""The marketing export: the customers who opted in to marketing, for a newsletter tool.

Only customers whose consent stands right now are in it: an unsubscribed or erased
customer never is. Each row carries the customer's own unsubscribe link (SPEC "Personal
data": consent can be withdrawn as easily as given), which works without a login.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from csms.domain.people.consents import new_unsubscribe_token
from csms.domain.views import iso
from storage.ports import UnitOfWork

__all__ = ["MARKETING_COLUMNS", "marketing_csv", "marketing_list"]

MARKETING_COLUMNS = ("customer_number", "name", "email", "opted_in_at", "unsubscribe_url")


def marketing_list(
    uow: UnitOfWork, *, unsubscribe_base: str, now: datetime
) -> list[dict[str, Any]]:
    """Opted-in customers with an email address, by customer number. A customer who opted
    in before unsubscribe tokens were kept gets a new token (their old link still works
    until then)."""
    rows = []
    for customer in uow.customers.list(marketing_opt_in=True):
        if not customer.email or customer.erased_at is not None:
            continue
        token = customer.unsubscribe_token or new_unsubscribe_token(uow, customer)
        rows.append(
            {
                "customer_number": customer.customer_number,
                "name": customer.name,
                "email": customer.email,
                "opted_in_at": iso(customer.marketing_changed_at),
                "unsubscribe_url": f"{unsubscribe_base.rstrip('/')}/{token}",
            }
        )
    return rows


#: What a spreadsheet takes a cell starting with for a formula (or a field break).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: a text starting like a formula (a name
    such as ``=HYPERLINK(...)``) gets a leading single quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def marketing_csv(rows: list[dict[str, Any]]) -> str:
    """The export as CSV; no cell can be taken for a formula (CSV injection)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(MARKETING_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in MARKETING_COLUMNS])
    return buffer.getvalue()
