"""Table definitions (SQLAlchemy Core). Migrations in ``storage/migrations`` create them.

Every timestamp column is timezone-aware UTC (``UtcDateTime``): SQLite has no time zone
type, so values are stored as ISO-8601 text in UTC and read back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import DateTime, TypeDecorator

__all__ = [
    "api_tokens",
    "charger_events",
    "chargers",
    "connectors",
    "customers",
    "id_tags",
    "metadata",
    "meter_values",
    "owners",
    "status_events",
    "transactions",
    "unreconciled_messages",
]


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend; naive input is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

owners = Table(
    "owners",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

chargers = Table(
    "chargers",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("name", String(200)),
    Column("owner_id", Integer, ForeignKey("owners.id", ondelete="SET NULL")),
    Column("password_hash", String(200)),
    Column("security_profile", Integer, nullable=False, default=1),
    # Accepted | Pending | Rejected: the registration status a BootNotification is answered with.
    Column("registration_status", String(20), nullable=False),
    Column("ocpp_version", String(20)),
    Column("vendor", String(50)),
    Column("model", String(50)),
    Column("serial_number", String(50)),
    Column("charge_box_serial_number", String(50)),
    Column("firmware_version", String(50)),
    Column("iccid", String(50)),
    Column("imsi", String(50)),
    Column("meter_type", String(50)),
    Column("meter_serial_number", String(50)),
    Column("diagnostics_status", String(50)),
    Column("firmware_status", String(50)),
    Column("last_boot_at", UtcDateTime),
    Column("last_seen_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
)

connectors = Table(
    "connectors",
    metadata,
    Column(
        "charger_id", String(48), ForeignKey("chargers.id", ondelete="CASCADE"), primary_key=True
    ),
    # 0 is the charge point as a whole (1.6 §4.9), 1.. the connectors.
    Column("connector_id", Integer, primary_key=True, autoincrement=False),
    Column("status", String(30), nullable=False),
    Column("error_code", String(50), nullable=False),
    Column("info", String(50)),
    Column("vendor_id", String(255)),
    Column("vendor_error_code", String(50)),
    Column("status_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

status_events = Table(
    "status_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("charger_id", String(48), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("status", String(30), nullable=False),
    Column("error_code", String(50), nullable=False),
    Column("info", String(50)),
    Column("vendor_id", String(255)),
    Column("vendor_error_code", String(50)),
    Column("timestamp", UtcDateTime),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_status_events_charger", "charger_id", "connector_id", "id"),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The pseudonym station owners see: random, unique, never sequential.
    Column("customer_number", BigInteger, nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

id_tags = Table(
    "id_tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uid", String(64), nullable=False, unique=True),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL")),
    # active | blocked (Expired is derived from expires_at, Invalid from absence).
    Column("status", String(20), nullable=False),
    Column("expires_at", UtcDateTime),
    Column("parent_id_tag", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The CSMS-assigned 1.6 transactionId: random, unique across chargers, fits a signed int32.
    Column("transaction_id", BigInteger, nullable=False, unique=True),
    Column("charger_id", String(48), ForeignKey("chargers.id"), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_tag", String(64)),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL")),
    Column("auth_method", String(20)),
    # The idTagInfo status the StartTransaction was answered with; the transaction is kept
    # whatever it was.
    Column("auth_status", String(20)),
    # Identifies a StartTransaction so that a replay maps to the same transaction.
    Column("start_key", String(200), nullable=False, unique=True),
    Column("reservation_id", Integer),
    Column("started_at", UtcDateTime, nullable=False),
    Column("stopped_at", UtcDateTime),
    Column("meter_start_wh", BigInteger, nullable=False),
    Column("meter_stop_wh", BigInteger),
    Column("energy_wh", BigInteger),
    Column("stop_reason", String(30)),
    Column("stop_id_tag", String(64)),
    Column("status", String(20), nullable=False),
    Column("charging_done_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_transactions_charger_status", "charger_id", "status"),
    Index("ix_transactions_customer", "customer_id"),
)

meter_values = Table(
    "meter_values",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("charger_id", String(48), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_pk", Integer, ForeignKey("transactions.id", ondelete="CASCADE")),
    # The transactionId the charger reported, kept even when it matches no transaction.
    Column("reported_transaction_id", BigInteger),
    Column("timestamp", UtcDateTime, nullable=False),
    Column("value", Text, nullable=False),
    Column("measurand", String(50), nullable=False),
    Column("phase", String(10)),
    Column("unit", String(20)),
    Column("context", String(30)),
    Column("location", String(20)),
    Column("format", String(20)),
    Column("source", String(30), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_meter_values_transaction", "transaction_pk", "timestamp"),
)

unreconciled_messages = Table(
    "unreconciled_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("charger_id", String(48), nullable=False),
    Column("action", String(50), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime),
    Index("ix_unreconciled_charger", "charger_id"),
)

charger_events = Table(
    "charger_events",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("charger_id", String(48), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_charger_events_charger", "charger_id", "kind", "id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    # admin | operator | owner
    Column("role", String(20), nullable=False),
    Column("owner_id", Integer, ForeignKey("owners.id", ondelete="CASCADE")),
    # SHA-256 of the token: tokens are 256-bit random, so a fast hash is enough (no guessing).
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
)
