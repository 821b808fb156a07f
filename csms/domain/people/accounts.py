"""Customer accounts as the driver's app sees them: registration, login tokens, password
and PIN, profile, cards, favorites and sessions — every function scoped to one customer.

Whatever a customer names by id (a card, a session) is looked up among *their own*
records only; another customer's id is "not found", exactly like an id that does not
exist, so ids are never confirmed to people they do not belong to.

Slow hashes (argon2id passwords and PINs, ~40 ms each: ``csms.security``) are never
computed in a unit of work here: units of work may run on the event loop's thread and are
run again when a group commit fails (``storage.database``). Callers hash in a worker
thread first (:func:`hash_credentials`, :func:`check_login_password`,
:func:`rehash_login_password`) and pass the hashes in.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from csms.domain.errors import AlreadyExists, InvalidRequest, NotFound
from csms.domain.model import AuthMethod, TransactionStatus
from csms.domain.outbox_events import enqueue_registration_attempt
from csms.domain.people.cards import CardState, add_card, app_token_for, block_card
from csms.domain.people.customers import (
    ADULT_AGE,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    CustomerProfile,
    add_customer,
    age_on,
    find_by_login,
    parse_notify,
    update_customer,
    validate_phone,
)
from csms.domain.people.rights import erase_customer
from csms.security import (
    hash_password,
    hash_pin,
    hash_token,
    password_needs_rehash,
    validate_pin,
    verify_password,
)
from storage.ports import UnitOfWork
from storage.records import (
    ChargerRecord,
    CustomerRecord,
    CustomerTokenRecord,
    IdTagRecord,
    TransactionRecord,
)

__all__ = [
    "CUSTOMER_TOKEN_LIFETIME",
    "CUSTOMER_TOKEN_PREFIX",
    "LOGIN_LOCKED_EVENT",
    "LOGIN_LOCK_DURATION",
    "LOGIN_REJECTED_EVENT",
    "MAX_LOGIN_FAILURES",
    "REGISTRATION_RECEIVED",
    "CustomerLogin",
    "Favorite",
    "Registration",
    "add_favorite",
    "app_start_token",
    "authenticate_customer",
    "block_own_card",
    "check_can_register",
    "check_login_password",
    "check_password_rules",
    "check_pin_rules",
    "close_account",
    "customer_for_login",
    "favorites",
    "hash_credentials",
    "issue_token",
    "new_customer_token",
    "own_active_session",
    "own_cards",
    "own_session",
    "own_sessions",
    "record_login_attempt",
    "record_unknown_login",
    "register_card",
    "register_customer",
    "register_or_tell_owner",
    "rehash_login_password",
    "remove_favorite",
    "revoke_token",
    "set_password_hash",
    "set_pin_hash",
    "store_rehashed_password",
    "update_profile",
]

log = logging.getLogger(__name__)

#: Customer tokens are told apart from operator API tokens (``csms_``) at a glance.
CUSTOMER_TOKEN_PREFIX = "csmsc_"
#: How long one app login lasts.
CUSTOMER_TOKEN_LIFETIME = timedelta(days=30)

_EMAIL_TAKEN = "this email address is already registered: log in instead, or use another address"
_PHONE_TAKEN = "this phone number is already registered: use another number or leave it out"
_SMS_NEEDS_PHONE = "SMS notifications need a phone number: add your phone number first"


# -- credentials (slow: call these in a worker thread) --------------------------------


def check_password_rules(password: str) -> None:
    """InvalidRequest when ``password`` is too short or too long."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long"
        )


def check_pin_rules(pin: str) -> None:
    """InvalidRequest with ``validate_pin``'s reason for a PIN that is not acceptable."""
    problem = validate_pin(pin)
    if problem is not None:
        raise InvalidRequest(problem)


def hash_credentials(password: str | None, pin: str | None) -> tuple[str | None, str | None]:
    """(password hash, PIN hash) for what is given; slow, so run it in a worker thread."""
    return (
        hash_password(password) if password is not None else None,
        hash_pin(pin) if pin is not None else None,
    )


@functools.cache
def _decoy_password_hash() -> str:
    """A hash nobody knows the password of, made by :func:`hash_password` like a real one
    (the same argon2id cost), so that checking it takes as long as checking a real one."""
    return hash_password(secrets.token_urlsafe(16))


