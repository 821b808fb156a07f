"""OCPP 2.0.1 transactions: TransactionEventRequest (E01–E15) on the shared transaction model.

A 2.0.1 transaction is a row of ``transactions`` like a 1.6 one; the station's own
transactionId is ``station_transaction_id`` (unique per station) and it gets a CSMS
``transaction_id`` as well, so that everything written for 1.6 keeps working.

Every event is stored once in ``transaction_events`` (unique on station, transactionId,
seqNo), and the transaction row is a *projection* of the stored events and meter samples:
after each event that can change it, the row is recomputed from all of them. So the final
state does not depend on the order in which events arrive — an Ended before its Updated
(E11–E13 replay after a connection loss), an Updated or Ended before its Started, the same
event twice (no answer reached the station) — and a late Updated never reopens a completed
transaction.

- Started, Ended, an idToken or a chargingState: the projection is recomputed (a read of the
  transaction's events and energy registers). Such events are few per transaction.
- Updated with only meter values inside an active transaction is the hot path: one insert
  of the event with its meter values, no query (the row id comes from the storage cache). What it
  could change (the offline flag, numberOfPhasesUsed, the energy) is picked up by the next
  projection, at the latest by Ended.

Billing uses the station's timestamps only (events sent ``offline=true`` are queued messages
replayed later: 2.0.1 E04, E12), never the time they were received.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from csms.domain.charging.authorization import (
    TokenKind,
    auth_method_for,
    authorize_id_token,
    mark_one_time_token_used,
    token_record,
)
from csms.domain.charging.transactions import new_transaction_id
from csms.domain.model import (
    AuthorizationStatus,
    IdTokenInfo,
    MeterSample,
    TransactionStatus,
    is_charging_done,
)
from csms.domain.outbox_events import enqueue_charging_done, enqueue_session_completed
from csms.domain.people.pin_login import PinCheck, issue_login_token, record_pin_attempt
from storage.ports import UnitOfWork
from storage.records import MeterSampleRecord, TransactionEventRecord, TransactionRecord

__all__ = [
    "ENERGY_REGISTER",
    "EventOutcome",
    "TransactionEvent",
    "energy_wh",
    "record_transaction_event",
    "station_start_key",
]

log = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"
STARTED = "Started"
UPDATED = "Updated"
ENDED = "Ended"
#: triggerReason of an event whose idToken ends the transaction (2.0.1 E07).
STOP_AUTHORIZED = "StopAuthorized"


@dataclass(slots=True)
class TransactionEvent:
    """A TransactionEventRequest, translated by the adapter.

    ``details`` is the request as the station sent it, without its meter values (stored
    verbatim with the event); the other fields are what the domain reads from it.
    """

    event_type: str
    station_transaction_id: str
    seq_no: int
    timestamp: datetime
    trigger_reason: str
    details: dict[str, Any]
    samples: Sequence[MeterSample] = ()
    offline: bool = False
    charging_state: str | None = None
    #: The idToken's value as stored (encrypted) and looked up; None for a KeyCode, whose
    #: value is a PIN: ``pin_check`` turns it into the customer's one-time login token.
    id_token: str | None = None
    id_token_type: str | None = None
    #: A KeyCode idToken with a Login additionalInfo (2.0.1 C04, SPEC "Authorization
    #: methods"), its PIN already verified off the event loop; recorded with the event.
    pin_check: PinCheck | None = None


@dataclass(slots=True)
class EventOutcome:
    #: The answer for the event's idToken (None when the event carried none).
    id_token_info: IdTokenInfo | None
    #: False when this (station, transactionId, seqNo) had been stored before.
    recorded: bool
    #: The transaction after the event (None on the fast path: it was not read).
    transaction: TransactionRecord | None = None
    #: True when this event gave the transaction its "charging done" moment.
    charging_done: bool = field(default=False)


def station_start_key(charger_id: str, station_transaction_id: str) -> str:
    """``transactions.start_key`` of a 2.0.1 transaction (unique like the station's id)."""
    return f"{charger_id}|2.0.1|{station_transaction_id}"


def energy_wh(sample: MeterSample | MeterSampleRecord) -> int | None:
    """An energy register value in Wh: ``value × 10^multiplier`` in ``Wh`` or ``kWh``
    (2.0.1 UnitOfMeasureType; 1.6 §7.45 units). None when it is not an energy value."""
    unit = sample.unit or "Wh"
    if unit == "Wh":
        scale = Decimal(1)
    elif unit == "kWh":
        scale = Decimal(1000)
    else:
        return None
    try:
        value = Decimal(sample.value)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    multiplier = sample.multiplier or 0
    return int((value * scale).scaleb(multiplier).to_integral_value())


def _only_meter_values(event: TransactionEvent) -> bool:
    """An Updated with no idToken and no chargingState: the hot path (see the module doc)."""
    return (
        event.event_type == UPDATED
        and event.id_token_type is None
        and event.id_token is None
        and event.charging_state is None
    )


def record_transaction_event(
    uow: UnitOfWork, *, charger_id: str, event: TransactionEvent, now: datetime
) -> EventOutcome:
    """Store a TransactionEventRequest and bring its transaction up to date (2.0.1 E01–E15).

    Never refuses: a transaction message is answered and kept whatever it says (the station
    would retry a CALLERROR and then drop the message). A repeated (station, transactionId,
    seqNo) stores nothing and is answered like the first time.
    """
    stx = event.station_transaction_id
    transactions = uow.transactions
    if _only_meter_values(event):
        known = transactions.active_station_transaction(charger_id, stx)
        if known is not None:
            pk, _connector_id = known
            if uow.transaction_events.add(_event_record(charger_id, pk, event, now)):
                return EventOutcome(None, recorded=True)
            return EventOutcome(None, recorded=False)

    tx = transactions.by_station_transaction_id(charger_id, stx)
    if tx is None:
        tx = _create_transaction(uow, charger_id=charger_id, event=event, now=now)
    if event.pin_check is not None:
        stored = uow.transaction_events.get(charger_id, stx, event.seq_no)
        if stored is not None:
            # The station sent this event again (it got no answer): answered as the first
            # time, and its PIN not counted again (a wrong one would count twice).
            event.id_token = stored.id_token
        else:
            event.id_token = _key_code_login_token(uow, tx, event.pin_check, charger_id, now=now)
    recorded = uow.transaction_events.add(_event_record(charger_id, tx.id, event, now))
    info = _id_token_info(uow, tx, event, now=now)
    if not recorded:
        return EventOutcome(info, recorded=False, transaction=tx)
    charging_done = _project(uow, tx, event=event, answer=info, now=now)
    if tx.status == TransactionStatus.COMPLETED.value:
        transactions.forget_active(charger_id, stx)
    elif tx.connector_id:
        transactions.remember_active(charger_id, stx, tx.id, tx.connector_id)
    return EventOutcome(info, recorded=True, transaction=tx, charging_done=charging_done)


def _ev_stopped_drawing(event: TransactionEventRecord) -> bool:
    """Whether a chargingState change says the EV stopped drawing energy by itself.

    ``SuspendedEV`` always does; ``EVConnected`` only when the state change is the reason
    for the event: after a stop (RequestStop, a card, a deauthorization) the state is
    EVConnected too, and that is not "your EV is done charging". An Ended event never is.
    """
    if event.event_type == ENDED:
        return False
    return event.charging_state == "SuspendedEV" or event.trigger_reason == "ChargingStateChanged"


def _event_record(
    charger_id: str, pk: int, event: TransactionEvent, now: datetime
) -> TransactionEventRecord:
    return TransactionEventRecord(
        charger_id=charger_id,
        station_transaction_id=event.station_transaction_id,
        seq_no=event.seq_no,
        transaction_pk=pk,
        event_type=event.event_type,
        trigger_reason=event.trigger_reason,
        timestamp=event.timestamp,
        offline=event.offline,
        received_at=now,
        charging_state=event.charging_state,
        id_token=event.id_token,
        details=event.details,
        # The meter values go with the event, one row for both: the storage reads them
        # back as the transaction's samples (MeterSampleRepository), and the 2.0.1 hot
        # path writes one row per event instead of one per sampled value (ADR 7).
        samples=event.samples,
    )


def _int32(value: int | None) -> int | None:
    """``value`` where a 32-bit integer column can hold it, else None (logged).

    The 2.0.1 schemas give evse ids, reservationId, remoteStartId and numberOfPhasesUsed no
    upper bound. A station that sends a huge one still has its event stored (the value
    stays in the event's details); only the transaction's summary column is left empty,
    instead of PostgreSQL refusing the whole message.
    """
    if value is None or -(2**31) <= value < 2**31:
        return value
    log.warning("value %s does not fit a 32-bit column; kept in the event only", value)
    return None


def _create_transaction(
    uow: UnitOfWork, *, charger_id: str, event: TransactionEvent, now: datetime
) -> TransactionRecord:
    """The transaction row, from whichever of its events arrived first (the projection
    corrects what a later-arriving Started says otherwise)."""
    evse = event.details.get("evse") or {}
    record = TransactionRecord(
        id=0,
        transaction_id=new_transaction_id(uow),
        charger_id=charger_id,
        connector_id=_int32(evse.get("id")) or 0,
        evse_connector_id=_int32(evse.get("connectorId")),
        start_key=station_start_key(charger_id, event.station_transaction_id),
        station_transaction_id=event.station_transaction_id,
        started_at=event.timestamp,
        meter_start_wh=None,
        status=TransactionStatus.ACTIVE.value,
        offline=event.offline,
        created_at=now,
        updated_at=now,
    )
    return uow.transactions.add(record)


def _key_code_login_token(
    uow: UnitOfWork, tx: TransactionRecord, check: PinCheck, charger_id: str, *, now: datetime
) -> str | None:
    """What a KeyCode + Login idToken stands for once its PIN login is recorded: the
    customer's one-time login token, or None when the login was refused. Never the PIN.

    The transaction's own token when this customer's PIN login started it (its stop, a
    replayed event), else a new one-time token.
    """
    outcome = record_pin_attempt(uow, check, charger_id=charger_id, now=now, issue_token=False)
    if not outcome.accepted or outcome.customer_id is None:
        return None
    if tx.id_tag is not None and tx.customer_id == outcome.customer_id:
        own = uow.id_tags.by_uid(tx.id_tag)
        if own is not None and own.kind == TokenKind.LOGIN.value:
            return tx.id_tag
    return issue_login_token(uow, outcome.customer_id, now=now).uid


def _carries_token(event: TransactionEventRecord) -> bool:
    """Whether the event had an idToken (a refused KeyCode's value is not kept)."""
    return event.id_token is not None or "idToken" in (event.details or {})


def _is_stop_token(event: TransactionEvent | TransactionEventRecord) -> bool:
    return event.event_type == ENDED or event.trigger_reason == STOP_AUTHORIZED


def _id_token_info(
    uow: UnitOfWork, tx: TransactionRecord, event: TransactionEvent, *, now: datetime
) -> IdTokenInfo | None:
    """idTokenInfo for the event's idToken, checked again like a 1.6 StartTransaction (the
    transaction is kept whatever the status; the station decides to stop it: E05)."""
    if event.id_token_type is None:
        return None
    info = authorize_id_token(
        uow, event.id_token, event.id_token_type, now=now, exclude_transaction_pk=tx.id
    )
    if _is_stop_token(event) and info.status is AuthorizationStatus.CONCURRENT_TX:
        # The card is "busy" with exactly the transaction it stops (as for 1.6 stops).
        info = IdTokenInfo(AuthorizationStatus.ACCEPTED, info.expiry_date, info.parent_id_tag)
    return info


def _project(
    uow: UnitOfWork,
    tx: TransactionRecord,
    *,
    event: TransactionEvent,
    answer: IdTokenInfo | None,
    now: datetime,
) -> bool:
    """Recompute the transaction row from all its stored events and energy registers;
    returns True when it got its "charging done" moment just now."""
    events = uow.transaction_events.for_transaction(tx.charger_id, event.station_transaction_id)
    started = next((e for e in events if e.event_type == STARTED), None)
    ended = next((e for e in events if e.event_type == ENDED), None)
    changes: dict[str, Any] = {}

    # Start: the Started event's time, or the earliest event's until Started arrives.
    changes["started_at"] = started.timestamp if started else min(e.timestamp for e in events)
    for e in events:  # the EVSE of the first event that names it (E01: the first after plug-in)
        evse = (e.details or {}).get("evse")
        if evse:
            changes["connector_id"] = _int32(evse["id"]) or 0
            changes["evse_connector_id"] = _int32(evse.get("connectorId"))
            break
    changes["offline"] = any(e.offline for e in events)
    for name, key in (
        ("reservation_id", "reservationId"),
        ("number_of_phases_used", "numberOfPhasesUsed"),
    ):
        values = [(e.details or {}).get(key) for e in events]
        latest = [v for v in values if v is not None]
        if latest:
            changes[name] = _int32(latest[-1])
    remote = [((e.details or {}).get("transactionInfo") or {}).get("remoteStartId") for e in events]
    if any(r is not None for r in remote):
        changes["remote_start_id"] = _int32(next(r for r in remote if r is not None))

    # Charging state: the latest by the station's time. Charging done: the last
    # Charging → SuspendedEV/EVConnected in seqNo order that no Charging followed (an EV
    # that draws energy again was not done; 2.0.1 chargingState, issue point 5).
    states = [e for e in events if e.charging_state is not None]
    charging_done = False
    if states:
        latest_state = max(states, key=lambda e: (e.timestamp, e.seq_no))
        changes["charging_state"] = latest_state.charging_state
        changes["charging_state_at"] = latest_state.timestamp
        done_at: datetime | None = None
        previous: str | None = None
        for e in states:
            if _ev_stopped_drawing(e) and is_charging_done(previous, e.charging_state):
                done_at = e.timestamp
            elif e.charging_state == "Charging":
                done_at = None
            previous = e.charging_state
        changes["charging_done_at"] = done_at
        charging_done = done_at is not None and tx.charging_done_at is None

    _project_authorization(uow, tx, events, event=event, answer=answer, changes=changes, now=now)

    # Energy: the register at the start (Transaction.Begin, else the earliest) and at the end
    # (Transaction.End, else the latest), in Wh.
    registers = [
        (s, wh)
        for s in uow.meter_samples.energy_registers(tx.id)
        if (wh := energy_wh(s)) is not None
    ]
    begin = [wh for s, wh in registers if s.context == "Transaction.Begin"]
    # Without a Transaction.Begin reading the earliest stands in for it, but never the
    # closing reading itself: a session whose only reading is Transaction.End has an
    # unknown start (and energy), not 0 Wh.
    early = [wh for s, wh in registers if s.context != "Transaction.End"][:1]
    start_wh = begin[0] if begin else (early[0] if early else None)
    changes["meter_start_wh"] = start_wh

    if ended is not None:
        info = (ended.details or {}).get("transactionInfo") or {}
        end = [wh for s, wh in registers if s.context == "Transaction.End"]
        stop_wh = end[-1] if end else (registers[-1][1] if registers else None)
        energy = None if start_wh is None or stop_wh is None else stop_wh - start_wh
        if energy is not None and energy < 0:
            log.warning(
                "transaction %s on %s: energy register fell from %s to %s Wh; energy left unset",
                event.station_transaction_id,
                tx.charger_id,
                start_wh,
                stop_wh,
            )
            energy = None
        changes.update(
            status=TransactionStatus.COMPLETED.value,
            stopped_at=ended.timestamp,
            meter_stop_wh=stop_wh,
            energy_wh=energy,
            # 2.0.1 TransactionType.stoppedReason may only be omitted when it is Local.
            stop_reason=info.get("stoppedReason") or "Local",
            seq_no_gaps=_missing_seq_nos(events, started=started, ended=ended),
        )
        if changes["seq_no_gaps"]:
            log.warning(
                "transaction %s on %s: %d TransactionEvent seqNo(s) never arrived",
                event.station_transaction_id,
                tx.charger_id,
                changes["seq_no_gaps"],
            )
    if tx.closed_by is not None:
        # An operator closed it (csms sessions close) and it was billed so: the station's
        # own end is kept with its events, the session keeps the figures it was billed with.
        for name in _CLOSED_FIGURES:
            changes.pop(name, None)
        if event.event_type == ENDED:
            log.warning(
                "transaction %s on %s was closed by %s; the station's Ended is kept with "
                "its events and not billed",
                event.station_transaction_id,
                tx.charger_id,
                tx.closed_by,
            )
    changes = {k: v for k, v in changes.items() if getattr(tx, k) != v}
    was_active = tx.status == TransactionStatus.ACTIVE.value
    if changes:
        changes["updated_at"] = now
        uow.transactions.update(tx.id, **changes)
        for name, value in changes.items():
            setattr(tx, name, value)
    # Handed to billing and notification in this commit (docs/adr/0008-outbox.md): the end
    # once, whichever event completes the projection; "charging done" only while the
    # session runs (an SuspendedEV replayed after the Ended tells nobody anything).
    if was_active and tx.status == TransactionStatus.COMPLETED.value:
        enqueue_session_completed(uow, tx, now=now)
    elif charging_done and tx.status == TransactionStatus.ACTIVE.value:
        enqueue_charging_done(uow, tx, now=now)
    return charging_done


#: What a session closed by an operator keeps whatever its events say later.
_CLOSED_FIGURES = (
    "status",
    "stopped_at",
    "meter_start_wh",
    "meter_stop_wh",
    "energy_wh",
    "stop_reason",
    "seq_no_gaps",
)


def _project_authorization(
    uow: UnitOfWork,
    tx: TransactionRecord,
    events: Sequence[TransactionEventRecord],
    *,
    event: TransactionEvent,
    answer: IdTokenInfo | None,
    changes: dict[str, Any],
    now: datetime,
) -> None:
    """Who started and who stopped: the first idToken that is not a stop token starts it
    (E01–E03: in Started, or in an Updated with triggerReason Authorized when the cable came
    first), the one of Ended or StopAuthorized stops it (E07).

    The session belongs to the customer whose token started it, and records how they
    identified: the token's kind (card, app, one-time touchscreen login), else the idToken
    type. A one-time login token is used up by the session it starts.
    """
    start = next((e for e in events if _carries_token(e) and not _is_stop_token(e)), None)
    stop = next((e for e in events if _carries_token(e) and _is_stop_token(e)), None)
    if stop is not None:
        changes["stop_id_tag"] = stop.id_token
    if start is None:
        return
    token = start.id_token or None  # NoAuthorization: an empty idToken
    token_type = ((start.details or {}).get("idToken") or {}).get("type")
    if tx.auth_method is not None and token == tx.id_tag and token_type == tx.id_token_type:
        return  # projected from this event before
    if start.seq_no == event.seq_no and answer is not None:
        info = answer
    else:
        info = authorize_id_token(
            uow, start.id_token, token_type, now=now, exclude_transaction_pk=tx.id
        )
    tag = token_record(uow, token, token_type)
    changes.update(
        id_tag=token,
        id_token_type=token_type,
        customer_id=tag.customer_id if tag else None,
        auth_method=auth_method_for(token_type, kind=tag.kind if tag else None).value,
        auth_status=info.status.value,
    )
    mark_one_time_token_used(uow, tag, info, now=now)


def _missing_seq_nos(
    events: Sequence[TransactionEventRecord],
    *,
    started: TransactionEventRecord | None,
    ended: TransactionEventRecord,
) -> int:
    """seqNos missing from Started's up to Ended's. When Started never arrived, counting
    starts at 0, where a transaction's seqNo starts (2.0.1 E01.FR.07, OCTT TC_E_53)."""
    first = started.seq_no if started is not None else 0
    last = ended.seq_no
    if last < first:
        return 0
    seen = {e.seq_no for e in events if first <= e.seq_no <= last}
    return (last - first + 1) - len(seen)
