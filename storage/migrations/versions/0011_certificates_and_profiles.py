"""Certificates csms's CA signs, and raising a charger's security profile.

- issued_certificates: every certificate csms's CA signed for a charger (serial, charger,
  type, subject, validity, SHA-256 fingerprint, the PEM), for `csms certificates list` and
  the expiry warnings.
- chargers.pending_security_profile: the higher profile a charger was told to move to
  (`csms chargers set-profile`), enforced once it has connected with it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issued_certificates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("serial", sa.String(64), nullable=False, unique=True),
        sa.Column("charger_id", sa.String(48), nullable=False),
        sa.Column("certificate_type", sa.String(50), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_issued_certificates_charger", "issued_certificates", ["charger_id", "id"])
    op.create_index("ix_issued_certificates_not_after", "issued_certificates", ["not_after"])
    op.add_column("chargers", sa.Column("pending_security_profile", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chargers", schema=None) as batch_op:
        batch_op.drop_column("pending_security_profile")
    op.drop_index("ix_issued_certificates_not_after", table_name="issued_certificates")
    op.drop_index("ix_issued_certificates_charger", table_name="issued_certificates")
    op.drop_table("issued_certificates")
