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
    Boolean,
    Column,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    func,
    literal,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import DateTime, TypeDecorator

__all__ = [
    "api_tokens",
    "charger_events",
    "chargers",
    "connection_log",
    "connectors",
    "customer_favorites",
    "customer_tokens",
    "customers",
    "device_reports",
    "device_variables",
    "id_tags",
    "invoice_counters",
    "invoices",
    "issued_certificates",
    "metadata",
    "meter_values",
    "outbox",
    "owners",
    "payment_attempts",
    "payment_methods",
    "security_events",
    "status_events",
    "tariff_assignments",
    "tariffs",
    "transaction_events",
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
        moment: datetime = value  # the DateTime impl reads a datetime
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[int]:
    """A table's generated integer key."""
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _big_id() -> Column[int]:
    """The generated key of a table that grows with traffic: BIGINT on PostgreSQL, INTEGER
    on SQLite (64-bit there already, and only an INTEGER key is the rowid)."""
    return Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )


def _connector_status() -> list[Column[Any]]:
    """A connector's status as StatusNotification reports it (the connector's latest and
    each one in its history)."""
    return [
        Column("status", String(30), nullable=False),
        Column("error_code", String(50), nullable=False),
        Column("info", String(50)),
        Column("vendor_id", String(255)),
        Column("vendor_error_code", String(50)),
    ]


owners = Table(
    "owners",
    metadata,
    _id(),
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
    # A password issued to a charger that had none (accepted from Pending), until the
    # charger has it: its hash, and the password itself encrypted for delivery (erased
    # once delivered). password_state: pending | rejected | active (null: as provisioned).
    Column("pending_password_hash", String(200)),
    Column("password_delivery_enc", Text),
    Column("password_state", String(20)),
    Column("password_state_at", UtcDateTime),
    Column("password_detail", String(300)),
    # Set when an operator archived the charger: hidden from lists, connections refused.
    Column("archived_at", UtcDateTime),
    # A higher security profile the charger was told to move to (`csms chargers
    # set-profile`): enforced (moved to security_profile) once it connects with it.
    Column("pending_security_profile", Integer),
)

connectors = Table(
    "connectors",
    metadata,
    Column(
        "charger_id", String(48), ForeignKey("chargers.id", ondelete="CASCADE"), primary_key=True
    ),
    # 0 is the charge point as a whole (1.6 §4.9), 1.. the connectors.
    Column("connector_id", Integer, primary_key=True, autoincrement=False),
    *_connector_status(),
    Column("status_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    # 2.0.1: connector_id is the EVSE id; this is the connectorId within the EVSE.
    Column("evse_connector_id", Integer),
)

status_events = Table(
    "status_events",
    metadata,
    _big_id(),
    Column("charger_id", String(48), nullable=False),
    Column("connector_id", Integer, nullable=False),
    *_connector_status(),
    Column("timestamp", UtcDateTime),
    Column("received_at", UtcDateTime, nullable=False),
    Column("evse_connector_id", Integer),
    Index("ix_status_events_charger", "charger_id", "connector_id", "id"),
)

# Personal data (SPEC "Personal data"): every identity field is AES-GCM ciphertext
# (``*_enc``, storage.crypto.FieldCipher, the column name as associated data); lookups go
# through keyed hashes (``*_hash``, storage.crypto.BlindIndex). Erasure clears them all and
# keeps the row, so sessions and invoices stay under the customer number.
customers = Table(
    "customers",
    metadata,
    _id(),
    # The pseudonym station owners see: random, unique, never sequential.
    Column("customer_number", BigInteger, nullable=False, unique=True),
    Column("name_enc", Text),
    Column("email_enc", Text),
    Column("email_hash", String(80), unique=True),
    Column("phone_enc", Text),
    Column("phone_hash", String(80), unique=True),
    Column("address_enc", Text),
    # make/model/year as the customer gave them
    Column("vehicle_enc", Text),
    # argon2id (csms.security.hash_password; older rows: scrypt); null: no customer API
    # login (operator-made)
    Column("password_hash", String(200)),
    # the PIN's argon2id hash, itself encrypted: a copy of the database alone cannot be used
    # to try the few possible PINs
    Column("pin_hash_enc", Text),
    Column("pin_failures", Integer, nullable=False, server_default="0"),
    Column("pin_locked_until", UtcDateTime),
    # wrong app passwords in a row, and the pause they earned (password guessing)
    Column("login_failures", Integer, nullable=False, server_default="0"),
    Column("login_locked_until", UtcDateTime),
    Column("notify_email", Boolean, nullable=False, server_default=false()),
    Column("notify_sms", Boolean, nullable=False, server_default=false()),
    Column("marketing_opt_in", Boolean, nullable=False, server_default=false()),
    Column("marketing_changed_at", UtcDateTime),
    # SHA-256 of the random token in the unsubscribe link (how the link finds the
    # customer), and the token itself, encrypted: the marketing export puts each
    # customer's working link into the newsletter tool's list.
    Column("unsubscribe_token_hash", String(64), unique=True),
    Column("unsubscribe_token_enc", Text),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime),
    Column("erased_at", UtcDateTime),
)

