"""Transactions: start, meter values, stop. Every message is idempotent and nothing is dropped.

Business problems (unknown card, unknown transaction) are answered with a status and the
data is kept; a CALLERROR would make the charger retry and finally discard billing data.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from csms.domain.charging.authorization import (
    auth_method_for,
    authorize_id_tag,
    mark_one_time_token_used,
)
from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.model import (
    AuthMethod,
    AuthorizationStatus,
    IdTokenInfo,
    MeterSample,
    StartResult,
    TransactionStatus,
)
from csms.domain.outbox_events import enqueue_session_completed
from storage.ports import UnitOfWork
from storage.records import TransactionRecord, UnreconciledRecord

__all__ = [
    "CLOSED_BY_OPERATOR",
    "MAX_TRANSACTION_ID",
    "StopOutcome",
    "close_session",
    "new_transaction_id",
    "record_meter_values",
    "start_transaction",
    "stop_transaction",
]

log = logging.getLogger(__name__)

# 1.6 transactionId is a JSON integer; chargers commonly store it as a signed 32-bit int.
MAX_TRANSACTION_ID = 2**31 - 1


def new_transaction_id(uow: UnitOfWork) -> int:
    """A random transaction id, unique across all chargers and not guessable from another."""
    while True:
        candidate = secrets.randbelow(MAX_TRANSACTION_ID) + 1
        if not uow.transactions.transaction_id_taken(candidate):
            return candidate


def _start_key(charger_id: str, connector_id: int, timestamp: datetime, meter_start: int) -> str:
    """What makes a StartTransaction the same one when replayed. (Not the idTag: a card UID
    is personal data, and the key is stored in plain text for its unique index.)"""
    return f"{charger_id}|{connector_id}|{timestamp.isoformat()}|{meter_start}"


def start_transaction(
    uow: UnitOfWork,
    *,
    charger_id: str,
    connector_id: int,
    id_tag: str,
    meter_start_wh: int,
    timestamp: datetime,
    now: datetime,
    reservation_id: int | None = None,
    auth_method: AuthMethod | None = None,
) -> StartResult:
    """Record a started transaction (1.6 §4.8 StartTransaction).

    The idTag is verified again even when the charger authorized it offline; whatever the
    status, the transaction is kept and billed, and the charger decides whether to stop it
    (1.6 §5.11 StopTransactionOnInvalidId). A replay of the same StartTransaction (same
    charger, connector, idTag, timestamp and meterStart) returns the same transactionId
    and creates nothing.

    The session belongs to the token's customer, and ``auth_method`` (unless given) is the
    token's kind: a card, the app token of a remote start (SPEC "Authorization methods"),
    or a one-time touchscreen login token, which this start uses up.
    """
    key = _start_key(charger_id, connector_id, timestamp, meter_start_wh)
    existing = uow.transactions.by_start_key(key)
    if existing is not None:
        info = authorize_id_tag(uow, id_tag, now=now, exclude_transaction_pk=existing.id)
        return StartResult(existing.transaction_id, info, created=False)
    info = authorize_id_tag(uow, id_tag, now=now)
    tag = uow.id_tags.by_uid(id_tag)
    if auth_method is None:
        auth_method = auth_method_for(None, kind=tag.kind if tag else None)
    record = TransactionRecord(
        id=0,
        transaction_id=new_transaction_id(uow),
        charger_id=charger_id,
        connector_id=connector_id,
        id_tag=id_tag,
        customer_id=tag.customer_id if tag else None,
        auth_method=auth_method.value,
        auth_status=info.status.value,
        start_key=key,
        reservation_id=reservation_id,
        started_at=timestamp,
        meter_start_wh=meter_start_wh,
        status=TransactionStatus.ACTIVE.value,
        created_at=now,
        updated_at=now,
    )
    uow.transactions.add(record)
    mark_one_time_token_used(uow, tag, info, now=now)
    return StartResult(record.transaction_id, info, created=True)


def record_meter_values(
    uow: UnitOfWork,
    *,
    charger_id: str,
    connector_id: int,
    transaction_id: int | None,
    samples: Sequence[MeterSample],
    now: datetime,
    source: str = "MeterValues",
) -> None:
    """Persist every sampled value (1.6 §4.7), linked to its transaction or to the connector.

    A transactionId that matches no transaction of this charger is kept on the samples
    (``reported_transaction_id``) for reconciliation.
    """
    transaction_pk = None
    if transaction_id is not None:
        key = uow.transactions.key_for(transaction_id)
        if key is not None and key[1] == charger_id:
            transaction_pk = key[0]
    uow.meter_samples.add_many(
        samples,
        charger_id=charger_id,
        connector_id=connector_id,
        transaction_pk=transaction_pk,
        reported_transaction_id=transaction_id,
        source=source,
        received_at=now,
    )


@dataclass(frozen=True, slots=True)
class StopOutcome:
    id_token_info: IdTokenInfo | None
    transaction: TransactionRecord | None
    #: False when this stop had been recorded before (a repeated StopTransaction).
    recorded: bool


def stop_transaction(
    uow: UnitOfWork,
    *,
    charger_id: str,
    transaction_id: int,
    meter_stop_wh: int,
    timestamp: datetime,
    now: datetime,
    reason: str | None,
    id_tag: str | None,
    samples: Sequence[MeterSample],
    raw_payload: dict[str, Any],
) -> StopOutcome:
    """Record a stopped transaction (1.6 §4.10 StopTransaction).

    - Unknown or ``-1`` transactionId: acknowledged; the message is kept in
      ``unreconciled_messages`` and its samples stored against the charger.
    - A repeated stop is acknowledged and counted once (the first one wins).
    - Energy is meterStop − meterStart; a negative difference (meter replaced or reset) is
      kept as null energy and logged rather than billed.
    - The idTag is answered as part of the transaction it stops: the card is not "busy"
      with it, and a one-time login token that started it still works for it.
    """
    transaction = uow.transactions.by_transaction_id(transaction_id)
    if transaction is not None and transaction.charger_id != charger_id:
        transaction = None
    info = (
        authorize_id_tag(
            uow,
            id_tag,
            now=now,
            exclude_transaction_pk=transaction.id if transaction is not None else None,
        )
        if id_tag
        else None
    )
    if info is not None and info.status is AuthorizationStatus.CONCURRENT_TX:
        # The card is "busy" with another transaction: it may still stop this one.
        info = IdTokenInfo(AuthorizationStatus.ACCEPTED, info.expiry_date, info.parent_id_tag)
    if transaction is None:
        uow.unreconciled.add(
            UnreconciledRecord(
                charger_id=charger_id,
                action="StopTransaction",
                reason="unknown transactionId",
                payload=raw_payload,
                received_at=now,
            )
        )
        uow.meter_samples.add_many(
            samples,
            charger_id=charger_id,
            connector_id=0,
            transaction_pk=None,
            reported_transaction_id=transaction_id,
            source="StopTransaction",
            received_at=now,
        )
        log.warning(
            "StopTransaction for unknown transaction %s from %s kept for reconciliation",
            transaction_id,
            charger_id,
        )
        return StopOutcome(info, None, recorded=True)
    if transaction.status == TransactionStatus.COMPLETED.value:
        if transaction.closed_by is not None:
            _keep_late_stop(uow, transaction, raw_payload, samples, now=now)
        return StopOutcome(info, transaction, recorded=False)
    energy: int | None = None
    if transaction.meter_start_wh is not None:
        energy = meter_stop_wh - transaction.meter_start_wh
    if energy is not None and energy < 0:
        log.warning(
            "transaction %s: meterStop %s below meterStart %s; energy left unset",
            transaction_id,
            meter_stop_wh,
            transaction.meter_start_wh,
        )
        energy = None
    changes = {
        "stopped_at": timestamp,
        "meter_stop_wh": meter_stop_wh,
        "energy_wh": energy,
        # 1.6 §7.44: an absent reason means Local.
        "stop_reason": reason or "Local",
        "stop_id_tag": id_tag,
        "status": TransactionStatus.COMPLETED.value,
        "updated_at": now,
    }
    uow.transactions.update(transaction.id, **changes)
    for name, value in changes.items():
        setattr(transaction, name, value)
    uow.meter_samples.add_many(
        samples,
        charger_id=charger_id,
        connector_id=transaction.connector_id,
        transaction_pk=transaction.id,
        reported_transaction_id=transaction_id,
        source="StopTransaction",
        received_at=now,
    )
    # Billing and the receipt, once this commit is durable (docs/adr/0008-outbox.md).
    enqueue_session_completed(uow, transaction, now=now)
    return StopOutcome(info, transaction, recorded=True)


#: stop_reason of a session an operator closed without the charger.
CLOSED_BY_OPERATOR = "closed_by_operator"
#: unreconciled_messages.reason of the charger's own stop of such a session.
LATE_STOP = "stop after the session was closed by an operator"


def _keep_late_stop(
    uow: UnitOfWork,
    transaction: TransactionRecord,
    payload: dict[str, Any],
    samples: Sequence[MeterSample],
    *,
    now: datetime,
) -> None:
    """The charger's StopTransaction for a session an operator had closed: acknowledged,
    kept for reconciliation with its meter values, billed not again (the session keeps the
    figures it was closed and billed with). A resend of it is kept once."""
    kept = uow.unreconciled.list(charger_id=transaction.charger_id)
    if any(r.reason == LATE_STOP and r.payload == payload for r in kept):
        return
    uow.unreconciled.add(
        UnreconciledRecord(
            charger_id=transaction.charger_id,
            action="StopTransaction",
            reason=LATE_STOP,
            payload=payload,
            received_at=now,
        )
    )
    uow.meter_samples.add_many(
        samples,
        charger_id=transaction.charger_id,
        connector_id=transaction.connector_id,
        transaction_pk=transaction.id,
        reported_transaction_id=transaction.transaction_id,
        source="StopTransaction",
        received_at=now,
    )
    log.warning(
        "session %s on %s was closed by %s; the charger's own stop (meterStop %s) is kept "
        "for reconciliation and not billed",
        transaction.id,
        transaction.charger_id,
        transaction.closed_by,
        payload.get("meterStop"),
    )


def _last_energy_register(uow: UnitOfWork, transaction: TransactionRecord) -> int | None:
    """The session's latest energy register reading in Wh (None without one)."""
    from csms.domain.charging.transaction_events import energy_wh

    readings = [
        wh
        for s in uow.meter_samples.energy_registers(transaction.id)
        if (wh := energy_wh(s)) is not None
    ]
    return readings[-1] if readings else None


