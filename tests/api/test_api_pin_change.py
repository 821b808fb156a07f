"""Changing the PIN in the app asks for the password (issue 18, item 9): a stolen app
token alone cannot set a PIN that starts paid sessions. A wrong password is refused and
counted like a failed login (CSMS_RATE_LIMIT_LOGIN and the account's pause)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from csms.security import verify_pin
from tests.api.test_customer_api import PASSWORD, AppUsers


@pytest.fixture
async def users(csms_server: Any) -> AsyncIterator[AppUsers]:
    async with AppUsers.open(csms_server) as opened:
        yield opened


async def test_the_pin_is_changed_with_the_current_password(users: AppUsers) -> None:
    ann = await users.register(pin="4826")
    answer = await ann.app.put(
        "/api/app/me/pin", json={"current_password": PASSWORD, "pin": "9371"}
    )
    assert answer.status_code == 200, answer.text
    customer = await users.server.db.read(lambda uow: uow.customers.by_number(ann.number))
    assert verify_pin("9371", customer.pin_hash)


async def test_a_pin_change_without_the_password_is_refused(users: AppUsers) -> None:
    ann = await users.register(pin="4826")
    missing = await ann.app.put("/api/app/me/pin", json={"pin": "9371"})
    assert missing.status_code == 422
    assert "current_password" in missing.json()["error"]
    customer = await users.server.db.read(lambda uow: uow.customers.by_number(ann.number))
    assert verify_pin("4826", customer.pin_hash)


async def test_a_wrong_password_is_refused_and_counted_like_a_failed_login(
    users: AppUsers,
) -> None:
    ann = await users.register(pin="4826")
    answers = [
        await ann.app.put("/api/app/me/pin", json={"current_password": f"guess {n}", "pin": "9371"})
        for n in range(11)
    ]
    assert [a.status_code for a in answers[:10]] == [403] * 10
    assert "password is not correct" in answers[0].json()["error"]
    assert answers[10].status_code == 429  # past CSMS_RATE_LIMIT_LOGIN
    customer = await users.server.db.read(lambda uow: uow.customers.by_number(ann.number))
    assert verify_pin("4826", customer.pin_hash)  # unchanged
    assert customer.login_locked_until is not None  # ten wrong passwords pause the login
