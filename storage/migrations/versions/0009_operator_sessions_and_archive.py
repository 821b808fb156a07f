"""Chargers get a credential when accepted; sessions closed by an operator; archive.

- chargers.pending_password_hash / password_delivery_enc / password_state /
  password_state_at / password_detail: a password issued to a charger that had none (one
  accepted from Pending), held until the charger has confirmed it. The password itself is
  kept encrypted only until it has been delivered.
- chargers.archived_at: an archived charger is hidden from lists and refused at the
  handshake; its sessions stay.
- transactions.closed_by / stop_note: who closed a stuck session without the charger,
  and why.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in (
        sa.Column("pending_password_hash", sa.String(200), nullable=True),
        sa.Column("password_delivery_enc", sa.Text(), nullable=True),
        sa.Column("password_state", sa.String(20), nullable=True),
        sa.Column("password_state_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_detail", sa.String(300), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
    ):
        op.add_column("chargers", column)
    op.add_column("transactions", sa.Column("closed_by", sa.String(100), nullable=True))
    op.add_column("transactions", sa.Column("stop_note", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("stop_note")
        batch.drop_column("closed_by")
    with op.batch_alter_table("chargers") as batch:
        for name in (
            "archived_at",
            "password_detail",
            "password_state_at",
            "password_state",
            "password_delivery_enc",
            "pending_password_hash",
        ):
            batch.drop_column(name)
