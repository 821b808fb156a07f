"""A meter sample's content is its key: a resent 1.6 MeterValues is stored once.

1.6 has no sequence number. A charger that never heard the answer to a MeterValues (the
connection dropped, or the server was killed between the commit and the CALLRESULT)
sends it again, and it was stored twice. Samples are now unique on (transaction,
timestamp, charger, connector, reported transactionId, measurand, value, phase, location,
context), NULLs counting as one value, and inserted with ON CONFLICT DO NOTHING.

- uq_meter_values_transaction_content: samples of a transaction, led by (transaction_pk,
  timestamp); it replaces ix_meter_values_transaction, which it covers, so an insert
  still updates one index.
- uq_meter_values_charger_content: samples outside a transaction (transaction_pk NULL).

Duplicates already stored are removed first, keeping the lowest id of each.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_CONTENT = (
    "charger_id, connector_id, coalesce(reported_transaction_id, -1), timestamp, measurand, "
    "{value}, coalesce(phase, ''), coalesce(location, ''), coalesce(context, '')"
)


def upgrade() -> None:
    # PostgreSQL's btree takes at most about 2.7 kB per entry and a 1.6 SignedData value
    # can be longer: there the key holds the value's md5 (storage.sql.tables._value_key).
    value = "md5(value)" if op.get_bind().dialect.name == "postgresql" else "value"
    content = _CONTENT.format(value=value)
    # (ROW_NUMBER over the key: NULL transaction_pk rows form one partition per content,
    # as the partial index below sees them)
    op.execute(
        sa.text(
            "DELETE FROM meter_values WHERE id IN (SELECT id FROM ("
            f"SELECT id, ROW_NUMBER() OVER (PARTITION BY transaction_pk, {content} "
            "ORDER BY id) AS n FROM meter_values) AS ranked WHERE n > 1)"
        )
    )
    op.drop_index("ix_meter_values_transaction", table_name="meter_values")
    op.execute(
        sa.text(
            "CREATE UNIQUE INDEX uq_meter_values_transaction_content ON meter_values "
            "(transaction_pk, timestamp, charger_id, connector_id, "
            f"coalesce(reported_transaction_id, -1), measurand, {value}, coalesce(phase, ''), "
            "coalesce(location, ''), coalesce(context, ''))"
        )
    )
    op.execute(
        sa.text(
            f"CREATE UNIQUE INDEX uq_meter_values_charger_content ON meter_values ({content}) "
            "WHERE transaction_pk IS NULL"
        )
    )


def downgrade() -> None:
    op.drop_index("uq_meter_values_charger_content", table_name="meter_values")
    op.drop_index("uq_meter_values_transaction_content", table_name="meter_values")
    op.create_index("ix_meter_values_transaction", "meter_values", ["transaction_pk", "timestamp"])