def check_login_password(password: str, stored_hash: str | None) -> bool:
    """Whether ``password`` matches ``stored_hash``. Without a stored hash (no such login,
    or no password set) a decoy hash is checked instead, so that a wrong login takes as
    long to refuse as a wrong password. Slow: run it in a worker thread."""
    matches = verify_password(password, stored_hash or _decoy_password_hash())
    return matches and stored_hash is not None


def rehash_login_password(password: str, stored_hash: str | None, *, matches: bool) -> str | None:
    """A new hash of ``password`` when it just matched a hash of an older scheme or cost
    (scrypt, written before argon2id), else None. Slow: run it in a worker thread, then
    store it with :func:`store_rehashed_password`."""
    if not matches or stored_hash is None or not password_needs_rehash(stored_hash):
        return None
    return hash_password(password)


def store_rehashed_password(
    uow: UnitOfWork, customer_id: int, *, old_hash: str, new_hash: str
) -> bool:
    """Replace ``old_hash`` by ``new_hash`` (of the same password, from
    :func:`rehash_login_password`); nothing when the password was changed in between.
    Logins are not ended: the password is the same."""
    customer = uow.customers.get(customer_id)
    if customer is None or customer.erased_at is not None or customer.password_hash != old_hash:
        return False
    uow.customers.update(customer_id, password_hash=new_hash)
    return True


#: Wrong passwords in a row that pause an account's app login, and for how long.
MAX_LOGIN_FAILURES = 10
LOGIN_LOCK_DURATION = timedelta(minutes=15)
LOGIN_LOCKED_EVENT = "AppLoginLocked"
#: ``security_events.kind`` of every refused app login, with the reason (``unknown_login``,
#: ``wrong_password``, ``paused``) and, for a known account, the customer's id; never the
#: login or the password.
LOGIN_REJECTED_EVENT = "AppLoginRejected"


def _login_rejected(
    uow: UnitOfWork, reason: str, *, now: datetime, customer_id: int | None = None
) -> None:
    uow.security_events.add(
        kind=LOGIN_REJECTED_EVENT,
        details={"reason": reason},
        created_at=now,
        customer_id=customer_id,
    )


def record_unknown_login(uow: UnitOfWork, *, now: datetime) -> None:
    """Record a login refused because no account has that email or phone number.

    The answer is the one a wrong password gets (``/api/app/login``), after the same
    hash work (:func:`check_login_password` checks a decoy) and, with this, the same
    write: refusing an unknown login costs what refusing a known one does, so neither the
    answer nor its timing tells whether an account exists (issue 13 point 6). It is also
    what shows an operator that logins are being sprayed at addresses that have no
    account (as ``PinLoginRejected`` does for PIN logins).
    """
    _login_rejected(uow, "unknown_login", now=now)


def record_login_attempt(
    uow: UnitOfWork, customer_id: int, *, matches: bool, now: datetime
) -> bool:
    """Record a checked app login of ``customer_id``; whether it may log in.

    :data:`MAX_LOGIN_FAILURES` wrong passwords in a row pause the account's login for
    :data:`LOGIN_LOCK_DURATION` (security event ``AppLoginLocked``): password guessing gets
    ten tries a quarter of an hour. While paused every attempt is refused, the right
    password too, and none counts. A successful login starts the count again.
    """
    customer = uow.customers.get(customer_id)
    if customer is None or customer.erased_at is not None:
        record_unknown_login(uow, now=now)
        return False
    if customer.login_locked_until is not None and customer.login_locked_until > now:
        _login_rejected(uow, "paused", now=now, customer_id=customer_id)
        return False
    if matches:
        if customer.login_failures or customer.login_locked_until is not None:
            uow.customers.update(customer_id, login_failures=0, login_locked_until=None)
        return True
    failures = customer.login_failures + 1
    if failures >= MAX_LOGIN_FAILURES:
        until = now + LOGIN_LOCK_DURATION
        uow.customers.update(customer_id, login_failures=0, login_locked_until=until)
        uow.security_events.add(
            kind=LOGIN_LOCKED_EVENT,
            details={"failures": failures, "locked_until": until.isoformat()},
            created_at=now,
            customer_id=customer_id,
        )
        log.warning(
            "app login of customer %s paused until %s after %d wrong passwords",
            customer.customer_number,
            until.isoformat(),
            failures,
        )
    else:
        uow.customers.update(customer_id, login_failures=failures)
    _login_rejected(uow, "wrong_password", now=now, customer_id=customer_id)
    return False


