"""Personal data encrypted at rest; customers, cards, app and login tokens; retention.

- customers: identity fields as AES-GCM ciphertext (``*_enc``) with keyed hashes for
  lookups (email, phone); password and PIN hashes; notification preferences; marketing
  consent and its unsubscribe token; erasure time.
- id_tags: the UID as ciphertext plus keyed hash; ``kind`` card | app | login.
- transactions / transaction_events: the idTag as ciphertext plus keyed hash; the 1.6
  start key no longer contains the idTag.
- customer_tokens, customer_favorites, security_events, connection_log: new.
- transaction_events.samples: a TransactionEvent's meter values, kept with the event.

Rows written before this revision are encrypted here with the data keys ``csms db
upgrade`` passes in (``config.attributes["key_ring"]``); a database with such rows and no
keys is refused rather than left half in plain text.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 08:30:00
"""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from alembic import context, op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _vault() -> Any:
    from storage.sql.repositories import Vault

    ring = context.config.attributes.get("key_ring")
    if ring is None:
        raise RuntimeError(
            "this database holds personal data in plain text from an earlier version; "
            "run `csms db upgrade` (which passes the data keys) to encrypt it"
        )
    return Vault(ring)


def _create_new_tables() -> None:
    op.create_table(
        "customer_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_ip", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_tokens_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_customer_tokens_token_hash")),
    )
    op.create_table(
        "customer_favorites",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["charger_id"],
            ["chargers.id"],
            name=op.f("fk_customer_favorites_charger_id_chargers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_favorites_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", "charger_id", name=op.f("pk_customer_favorites")),
    )
    op.create_table(
        "security_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("charger_id", sa.String(length=48), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_security_events_customer_id_customers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    with op.batch_alter_table("security_events", schema=None) as batch_op:
        batch_op.create_index("ix_security_events_kind", ["kind", "id"], unique=False)
    op.create_table(
        "connection_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("charger_id", sa.String(length=48), nullable=False),
        sa.Column("remote_address", sa.String(length=64), nullable=True),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_log")),
    )
    with op.batch_alter_table("connection_log", schema=None) as batch_op:
        batch_op.create_index("ix_connection_log_connected_at", ["connected_at"], unique=False)


def upgrade() -> None:
    _create_new_tables()
    bind = op.get_bind()
    customers = bind.execute(sa.text("SELECT id, name, email FROM customers")).all()
    tags = bind.execute(sa.text("SELECT id, uid FROM id_tags")).all()
    txs = bind.execute(
        sa.text(
            "SELECT id, id_tag, stop_id_tag, start_key, station_transaction_id FROM transactions"
        )
    ).all()
    events = bind.execute(
        sa.text("SELECT id, id_token FROM transaction_events WHERE id_token IS NOT NULL")
    ).all()
    unreconciled = bind.execute(sa.text("SELECT id, payload FROM unreconciled_messages")).all()
    vault: Any = _vault() if customers or tags or txs or events or unreconciled else None

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("email_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("email_hash", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("phone_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("phone_hash", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("address_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("vehicle_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("pin_hash_enc", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("pin_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("pin_locked_until", sa.DateTime(timezone=True), nullable=True)
        )
        for flag in ("notify_email", "notify_sms", "marketing_opt_in"):
            batch_op.add_column(
                sa.Column(flag, sa.Boolean(), server_default=sa.false(), nullable=False)
            )
        batch_op.add_column(
            sa.Column("marketing_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("unsubscribe_token_hash", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(op.f("uq_customers_email_hash"), ["email_hash"])
        batch_op.create_unique_constraint(op.f("uq_customers_phone_hash"), ["phone_hash"])
        batch_op.create_unique_constraint(
            op.f("uq_customers_unsubscribe_token_hash"), ["unsubscribe_token_hash"]
        )
    for pk, name, email in customers:
        bind.execute(
            sa.text(
                "UPDATE customers SET name_enc = :n, email_enc = :e, email_hash = :h WHERE id = :id"
            ),
            {
                "n": vault.seal(name, "customers.name"),
                "e": vault.seal(email, "customers.email"),
                "h": vault.digest(email, "email"),
                "id": pk,
            },
        )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("name")
        batch_op.drop_column("email")

    with op.batch_alter_table("id_tags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uid_hash", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("uid_enc", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), server_default="card", nullable=False)
        )
        batch_op.add_column(sa.Column("used_at", sa.DateTime(timezone=True), nullable=True))
    for pk, uid in tags:
        bind.execute(
            sa.text("UPDATE id_tags SET uid_hash = :h, uid_enc = :e WHERE id = :id"),
            {"h": vault.digest(uid, "uid"), "e": vault.seal(uid, "id_tags.uid"), "id": pk},
        )
    with op.batch_alter_table("id_tags", schema=None) as batch_op:
        batch_op.drop_constraint("uq_id_tags_uid", type_="unique")
        batch_op.drop_column("uid")
        batch_op.alter_column("uid_hash", existing_type=sa.String(length=80), nullable=False)
        batch_op.alter_column("uid_enc", existing_type=sa.Text(), nullable=False)
        batch_op.create_unique_constraint(op.f("uq_id_tags_uid_hash"), ["uid_hash"])
        batch_op.create_index("ix_id_tags_customer", ["customer_id"], unique=False)
        # a customer's cards and tokens go with the customer (erasure deletes them)
        batch_op.drop_constraint("fk_id_tags_customer_id_customers", type_="foreignkey")
        batch_op.create_foreign_key(
            op.f("fk_id_tags_customer_id_customers"),
            "customers",
            ["customer_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_tag_enc", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("id_tag_hash", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("stop_id_tag_enc", sa.Text(), nullable=True))
    for pk, id_tag, stop_id_tag, start_key, station_transaction_id in txs:
        if station_transaction_id is None:
            # 1.6: charger|connector|idTag|timestamp|meterStart → without the idTag
            parts = start_key.split("|")
            if len(parts) >= 5:
                start_key = "|".join([parts[0], parts[1], parts[-2], parts[-1]])
        bind.execute(
            sa.text(
                "UPDATE transactions SET id_tag_enc = :e, id_tag_hash = :h, "
                "stop_id_tag_enc = :s, start_key = :k WHERE id = :id"
            ),
            {
                "e": vault.seal(id_tag, "transactions.id_tag"),
                "h": vault.digest(id_tag, "uid"),
                "s": vault.seal(stop_id_tag, "transactions.stop_id_tag"),
                "k": start_key,
                "id": pk,
            },
        )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_column("id_tag")
        batch_op.drop_column("stop_id_tag")
        batch_op.create_index(
            "ix_transactions_id_tag_hash", ["id_tag_hash", "status"], unique=False
        )

    with op.batch_alter_table("transaction_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_token_enc", sa.Text(), nullable=True))
        # (not personal data: a TransactionEvent's meter values, stored with the event)
        batch_op.add_column(sa.Column("samples", sa.Text(), nullable=True))
    for pk, id_token in events:
        bind.execute(
            sa.text("UPDATE transaction_events SET id_token_enc = :e WHERE id = :id"),
            {"e": vault.seal(id_token, "transaction_events.id_token"), "id": pk},
        )
    with op.batch_alter_table("transaction_events", schema=None) as batch_op:
        batch_op.drop_column("id_token")

    for pk, payload in unreconciled:
        if isinstance(payload, str):
            payload = orjson.loads(payload)
        sealed = {
            "encrypted": vault.seal(orjson.dumps(payload).decode(), "unreconciled_messages.payload")
        }
        bind.execute(
            sa.text("UPDATE unreconciled_messages SET payload = :p WHERE id = :id"),
            {"p": orjson.dumps(sealed).decode(), "id": pk},
        )


def downgrade() -> None:
    raise NotImplementedError("0004 encrypts personal data; there is no way back to plain text")
