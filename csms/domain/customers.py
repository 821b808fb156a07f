"""Customers (drivers): identity plus the random customer number owners see instead of it.

Minimal for now: name and email. Encryption at rest, phone, vehicle, PIN and notification
preferences come with the personal-data work (SPEC "Personal data").
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from csms.domain.errors import InvalidRequest, NotFound
from storage.ports import UnitOfWork
from storage.records import CustomerRecord

__all__ = [
    "CUSTOMER_NUMBER_DIGITS",
    "add_customer",
    "get_customer",
    "list_customers",
    "new_customer_number",
    "parse_customer_number",
    "validate_email",
]

#: Customer numbers are random 8-digit numbers (10000000-99999999): a pseudonym that says
#: nothing about how many customers there are or when one registered.
CUSTOMER_NUMBER_DIGITS = 8
_LOWEST = 10 ** (CUSTOMER_NUMBER_DIGITS - 1)
_COUNT = 9 * _LOWEST

MAX_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 320  # RFC 3696 errata: 64 local + @ + 255 domain
# One @, no spaces, a dotted domain, no empty labels: catches typos; not an RFC 5322 parser.
_EMAIL = re.compile(r"^[^@\s]{1,64}@(?:[^@\s.]+\.)+[^@\s.]{2,}$")


def validate_email(email: str) -> str | None:
    """Why ``email`` is not an email address, or None if it looks like one."""
    if len(email) > MAX_EMAIL_LENGTH:
        return f"email address is longer than {MAX_EMAIL_LENGTH} characters"
    if not _EMAIL.match(email):
        return f"{email!r} is not an email address (expected name@example.com)"
    return None


def new_customer_number(uow: UnitOfWork) -> int:
    """A random, unused customer number."""
    while True:
        candidate = _LOWEST + secrets.randbelow(_COUNT)
        if uow.customers.by_number(candidate) is None:
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


def add_customer(uow: UnitOfWork, *, name: str, email: str, now: datetime) -> CustomerRecord:
    name = name.strip()
    email = email.strip()
    if not name:
        raise InvalidRequest("customer name is empty: give --name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"customer name is longer than {MAX_NAME_LENGTH} characters")
    problem = validate_email(email)
    if problem:
        raise InvalidRequest(problem)
    return uow.customers.add(
        customer_number=new_customer_number(uow), name=name, email=email, created_at=now
    )


def get_customer(uow: UnitOfWork, customer_number: int) -> CustomerRecord:
    customer = uow.customers.by_number(customer_number)
    if customer is None:
        raise NotFound(f"customer {customer_number} not found: see `csms customers list`")
    return customer


def list_customers(uow: UnitOfWork) -> list[CustomerRecord]:
    return uow.customers.list()