# -- tokens ---------------------------------------------------------------------------


def new_customer_token() -> str:
    """A fresh random customer bearer token (shown once; only its SHA-256 is kept)."""
    return CUSTOMER_TOKEN_PREFIX + secrets.token_urlsafe(32)


def issue_token(
    uow: UnitOfWork, customer_id: int, *, token: str, now: datetime, created_ip: str | None
) -> CustomerTokenRecord:
    """Store ``token`` (from :func:`new_customer_token`) as a login of ``customer_id``."""
    return uow.customer_tokens.add(
        customer_id=customer_id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + CUSTOMER_TOKEN_LIFETIME,
        created_ip=created_ip,
    )


@dataclass(frozen=True, slots=True)
class CustomerLogin:
    """A valid customer token and the customer it belongs to."""

    token: CustomerTokenRecord
    customer: CustomerRecord


def authenticate_customer(uow: UnitOfWork, token: str, *, now: datetime) -> CustomerLogin | None:
    """The login for a presented bearer token; None when it is not a customer token, or is
    unknown, revoked or expired, or its customer was erased."""
    if not token.startswith(CUSTOMER_TOKEN_PREFIX):
        return None
    record = uow.customer_tokens.by_hash(hash_token(token))
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        return None
    customer = uow.customers.get(record.customer_id)
    if customer is None or customer.erased_at is not None:
        return None
    return CustomerLogin(record, customer)


def revoke_token(uow: UnitOfWork, token_id: int, *, now: datetime) -> None:
    uow.customer_tokens.revoke(token_id, now)


def _revoke_others(uow: UnitOfWork, customer_id: int, *, keep_token_id: int, now: datetime) -> int:
    ended = 0
    for token in uow.customer_tokens.list(customer_id):
        if token.id != keep_token_id and token.revoked_at is None and token.expires_at > now:
            uow.customer_tokens.revoke(token.id, now)
            ended += 1
    return ended


# -- registration and profile ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registration:
    """What a person gives to register in the app (password and PIN go in as hashes)."""

    name: str
    email: str
    birth_date: date
    phone: str | None = None
    address: str | None = None
    vehicle: str | None = None
    notify: tuple[str, ...] = ()
    marketing_opt_in: bool = False


def check_can_register(birth_date: date, *, today: date) -> None:
    """InvalidRequest unless the person is an adult today (SPEC "Personal data")."""
    if birth_date > today:
        raise InvalidRequest("birth_date is in the future: give your date of birth (YYYY-MM-DD)")
    if age_on(birth_date, today) < ADULT_AGE:
        raise InvalidRequest(f"only people aged {ADULT_AGE} or older can register")


def _check_unique(
    uow: UnitOfWork, *, email: str | None, phone: str | None, customer_id: int | None
) -> None:
    """AlreadyExists, saying no more than "already registered", when another customer has
    ``email`` or ``phone``."""
    if email is not None:
        other = uow.customers.by_email(email.strip())
        if other is not None and other.id != customer_id:
            raise AlreadyExists(_EMAIL_TAKEN)
    if phone is not None and phone.strip() and validate_phone(phone) is None:
        other = find_by_login(uow, phone)
        if other is not None and other.id != customer_id:
            raise AlreadyExists(_PHONE_TAKEN)


def _check_sms_channel(notify: Iterable[str] | None, phone_after: str | None) -> None:
    if notify is not None and "sms" in parse_notify(notify) and not phone_after:
        raise InvalidRequest(_SMS_NEEDS_PHONE)


def register_customer(
    uow: UnitOfWork,
    registration: Registration,
    *,
    password_hash: str,
    pin_hash: str | None,
    now: datetime,
) -> CustomerRecord:
    """A new customer with a new random customer number."""
    check_can_register(registration.birth_date, today=now.date())
    _check_unique(uow, email=registration.email, phone=registration.phone, customer_id=None)
    _check_sms_channel(registration.notify, (registration.phone or "").strip() or None)
    customer = add_customer(
        uow,
        name=registration.name,
        email=registration.email,
        now=now,
        phone=registration.phone,
        address=registration.address,
        vehicle=registration.vehicle,
        notify=registration.notify,
        birth_date=registration.birth_date,
        marketing_opt_in=registration.marketing_opt_in,
    )
    uow.customers.update(customer.id, password_hash=password_hash, pin_hash=pin_hash)
    customer.password_hash = password_hash
    customer.pin_hash = pin_hash
    return customer


