"""Customers (drivers): identity, preferences and the random customer number owners see.

Identity (name, postal address, phone, email, vehicle) is encrypted at rest by storage;
here it is plain. Passwords and PINs are kept as slow salted hashes only (SPEC "Personal
data"). A customer is found by email or phone through keyed hashes, never by a scan.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from csms.domain.errors import AlreadyExists, InvalidRequest, NotFound
from csms.security import hash_password, hash_pin, validate_pin
from storage.ports import UnitOfWork
from storage.records import CustomerRecord

__all__ = [
    "ADULT_AGE",
    "CUSTOMER_NUMBER_DIGITS",
    "MAX_ADDRESS_LENGTH",
    "MAX_EMAIL_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "NOTIFY_CHANNELS",
    "CustomerProfile",
    "add_customer",
    "age_on",
    "find_by_login",
    "get_customer",
    "list_customers",
    "new_customer_number",
    "parse_customer_number",
    "parse_notify",
    "parse_vehicle",
    "set_pin",
    "update_customer",
    "validate_email",
    "validate_phone",
]

#: Customer numbers are random 8-digit numbers (10000000-99999999): a pseudonym that says
#: nothing about how many customers there are or when one registered.
CUSTOMER_NUMBER_DIGITS = 8
_LOWEST: int = 10 ** (CUSTOMER_NUMBER_DIGITS - 1)
_COUNT = 9 * _LOWEST

#: Only people of this age or older can register (SPEC "Personal data").
ADULT_AGE = 18
NOTIFY_CHANNELS = ("email", "sms")

MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 320  # RFC 3696 errata: 64 local + @ + 255 domain
MAX_ADDRESS_LENGTH = 500
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
# One @, no spaces, a dotted domain, no empty labels: catches typos; not an RFC 5322 parser.
_EMAIL = re.compile(r"^[^@\s]{1,64}@(?:[^@\s.]+\.)+[^@\s.]{2,}$")
# E.164: a country code and at most 15 digits; formatting characters are dropped first.
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PHONE_FORMATTING = re.compile(r"[\s\-.()/]")


@dataclass(slots=True)
class CustomerProfile:
    """What a customer (or an operator for them) can set. None leaves a field alone."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    vehicle: str | None = None
    notify: Iterable[str] | None = None


def validate_email(email: str) -> str | None:
    """Why ``email`` is not an email address, or None if it looks like one."""
    if len(email) > MAX_EMAIL_LENGTH:
        return f"email address is longer than {MAX_EMAIL_LENGTH} characters"
    if not _EMAIL.match(email):
        return f"{email!r} is not an email address (expected name@example.com)"
    return None


def validate_phone(phone: str) -> str | None:
    """Why ``phone`` is not an international phone number, or None."""
    if not _PHONE.match(_PHONE_FORMATTING.sub("", phone)):
        return "phone number must be international, with + and country code (+4930123456)"
    return None


def _normal_phone(phone: str) -> str:
    return _PHONE_FORMATTING.sub("", phone.strip())


def parse_vehicle(text: str) -> str:
    """``MAKE/MODEL/YEAR`` (year optional), checked and tidied; InvalidRequest otherwise."""
    parts = [p.strip() for p in text.split("/")]
    if len(parts) not in (2, 3) or not all(parts) or any(len(p) > 60 for p in parts):
        raise InvalidRequest(f"vehicle {text!r}: use MAKE/MODEL/YEAR, e.g. Renault/Zoe/2021")
    if len(parts) == 3:
        year = parts[2]
        if not (year.isdigit() and 1900 <= int(year) <= date.today().year + 1):
            raise InvalidRequest(f"vehicle year {year!r} is not a year (e.g. 2021)")
    return "/".join(parts)


def parse_notify(channels: Iterable[str]) -> set[str]:
    """Notification channels from ``email,sms`` style input ("none" or empty: none)."""
    chosen: set[str] = set()
    for raw in channels:
        for item in str(raw).split(","):
            item = item.strip().lower()
            if item in ("", "none"):
                continue
            if item not in NOTIFY_CHANNELS:
                raise InvalidRequest(f"notify {item!r}: use email, sms, both (email,sms) or none")
            chosen.add(item)
    return chosen


