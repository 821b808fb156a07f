"""Held invoices, the seller on invoices, invoice numbers gapless per year.

- invoices.held_reason / released_at / adjusted_energy_wh / adjust_reason: an implausible
  session's invoice is held (payment_status ``held``) until an operator releases or
  adjusts it (``csms invoices release|adjust``).
- invoices.seller: who sold the charging when it was billed (CSMS_SELLER_*).
- invoices.number and invoice_counters: ``2026-000001``, sequential per calendar year
  (UTC). Existing invoices are numbered here by creation order, and each year's counter
  starts after the last of them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("invoices", sa.Column("number", sa.String(length=20), nullable=True))
    op.add_column("invoices", sa.Column("held_reason", sa.String(length=300), nullable=True))
    op.add_column("invoices", sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("invoices", sa.Column("adjusted_energy_wh", sa.BigInteger(), nullable=True))
    op.add_column("invoices", sa.Column("adjust_reason", sa.String(length=300), nullable=True))
    op.add_column("invoices", sa.Column("seller", sa.JSON(), nullable=True))
    op.create_index("uq_invoices_number", "invoices", ["number"], unique=True)
    op.create_table(
        "invoice_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_invoice_counters")),
    )
    _number_existing_invoices()


def _year_of(value: datetime | str) -> int:
    """The UTC year of a stored timestamp (SQLite keeps ISO-8601 text in UTC)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.year


def _number_existing_invoices() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT id, created_at FROM invoices ORDER BY created_at, id")
    ).all()
    last: dict[int, int] = {}
    for pk, created_at in rows:
        year = _year_of(created_at)
        last[year] = last.get(year, 0) + 1
        bind.execute(
            sa.text("UPDATE invoices SET number = :n WHERE id = :id"),
            {"n": f"{year}-{last[year]:06d}", "id": pk},
        )
    for year, number in sorted(last.items()):
        bind.execute(
            sa.text("INSERT INTO invoice_counters (year, last_number) VALUES (:y, :n)"),
            {"y": year, "n": number},
        )


def downgrade() -> None:
    op.drop_table("invoice_counters")
    op.drop_index("uq_invoices_number", table_name="invoices")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        for column in (
            "seller",
            "adjust_reason",
            "adjusted_energy_wh",
            "released_at",
            "held_reason",
            "number",
        ):
            batch_op.drop_column(column)
