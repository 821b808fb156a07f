"""Charging stations: provisioning, registration (boot), passwords, archiving, liveness,
connector status and the events a charger reports about itself."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from csms.domain.errors import AlreadyExists, InvalidRequest, NotFound
from csms.domain.model import BootInfo, RegistrationStatus, is_charging_done
from csms.domain.outbox_events import enqueue_charging_done
from csms.domain.people.owners import get_owner
from csms.security import generate_password, hash_password
from storage.ports import UnitOfWork
from storage.records import (
    ChargerEventRecord,
    ChargerRecord,
    ConnectorRecord,
    StatusEventRecord,
    TransactionRecord,
)

__all__ = [
    "MAX_IDENTITY_LENGTH",
    "PASSWORD_ACTIVE",
    "PASSWORD_NONE",
    "PASSWORD_PENDING",
    "PASSWORD_REJECTED",
    "PASSWORD_ROTATED_EVENT",
    "PASSWORD_ROTATING",
    "PASSWORD_ROTATION_REFUSED_EVENT",
    "PASSWORD_SENT",
    "SECURITY_PROFILE_LOWERED_EVENT",
    "SECURITY_PROFILE_RAISE_EVENT",
    "BootDecision",
    "accept_charger",
    "add_charger",
    "archive_charger",
    "complete_password_rotation",
    "confirm_password",
    "issue_password",
    "password_state",
    "record_boot",
    "record_charger_event",
    "record_password_not_delivered",
    "record_password_refused",
    "record_rotation_refused",
    "record_rotation_taken",
    "record_security_profile_raise",
    "record_status",
    "register_unknown_charger",
    "remove_charger",
    "rotate_password",
    "security_profile_change",
    "touch_charger",
    "unarchive_charger",
    "validate_identity",
]

MAX_IDENTITY_LENGTH = 48


def validate_identity(identity: str) -> str | None:
    """Why ``identity`` is not a valid charge point identity, or None if it is."""
    if not identity:
        return "identity is empty"
    if len(identity) > MAX_IDENTITY_LENGTH:
        return f"identity is longer than {MAX_IDENTITY_LENGTH} characters"
    if ":" in identity:
        return "identity contains ':'"
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in identity):
        return "identity contains spaces or control characters"
    return None


def add_charger(
    uow: UnitOfWork,
    *,
    charger_id: str,
    now: datetime,
    password: str | None = None,
    security_profile: int = 1,
    owner: str | None = None,
    name: str | None = None,
) -> tuple[ChargerRecord, str]:
    """Provision a charger; returns it and its password (shown once, stored hashed)."""
    problem = validate_identity(charger_id)
    if problem:
        raise InvalidRequest(f"charger id {charger_id!r}: {problem}")
    if security_profile not in (1, 2, 3):
        raise InvalidRequest("security profile must be 1, 2 or 3")
    if uow.chargers.get(charger_id) is not None:
        raise AlreadyExists(f"charger {charger_id} already exists")
    owner_id = get_owner(uow, owner).id if owner is not None else None
    if password is not None and not 8 <= len(password) <= 40:
        raise InvalidRequest("password must be 8 to 40 characters")
    secret = password or generate_password()
    charger = ChargerRecord(
        id=charger_id,
        name=name,
        owner_id=owner_id,
        password_hash=hash_password(secret),
        security_profile=security_profile,
        registration_status=RegistrationStatus.ACCEPTED.value,
        created_at=now,
    )
    uow.chargers.add(charger)
    return charger, secret


def _existing(
    uow: UnitOfWork, charger_id: str, *, listing: str = "csms chargers list"
) -> ChargerRecord:
    """The charger ``charger_id``, else NotFound pointing to ``listing``."""
    charger = uow.chargers.get(charger_id)
    if charger is None:
        raise NotFound(f"charger {charger_id} not found: see `{listing}`")
    return charger


def register_unknown_charger(
    uow: UnitOfWork, *, charger_id: str, status: RegistrationStatus, now: datetime
) -> ChargerRecord:
    """Register a charger that connected without being provisioned (CSMS_UNKNOWN_CHARGERS)."""
    existing = uow.chargers.get(charger_id)
    if existing is not None:
        return existing
    charger = ChargerRecord(
        id=charger_id, registration_status=status.value, created_at=now, password_hash=None
    )
    uow.chargers.add(charger)
    return charger


def accept_charger(uow: UnitOfWork, charger_id: str) -> ChargerRecord:
    charger = _existing(uow, charger_id)
    uow.chargers.update(charger_id, registration_status=RegistrationStatus.ACCEPTED.value)
    charger.registration_status = RegistrationStatus.ACCEPTED.value
    return charger


#: Where a charger's credential stands (``chargers show``): no password, so any
#: connection is let in; a password issued and not yet confirmed by the charger (it still
#: connects without one); refused by the charger; enforced (HTTP Basic auth, else 401).
PASSWORD_NONE = "none"
PASSWORD_PENDING = "pending"
PASSWORD_REJECTED = "rejected"
PASSWORD_ACTIVE = "active"

#: A rotation (``csms chargers rotate-password``) of a charger that has a password: the new
#: one waits to be sent (``rotating``) or the charger took it (``sent``); in both, the
#: current password and the new one are let in until the charger connects with the new one.
PASSWORD_ROTATING = "rotating"
PASSWORD_SENT = "sent"
_ROTATION_STATES = (PASSWORD_ROTATING, PASSWORD_SENT)

#: Security events (``security_events.kind``) of the credential and profile changes.
PASSWORD_ROTATED_EVENT = "PasswordRotated"
PASSWORD_ROTATION_REFUSED_EVENT = "PasswordRotationRefused"
SECURITY_PROFILE_LOWERED_EVENT = "SecurityProfileLowered"
SECURITY_PROFILE_RAISE_EVENT = "SecurityProfileRaiseAccepted"

#: 1.6 security whitepaper: AuthorizationKey holds 16 to 20 bytes (sent as 40 hex digits at
#: most); 2.0.1 SecurityCtrlr.BasicAuthPassword: passwordString, 16 to 40 characters.
_V16_KEY_BYTES = (16, 20)
_V201_PASSWORD_CHARS = (16, 40)


def password_state(charger: ChargerRecord) -> str:
    """The charger's credential state, one of the ``PASSWORD_*`` values."""
    if charger.password_state in (PASSWORD_PENDING, PASSWORD_REJECTED):
        return charger.password_state
    if charger.password_state in _ROTATION_STATES and charger.pending_password_hash is not None:
        return charger.password_state
    return PASSWORD_ACTIVE if charger.password_hash is not None else PASSWORD_NONE


