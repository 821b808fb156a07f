"""Touchscreen PIN login (SPEC "Authorization methods"): email or phone + PIN.

A charger's touchscreen sends the login and PIN (1.6 and 2.0.1: DataTransfer ``csms`` /
``PinLogin``; 2.0.1 also: a ``KeyCode`` idToken with a ``Login`` additionalInfo). When they
match, the customer gets a one-time token (``id_tags`` kind ``login``) that starts one
session within :data:`LOGIN_TOKEN_LIFETIME`; the session is recorded as ``touchscreen``.

- No account enumeration: an unknown login, an erased customer, a customer without a PIN,
  a wrong PIN and a locked PIN login all get the same answer, in about the same time (a
  decoy hash is verified when there is no real one). Why an attempt failed is recorded as
  a security event, never with the login or the PIN.
- Lockout: :data:`MAX_PIN_FAILURES` wrong PINs in a row lock PIN login for that customer
  for :data:`PIN_LOCK_DURATION`; while locked every attempt is refused, even with the right
  PIN, and does not extend the lock. The right PIN resets the count.
- PIN verification (argon2id, ~40 ms: ``csms.security``) runs in a worker thread, never on
  the event loop that serves every charger: the customer is read first, the PIN verified,
  and the outcome recorded in a write that reads the customer again (two attempts at once
  each count). The decoy is hashed by ``hash_pin`` like a real PIN: the same cost.
- A right PIN whose hash is of an older scheme (scrypt) is hashed again in that worker
  thread and the new hash stored with the accepted attempt.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from csms.domain.charging.authorization import TokenKind
from csms.domain.people.customers import find_by_login
from csms.domain.units_of_work import UnitsOfWork
from csms.security import hash_pin, pin_needs_rehash, validate_pin, verify_pin
from storage.ports import UnitOfWork
from storage.records import CustomerRecord, IdTagRecord

__all__ = [
    "LOCKED_EVENT",
    "LOGIN_TOKEN_LENGTH",
    "LOGIN_TOKEN_LIFETIME",
    "MAX_LOGIN_LENGTH",
    "MAX_PIN_FAILURES",
    "PIN_LOCK_DURATION",
    "REJECTED_EVENT",
    "PinCandidate",
    "PinCheck",
    "PinLoginOutcome",
    "PinLoginRejection",
    "find_pin_candidate",
    "issue_login_token",
    "pin_login",
    "record_malformed_attempt",
    "record_pin_attempt",
    "verify_pin_login",
]

log = logging.getLogger(__name__)

#: A one-time login token starts a session within this time of the login.
LOGIN_TOKEN_LIFETIME = timedelta(minutes=5)
#: 20 characters: the 1.6 idTag limit (CiString20).
LOGIN_TOKEN_LENGTH = 20
_LOGIN_TOKEN_ALPHABET = string.ascii_uppercase + string.digits
#: Wrong PINs in a row that lock PIN login, and for how long.
MAX_PIN_FAILURES = 5
PIN_LOCK_DURATION = timedelta(minutes=15)
#: Longer logins are no email address or phone number (RFC 3696: 320 for an email).
MAX_LOGIN_LENGTH = 320
#: Longer PINs cannot match (a PIN is 4–8 digits): not worth a hash.
_MAX_PIN_LENGTH = 64

#: ``security_events.kind`` of a refused attempt and of a lockout.
REJECTED_EVENT = "PinLoginRejected"
LOCKED_EVENT = "PinLoginLocked"


class PinLoginRejection(StrEnum):
    """Why a PIN login was refused: recorded, never told to the charger."""

    UNKNOWN_LOGIN = "unknown_login"
    ERASED = "erased"
    NO_PIN = "no_pin"
    LOCKED = "locked"
    WRONG_PIN = "wrong_pin"
    #: The PIN was changed between the check and its recording: checked against the old.
    PIN_CHANGED = "pin_changed"
    #: The request did not say ``{"login": "...", "pin": "..."}``.
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class PinCandidate:
    """Whom a login names, and the PIN hash to verify against (None: nothing to verify)."""

    customer_id: int | None
    pin_hash: str | None


@dataclass(frozen=True, slots=True)
class PinCheck:
    """A login and PIN verified off the event loop, waiting to be recorded."""

    candidate: PinCandidate
    matches: bool
    #: A new hash of the right PIN, when the stored one is of an older scheme (scrypt).
    rehashed: str | None = None


@dataclass(frozen=True, slots=True)
class PinLoginOutcome:
    accepted: bool
    customer_id: int | None = None
    customer_number: int | None = None
    rejection: PinLoginRejection | None = None
    #: The one-time token, when one was asked for and the login accepted.
    token: IdTagRecord | None = None


def find_pin_candidate(uow: UnitOfWork, login: str) -> PinCandidate:
    """The customer ``login`` (email or phone) names and their PIN hash (a read)."""
    if not login or len(login) > MAX_LOGIN_LENGTH:
        return PinCandidate(None, None)
    customer = find_by_login(uow, login)
    if customer is None:
        return PinCandidate(None, None)
    if customer.erased_at is not None:
        return PinCandidate(customer.id, None)
    return PinCandidate(customer.id, customer.pin_hash)


@functools.cache
def _decoy_pin_hash() -> str:
    """A hash no PIN is known for: verified when there is no real one, so that an unknown
    login takes as long to refuse as a wrong PIN."""
    while True:
        pin = "".join(secrets.choice(string.digits) for _ in range(8))
        if validate_pin(pin) is None:
            return hash_pin(pin)


def _verify(pin: str, pin_hash: str | None) -> tuple[bool, str | None]:
    """Whether the PIN matches, and a new hash of it when the stored one is outdated. Runs
    in a worker thread (argon2id)."""
    decoy = pin_hash is None or len(pin) > _MAX_PIN_LENGTH
    matches = verify_pin(pin[:_MAX_PIN_LENGTH], _decoy_pin_hash() if decoy else pin_hash or "")
    if not matches or decoy or pin_hash is None:
        return False, None
    if not pin_needs_rehash(pin_hash):
        return True, None
    try:
        return True, hash_pin(pin)
    except ValueError:  # a PIN from before today's rules: it stays until the customer changes it
        return True, None


async def verify_pin_login(units: UnitsOfWork, *, login: str, pin: str) -> PinCheck:
    """Look the login up and verify the PIN, the slow part in a worker thread. Nothing is
    recorded yet: give the result to :func:`record_pin_attempt` in a write."""
    candidate = await units.read(lambda uow: find_pin_candidate(uow, login))
    matches, rehashed = await asyncio.to_thread(_verify, pin, candidate.pin_hash)
    return PinCheck(candidate, matches, rehashed)


def issue_login_token(uow: UnitOfWork, customer_id: int, *, now: datetime) -> IdTagRecord:
    """A new one-time token for the customer: 20 random upper-case letters and digits,
    active until ``now`` + :data:`LOGIN_TOKEN_LIFETIME`."""
    while True:
        uid = "".join(secrets.choice(_LOGIN_TOKEN_ALPHABET) for _ in range(LOGIN_TOKEN_LENGTH))
        if uow.id_tags.by_uid(uid) is None:
            break
    return uow.id_tags.add(
        uid=uid,
        status="active",
        created_at=now,
        customer_id=customer_id,
        expires_at=now + LOGIN_TOKEN_LIFETIME,
        kind=TokenKind.LOGIN.value,
    )


def _rejected(
    uow: UnitOfWork,
    reason: PinLoginRejection,
    *,
    charger_id: str,
    now: datetime,
    customer: CustomerRecord | None = None,
) -> PinLoginOutcome:
    customer_id = customer.id if customer is not None else None
    number = customer.customer_number if customer is not None else None
    # The reason and who, never the login or the PIN (SPEC "Personal data": logs).
    uow.security_events.add(
        kind=REJECTED_EVENT,
        details={"reason": reason.value},
        created_at=now,
        customer_id=customer_id,
        charger_id=charger_id,
    )
    log.info(
        "PIN login on %s refused: %s%s",
        charger_id,
        reason.value,
        f" (customer {number})" if number is not None else "",
    )
    return PinLoginOutcome(False, customer_id, number, rejection=reason)


def record_malformed_attempt(uow: UnitOfWork, *, charger_id: str, now: datetime) -> None:
    """A PIN login request without a usable login and PIN: refused and recorded."""
    _rejected(uow, PinLoginRejection.MALFORMED, charger_id=charger_id, now=now)


def record_pin_attempt(
    uow: UnitOfWork,
    check: PinCheck,
    *,
    charger_id: str,
    now: datetime,
    issue_token: bool = True,
) -> PinLoginOutcome:
    """Record a verified attempt and decide it (in a write).

    The customer is read again here, so that attempts recorded one after the other each see
    the count and lock the previous one left. The fifth wrong PIN in a row locks PIN login
    for :data:`PIN_LOCK_DURATION` (security event ``PinLoginLocked``, a warning naming the
    customer number and charger only); a locked attempt neither counts nor extends the lock.
    """
    candidate = check.candidate
    if candidate.customer_id is None:
        return _rejected(uow, PinLoginRejection.UNKNOWN_LOGIN, charger_id=charger_id, now=now)
    customer = uow.customers.get(candidate.customer_id)
    if customer is None:
        return _rejected(uow, PinLoginRejection.UNKNOWN_LOGIN, charger_id=charger_id, now=now)
    if customer.erased_at is not None:
        return _rejected(
            uow, PinLoginRejection.ERASED, charger_id=charger_id, now=now, customer=customer
        )
    if customer.pin_hash is None:
        return _rejected(
            uow, PinLoginRejection.NO_PIN, charger_id=charger_id, now=now, customer=customer
        )
    if customer.pin_locked_until is not None and customer.pin_locked_until > now:
        return _rejected(
            uow, PinLoginRejection.LOCKED, charger_id=charger_id, now=now, customer=customer
        )
    if customer.pin_hash != candidate.pin_hash:
        return _rejected(
            uow, PinLoginRejection.PIN_CHANGED, charger_id=charger_id, now=now, customer=customer
        )
    if not check.matches:
        failures = customer.pin_failures + 1
        if failures >= MAX_PIN_FAILURES:
            locked_until = now + PIN_LOCK_DURATION
            # The count starts again after the lock: MAX_PIN_FAILURES more tries then.
            uow.customers.update(customer.id, pin_failures=0, pin_locked_until=locked_until)
            uow.security_events.add(
                kind=LOCKED_EVENT,
                details={"failures": failures, "locked_until": locked_until.isoformat()},
                created_at=now,
                customer_id=customer.id,
                charger_id=charger_id,
            )
            log.warning(
                "PIN login of customer %s locked until %s after %d wrong PINs (last on %s)",
                customer.customer_number,
                locked_until.isoformat(),
                failures,
                charger_id,
            )
        else:
            uow.customers.update(customer.id, pin_failures=failures)
        return _rejected(
            uow, PinLoginRejection.WRONG_PIN, charger_id=charger_id, now=now, customer=customer
        )
    if customer.pin_failures or customer.pin_locked_until is not None:
        uow.customers.update(customer.id, pin_failures=0, pin_locked_until=None)
    if check.rehashed is not None:  # the same PIN, now at today's hash cost
        uow.customers.update(customer.id, pin_hash=check.rehashed)
    token = issue_login_token(uow, customer.id, now=now) if issue_token else None
    log.info("PIN login on %s accepted (customer %s)", charger_id, customer.customer_number)
    return PinLoginOutcome(True, customer.id, customer.customer_number, token=token)


async def pin_login(
    units: UnitsOfWork,
    *,
    login: str,
    pin: str,
    charger_id: str,
    now: datetime,
    issue_token: bool = True,
) -> PinLoginOutcome:
    """A whole PIN login: verified off the event loop, then recorded; with ``issue_token``
    the accepted outcome carries a new one-time token."""
    check = await verify_pin_login(units, login=login, pin=pin)
    return await units.write(
        lambda uow: record_pin_attempt(
            uow, check, charger_id=charger_id, now=now, issue_token=issue_token
        )
    )
