"""OCPP 2.0.1 on the shared domain: station transactions, TransactionEvents, device model.

- transactions: the station's transactionId (unique per charger), EVSE connectorId, idToken
  type, chargingState, remoteStartId, numberOfPhasesUsed, an offline flag and the count of
  missing seqNos; meter_start_wh may be unknown (null) until an energy register arrives.
- transaction_events: every TransactionEventRequest once, unique on
  (charger, transactionId, seqNo).
- connectors, status_events: the 2.0.1 connectorId within the EVSE (connector_id is the
  EVSE id, the number operators use on both versions).
- meter_values: unitOfMeasure.multiplier and signedMeterValue (verbatim).
- device_variables / device_reports: the device model of NotifyReport.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seq_no", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("variables", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charger_id"],
            ["chargers.id"],
            name=op.f("fk_device_reports_charger_id_chargers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_reports")),
    )
    with op.batch_alter_table("device_reports", schema=None) as batch_op:
        batch_op.create_index(
            "uq_device_reports_request", ["charger_id", "request_id"], unique=True
        )

    op.create_table(
        "device_variables",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("variable_key", sa.String(length=255), nullable=False),
        sa.Column("component_name", sa.String(length=50), nullable=False),
        sa.Column("component_instance", sa.String(length=50), nullable=True),
        sa.Column("evse_id", sa.Integer(), nullable=True),
        sa.Column("evse_connector_id", sa.Integer(), nullable=True),
        sa.Column("variable_name", sa.String(length=50), nullable=False),
        sa.Column("variable_instance", sa.String(length=50), nullable=True),
        sa.Column("actual_value", sa.Text(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("characteristics", sa.JSON(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charger_id"],
            ["chargers.id"],
            name=op.f("fk_device_variables_charger_id_chargers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_variables")),
    )
    with op.batch_alter_table("device_variables", schema=None) as batch_op:
        batch_op.create_index(
            "uq_device_variables_key", ["charger_id", "variable_key"], unique=True
        )

    op.create_table(
        "transaction_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("station_transaction_id", sa.String(length=36), nullable=False),
        sa.Column("seq_no", sa.BigInteger(), nullable=False),
        sa.Column("transaction_pk", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=10), nullable=False),
        sa.Column("trigger_reason", sa.String(length=30), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("charging_state", sa.String(length=20), nullable=True),
        sa.Column("id_token", sa.String(length=36), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_pk"],
            ["transactions.id"],
            name=op.f("fk_transaction_events_transaction_pk_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transaction_events")),
    )
    with op.batch_alter_table("transaction_events", schema=None) as batch_op:
        batch_op.create_index(
            "uq_transaction_events_seq_no",
            ["charger_id", "station_transaction_id", "seq_no"],
            unique=True,
        )

    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evse_connector_id", sa.Integer(), nullable=True))

    with op.batch_alter_table("status_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evse_connector_id", sa.Integer(), nullable=True))

    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.add_column(sa.Column("multiplier", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("signed_meter_value", sa.Text(), nullable=True))

    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("station_transaction_id", sa.String(length=36), nullable=True)
        )
        batch_op.add_column(sa.Column("evse_connector_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("id_token_type", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("charging_state", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("charging_state_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("remote_start_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("number_of_phases_used", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("offline", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("seq_no_gaps", sa.Integer(), nullable=True))
        batch_op.alter_column("meter_start_wh", existing_type=sa.BIGINT(), nullable=True)
        batch_op.create_index(
            "uq_transactions_station_transaction",
            ["charger_id", "station_transaction_id"],
            unique=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("uq_transactions_station_transaction")
        batch_op.alter_column("meter_start_wh", existing_type=sa.BIGINT(), nullable=False)
        batch_op.drop_column("seq_no_gaps")
        batch_op.drop_column("offline")
        batch_op.drop_column("number_of_phases_used")
        batch_op.drop_column("remote_start_id")
        batch_op.drop_column("charging_state_at")
        batch_op.drop_column("charging_state")
        batch_op.drop_column("id_token_type")
        batch_op.drop_column("evse_connector_id")
        batch_op.drop_column("station_transaction_id")

    with op.batch_alter_table("status_events", schema=None) as batch_op:
        batch_op.drop_column("evse_connector_id")

    with op.batch_alter_table("connectors", schema=None) as batch_op:
        batch_op.drop_column("evse_connector_id")

    with op.batch_alter_table("meter_values", schema=None) as batch_op:
        batch_op.drop_column("signed_meter_value")
        batch_op.drop_column("multiplier")

    with op.batch_alter_table("transaction_events", schema=None) as batch_op:
        batch_op.drop_index("uq_transaction_events_seq_no")

    op.drop_table("transaction_events")
    with op.batch_alter_table("device_variables", schema=None) as batch_op:
        batch_op.drop_index("uq_device_variables_key")

    op.drop_table("device_variables")
    with op.batch_alter_table("device_reports", schema=None) as batch_op:
        batch_op.drop_index("uq_device_reports_request")

    op.drop_table("device_reports")