def _check_issued_password(password: str, ocpp_version: str | None) -> None:
    if ocpp_version == "2.0.1":
        low, high = _V201_PASSWORD_CHARS
        if not low <= len(password) <= high:
            raise InvalidRequest(
                f"password must be {low} to {high} characters (OCPP 2.0.1 BasicAuthPassword)"
            )
        return
    low, high = _V16_KEY_BYTES
    if not low <= len(password.encode()) <= high:
        raise InvalidRequest(
            f"password must be {low} to {high} bytes: an OCPP 1.6 charger's AuthorizationKey "
            "holds no more (2.0.1 stations take up to 40 characters)"
        )


def issue_password(
    uow: UnitOfWork, charger_id: str, *, now: datetime, password: str | None = None
) -> str | None:
    """Give a charger that has no password one (a charger accepted from Pending), to be
    sent to it (1.6 AuthorizationKey, 2.0.1 BasicAuthPassword); returns the new password,
    to be shown once, or None when none was issued.

    Only its hash is kept for checking, plus the password itself encrypted until the
    charger has it (it may be offline now: it is sent at its next connection). Until the
    charger confirms it, or connects with it, it may still connect without one; from then
    on Basic auth is enforced. A charger that already has a password keeps it; a second
    accept of a charger whose issued password is not confirmed yet sends the same one
    again (unless ``password`` gives a new one).
    """
    charger = _existing(uow, charger_id)
    if charger.password_hash is not None:
        if password is not None:
            raise InvalidRequest(
                f"charger {charger_id} already has a password; accepting it does not change it"
            )
        return None
    if password is None and charger.pending_password_hash is not None:
        uow.chargers.update(
            charger_id, password_state=PASSWORD_PENDING, password_state_at=now, password_detail=None
        )
        return None
    if password is not None:
        _check_issued_password(password, charger.ocpp_version)
    # 20 URL-safe characters: 120 bits, within both versions' limits.
    secret = password or secrets.token_urlsafe(15)
    uow.chargers.update(
        charger_id,
        pending_password_hash=hash_password(secret),
        password_state=PASSWORD_PENDING,
        password_state_at=now,
        password_detail=None,
    )
    uow.chargers.set_password_delivery(charger_id, secret)
    return secret


