"""Billing and the outbox: tariffs, invoices, payment methods and attempts; the outbox.

- tariffs / tariff_assignments: prices (decimal strings) and which charger charges from
  which tariff since when (charger null: the default).
- payment_methods: the processor's token and customer reference (encrypted), brand, last 4
  digits and expiry; never a card number or CVC.
- invoices / payment_attempts: one invoice per billed session, in minor units; every charge
  attempt and how it ended.
- outbox: deliveries written in the commit of their cause (docs/adr/0008-outbox.md).
- customers.unsubscribe_token_enc: the unsubscribe token itself, encrypted, for the
  marketing export (only its hash was kept before; customers opted in before this
  revision get a new token at their next export).
- charger_events.payload: encrypted like unreconciled messages (a station's
  NotifyCustomerInformation or ISO 15118 contract certificate is personal data); rows of
  earlier versions are encrypted here with the data keys ``csms db upgrade`` passes in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 18:30:00
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("topic", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("result", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_key")),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"], unique=False)
    op.create_table(
        "tariffs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("per_kwh", sa.String(length=32), nullable=False),
        sa.Column("per_hour", sa.String(length=32), nullable=False),
        sa.Column("session_fee", sa.String(length=32), nullable=False),
        sa.Column("idle_per_minute", sa.String(length=32), nullable=False),
        sa.Column("idle_grace_minutes", sa.Integer(), nullable=False),
        sa.Column("tax_rate", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariffs")),
        sa.UniqueConstraint("name", name=op.f("uq_tariffs_name")),
    )
    op.create_table(
        "payment_methods",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("token_enc", sa.Text(), nullable=False),
        sa.Column("customer_ref_enc", sa.Text(), nullable=False),
        sa.Column("brand", sa.String(length=20), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_payment_methods_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_methods")),
    )
    op.create_index(
        "ix_payment_methods_customer", "payment_methods", ["customer_id", "status"], unique=False
    )
    op.create_table(
        "tariff_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("charger_id", sa.String(length=48), nullable=True),
        sa.Column("tariff_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charger_id"],
            ["chargers.id"],
            name=op.f("fk_tariff_assignments_charger_id_chargers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tariff_id"], ["tariffs.id"], name=op.f("fk_tariff_assignments_tariff_id_tariffs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tariff_assignments")),
    )
    op.create_index(
        "ix_tariff_assignments_charger",
        "tariff_assignments",
        ["charger_id", "assigned_at"],
        unique=False,
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_pk", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("tariff_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("net_minor", sa.BigInteger(), nullable=False),
        sa.Column("tax_rate", sa.String(length=16), nullable=False),
        sa.Column("tax_minor", sa.BigInteger(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("payment_status", sa.String(length=20), nullable=False),
        sa.Column("payment_method_id", sa.Integer(), nullable=True),
        sa.Column("payment_reference", sa.String(length=100), nullable=True),
        sa.Column("declines", sa.Integer(), server_default="0", nullable=False),
        sa.Column("decline_code", sa.String(length=50), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_invoices_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["payment_method_id"],
            ["payment_methods.id"],
            name=op.f("fk_invoices_payment_method_id_payment_methods"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tariff_id"], ["tariffs.id"], name=op.f("fk_invoices_tariff_id_tariffs")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_pk"],
            ["transactions.id"],
            name=op.f("fk_invoices_transaction_pk_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("transaction_pk", name=op.f("uq_invoices_transaction_pk")),
    )
    op.create_index("ix_invoices_customer", "invoices", ["customer_id"], unique=False)
    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("decline_code", sa.String(length=50), nullable=True),
        sa.Column("message", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_payment_attempts_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempts")),
    )
    op.create_index(
        "ix_payment_attempts_invoice", "payment_attempts", ["invoice_id", "id"], unique=False
    )
    op.add_column("customers", sa.Column("unsubscribe_token_enc", sa.Text(), nullable=True))
    _seal_charger_events()


def _seal_charger_events() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, payload FROM charger_events")).all()
    if not rows:
        return
    ring = context.config.attributes.get("key_ring")
    if ring is None:
        raise RuntimeError(
            "this database holds charger events in plain text from an earlier version; "
            "run `csms db upgrade` (which passes the data keys) to encrypt them"
        )
    from storage.sql.repositories import Vault

    vault: Any = Vault(ring)
    for pk, payload in rows:
        if isinstance(payload, str):
            payload = orjson.loads(payload)
        if isinstance(payload, dict) and set(payload) == {"encrypted"}:
            continue
        sealed = {"encrypted": vault.seal(orjson.dumps(payload).decode(), "charger_events.payload")}
        bind.execute(
            sa.text("UPDATE charger_events SET payload = :p WHERE id = :id"),
            {"p": orjson.dumps(sealed).decode(), "id": pk},
        )


def downgrade() -> None:
    op.drop_column("customers", "unsubscribe_token_enc")
    for index, table in (
        ("ix_payment_attempts_invoice", "payment_attempts"),
        ("ix_invoices_customer", "invoices"),
        ("ix_tariff_assignments_charger", "tariff_assignments"),
        ("ix_payment_methods_customer", "payment_methods"),
        ("ix_outbox_due", "outbox"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "payment_attempts",
        "invoices",
        "tariff_assignments",
        "payment_methods",
        "tariffs",
        "outbox",
    ):
        op.drop_table(table)
