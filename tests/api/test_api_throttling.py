"""Throttling guesses at the API (issue 18, item 8): failed logins and bearer tokens per
source address and per account, past CSMS_RATE_LIMIT_LOGIN (10/min) answered 429 with
Retry-After before any password is checked. The issue's figure: 60 accounts sprayed from
one source in 2.7 s, none slowed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from csms.api import create_app
from csms.config import Settings
from storage.database import Database
from tests.fakes.router import RecordingRouter

LOGIN = "/api/app/login"
PASSWORD = "a long enough password"


class Clients:
    def __init__(self, app: object) -> None:
        self.app = app
        self._open: list[httpx.AsyncClient] = []

    def at(self, address: str, token: str | None = None) -> httpx.AsyncClient:
        """A client whose requests come from ``address``."""
        transport = httpx.ASGITransport(
            app=self.app,  # type: ignore[arg-type]
            client=(address, 40000),
            raise_app_exceptions=False,
        )
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(transport=transport, base_url="http://csms", headers=headers)
        self._open.append(client)
        return client


@pytest.fixture
async def clients(
    sqlite_db: Database, settings_factory: Callable[..., Settings]
) -> AsyncIterator[Clients]:
    holder = Clients(
        create_app(db=sqlite_db, router=RecordingRouter(), settings=settings_factory())
    )
    yield holder
    for client in holder._open:
        await client.aclose()


async def _register(client: httpx.AsyncClient, email: str) -> None:
    answer = await client.post(
        "/api/app/register",
        json={"name": "Ann", "email": email, "password": PASSWORD, "birth_date": "1990-04-27"},
    )
    assert answer.status_code == 202, answer.text


async def test_60_accounts_sprayed_from_one_source_are_refused_past_the_rate(
    clients: Clients,
) -> None:
    await _register(clients.at("10.0.0.9"), "ann@example.com")
    sprayer = clients.at("203.0.113.7")
    answers = [
        await sprayer.post(LOGIN, json={"login": f"user{n}@example.com", "password": "guess"})
        for n in range(60)
    ]
    assert [a.status_code for a in answers[:10]] == [401] * 10
    assert {a.status_code for a in answers[10:]} == {429}
    assert 1 <= int(answers[10].headers["Retry-After"]) <= 60
    assert "too many failed attempts" in answers[10].json()["error"]
    # Ann logs in from her own address as usual, and a login with her right password
    # from the sprayer's address is refused too (nothing is checked while it waits).
    assert (
        await clients.at("10.0.0.9").post(
            LOGIN, json={"login": "ann@example.com", "password": PASSWORD}
        )
    ).status_code == 200
    assert (
        await sprayer.post(LOGIN, json={"login": "ann@example.com", "password": PASSWORD})
    ).status_code == 429


async def test_guesses_at_one_account_from_many_sources_are_refused_past_the_rate(
    clients: Clients,
) -> None:
    await _register(clients.at("10.0.0.9"), "ann@example.com")
    statuses = [
        (
            await clients.at(f"198.51.100.{n}").post(
                LOGIN, json={"login": "ANN@example.com ", "password": f"guess {n}"}
            )
        ).status_code
        for n in range(15)
    ]
    assert statuses[:10] == [401] * 10  # the tenth also pauses the account (as before)
    assert statuses[10:] == [429] * 5


async def test_a_normal_login_is_not_slowed(clients: Clients) -> None:
    await _register(clients.at("10.0.0.9"), "ann@example.com")
    client = clients.at("10.0.0.9")
    for _ in range(30):  # right passwords do not count
        answer = await client.post(LOGIN, json={"login": "ann@example.com", "password": PASSWORD})
        assert answer.status_code == 200


async def test_wrong_bearer_tokens_are_refused_past_the_rate(
    clients: Clients, sqlite_db: Database
) -> None:
    from datetime import UTC, datetime

    from csms.domain.security.tokens import create_token

    _, token = await sqlite_db.write(
        lambda uow: create_token(uow, name="ops", role="admin", owner=None, now=datetime.now(UTC))
    )
    guesses = [
        (await clients.at("203.0.113.7", f"guess-{n}").get("/api/chargers")).status_code
        for n in range(15)
    ]
    assert guesses[:10] == [401] * 10
    assert guesses[10:] == [429] * 5
    app_guesses = [
        (await clients.at("203.0.113.7", f"guess-{n}").get("/api/app/me")).status_code
        for n in range(3)
    ]
    assert app_guesses == [429] * 3  # the customer API shares the source's count
    assert (await clients.at("10.0.0.9", token).get("/api/chargers")).status_code == 200
    # A valid token works from the guessing source too (an operator behind the same NAT).
    assert (await clients.at("203.0.113.7", token).get("/api/chargers")).status_code == 200