def confirm_password(uow: UnitOfWork, charger_id: str, *, now: datetime, detail: str) -> bool:
    """The charger has the issued password (it answered Accepted, or connected with it):
    enforce it from now on and forget the delivery copy. False when none was pending."""
    charger = uow.chargers.get(charger_id)
    if charger is None or charger.pending_password_hash is None:
        return False
    uow.chargers.update(
        charger_id,
        password_hash=charger.pending_password_hash,
        pending_password_hash=None,
        password_state=PASSWORD_ACTIVE,
        password_state_at=now,
        password_detail=detail[:300],
    )
    uow.chargers.set_password_delivery(charger_id, None)
    return True


def record_password_refused(
    uow: UnitOfWork, charger_id: str, *, now: datetime, detail: str
) -> None:
    """The charger refused the issued password: it stays pending (connecting with it still
    enforces it), not sent again until an operator accepts the charger again."""
    uow.chargers.update(
        charger_id,
        password_state=PASSWORD_REJECTED,
        password_state_at=now,
        password_detail=detail[:300],
    )


def record_password_not_delivered(
    uow: UnitOfWork, charger_id: str, *, now: datetime, detail: str
) -> None:
    """The issued password could not be sent now (offline, no answer): it is sent at the
    charger's next connection."""
    uow.chargers.update(charger_id, password_state_at=now, password_detail=detail[:300])


# -- rotation (csms chargers rotate-password, config set of the password keys) ---------


def rotate_password(
    uow: UnitOfWork, charger_id: str, *, now: datetime, password: str | None = None
) -> str:
    """Give a charger a new Basic auth password, to be sent to it (1.6 AuthorizationKey,
    2.0.1 SecurityCtrlr.BasicAuthPassword, A01); returns it, to be shown once.

    Only its hash is kept for checking, plus the password itself encrypted until it is
    sent. A charger that has a password keeps it valid beside the new one until it has
    connected once with the new one (:func:`complete_password_rotation`): a charger may
    answer Accepted and still reconnect with the old one before it applies the new one
    (2.0.1 A01, 1.6 security whitepaper: the charger reconnects with it "after" answering;
    the CSMS cannot know when), and a lost answer must not lock it out. A charger that
    never had one is issued one as :func:`issue_password` does. Rotating again before the
    charger used the new one replaces the new one (the old one stays valid).

    Profile 3 chargers prove themselves with a client certificate, not a password:
    refused, saying what to do instead.
    """
    charger = _existing(uow, charger_id)
    if charger.security_profile == 3:
        raise InvalidRequest(
            f"charger {charger_id} has security profile 3: it proves itself with its client "
            "certificate, not a Basic auth password, so there is no password to rotate; "
            f"renew its certificate instead (`csms chargers certificates renew {charger_id}`)"
        )
    if password is not None:
        _check_issued_password(password, charger.ocpp_version)
    # 20 URL-safe characters: 120 bits, within both versions' limits.
    secret = password or secrets.token_urlsafe(15)
    state = PASSWORD_PENDING if charger.password_hash is None else PASSWORD_ROTATING
    uow.chargers.update(
        charger_id,
        pending_password_hash=hash_password(secret),
        password_state=state,
        password_state_at=now,
        password_detail=None,
    )
    uow.chargers.set_password_delivery(charger_id, secret)
    return secret