#: What ``POST /api/app/register`` answers, the same whether the address was new (an
#: account was made) or taken (its owner is told by email): the answer never says which.
REGISTRATION_RECEIVED = (
    "registration received: log in with your email address and password "
    "(POST /api/app/login). If this email address already had an account, no new one was "
    "made and its owner has been told by email."
)


def register_or_tell_owner(
    uow: UnitOfWork,
    registration: Registration,
    *,
    password_hash: str,
    pin_hash: str | None,
    now: datetime,
) -> CustomerRecord | None:
    """:func:`register_customer`, except for an email address that is registered already:
    then no account is made, the address's owner is told by email (outbox
    ``email.registration_attempt``, at most one a day per account, so nobody can flood an
    inbox with it) and None is returned. The caller answers the same either way, so that
    registering never tells whether an address has an account (issue 13: no account
    enumeration). Everything that does not depend on the address (age, SMS channel) is
    checked first, for both.
    """
    check_can_register(registration.birth_date, today=now.date())
    _check_sms_channel(registration.notify, (registration.phone or "").strip() or None)
    owner = uow.customers.by_email(registration.email.strip())
    if owner is not None:
        if owner.erased_at is None:
            enqueue_registration_attempt(uow, owner.id, now=now)
        return None
    return register_customer(
        uow, registration, password_hash=password_hash, pin_hash=pin_hash, now=now
    )


def _customer(uow: UnitOfWork, customer_id: int) -> CustomerRecord:
    customer = uow.customers.get(customer_id)
    if customer is None or customer.erased_at is not None:
        raise NotFound("this account no longer exists")
    return customer


def update_profile(
    uow: UnitOfWork, customer_id: int, profile: CustomerProfile, *, now: datetime
) -> CustomerRecord:
    """Change what ``profile`` gives (None: unchanged; "" clears phone, address, vehicle)."""
    customer = _customer(uow, customer_id)
    _check_unique(uow, email=profile.email, phone=profile.phone, customer_id=customer.id)
    phone_after = customer.phone if profile.phone is None else (profile.phone.strip() or None)
    notify_after: Iterable[str] | None = profile.notify
    if notify_after is None and customer.notify_sms:
        notify_after = ("sms",)  # removing the phone must not leave SMS switched on
    _check_sms_channel(notify_after, phone_after)
    return update_customer(uow, customer, profile, now=now)


def set_password_hash(
    uow: UnitOfWork, customer_id: int, password_hash: str, *, keep_token_id: int, now: datetime
) -> int:
    """Store a new password hash and end every other login of the customer (a changed
    password locks out whoever else had one); how many logins were ended."""
    _customer(uow, customer_id)
    uow.customers.update(customer_id, password_hash=password_hash, updated_at=now)
    return _revoke_others(uow, customer_id, keep_token_id=keep_token_id, now=now)


def set_pin_hash(uow: UnitOfWork, customer_id: int, pin_hash: str, *, now: datetime) -> None:
    """Store a new touchscreen PIN hash; a PIN lock from wrong guesses is lifted."""
    _customer(uow, customer_id)
    uow.customers.update(
        customer_id, pin_hash=pin_hash, pin_failures=0, pin_locked_until=None, updated_at=now
    )


def customer_for_login(uow: UnitOfWork, login: str) -> CustomerRecord | None:
    """The (not erased) customer whose email or phone number is ``login``."""
    customer = find_by_login(uow, login)
    if customer is None or customer.erased_at is not None:
        return None
    return customer


# -- cards ----------------------------------------------------------------------------


def own_cards(uow: UnitOfWork, customer_id: int) -> list[IdTagRecord]:
    """The customer's RFID cards (not their app or one-time login tokens), oldest first."""
    return sorted(uow.id_tags.list(customer_id=customer_id, kind="card"), key=lambda c: c.id)


def register_card(uow: UnitOfWork, customer_id: int, uid: str, *, now: datetime) -> IdTagRecord:
    """Register a card the customer holds; AlreadyExists (without saying whose) when the
    UID is registered already."""
    customer = _customer(uow, customer_id)
    if uow.id_tags.by_uid(uid) is not None:
        raise AlreadyExists(
            "this card is already registered: if it is yours and you did not register it, "
            "contact support"
        )
    return add_card(uow, uid=uid, now=now, customer_number=customer.customer_number)


