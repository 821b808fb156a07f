"""Indexes for one charger's newest events (`csms chargers events ID`).

- security_events (charger_id, created_at) and connection_log (charger_id, connected_at):
  a charger's page of security events and connections is read newest first without
  scanning every charger's rows (security events are kept for years, connections of all
  chargers for 21 days).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 18:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_security_events_charger", "security_events", ["charger_id", "created_at"])
    op.create_index("ix_connection_log_charger", "connection_log", ["charger_id", "connected_at"])


def downgrade() -> None:
    op.drop_index("ix_connection_log_charger", table_name="connection_log")
    op.drop_index("ix_security_events_charger", table_name="security_events")