def record_rotation_taken(uow: UnitOfWork, charger_id: str, *, now: datetime, detail: str) -> None:
    """The charger answered Accepted to its new password: it is no longer sent (the
    delivery copy is erased), and both passwords stay valid until it connects with the
    new one. Nothing to do when it already has (it may reconnect with the new one before
    its answer is stored: the rotation is complete then)."""
    charger = uow.chargers.get(charger_id)
    if charger is None or charger.pending_password_hash is None:
        return
    uow.chargers.update(
        charger_id,
        password_state=PASSWORD_SENT,
        password_state_at=now,
        password_detail=detail[:300],
    )
    uow.chargers.set_password_delivery(charger_id, None)


def record_rotation_refused(
    uow: UnitOfWork, charger_id: str, *, now: datetime, detail: str
) -> None:
    """The charger refused its new password: it keeps its current one, the new one is
    dropped (a connection with it is refused) and the refusal is kept as a security event
    and in ``password_detail``, which is how an operator who was not there when it was
    sent (an offline charger, sent at its connection) learns of it."""
    uow.chargers.update(
        charger_id,
        pending_password_hash=None,
        password_state=PASSWORD_ACTIVE,
        password_state_at=now,
        password_detail=f"{detail}; it keeps its current password"[:300],
    )
    uow.chargers.set_password_delivery(charger_id, None)
    uow.security_events.add(
        kind=PASSWORD_ROTATION_REFUSED_EVENT,
        details={"detail": detail[:300]},
        created_at=now,
        charger_id=charger_id,
    )


def complete_password_rotation(
    uow: UnitOfWork, charger_id: str, *, pending_hash: str, now: datetime
) -> bool:
    """The charger connected with its new password (hash ``pending_hash``): it becomes the
    only one, the old one is refused from now on; a security event ``PasswordRotated``
    (no secret in it). False when that password is no longer the pending one (rotated
    again, or dropped, since the handshake read the charger)."""
    charger = uow.chargers.get(charger_id)
    if charger is None or charger.pending_password_hash != pending_hash:
        return False
    uow.chargers.update(
        charger_id,
        password_hash=pending_hash,
        pending_password_hash=None,
        password_state=PASSWORD_ACTIVE,
        password_state_at=now,
        password_detail="the charger connected with its new password: the old one is refused",
    )
    uow.chargers.set_password_delivery(charger_id, None)
    uow.security_events.add(
        kind=PASSWORD_ROTATED_EVENT,
        details={"previous_state": charger.password_state or PASSWORD_ACTIVE},
        created_at=now,
        charger_id=charger_id,
    )
    return True


# -- security profile (csms chargers set-profile) ---------------------------------------------


def security_profile_change(
    uow: UnitOfWork,
    charger_id: str,
    *,
    profile: int,
    now: datetime,
    allow_downgrade: bool = False,
    force: bool = False,
) -> str:
    """Decide what setting the charger's required ``profile`` means: ``same`` (nothing to
    do), ``lowered`` (done here, at once: a security event ``SecurityProfileLowered``) or
    ``raise`` (the charger must be told first; :func:`record_security_profile_raise` once
    it accepted). Raises InvalidRequest, saying why and what to do, for a lowering without
    ``allow_downgrade`` and for raising to 3 a charger csms has issued no valid
    certificate to (without ``force``: it could not connect with profile 3)."""
    if profile not in (1, 2, 3):
        raise InvalidRequest("security profile must be 1, 2 or 3")
    charger = _existing(uow, charger_id)
    current = charger.security_profile
    if profile == current:
        return "same"
    if profile < current:
        if not allow_downgrade:
            raise InvalidRequest(
                f"charger {charger_id} requires security profile {current}; lowering it to "
                f"{profile} lets it in with weaker protection (profile 1: no TLS; 2: no "
                "client certificate). If that is meant, run it again with --allow-downgrade"
            )
        uow.chargers.update(charger_id, security_profile=profile, pending_security_profile=None)
        uow.security_events.add(
            kind=SECURITY_PROFILE_LOWERED_EVENT,
            details={"from": current, "to": profile},
            created_at=now,
            charger_id=charger_id,
        )
        return "lowered"
    if (
        profile == 3
        and not force
        and not uow.chargers.has_issued_certificate(charger_id, valid_at=now)
    ):
        raise InvalidRequest(
            f"csms has issued no valid certificate to charger {charger_id}: with profile 3 "
            "it could not connect. Renew its certificate first (`csms chargers certificates "
            f"renew {charger_id}`), or give --force if it has one from another trusted CA"
        )
    return "raise"


