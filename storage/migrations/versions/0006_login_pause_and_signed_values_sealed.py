"""App login pauses after wrong passwords; signed meter values sealed at rest.

- customers.login_failures / login_locked_until: ten wrong app passwords in a row pause
  the account's login for 15 minutes (password guessing).
- meter_values.signed_meter_value and the transaction_events.samples that hold a signed
  value: an OCMF or EDL record names the identification a session started with (a card
  UID), so they are encrypted like the idTags themselves. Rows of earlier versions are
  encrypted here with the data keys ``csms db upgrade`` passes in.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 19:30:00
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from alembic import context, op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("login_failures", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "customers", sa.Column("login_locked_until", sa.DateTime(timezone=True), nullable=True)
    )
    _seal_signed_values()


def _is_plain_json(text: str) -> bool:
    return text[:1] in ("{", "[", '"')


def _seal_signed_values() -> None:
    bind = op.get_bind()
    signed = bind.execute(
        sa.text(
            "SELECT id, signed_meter_value FROM meter_values WHERE signed_meter_value IS NOT NULL"
        )
    ).all()
    samples = [
        (pk, text)
        for pk, text in bind.execute(
            sa.text("SELECT id, samples FROM transaction_events WHERE samples IS NOT NULL")
        ).all()
        if _is_plain_json(text) and any(s[9] is not None for s in orjson.loads(text))
    ]
    if not signed and not samples:
        return
    ring = context.config.attributes.get("key_ring")
    if ring is None:
        raise RuntimeError(
            "this database holds signed meter values in plain text from an earlier version; "
            "run `csms db upgrade` (which passes the data keys) to encrypt them"
        )
    from storage.sql.repositories import Vault

    vault: Any = Vault(ring)
    for pk, text in signed:
        bind.execute(
            sa.text("UPDATE meter_values SET signed_meter_value = :v WHERE id = :id"),
            {"v": vault.seal(text, "meter_values.signed_meter_value"), "id": pk},
        )
    for pk, text in samples:
        bind.execute(
            sa.text("UPDATE transaction_events SET samples = :v WHERE id = :id"),
            {"v": vault.seal(text, "transaction_events.samples"), "id": pk},
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("login_locked_until")
        batch_op.drop_column("login_failures")