def close_session(
    uow: UnitOfWork,
    *,
    session_id: int,
    closed_by: str,
    now: datetime,
    meter_stop_wh: int | None = None,
    note: str | None = None,
) -> TransactionRecord:
    """End an active session without the charger (``csms sessions close``): a charger that
    went offline for good, a stop that never came. The card is free again at once.

    Meter stop: ``meter_stop_wh``, else the latest energy register reading, else the meter
    start (no energy). stopped_at is now, the stop reason ``closed_by_operator`` (with the
    operator's ``note``), ``closed_by`` the API token's name. It is billed and notified
    through the normal completion path (``session.completed``, once). The charger's own
    stop, if it comes later, is kept but billed not again.
    """
    transaction = uow.transactions.by_pk(session_id)
    if transaction is None:
        raise NotFound(f"session {session_id} not found: see `csms sessions list`")
    if transaction.status != TransactionStatus.ACTIVE.value:
        raise InvalidRequest(
            f"session {session_id} is already {transaction.status}: nothing to close"
        )
    start = transaction.meter_start_wh
    if meter_stop_wh is None:
        meter_stop_wh = _last_energy_register(uow, transaction)
        if meter_stop_wh is None or (start is not None and meter_stop_wh < start):
            meter_stop_wh = start
    elif start is not None and meter_stop_wh < start:
        raise InvalidRequest(
            f"meter stop {meter_stop_wh} Wh is below the session's meter start {start} Wh"
        )
    energy = None if start is None or meter_stop_wh is None else meter_stop_wh - start
    changes: dict[str, Any] = {
        "stopped_at": max(now, transaction.started_at),
        "meter_stop_wh": meter_stop_wh,
        "energy_wh": energy,
        "stop_reason": CLOSED_BY_OPERATOR,
        "stop_note": note,
        "closed_by": closed_by[:100],
        "status": TransactionStatus.COMPLETED.value,
        "updated_at": now,
    }
    uow.transactions.update(transaction.id, **changes)
    for name, value in changes.items():
        setattr(transaction, name, value)
    if transaction.station_transaction_id is not None:
        uow.transactions.forget_active(transaction.charger_id, transaction.station_transaction_id)
    enqueue_session_completed(uow, transaction, now=now)
    log.info(
        "session %s on %s closed by %s: %s Wh",
        transaction.id,
        transaction.charger_id,
        closed_by,
        energy,
    )
    return transaction