def record_security_profile_raise(
    uow: UnitOfWork, charger_id: str, *, profile: int, now: datetime, detail: str
) -> None:
    """The charger accepted moving to ``profile``: kept as pending (enforced once it
    connects with it) and as a security event."""
    charger = _existing(uow, charger_id)
    uow.chargers.update(charger_id, pending_security_profile=profile)
    uow.security_events.add(
        kind=SECURITY_PROFILE_RAISE_EVENT,
        details={"from": charger.security_profile, "to": profile, "detail": detail[:300]},
        created_at=now,
        charger_id=charger_id,
    )


def remove_charger(uow: UnitOfWork, charger_id: str) -> None:
    _existing(uow, charger_id)
    if uow.transactions.list(charger_id=charger_id, limit=1):
        raise InvalidRequest(
            f"charger {charger_id} has recorded sessions and cannot be removed "
            "(its billing history must be kept); to retire it, archive it instead: "
            f"`csms chargers archive {charger_id}`"
        )
    uow.chargers.delete(charger_id)


def archive_charger(uow: UnitOfWork, charger_id: str, *, now: datetime) -> ChargerRecord:
    """Retire a charger that has history: hidden from ``chargers list``, its connections
    refused at the handshake as an unknown charger's; its sessions and reports stay."""
    charger = _existing(uow, charger_id, listing="csms chargers list --all")
    if charger.archived_at is None:
        uow.chargers.update(charger_id, archived_at=now)
        charger.archived_at = now
    return charger


def unarchive_charger(uow: UnitOfWork, charger_id: str) -> ChargerRecord:
    """Undo :func:`archive_charger`: listed again, connections let in again."""
    charger = _existing(uow, charger_id, listing="csms chargers list --all")
    if charger.archived_at is not None:
        uow.chargers.update(charger_id, archived_at=None)
        charger.archived_at = None
    return charger


@dataclass(frozen=True, slots=True)
class BootDecision:
    status: RegistrationStatus


def record_boot(uow: UnitOfWork, *, charger_id: str, info: BootInfo, now: datetime) -> BootDecision:
    """Store what the charger reports and decide the registration status (1.6 §4.2)."""
    charger = uow.chargers.get(charger_id)
    if charger is None:
        return BootDecision(RegistrationStatus.REJECTED)
    uow.chargers.update(
        charger_id,
        ocpp_version=info.ocpp_version,
        vendor=info.vendor,
        model=info.model,
        serial_number=info.serial_number,
        charge_box_serial_number=info.charge_box_serial_number,
        firmware_version=info.firmware_version,
        iccid=info.iccid,
        imsi=info.imsi,
        meter_type=info.meter_type,
        meter_serial_number=info.meter_serial_number,
        last_boot_at=now,
        last_seen_at=now,
    )
    return BootDecision(RegistrationStatus(charger.registration_status))


def touch_charger(uow: UnitOfWork, *, charger_id: str, now: datetime) -> None:
    uow.chargers.update(charger_id, last_seen_at=now)