def age_on(birth_date: date, day: date) -> int:
    """Completed years between ``birth_date`` and ``day``."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def new_customer_number(uow: UnitOfWork) -> int:
    """A random, unused customer number."""
    while True:
        candidate = _LOWEST + secrets.randbelow(_COUNT)
        if not uow.customers.number_taken(candidate):
            return candidate


def parse_customer_number(text: str | int) -> int:
    """A customer number from user input; InvalidRequest says what a number looks like."""
    try:
        number = int(str(text).strip())
    except ValueError:
        raise InvalidRequest(
            f"{text!r} is not a customer number: use the number from `csms customers list`"
        ) from None
    if number <= 0:
        raise InvalidRequest(
            f"{text!r} is not a customer number: use the number from `csms customers list`"
        )
    return number


def _check_not_taken(
    other: CustomerRecord | None, current: CustomerRecord | None, what: str
) -> None:
    """AlreadyExists when ``other``, a customer with the same ``what``, is not ``current``."""
    if other is not None and (current is None or other.id != current.id):
        raise AlreadyExists(f"a customer with this {what} exists already")


def _checked(
    uow: UnitOfWork, profile: CustomerProfile, *, current: CustomerRecord | None
) -> dict[str, object]:
    """The storage fields for ``profile``: validated, tidied, unique where they must be."""
    fields: dict[str, object] = {}
    if profile.name is not None:
        name = profile.name.strip()
        if not name:
            raise InvalidRequest("customer name is empty: give a name")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidRequest(f"customer name is longer than {MAX_NAME_LENGTH} characters")
        fields["name"] = name
    if profile.email is not None:
        email = profile.email.strip()
        problem = validate_email(email)
        if problem:
            raise InvalidRequest(problem)
        _check_not_taken(uow.customers.by_email(email), current, "email address")
        fields["email"] = email
    if profile.phone is not None:
        phone = _normal_phone(profile.phone)
        if phone == "":
            fields["phone"] = None
        else:
            problem = validate_phone(phone)
            if problem:
                raise InvalidRequest(problem)
            _check_not_taken(uow.customers.by_phone(phone), current, "phone number")
            fields["phone"] = phone
    if profile.address is not None:
        address = profile.address.strip()
        if len(address) > MAX_ADDRESS_LENGTH:
            raise InvalidRequest(f"address is longer than {MAX_ADDRESS_LENGTH} characters")
        fields["address"] = address or None
    if profile.vehicle is not None:
        fields["vehicle"] = parse_vehicle(profile.vehicle) if profile.vehicle.strip() else None
    if profile.notify is not None:
        channels = parse_notify(profile.notify)
        fields["notify_email"] = "email" in channels
        fields["notify_sms"] = "sms" in channels
    phone_after = fields.get("phone", current.phone if current else None)
    if fields.get("notify_sms", current.notify_sms if current else False) and not phone_after:
        raise InvalidRequest("SMS notifications need a phone number: give --phone")
    return fields


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long"
        )


def add_customer(
    uow: UnitOfWork,
    *,
    name: str,
    email: str,
    now: datetime,
    phone: str | None = None,
    address: str | None = None,
    vehicle: str | None = None,
    notify: Iterable[str] = (),
    pin: str | None = None,
    password: str | None = None,
    birth_date: date | None = None,
    marketing_opt_in: bool = False,
    pin_hash: str | None = None,
) -> CustomerRecord:
    """Add a customer with a new random customer number.

    ``pin_hash`` is a PIN hashed beforehand (``csms.security.hash_pin`` in a worker thread,
    after ``validate_pin``): the slow hash then never runs inside a unit of work.

    ``birth_date`` (self-registration) must make the person at least 18 today; it is
    checked and not kept. Operators adding a customer vouch for it themselves.
    """
    if birth_date is not None and age_on(birth_date, now.date()) < ADULT_AGE:
        raise InvalidRequest(f"only people aged {ADULT_AGE} or older can register")
    fields = _checked(
        uow,
        CustomerProfile(
            name=name, email=email, phone=phone, address=address, vehicle=vehicle, notify=notify
        ),
        current=None,
    )
    record = CustomerRecord(
        id=0, customer_number=new_customer_number(uow), created_at=now, updated_at=now
    )
    for key, value in fields.items():
        setattr(record, key, value)
    if password is not None:
        _check_password(password)
        record.password_hash = hash_password(password)
    if pin is not None:
        problem = validate_pin(pin)
        if problem:
            raise InvalidRequest(problem)
        record.pin_hash = hash_pin(pin)
    elif pin_hash is not None:
        record.pin_hash = pin_hash
    if marketing_opt_in:
        record.marketing_opt_in = True
        record.marketing_changed_at = now
    customer = uow.customers.add(record)
    if marketing_opt_in:
        from csms.domain.people.consents import new_unsubscribe_token

        new_unsubscribe_token(uow, customer)
    return customer


def update_customer(
    uow: UnitOfWork, customer: CustomerRecord, profile: CustomerProfile, *, now: datetime
) -> CustomerRecord:
    """Change what ``profile`` gives; the others stay. Returns the customer as stored."""
    if customer.erased_at is not None:
        raise NotFound(f"customer {customer.customer_number} was erased")
    fields = _checked(uow, profile, current=customer)
    if fields:
        uow.customers.update(customer.id, updated_at=now, **fields)
        for key, value in fields.items():
            setattr(customer, key, value)
        customer.updated_at = now
    return customer


def set_pin(uow: UnitOfWork, customer: CustomerRecord, pin: str, *, now: datetime) -> None:
    """Set the touchscreen PIN (4–8 digits, not a trivial one); unlocks PIN login."""
    problem = validate_pin(pin)
    if problem:
        raise InvalidRequest(problem)
    uow.customers.update(
        customer.id, pin_hash=hash_pin(pin), pin_failures=0, pin_locked_until=None, updated_at=now
    )


def find_by_login(uow: UnitOfWork, login: str) -> CustomerRecord | None:
    """The customer whose email or phone number is ``login`` (touchscreen and app login)."""
    login = login.strip()
    if "@" in login:
        return uow.customers.by_email(login)
    if validate_phone(login) is None:
        return uow.customers.by_phone(_normal_phone(login))
    return None


def get_customer(uow: UnitOfWork, customer_number: int) -> CustomerRecord:
    customer = uow.customers.by_number(customer_number)
    if customer is None:
        raise NotFound(f"customer {customer_number} not found: see `csms customers list`")
    return customer


def list_customers(uow: UnitOfWork) -> list[CustomerRecord]:
    return uow.customers.list()
