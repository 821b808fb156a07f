"""Customers: validation and random, unique customer numbers (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.people.customers import (
    add_customer,
    get_customer,
    list_customers,
    parse_customer_number,
    validate_email,
)
from storage.database import Database

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def test_customer_gets_a_random_eight_digit_number(db: Database) -> None:
    customers = await db.write(
        lambda uow: [
            add_customer(uow, name=f"C{i}", email=f"c{i}@example.com", now=NOW) for i in range(20)
        ]
    )
    numbers = [c.customer_number for c in customers]
    assert all(10_000_000 <= n <= 99_999_999 for n in numbers)
    assert len(set(numbers)) == 20
    # Not handed out in sequence: the number says nothing about the registration order.
    assert numbers != sorted(numbers)


async def test_customer_is_stored_and_found_by_number(db: Database) -> None:
    created = await db.write(
        lambda uow: add_customer(uow, name=" Ann Lee ", email="ann@example.com", now=NOW)
    )
    found = await db.read(lambda uow: get_customer(uow, created.customer_number))
    assert (found.name, found.email, found.created_at) == ("Ann Lee", "ann@example.com", NOW)
    listed = await db.read(list_customers)
    assert [c.customer_number for c in listed] == [created.customer_number]


async def test_unknown_customer_number_says_where_to_look(db: Database) -> None:
    with pytest.raises(NotFound, match="csms customers list"):
        await db.read(lambda uow: get_customer(uow, 12345678))


@pytest.mark.parametrize(
    "email", ["", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", "a@@b.com"]
)
async def test_malformed_email_is_refused(db: Database, email: str) -> None:
    with pytest.raises(InvalidRequest):
        await db.write(lambda uow: add_customer(uow, name="Ann", email=email, now=NOW))
    assert await db.read(list_customers) == []


def test_plausible_emails_pass() -> None:
    for email in ("ann@example.com", "ann.lee+ev@mail.example.co.uk", "x@sub.example.org"):
        assert validate_email(email) is None


async def test_empty_name_is_refused(db: Database) -> None:
    with pytest.raises(InvalidRequest, match="name"):
        await db.write(lambda uow: add_customer(uow, name="  ", email="a@example.com", now=NOW))


def test_customer_number_parsing_says_what_a_number_is() -> None:
    assert parse_customer_number(" 12345678 ") == 12345678
    with pytest.raises(InvalidRequest, match="csms customers list"):
        parse_customer_number("ann")