#: Which connector status an EVSE shows when its connectors differ (2.0.1 G01): a car on
#: one connector makes the station report the others Unavailable, and the EVSE is in use;
#: a fault shows next; Unavailable only when no connector is anything else.
_EVSE_STATUS_ORDER = ("Occupied", "Faulted", "Reserved", "Available", "Unavailable")


def _evse_status(history: list[StatusEventRecord]) -> str:
    """An EVSE's status from its status history (newest first): the latest status of each
    of its connectors, the most telling one of them."""
    latest: dict[int | None, str] = {}
    for event in history:
        latest.setdefault(event.evse_connector_id, event.status)
    statuses = set(latest.values())
    for status in _EVSE_STATUS_ORDER:
        if status in statuses:
            return status
    return history[0].status


def record_status(
    uow: UnitOfWork,
    *,
    charger_id: str,
    connector_id: int,
    status: str,
    error_code: str,
    now: datetime,
    timestamp: datetime | None = None,
    info: str | None = None,
    vendor_id: str | None = None,
    vendor_error_code: str | None = None,
    evse_connector_id: int | None = None,
) -> TransactionRecord | None:
    """Current status per connector plus the full history (1.6 §4.9 StatusNotification;
    2.0.1 G01: ``connector_id`` is the EVSE id and ``evse_connector_id`` the connectorId
    within it; an EVSE shows the status derived from all its connectors, see
    :func:`_evse_status`).

    When a connector goes from Charging to SuspendedEV during a transaction, the EV has
    stopped drawing energy: the transaction gets its "charging done" moment (returned). The
    rule is :func:`~csms.domain.model.is_charging_done`, shared with 2.0.1 chargingState.
    """
    previous = {c.connector_id: c for c in uow.connectors.for_charger(charger_id)}.get(connector_id)
    uow.status_events.add(
        StatusEventRecord(
            charger_id=charger_id,
            connector_id=connector_id,
            status=status,
            error_code=error_code,
            info=info,
            vendor_id=vendor_id,
            vendor_error_code=vendor_error_code,
            timestamp=timestamp,
            received_at=now,
            evse_connector_id=evse_connector_id,
        )
    )
    shown = status
    if evse_connector_id is not None:
        shown = _evse_status(
            uow.status_events.for_charger(charger_id, connector_id=connector_id, limit=50)
        )
    uow.connectors.upsert(
        ConnectorRecord(
            charger_id=charger_id,
            connector_id=connector_id,
            status=shown,
            error_code=error_code,
            info=info,
            vendor_id=vendor_id,
            vendor_error_code=vendor_error_code,
            status_at=timestamp,
            updated_at=now,
            evse_connector_id=evse_connector_id,
        )
    )
    if previous is not None and is_charging_done(previous.status, status):
        for tx in uow.transactions.active_for_connector(charger_id, connector_id):
            if tx.charging_done_at is None:
                moment = timestamp or now
                uow.transactions.update(tx.id, charging_done_at=moment, updated_at=now)
                tx.charging_done_at = moment
                # (once per session: a second "done" after a resume adds nothing)
                enqueue_charging_done(uow, tx, now=now)
                return tx
    elif status == "Charging" and previous is not None and previous.status != "Charging":
        # The EV draws energy again (it paused to balance cells, precondition, ...): it was
        # not done after all. The moment is set again when it stops for good, so the idle
        # fee counts only time after the last charge.
        for tx in uow.transactions.active_for_connector(charger_id, connector_id):
            if tx.charging_done_at is not None:
                uow.transactions.update(tx.id, charging_done_at=None, updated_at=now)
                tx.charging_done_at = None
    return None


def record_charger_event(
    uow: UnitOfWork,
    *,
    charger_id: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    **charger_fields: Any,
) -> None:
    """Keep a charger-reported event (DataTransfer, diagnostics/firmware status, ...)."""
    uow.charger_events.add(
        ChargerEventRecord(charger_id=charger_id, kind=kind, payload=payload, received_at=now)
    )
    if charger_fields:
        uow.chargers.update(charger_id, **charger_fields)