# Everything a driver identifies with: RFID cards (``card``), the app token the CSMS sends
# in RemoteStart/RequestStart (``app``) and the one-time idTag a touchscreen PIN login
# hands out (``login``). The token itself is encrypted; ``uid_hash`` finds it.
id_tags = Table(
    "id_tags",
    metadata,
    _id(),
    Column("uid_hash", String(80), nullable=False, unique=True),
    Column("uid_enc", Text, nullable=False),
    # card | app | login
    Column("kind", String(10), nullable=False, server_default="card"),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE")),
    # active | blocked (Expired is derived from expires_at, Invalid from absence).
    Column("status", String(20), nullable=False),
    Column("expires_at", UtcDateTime),
    Column("parent_id_tag", String(64)),
    Column("created_at", UtcDateTime, nullable=False),
    # a login token starts one session: the moment it did
    Column("used_at", UtcDateTime),
    Index("ix_id_tags_customer", "customer_id"),
)

# The customer API's sessions (the app): bearer tokens stored as SHA-256 only.
customer_tokens = Table(
    "customer_tokens",
    metadata,
    _id(),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    # the address the login came from: kept 21 days (retention)
    Column("created_ip", String(64)),
    Column("revoked_at", UtcDateTime),
)

customer_favorites = Table(
    "customer_favorites",
    metadata,
    Column(
        "customer_id",
        Integer,
        ForeignKey("customers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "charger_id", String(48), ForeignKey("chargers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("created_at", UtcDateTime, nullable=False),
)

# Security-relevant moments that are not a charger's (a PIN login locked, a key rotated).
# ``details`` never holds personal data: the customer is referred to by id.
security_events = Table(
    "security_events",
    metadata,
    _id(),
    Column("kind", String(50), nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL")),
    Column("charger_id", String(48)),
    Column("details", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_security_events_kind", "kind", "id"),
    # A charger's events, newest first (`csms chargers events`).
    Index("ix_security_events_charger", "charger_id", "created_at"),
)

# Certificates csms's CA signed for chargers (SignCertificate → CertificateSigned): kept
# for listing and expiry warnings. ``serial`` is the upper-case hex serial number,
# ``fingerprint`` the SHA-256 of the DER, in hex.
issued_certificates = Table(
    "issued_certificates",
    metadata,
    _id(),
    Column("serial", String(64), nullable=False, unique=True),
    Column("charger_id", String(48), nullable=False),
    Column("certificate_type", String(50), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("not_before", UtcDateTime, nullable=False),
    Column("not_after", UtcDateTime, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("pem", Text, nullable=False),
    Column("issued_at", UtcDateTime, nullable=False),
    Index("ix_issued_certificates_charger", "charger_id", "id"),
    Index("ix_issued_certificates_not_after", "not_after"),
)

# Charger WebSocket connections and the address each came from: kept 21 days (retention).
connection_log = Table(
    "connection_log",
    metadata,
    _id(),
    Column("charger_id", String(48), nullable=False),
    Column("remote_address", String(64)),
    Column("connected_at", UtcDateTime, nullable=False),
    Index("ix_connection_log_connected_at", "connected_at"),
    Index("ix_connection_log_charger", "charger_id", "connected_at"),
)

transactions = Table(
    "transactions",
    metadata,
    _id(),
    # The CSMS-assigned 1.6 transactionId: random, unique across chargers, fits a signed int32.
    # 2.0.1 transactions get one too (the station's own id is station_transaction_id), so
    # every transaction has the same kind of key whatever the protocol.
    Column("transaction_id", BigInteger, nullable=False, unique=True),
    Column("charger_id", String(48), ForeignKey("chargers.id"), nullable=False),
    # The connector number an operator sees: the 1.6 connectorId, or the 2.0.1 EVSE id.
    Column("connector_id", Integer, nullable=False),
    # The idTag/idToken that started it, encrypted (a card UID is personal data), and its
    # keyed hash (ConcurrentTx: is this card in a running session?).
    Column("id_tag_enc", Text),
    Column("id_tag_hash", String(80)),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL")),
    Column("auth_method", String(20)),
    # The idTagInfo status the StartTransaction was answered with; the transaction is kept
    # whatever it was.
    Column("auth_status", String(20)),
    # Identifies a StartTransaction so that a replay maps to the same transaction
    # (2.0.1: charger id and the station's transactionId).
    Column("start_key", String(200), nullable=False, unique=True),
    Column("reservation_id", Integer),
    Column("started_at", UtcDateTime, nullable=False),
    Column("stopped_at", UtcDateTime),
    # Null while unknown (a 2.0.1 transaction whose events carried no energy register yet).
    Column("meter_start_wh", BigInteger),
    Column("meter_stop_wh", BigInteger),
    Column("energy_wh", BigInteger),
    Column("stop_reason", String(30)),
    Column("stop_id_tag_enc", Text),
    Column("status", String(20), nullable=False),
    Column("charging_done_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # 2.0.1 only (null for 1.6): the station's transactionId (unique per station), the
    # connectorId within the EVSE, the idToken type, the latest chargingState and when it
    # was reported, remoteStartId, numberOfPhasesUsed.
    Column("station_transaction_id", String(36)),
    Column("evse_connector_id", Integer),
    Column("id_token_type", String(20)),
    Column("charging_state", String(20)),
    Column("charging_state_at", UtcDateTime),
    Column("remote_start_id", Integer),
    Column("number_of_phases_used", Integer),
    # True when any of its messages was queued while the station was offline.
    Column("offline", Boolean, nullable=False, server_default=false()),
    # Sequence numbers missing between the first and the last TransactionEvent (2.0.1
    # seqNo); counted when the transaction ends, null before.
    Column("seq_no_gaps", Integer),
    # A session an operator closed without the charger (``csms sessions close``): the
    # API token's name and the operator's text.
    Column("closed_by", String(100)),
    Column("stop_note", String(500)),
    Index("ix_transactions_charger_status", "charger_id", "status"),
    Index("ix_transactions_customer", "customer_id"),
    Index("ix_transactions_id_tag_hash", "id_tag_hash", "status"),
    Index(
        "uq_transactions_station_transaction",
        "charger_id",
        "station_transaction_id",
        unique=True,
    ),
)

# Every 2.0.1 TransactionEventRequest, once: (station, transactionId, seqNo) is unique, so a
# message the station sends again (it got no answer) is recognised and stored once.
transaction_events = Table(
    "transaction_events",
    metadata,
    _big_id(),
    Column("charger_id", String(48), nullable=False),
    Column("station_transaction_id", String(36), nullable=False),
    Column("seq_no", BigInteger, nullable=False),
    Column(
        "transaction_pk",
        Integer,
        ForeignKey("transactions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Started | Updated | Ended
    Column("event_type", String(10), nullable=False),
    Column("trigger_reason", String(30), nullable=False),
    # The station's time of the event (billing uses it, never received_at).
    Column("timestamp", UtcDateTime, nullable=False),
    Column("offline", Boolean, nullable=False),
    Column("charging_state", String(20)),
    # encrypted, like transactions.id_tag_enc
    Column("id_token_enc", Text),
    # The rest of the message (evse, idToken type, stoppedReason, remoteStartId, ...) as
    # sent, without its meter values (those are in meter_values).
    Column("details", JSON),
    # The event's meter values as a JSON array of [timestamp, value, measurand, phase, unit,
    # context, location, format, multiplier, signedMeterValue]: one row per event instead of
    # one per sampled value plus an index entry each, which halves the pages a commit
    # writes on the hot path (docs/adr/0007-transaction-event-samples-in-the-event-row.md).
    Column("samples", Text),
    Column("received_at", UtcDateTime, nullable=False),
    Index(
        "uq_transaction_events_seq_no",
        "charger_id",
        "station_transaction_id",
        "seq_no",
        unique=True,
    ),
)

meter_values = Table(
    "meter_values",
    metadata,
    _big_id(),
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
    # 2.0.1 unitOfMeasure.multiplier: the value is value × 10^multiplier unit (null: 1.6).
    Column("multiplier", Integer),
    # 2.0.1 signedMeterValue, kept verbatim (JSON text).
    Column("signed_meter_value", Text),
    Column("source", String(30), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
)


class _value_key(FunctionElement[str]):
    """A sample's value as it stands in the content key: PostgreSQL's btree takes at most
    about 2.7 kB per entry and a 1.6 ``SignedData`` value (an OCMF or EDL record) can be
    longer, so PostgreSQL keys the value's md5; SQLite keys the value itself."""

    name = "value_key"
    inherit_cache = True


@compiles(_value_key)
def _value_key_sqlite(element: _value_key, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(_value_key, "postgresql")
def _value_key_postgresql(element: _value_key, compiler: Any, **kw: Any) -> str:
    return f"md5({compiler.process(element.clauses, **kw)})"


def _meter_value_content(*leading: Any) -> list[Any]:
    """A sample's content, its key, after the ``leading`` columns: 1.6 has no sequence
    number, so a MeterValues that a charger sends again (it never heard the answer: a lost
    connection, a restart between the commit and the CALLRESULT) carries exactly the
    samples it carried the first time, and is stored once. NULL phase, location, context
    or transactionId count as one value here (a unique index keeps NULLs all distinct)."""
    c = meter_values.c
    rest = [
        c.charger_id,
        c.connector_id,
        func.coalesce(c.reported_transaction_id, literal(-1)),
        c.timestamp,
        c.measurand,
        _value_key(c.value),
        func.coalesce(c.phase, literal("")),
        func.coalesce(c.location, literal("")),
        func.coalesce(c.context, literal("")),
    ]
    return [*leading, *(col for col in rest if all(col is not lead for lead in leading))]


# Samples of a transaction, led by it and their time: also the index sessions and billing
# read a transaction's samples through, so the hot path still updates one index per
# message (docs/adr/0007-transaction-event-samples-in-the-event-row.md).
Index(
    "uq_meter_values_transaction_content",
    *_meter_value_content(meter_values.c.transaction_pk, meter_values.c.timestamp),
    unique=True,
)
# Samples outside a transaction (transaction_pk NULL: the index above never matches two).
Index(
    "uq_meter_values_charger_content",
    *_meter_value_content(),
    unique=True,
    sqlite_where=meter_values.c.transaction_pk.is_(None),
    postgresql_where=meter_values.c.transaction_pk.is_(None),
)

unreconciled_messages = Table(
    "unreconciled_messages",
    metadata,
    _id(),
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
    _big_id(),
    Column("charger_id", String(48), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index("ix_charger_events_charger", "charger_id", "kind", "id"),
)

# The 2.0.1 device model a station reports (NotifyReport): one row per variable of a
# component, with its attributes and characteristics as the station sent them.
device_variables = Table(
    "device_variables",
    metadata,
    _id(),
    Column("charger_id", String(48), ForeignKey("chargers.id", ondelete="CASCADE"), nullable=False),
    # component|instance|evse|connector|variable|instance: one identity for the unique key
    # (the parts may be absent, and NULLs never collide in a unique index).
    Column("variable_key", String(255), nullable=False),
    Column("component_name", String(50), nullable=False),
    Column("component_instance", String(50)),
    Column("evse_id", Integer),
    Column("evse_connector_id", Integer),
    Column("variable_name", String(50), nullable=False),
    Column("variable_instance", String(50)),
    # The value of the Actual attribute (null when the station did not report one).
    Column("actual_value", Text),
    # variableAttribute list and variableCharacteristics object, verbatim.
    Column("attributes", JSON, nullable=False),
    Column("characteristics", JSON),
    # The report this row came from (requestId) and the station's generatedAt.
    Column("request_id", Integer, nullable=False),
    Column("reported_at", UtcDateTime, nullable=False),
    Index("uq_device_variables_key", "charger_id", "variable_key", unique=True),
)

# One row per report (requestId) a station sent: how far it got and whether it is complete.
device_reports = Table(
    "device_reports",
    metadata,
    _id(),
    Column("charger_id", String(48), ForeignKey("chargers.id", ondelete="CASCADE"), nullable=False),
    Column("request_id", Integer, nullable=False),
    Column("generated_at", UtcDateTime, nullable=False),
    Column("last_seq_no", Integer, nullable=False),
    # False while the station says more parts follow (tbc).
    Column("complete", Boolean, nullable=False),
    Column("variables", Integer, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index("uq_device_reports_request", "charger_id", "request_id", unique=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    _id(),
    Column("name", String(100), nullable=False),
    # admin | operator | owner
    Column("role", String(20), nullable=False),
    Column("owner_id", Integer, ForeignKey("owners.id", ondelete="CASCADE")),
    # SHA-256 of the token: tokens are 256-bit random, so a fast hash is enough (no guessing).
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    # None: the token never expires (`csms token create NAME --expires 30d`).
    Column("expires_at", UtcDateTime),
)


# Prices. Money amounts are decimal strings ("0.39"): exact on every backend (SQLite has no
# decimal type), read as Decimal (csms.domain.billing.tariffs). A tariff never changes once made:
# a new price is a new tariff, assigned from a moment on, so a session is always billed at
# the prices in force when it started.
tariffs = Table(
    "tariffs",
    metadata,
    _id(),
    Column("name", String(100), nullable=False, unique=True),
    # ISO 4217 code
    Column("currency", String(3), nullable=False),
    Column("per_kwh", String(32), nullable=False),
    Column("per_hour", String(32), nullable=False),
    Column("session_fee", String(32), nullable=False),
    # the idle fee, per full minute plugged in after charging is done and the grace is over
    Column("idle_per_minute", String(32), nullable=False),
    Column("idle_grace_minutes", Integer, nullable=False),
    # percent, added to the net amount ("19" for 19 %)
    Column("tax_rate", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Which tariff a charger charges from when; charger_id null: the default for chargers with
# no assignment of their own. Rows are only added, never changed.
tariff_assignments = Table(
    "tariff_assignments",
    metadata,
    _id(),
    Column("charger_id", String(48), ForeignKey("chargers.id", ondelete="CASCADE")),
    Column("tariff_id", Integer, ForeignKey("tariffs.id"), nullable=False),
    Column("assigned_at", UtcDateTime, nullable=False),
    Index("ix_tariff_assignments_charger", "charger_id", "assigned_at"),
)

# A customer's cards at the payment processor. Card number and CVC never reach csms's
# storage: they go to the processor, which answers a token; only that token (encrypted),
# the processor's customer reference (encrypted), the brand, the last 4 digits and the
# expiry are kept (SPEC "Personal data").
payment_methods = Table(
    "payment_methods",
    metadata,
    _id(),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    Column("token_enc", Text, nullable=False),
    Column("customer_ref_enc", Text, nullable=False),
    Column("brand", String(20), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    # active | removed (detached at the processor by the outbox, then deleted)
    Column("status", String(10), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("removed_at", UtcDateTime),
    Index("ix_payment_methods_customer", "customer_id", "status"),
)

# One invoice per billed session, in integer minor units of its currency. It stays when
# the customer is erased (under the customer number only: it holds no identity).
invoices = Table(
    "invoices",
    metadata,
    _id(),
    Column(
        "transaction_pk",
        Integer,
        ForeignKey("transactions.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("customer_id", Integer, ForeignKey("customers.id", ondelete="SET NULL")),
    Column("tariff_id", Integer, ForeignKey("tariffs.id")),
    Column("currency", String(3), nullable=False),
    # [{"kind", "description", "quantity", "unit", "unit_price", "amount"}], decimal strings
    Column("lines", JSON, nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("tax_rate", String(16), nullable=False),
    Column("tax_minor", BigInteger, nullable=False),
    Column("total_minor", BigInteger, nullable=False),
    # not_required (nothing to pay) | pending (no payment processor configured) |
    # no_payment_method | processing | paid | declined (retried) | failed (for good)
    Column("payment_status", String(20), nullable=False),
    Column("payment_method_id", Integer, ForeignKey("payment_methods.id", ondelete="SET NULL")),
    # the processor's id of the successful charge (payment intent)
    Column("payment_reference", String(100)),
    Column("declines", Integer, nullable=False, server_default="0"),
    Column("decline_code", String(50)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("paid_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_invoices_customer", "customer_id"),
    # gapless per calendar year (UTC): "2026-000001", from invoice_counters in the
    # invoice's own commit
    Column("number", String(20)),
    # why billing held it (payment_status "held": an implausible session); kept after
    # release
    Column("held_reason", String(300)),
    Column("released_at", UtcDateTime),
    # the energy an operator billed instead of the session's (``csms invoices adjust``)
    Column("adjusted_energy_wh", BigInteger),
    Column("adjust_reason", String(300)),
    # who sold the charging when it was billed: {"name", "address", "vat_id"}
    Column("seller", JSON),
    Index("uq_invoices_number", "number", unique=True),
)

# The last invoice number given out per calendar year (UTC): taken and raised in the
# commit that stores the invoice, so numbers have no gaps and no duplicates.
invoice_counters = Table(
    "invoice_counters",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("last_number", Integer, nullable=False),
)

# Every attempt to charge an invoice and how it ended: succeeded | declined | error.
payment_attempts = Table(
    "payment_attempts",
    metadata,
    _id(),
    Column("invoice_id", Integer, ForeignKey("invoices.id", ondelete="CASCADE"), nullable=False),
    Column("idempotency_key", String(100), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reference", String(100)),
    Column("decline_code", String(50)),
    Column("message", String(300)),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_payment_attempts_invoice", "invoice_id", "id"),
)

# The transactional outbox (docs/adr/0008-outbox.md): what has to happen outside the
# database after a commit (bill a session, charge a card, send an email or a text) is
# written in the same commit as its cause, then done by the outbox workers, at least once,
# each under an idempotency key the receiver recognises. ``payload`` holds ids only, never
# personal data: the worker reads what it needs when it delivers.
outbox = Table(
    "outbox",
    metadata,
    _big_id(),
    Column("topic", String(40), nullable=False),
    # unique: the same fact enqueued twice (a replayed stop) is one delivery; it is also
    # the idempotency key sent to the receiver
    Column("key", String(200), nullable=False, unique=True),
    Column("payload", JSON, nullable=False),
    # pending | done | failed
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    # set while a worker delivers it: another worker leaves it alone until then
    Column("claimed_until", UtcDateTime),
    Column("last_error", String(500)),
    # what the delivery did (a message id, "skipped: email disabled")
    Column("result", String(300)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)
