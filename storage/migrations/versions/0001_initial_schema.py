"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 01:56:56.452571
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "charger_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charger_events")),
    )
    with op.batch_alter_table("charger_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_charger_events_charger", ["charger_id", "kind", "id"], unique=False
        )

    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_number", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("customer_number", name=op.f("uq_customers_customer_number")),
    )
    op.create_table(
        "owners",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owners")),
        sa.UniqueConstraint("name", name=op.f("uq_owners_name")),
    )
    op.create_table(
        "status_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=False),
        sa.Column("info", sa.String(length=50), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=50), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_events")),
    )
    with op.batch_alter_table("status_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_status_events_charger", ["charger_id", "connector_id", "id"], unique=False
        )

    op.create_table(
        "unreconciled_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unreconciled_messages")),
    )
    with op.batch_alter_table("unreconciled_messages", schema=None) as batch_op:
        batch_op.create_index("ix_unreconciled_charger", ["charger_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["owners.id"],
            name=op.f("fk_api_tokens_owner_id_owners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "chargers",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("security_profile", sa.Integer(), nullable=False),
        sa.Column("registration_status", sa.String(length=20), nullable=False),
        sa.Column("ocpp_version", sa.String(length=20), nullable=True),
        sa.Column("vendor", sa.String(length=50), nullable=True),
        sa.Column("model", sa.String(length=50), nullable=True),
        sa.Column("serial_number", sa.String(length=50), nullable=True),
        sa.Column("charge_box_serial_number", sa.String(length=50), nullable=True),
        sa.Column("firmware_version", sa.String(length=50), nullable=True),
        sa.Column("iccid", sa.String(length=50), nullable=True),
        sa.Column("imsi", sa.String(length=50), nullable=True),
        sa.Column("meter_type", sa.String(length=50), nullable=True),
        sa.Column("meter_serial_number", sa.String(length=50), nullable=True),
        sa.Column("diagnostics_status", sa.String(length=50), nullable=True),
        sa.Column("firmware_status", sa.String(length=50), nullable=True),
        sa.Column("last_boot_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["owners.id"],
            name=op.f("fk_chargers_owner_id_owners"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chargers")),
    )
    op.create_table(
        "id_tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parent_id_tag", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_id_tags_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_id_tags")),
        sa.UniqueConstraint("uid", name=op.f("uq_id_tags_uid")),
    )
    op.create_table(
        "connectors",
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=False),
        sa.Column("info", sa.String(length=50), nullable=True),
        sa.Column("vendor_id", sa.String(length=255), nullable=True),
        sa.Column("vendor_error_code", sa.String(length=50), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charger_id"],
            ["chargers.id"],
            name=op.f("fk_connectors_charger_id_chargers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("charger_id", "connector_id", name=op.f("pk_connectors")),
    )
    op.create_table(
        "transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.BigInteger(), nullable=False),
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("id_tag", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("auth_method", sa.String(length=20), nullable=True),
        sa.Column("auth_status", sa.String(length=20), nullable=True),
        sa.Column("start_key", sa.String(length=200), nullable=False),
        sa.Column("reservation_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("meter_start_wh", sa.BigInteger(), nullable=False),
        sa.Column("meter_stop_wh", sa.BigInteger(), nullable=True),
        sa.Column("energy_wh", sa.BigInteger(), nullable=True),
        sa.Column("stop_reason", sa.String(length=30), nullable=True),
        sa.Column("stop_id_tag", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("charging_done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charger_id"], ["chargers.id"], name=op.f("fk_transactions_charger_id_chargers")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_transactions_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint("start_key", name=op.f("uq_transactions_start_key")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_transactions_transaction_id")),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_transactions_charger_status", ["charger_id", "status"], unique=False
        )
        batch_op.create_index("ix_transactions_customer", ["customer_id"], unique=False)

    op.create_table(
        "meter_values",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("transaction_pk", sa.Integer(), nullable=True),
        sa.Column("reported_transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("measurand", sa.String(length=50), nullable=False),
        sa.Column("phase", sa.String(length=10), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("context", sa.String(length=30), nullable=True),
        sa.Column("location", sa.String(length=20), nullable=True),
        sa.Column("format", sa.String(length=20), nullable=True),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_pk"],
            ["transactions.id"],
            name=op.f("fk_meter_values_transaction_pk_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_values")),
    )
    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meter_values_connector", ["charger_id", "connector_id", "timestamp"], unique=False
        )
        batch_op.create_index(
            "ix_meter_values_transaction", ["transaction_pk", "timestamp"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.drop_index("ix_meter_values_transaction")
        batch_op.drop_index("ix_meter_values_connector")

    op.drop_table("meter_values")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_transactions_customer")
        batch_op.drop_index("ix_transactions_charger_status")

    op.drop_table("transactions")
    op.drop_table("connectors")
    op.drop_table("id_tags")
    op.drop_table("chargers")
    op.drop_table("api_tokens")
    with op.batch_alter_table("unreconciled_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_unreconciled_charger")

    op.drop_table("unreconciled_messages")
    with op.batch_alter_table("status_events", schema=None) as batch_op:
        batch_op.drop_index("ix_status_events_charger")

    op.drop_table("status_events")
    op.drop_table("owners")
    op.drop_table("customers")
    with op.batch_alter_table("charger_events", schema=None) as batch_op:
        batch_op.drop_index("ix_charger_events_charger")

    op.drop_table("charger_events")