def block_own_card(uow: UnitOfWork, customer_id: int, card_id: int) -> IdTagRecord:
    """Block one of the customer's cards (idempotent); NotFound for anyone else's."""
    for card in own_cards(uow, customer_id):
        if card.id == card_id:
            if card.status != CardState.BLOCKED.value:
                block_card(uow, card.uid)
                card.status = CardState.BLOCKED.value
            return card
    raise NotFound(f"card {card_id} not found: see your cards (GET /api/app/me/cards)")


# -- favorites ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Favorite:
    charger_id: str
    name: str | None
    added_at: datetime


def _charger(uow: UnitOfWork, charger_id: str) -> ChargerRecord:
    charger = uow.chargers.get(charger_id)
    if charger is None:
        raise NotFound(f"charger {charger_id} not found: check the charger id")
    return charger


def favorites(uow: UnitOfWork, customer_id: int) -> list[Favorite]:
    chosen = []
    for charger_id, added_at in uow.favorites.list(customer_id):
        charger = uow.chargers.get(charger_id)
        chosen.append(Favorite(charger_id, charger.name if charger else None, added_at))
    return chosen


def add_favorite(uow: UnitOfWork, customer_id: int, charger_id: str, *, now: datetime) -> Favorite:
    """Mark a charger as a favorite (idempotent: the first time it was added stays)."""
    charger = _charger(uow, charger_id)
    uow.favorites.add(customer_id, charger_id, now=now)
    for favorite in favorites(uow, customer_id):
        if favorite.charger_id == charger_id:
            return favorite
    return Favorite(charger_id, charger.name, now)  # pragma: no cover - just added


def remove_favorite(uow: UnitOfWork, customer_id: int, charger_id: str) -> bool:
    """Whether the charger was a favorite (it is not any more)."""
    return uow.favorites.remove(customer_id, charger_id)


# -- sessions -------------------------------------------------------------------------


def own_sessions(
    uow: UnitOfWork, customer_id: int, *, active: bool | None = None, limit: int = 100
) -> list[TransactionRecord]:
    """The customer's sessions, newest first."""
    return uow.transactions.list(customer_id=customer_id, active=active, limit=limit)


def own_session(uow: UnitOfWork, customer_id: int, session_id: int) -> TransactionRecord:
    """One of the customer's sessions; NotFound for anyone else's (ids are not confirmed)."""
    tx = uow.transactions.by_pk(session_id)
    if tx is None or tx.customer_id != customer_id:
        raise NotFound(
            f"session {session_id} not found: see your sessions (GET /api/app/me/sessions)"
        )
    return tx


def own_active_session(uow: UnitOfWork, customer_id: int, session_id: int) -> TransactionRecord:
    """One of the customer's sessions that is still running (AlreadyExists, i.e. 409, for
    one that ended)."""
    tx = own_session(uow, customer_id, session_id)
    if tx.status != TransactionStatus.ACTIVE.value:
        raise AlreadyExists(f"session {session_id} has already ended: there is nothing to stop")
    return tx


def app_start_token(uow: UnitOfWork, customer_id: int, charger_id: str, *, now: datetime) -> str:
    """A new single-use idTag to start charging with from the app (``app_token_for``:
    valid for one session, for ``APP_START_TOKEN_LIFETIME``) after checking that the
    charger exists and that no app session of the customer is running (one app session at
    a time, as when the app token was one per customer)."""
    customer = _customer(uow, customer_id)
    _charger(uow, charger_id)
    running = uow.transactions.list(customer_id=customer_id, active=True, limit=100)
    if any(tx.auth_method == AuthMethod.APP.value for tx in running):
        raise AlreadyExists(
            "you already have a session charging from the app: stop it before starting another"
        )
    return app_token_for(uow, customer, now=now)


# -- closing the account --------------------------------------------------------------


def close_account(uow: UnitOfWork, customer_id: int, *, now: datetime) -> CustomerRecord:
    """Erase the customer's identity for good (``rights.erase_customer``); refused while a
    session of theirs is still charging."""
    customer = _customer(uow, customer_id)
    if uow.transactions.list(customer_id=customer_id, active=True, limit=1):
        raise AlreadyExists(
            "a session of yours is still charging: stop it, then delete your account"
        )
    return erase_customer(uow, customer.customer_number, now=now)
