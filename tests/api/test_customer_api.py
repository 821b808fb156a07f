"""The customer API (``/api/app``) over a real server: registration, login and logout,
profile, password, PIN, notification and marketing choices, the unsubscribe link, cards,
favorites, sessions, export and account deletion.

``AppUsers`` (used by the other ``test_customer_api_*`` files too) registers customers
through the API and keeps every answer the app got, so a test can check that something
(a full card UID, the app token) never appeared in any of them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import argon2
import httpx
import pytest

from csms.domain.people import accounts
from csms.domain.security.tokens import create_token
from csms.security import hash_password, verify_password, verify_pin
from tests.api.conftest import add_charger_for, add_session
from tests.fakes.legacy_hashes import legacy_scrypt_password_hash

PASSWORD = "correct horse battery"
ADULT_BIRTH_DATE = "1990-04-27"


@dataclass
class AppCustomer:
    number: int
    email: str
    token: str
    #: a client that sends this customer's token
    app: httpx.AsyncClient


class AppUsers:
    """Customers of one running server, registered through ``/api/app/register``."""

    def __init__(self, server: Any, stack: contextlib.AsyncExitStack) -> None:
        self.server = server
        self._stack = stack
        #: the text of every answer any client of this object received
        self.answers: list[str] = []
        self.anonymous = self.client(None)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, server: Any) -> AsyncIterator[AppUsers]:
        async with contextlib.AsyncExitStack() as stack:
            yield cls(server, stack)

    async def _keep(self, response: httpx.Response) -> None:
        await response.aread()
        self.answers.append(response.text)

    def client(self, token: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            base_url=self.server.api_url,
            headers=headers,
            timeout=20,
            event_hooks={"response": [self._keep]},
        )
        self._stack.push_async_callback(client.aclose)
        return client

    def operator(self) -> httpx.AsyncClient:
        return self.client(self.server.admin_token)

    async def register(
        self, *, name: str = "Ann Driver", email: str = "ann@example.com", **fields: Any
    ) -> AppCustomer:
        body = {"name": name, "email": email, "password": PASSWORD}
        body["birth_date"] = ADULT_BIRTH_DATE
        body.update(fields)
        response = await self.anonymous.post("/api/app/register", json=body)
        assert response.status_code == 202, response.text
        assert "token" not in response.json()  # the app logs in next (issue 13)
        login = await self.anonymous.post(
            "/api/app/login", json={"login": email, "password": body["password"]}
        )
        assert login.status_code == 200, login.text
        answer = login.json()
        token = answer["token"]
        return AppCustomer(answer["customer_number"], email, token, self.client(token))

    def saw(self, text: str) -> bool:
        """Whether ``text`` appeared in any answer so far."""
        return any(text in answer for answer in self.answers)


@pytest.fixture
async def users(csms_server: Any) -> AsyncIterator[AppUsers]:
    async with AppUsers.open(csms_server) as opened:
        yield opened


@pytest.fixture
async def unthrottled_users(settings_factory: Any) -> AsyncIterator[AppUsers]:
    """Users of a server without CSMS_RATE_LIMIT_LOGIN: to see the account lock alone."""
    from csms.server import running_server

    settings = settings_factory()
    settings = dataclasses.replace(
        settings, api=dataclasses.replace(settings.api, rate_limit_login=None)
    )
    async with running_server(settings) as server, AppUsers.open(server) as opened:
        yield opened


def _years_ago(years: int, *, today: date) -> date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


# -- registration ---------------------------------------------------------------------


async def test_registration_then_login_gives_a_token_that_opens_the_profile(
    users: AppUsers,
) -> None:
    before = datetime.now(UTC)
    ann = await users.register(
        phone="+49 30 1234567",
        address="Hauptstr. 1, Berlin",
        vehicle="Renault/Zoe/2021",
        notify=["email", "sms"],
    )
    assert ann.token.startswith("csmsc_")
    assert 10_000_000 <= ann.number <= 99_999_999
    me = (await ann.app.get("/api/app/me")).json()
    assert me["customer_number"] == ann.number
    assert (me["name"], me["email"], me["phone"]) == ("Ann Driver", ann.email, "+49301234567")
    assert me["address"] == "Hauptstr. 1, Berlin"
    assert me["vehicle"] == {"make": "Renault", "model": "Zoe", "year": 2021}
    assert sorted(me["notify"]) == ["email", "sms"]
    assert me["marketing_opt_in"] is False and me["pin_set"] is False
    assert (me["cards"], me["favorites"]) == (0, 0)
    (login,) = await users.server.db.read(
        lambda uow: uow.customer_tokens.list(uow.customers.by_number(ann.number).id)
    )
    assert login.created_ip == "127.0.0.1"
    assert timedelta(days=29) < login.expires_at - before <= timedelta(days=30, minutes=1)
    assert login.token_hash != ann.token and ann.token not in str(login)


async def test_registration_keeps_the_password_only_as_a_slow_hash(users: AppUsers) -> None:
    ann = await users.register(pin="4826")
    customer = await users.server.db.read(lambda uow: uow.customers.by_number(ann.number))
    # OWASP Password Storage Cheat Sheet minimum: argon2id, m=19 MiB, t=2, p=1
    assert customer.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in customer.password_hash
    assert verify_password(PASSWORD, customer.password_hash)
    assert verify_pin("4826", customer.pin_hash)


async def test_person_under_18_cannot_register_and_is_told_why(users: AppUsers) -> None:
    today = datetime.now(UTC).date()
    seventeen = _years_ago(18, today=today) + timedelta(days=1)
    response = await users.anonymous.post(
        "/api/app/register",
        json={
            "name": "Kid",
            "email": "kid@example.com",
            "password": PASSWORD,
            "birth_date": seventeen.isoformat(),
        },
    )
    assert response.status_code == 422
    assert response.json() == {"error": "only people aged 18 or older can register"}
    login = await users.anonymous.post(
        "/api/app/login", json={"login": "kid@example.com", "password": PASSWORD}
    )
    assert login.status_code == 401


async def test_person_turning_18_today_can_register(users: AppUsers) -> None:
    eighteen = _years_ago(18, today=datetime.now(UTC).date())
    await users.register(birth_date=eighteen.isoformat())


async def test_registering_a_taken_email_answers_like_a_new_one_and_tells_its_owner(
    users: AppUsers,
) -> None:
    """Issue 13 point 6: the register answer never tells whether an address is taken."""
    ann = await users.register(name="Ann Original", phone="+4930111111")
    body = {"name": "Mallory", "password": "mallorys password", "birth_date": ADULT_BIRTH_DATE}
    taken = await users.anonymous.post(
        "/api/app/register", json=body | {"email": "ANN@example.com "}
    )
    new = await users.anonymous.post("/api/app/register", json=body | {"email": "new@example.com"})
    assert taken.status_code == new.status_code == 202
    assert taken.headers["content-type"] == new.headers["content-type"]
    assert (
        taken.json()
        == new.json()
        == {
            "message": accounts.REGISTRATION_RECEIVED,
            "login": "/api/app/login",
        }
    )
    db = users.server.db
    owner = await db.read(lambda uow: uow.customers.by_number(ann.number))
    assert owner.name == "Ann Original" and verify_password(PASSWORD, owner.password_hash)
    # No second account: Mallory's password does not log in as Ann's address.
    mallory = await users.anonymous.post(
        "/api/app/login", json={"login": "ann@example.com", "password": "mallorys password"}
    )
    assert mallory.status_code == 401
    assert (
        await users.anonymous.post(
            "/api/app/login", json={"login": "new@example.com", "password": "mallorys password"}
        )
    ).status_code == 200
    [notice] = await db.read(
        lambda uow: [r for r in uow.outbox.list() if r.topic == "email.registration_attempt"]
    )
    assert notice.payload == {"customer_id": owner.id}  # nothing of Mallory's


async def test_registering_a_taken_email_again_and_again_tells_its_owner_once_a_day(
    users: AppUsers,
) -> None:
    await users.register()
    body = {"name": "M", "email": "ann@example.com", "password": PASSWORD}
    for _ in range(3):
        answer = await users.anonymous.post(
            "/api/app/register", json=body | {"birth_date": ADULT_BIRTH_DATE}
        )
        assert answer.status_code == 202
    notices = await users.server.db.read(
        lambda uow: [r for r in uow.outbox.list() if r.topic == "email.registration_attempt"]
    )
    assert len(notices) == 1


async def test_registering_a_taken_phone_number_is_409(users: AppUsers) -> None:
    await users.register(name="Ann Original", phone="+4930111111")
    by_phone = await users.anonymous.post(
        "/api/app/register",
        json={
            "name": "Mallory",
            "email": "mallory@example.com",
            "password": PASSWORD,
            "birth_date": ADULT_BIRTH_DATE,
            "phone": "+49 30 111111",
        },
    )
    assert by_phone.status_code == 409
    assert "phone number is already registered" in by_phone.json()["error"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"birth_date": "27.04.1990"}, "birth_date: use YYYY-MM-DD"),
        ({"birth_date": 640_000_000}, "birth_date: use YYYY-MM-DD"),
        ({"password": "short"}, "password: String should have at least 10 characters"),
        ({"pin": "1234"}, "a PIN must not be a run of consecutive digits"),
        ({"email": "ann@"}, "is not an email address"),
        ({"vehicle": "Zoe"}, "use MAKE/MODEL/YEAR"),
        ({"notify": ["pigeon"]}, "notify.0: Input should be 'email' or 'sms'"),
        ({"notify": ["sms"]}, "SMS notifications need a phone number"),
        ({"is_admin": True}, "is_admin: unknown field"),
    ],
)
async def test_registration_with_a_bad_field_is_422_naming_the_problem(
    users: AppUsers, change: dict[str, Any], expected: str
) -> None:
    body = {
        "name": "Ann",
        "email": "ann@example.com",
        "password": PASSWORD,
        "birth_date": ADULT_BIRTH_DATE,
    }
    response = await users.anonymous.post("/api/app/register", json=body | change)
    assert response.status_code == 422, response.text
    assert expected in response.json()["error"]


# -- login, logout, tokens ------------------------------------------------------------


async def test_login_with_email_or_phone_gives_a_new_working_token(users: AppUsers) -> None:
    ann = await users.register(phone="+4930222222")
    for login in ("ann@example.com", "+49 30 222222"):
        response = await users.anonymous.post(
            "/api/app/login", json={"login": login, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["token"] != ann.token and answer["customer_number"] == ann.number
        me = await users.client(answer["token"]).get("/api/app/me")
        assert me.json()["customer_number"] == ann.number


async def test_wrong_password_and_unknown_login_get_the_same_401(users: AppUsers) -> None:
    await users.register()
    wrong_password = await users.anonymous.post(
        "/api/app/login", json={"login": "ann@example.com", "password": "not the password"}
    )
    unknown = await users.anonymous.post(
        "/api/app/login", json={"login": "nobody@example.com", "password": PASSWORD}
    )
    not_a_login = await users.anonymous.post(
        "/api/app/login", json={"login": "ann", "password": PASSWORD}
    )
    assert wrong_password.status_code == unknown.status_code == not_a_login.status_code == 401
    assert wrong_password.json() == unknown.json() == not_a_login.json()
    assert "email, phone number or password" in unknown.json()["error"]


async def test_a_login_with_an_old_scrypt_hash_works_and_stores_an_argon2id_hash(
    users: AppUsers,
) -> None:
    """Issue 13 point 6: old hashes verify and are rehashed on the next successful login."""
    ann = await users.register()
    db = users.server.db
    customer = await db.read(lambda uow: uow.customers.by_number(ann.number))
    old = legacy_scrypt_password_hash(PASSWORD)
    await db.write(lambda uow: uow.customers.update(customer.id, password_hash=old))

    wrong = await users.anonymous.post(
        "/api/app/login", json={"login": ann.email, "password": "not the password"}
    )
    assert wrong.status_code == 401
    assert (await db.read(lambda uow: uow.customers.get(customer.id))).password_hash == old

    right = await users.anonymous.post(
        "/api/app/login", json={"login": ann.email, "password": PASSWORD}
    )
    assert right.status_code == 200, right.text
    rehashed = (await db.read(lambda uow: uow.customers.get(customer.id))).password_hash
    assert rehashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password(PASSWORD, rehashed)
    # the same password: this login and the first one both still work
    assert (await ann.app.get("/api/app/me")).status_code == 200
    again = await users.anonymous.post(
        "/api/app/login", json={"login": ann.email, "password": PASSWORD}
    )
    assert again.status_code == 200
    assert (await db.read(lambda uow: uow.customers.get(customer.id))).password_hash == rehashed


def test_an_unknown_login_is_checked_against_a_decoy_of_the_same_argon2id_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No account enumeration by timing: the decoy path runs the same hash function with
    the same parameters as a real account's check."""
    checked: list[str] = []
    real = accounts.verify_password

    def spy(password: str, stored: str) -> bool:
        checked.append(stored)
        return real(password, stored)

    monkeypatch.setattr(accounts, "verify_password", spy)
    real_hash = hash_password(PASSWORD)
    assert accounts.check_login_password(PASSWORD, real_hash)
    assert not accounts.check_login_password(PASSWORD, None)
    real_stored, decoy = checked
    assert real_stored == real_hash
    assert argon2.extract_parameters(decoy) == argon2.extract_parameters(real_hash)
    assert decoy.startswith("$argon2id$") and decoy != real_hash


async def test_unknown_login_and_wrong_password_do_the_same_work_and_record_the_reason(
    users: AppUsers,
) -> None:
    """Issue 13 point 6: the same answer, the same hash (a decoy) and the same write (a
    refusal recorded) for an unknown login as for a wrong password; what is recorded says
    why, never the login."""
    ann = await users.register()
    db = users.server.db
    wrong = await users.anonymous.post(
        "/api/app/login", json={"login": ann.email, "password": "not the password"}
    )
    unknown = await users.anonymous.post(
        "/api/app/login", json={"login": "nobody@example.com", "password": "not the password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers.keys() == unknown.headers.keys()
    events = await db.read(lambda uow: uow.security_events.list(kind="AppLoginRejected"))
    customer = await db.read(lambda uow: uow.customers.by_number(ann.number))
    assert sorted((e.details["reason"], e.customer_id) for e in events) == [
        ("unknown_login", None),
        ("wrong_password", customer.id),
    ]
    assert "nobody" not in str([e.details for e in events])


async def test_ten_wrong_passwords_pause_the_login_without_telling_who_is_a_customer(
    unthrottled_users: AppUsers,
) -> None:
    users = unthrottled_users
    ann = await users.register()

    async def log_in(password: str, login: str = "ann@example.com") -> httpx.Response:
        return await users.anonymous.post(
            "/api/app/login", json={"login": login, "password": password}
        )

    wrong = [await log_in(f"guess number {n}") for n in range(accounts.MAX_LOGIN_FAILURES)]
    paused = await log_in(PASSWORD)  # the right password, while paused
    unknown = await log_in(PASSWORD, "nobody@example.com")
    assert {r.status_code for r in [*wrong, paused, unknown]} == {401}
    assert len({r.text for r in [*wrong, paused, unknown]}) == 1  # one answer for all
    assert "paused for 15 minutes" in paused.json()["error"]
    db = users.server.db
    customer = await db.read(lambda uow: uow.customers.by_number(ann.number))
    assert customer.login_locked_until is not None
    [event] = await db.read(lambda uow: uow.security_events.list(kind="AppLoginLocked"))
    assert event.customer_id == customer.id and event.details["failures"] == 10
    # The pause is over: the right password works again, and the count starts from zero.
    await db.write(
        lambda uow: uow.customers.update(
            customer.id, login_locked_until=datetime.now(UTC) - timedelta(seconds=1)
        )
    )
    assert (await log_in("one more guess")).status_code == 401
    assert (await log_in(PASSWORD)).status_code == 200
    after = await db.read(lambda uow: uow.customers.by_number(ann.number))
    assert (after.login_failures, after.login_locked_until) == (0, None)


async def test_logout_ends_that_login_only(users: AppUsers) -> None:
    ann = await users.register()
    second = await users.anonymous.post(
        "/api/app/login", json={"login": ann.email, "password": PASSWORD}
    )
    phone = users.client(second.json()["token"])
    assert (await ann.app.post("/api/app/logout")).json() == {"logged_out": True}
    refused = await ann.app.get("/api/app/me")
    assert refused.status_code == 401
    assert "log in again" in refused.json()["error"]
    assert (await phone.get("/api/app/me")).status_code == 200


async def test_expired_token_is_refused(users: AppUsers) -> None:
    ann = await users.register()
    long_ago = datetime.now(UTC) - timedelta(days=31)
    token = accounts.new_customer_token()

    def old_login(uow: Any) -> None:
        customer = uow.customers.by_number(ann.number)
        accounts.issue_token(uow, customer.id, token=token, now=long_ago, created_ip=None)

    await users.server.db.write(old_login)
    response = await users.client(token).get("/api/app/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_missing_or_made_up_token_is_401_and_says_how_to_log_in(users: AppUsers) -> None:
    missing = await users.anonymous.get("/api/app/me")
    assert missing.status_code == 401
    assert "POST /api/app/login" in missing.json()["error"]
    made_up = await users.client("csmsc_" + "x" * 43).get("/api/app/me")
    assert made_up.status_code == 401


async def test_last_use_of_a_token_is_written_at_most_once_a_minute(users: AppUsers) -> None:
    ann = await users.register()
    db = users.server.db

    async def login() -> Any:
        def load(uow: Any) -> Any:
            (record,) = uow.customer_tokens.list(uow.customers.by_number(ann.number).id)
            return record

        return await db.read(load)

    await ann.app.get("/api/app/me")
    first = (await login()).last_used_at
    assert first is not None
    await ann.app.get("/api/app/me")
    assert (await login()).last_used_at == first
    record = await login()
    two_minutes_ago = datetime.now(UTC) - timedelta(minutes=2)
    await db.write(lambda uow: uow.customer_tokens.touch(record.id, two_minutes_ago))
    await ann.app.get("/api/app/me")
    assert (await login()).last_used_at > two_minutes_ago + timedelta(minutes=1)


async def test_operator_tokens_do_not_open_the_customer_api(users: AppUsers) -> None:
    await users.register()

    def tokens(uow: Any) -> list[str]:
        from csms.domain.people.owners import add_owner

        now = datetime.now(UTC)
        add_owner(uow, name="ACME", now=now)
        return [
            create_token(uow, name="ops", role="operator", now=now)[1],
            create_token(uow, name="acme", role="owner", owner="ACME", now=now)[1],
        ]

    operator, owner = await users.server.db.write(tokens)
    for token in (users.server.admin_token, operator, owner):
        client = users.client(token)
        for path in ("/api/app/me", "/api/app/me/sessions", "/api/app/me/export"):
            response = await client.get(path)
            assert response.status_code == 401, (path, response.text)


async def test_customer_tokens_do_not_open_the_operator_api(users: AppUsers) -> None:
    ann = await users.register()
    for path in ("/api/customers", "/api/sessions", "/api/cards", f"/api/customers/{ann.number}"):
        response = await ann.app.get(path)
        assert response.status_code == 401, (path, response.text)
        assert "API token" in response.json()["error"]


# -- profile, password, PIN -----------------------------------------------------------


async def test_customer_changes_their_profile(users: AppUsers) -> None:
    ann = await users.register(vehicle="Renault/Zoe/2021", address="Old street 1")
    response = await ann.app.patch(
        "/api/app/me",
        json={
            "name": "Ann Newname",
            "email": "ann.new@example.com",
            "phone": "+4930333333",
            "vehicle": None,
            "notify": ["sms"],
        },
    )
    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["name"], me["email"], me["phone"]) == (
        "Ann Newname",
        "ann.new@example.com",
        "+4930333333",
    )
    assert me["vehicle"] is None and me["address"] == "Old street 1"
    assert me["notify"] == ["sms"]
    login = await users.anonymous.post(
        "/api/app/login", json={"login": "ann.new@example.com", "password": PASSWORD}
    )
    assert login.status_code == 200
    old = await users.anonymous.post(
        "/api/app/login", json={"login": "ann@example.com", "password": PASSWORD}
    )
    assert old.status_code == 401


@pytest.mark.parametrize(
    ("change", "status", "expected"),
    [
        ({"name": None}, 422, "name cannot be removed"),
        ({"email": None}, 422, "email cannot be removed"),
        ({"phone": "030 123"}, 422, "phone number must be international"),
        ({"phone": ""}, 422, "SMS notifications need a phone number"),
        ({"email": "bob@example.com"}, 409, "already registered"),
        ({"customer_number": 1}, 422, "customer_number: unknown field"),
    ],
)
async def test_profile_change_that_cannot_be_made_says_why_and_changes_nothing(
    users: AppUsers, change: dict[str, Any], status: int, expected: str
) -> None:
    await users.register(name="Bob", email="bob@example.com")
    ann = await users.register(phone="+4930444444", notify=["sms"])
    before = (await ann.app.get("/api/app/me")).json()
    response = await ann.app.patch("/api/app/me", json=change)
    assert response.status_code == status, response.text
    assert expected in response.json()["error"]
    assert (await ann.app.get("/api/app/me")).json() == before


async def test_password_change_needs_the_current_password_and_ends_other_logins(
    users: AppUsers,
) -> None:
    ann = await users.register()
    other = await users.anonymous.post(
        "/api/app/login", json={"login": ann.email, "password": PASSWORD}
    )
    other_device = users.client(other.json()["token"])
    wrong = await ann.app.put(
        "/api/app/me/password",
        json={"current_password": "guess guess", "new_password": "a brand new secret"},
    )
    assert wrong.status_code == 403
    assert (await other_device.get("/api/app/me")).status_code == 200
    response = await ann.app.put(
        "/api/app/me/password",
        json={"current_password": PASSWORD, "new_password": "a brand new secret"},
    )
    assert response.json() == {"password_changed": True, "other_logins_ended": 1}
    assert (await ann.app.get("/api/app/me")).status_code == 200
    assert (await other_device.get("/api/app/me")).status_code == 401
    old = await users.anonymous.post(
        "/api/app/login", json={"login": ann.email, "password": PASSWORD}
    )
    assert old.status_code == 401
    new = await users.anonymous.post(
        "/api/app/login", json={"login": ann.email, "password": "a brand new secret"}
    )
    assert new.status_code == 200


async def test_pin_is_set_and_a_weak_pin_is_refused_with_the_reason(users: AppUsers) -> None:
    ann = await users.register()
    weak = await ann.app.put("/api/app/me/pin", json={"current_password": PASSWORD, "pin": "1111"})
    assert weak.status_code == 422
    assert weak.json()["error"] == "a PIN must not be one digit repeated (like 0000)"
    assert (await ann.app.get("/api/app/me")).json()["pin_set"] is False
    response = await ann.app.put(
        "/api/app/me/pin", json={"current_password": PASSWORD, "pin": "4826"}
    )
    assert response.json() == {"pin_set": True}
    assert (await ann.app.get("/api/app/me")).json()["pin_set"] is True
    customer = await users.server.db.read(lambda uow: uow.customers.by_number(ann.number))
    assert verify_pin("4826", customer.pin_hash)
    assert not users.saw("4826")


async def test_pin_set_in_the_app_lifts_a_pin_lock(users: AppUsers) -> None:
    ann = await users.register(pin="4826")
    later = datetime.now(UTC) + timedelta(minutes=30)

    def lock(uow: Any) -> None:
        customer = uow.customers.by_number(ann.number)
        uow.customers.update(customer.id, pin_failures=5, pin_locked_until=later)

    await users.server.db.write(lock)
    assert (await ann.app.get("/api/app/me")).json()["pin_locked_until"] is not None
    await ann.app.put("/api/app/me/pin", json={"current_password": PASSWORD, "pin": "9371"})
    me = (await ann.app.get("/api/app/me")).json()
    assert me["pin_locked_until"] is None


# -- notifications, marketing, unsubscribe --------------------------------------------


async def test_notification_channels_are_chosen_in_the_app(users: AppUsers) -> None:
    ann = await users.register()
    no_phone = await ann.app.put("/api/app/me/notifications", json={"notify": ["email", "sms"]})
    assert no_phone.status_code == 422
    assert "phone number" in no_phone.json()["error"]
    await ann.app.patch("/api/app/me", json={"phone": "+4930555555"})
    both = await ann.app.put("/api/app/me/notifications", json={"notify": ["sms", "email"]})
    assert both.status_code == 200
    assert sorted(both.json()["notify"]) == ["email", "sms"]
    none = await ann.app.put("/api/app/me/notifications", json={"notify": []})
    assert none.json() == {"notify": []}
    customer = await users.server.db.read(lambda uow: uow.customers.by_number(ann.number))
    assert (customer.notify_email, customer.notify_sms) == (False, False)


async def test_marketing_opt_in_gives_an_unsubscribe_link_that_needs_no_login(
    users: AppUsers,
) -> None:
    ann = await users.register(name="Ann Unique-Name")
    opted_in = (await ann.app.put("/api/app/me/marketing", json={"opt_in": True})).json()
    assert opted_in["opt_in"] is True
    url = opted_in["unsubscribe_url"]
    assert url.startswith(users.server.api_url + "/api/app/unsubscribe/unsub_")
    assert (await ann.app.get("/api/app/me")).json()["marketing_opt_in"] is True

    link = await users.anonymous.get(url)
    assert link.status_code == 200, link.text
    assert link.json()["unsubscribed"] is True
    for personal in ("Ann", "ann@example.com", str(ann.number)):
        assert personal not in link.text
    assert (await ann.app.get("/api/app/me")).json()["marketing_opt_in"] is False
    again = await users.anonymous.get(url)
    assert again.status_code == 200
    one_click = await users.anonymous.post(url)
    assert one_click.json() == link.json()
    customer = await users.server.db.read(lambda uow: uow.customers.by_number(ann.number))
    assert customer.marketing_opt_in is False and customer.marketing_changed_at is not None


async def test_opting_out_in_the_app_gives_no_link(users: AppUsers) -> None:
    ann = await users.register(marketing_opt_in=True)
    assert (await ann.app.get("/api/app/me")).json()["marketing_opt_in"] is True
    answer = (await ann.app.put("/api/app/me/marketing", json={"opt_in": False})).json()
    assert answer["opt_in"] is False and answer["unsubscribe_url"] is None


async def test_made_up_unsubscribe_link_is_404(users: AppUsers) -> None:
    response = await users.anonymous.get("/api/app/unsubscribe/unsub_madeup")
    assert response.status_code == 404
    assert "not valid" in response.json()["error"]


async def test_new_opt_in_replaces_the_old_unsubscribe_link(users: AppUsers) -> None:
    ann = await users.register()
    first = (await ann.app.put("/api/app/me/marketing", json={"opt_in": True})).json()
    second = (await ann.app.put("/api/app/me/marketing", json={"opt_in": True})).json()
    assert (await users.anonymous.get(first["unsubscribe_url"])).status_code == 404
    assert (await users.anonymous.get(second["unsubscribe_url"])).status_code == 200


# -- cards ----------------------------------------------------------------------------


async def test_customer_registers_lists_and_blocks_cards_seeing_only_masked_uids(
    users: AppUsers,
) -> None:
    ann = await users.register()
    added = await ann.app.post("/api/app/me/cards", json={"uid": "04A1B2C3D4E5"})
    assert added.status_code == 201, added.text
    card = added.json()
    assert card["uid"] == "****D4E5" and card["status"] == "active"
    await ann.app.post("/api/app/me/cards", json={"uid": "04FFEEDDCC99"})
    listed = (await ann.app.get("/api/app/me/cards")).json()
    assert [c["uid"] for c in listed] == ["****D4E5", "****CC99"]
    blocked = await ann.app.post(f"/api/app/me/cards/{card['id']}/block")
    assert blocked.status_code == 200
    assert blocked.json()["status"] == "blocked"
    stored = await users.server.db.read(lambda uow: uow.id_tags.by_uid("04A1B2C3D4E5"))
    assert stored.status == "blocked"
    statuses = {c["id"]: c["status"] for c in (await ann.app.get("/api/app/me/cards")).json()}
    assert statuses[card["id"]] == "blocked" and list(statuses.values()).count("active") == 1
    await ann.app.get("/api/app/me/export")
    assert not users.saw("04A1B2C3D4E5") and not users.saw("04FFEEDDCC99")


async def test_registering_a_card_someone_else_registered_is_409_without_saying_whose(
    users: AppUsers,
) -> None:
    bob = await users.register(name="Bob Holder", email="bob@example.com")
    await bob.app.post("/api/app/me/cards", json={"uid": "04BOB0000001"})
    ann = await users.register()
    response = await ann.app.post("/api/app/me/cards", json={"uid": "04BOB0000001"})
    assert response.status_code == 409
    message = response.json()["error"]
    assert "already registered" in message
    assert "Bob" not in message and str(bob.number) not in message
    assert "04BOB0000001" not in message
    stored = await users.server.db.read(lambda uow: uow.id_tags.by_uid("04BOB0000001"))
    bob_id = await users.server.db.read(lambda uow: uow.customers.by_number(bob.number).id)
    assert stored.customer_id == bob_id


async def test_card_uid_that_chargers_cannot_carry_is_422(users: AppUsers) -> None:
    ann = await users.register()
    response = await ann.app.post("/api/app/me/cards", json={"uid": "04 A1"})
    assert response.status_code == 422
    assert "spaces" in response.json()["error"]


# -- favorites ------------------------------------------------------------------------


async def test_customer_keeps_favorite_chargers(users: AppUsers) -> None:
    ann = await users.register()
    await add_charger_for(users.server.db, "CP-FAV")
    unknown = await ann.app.put("/api/app/me/favorites/NOPE")
    assert unknown.status_code == 404
    assert "charger NOPE not found" in unknown.json()["error"]
    added = await ann.app.put("/api/app/me/favorites/CP-FAV")
    assert added.status_code == 200, added.text
    assert added.json()["charger_id"] == "CP-FAV"
    again = await ann.app.put("/api/app/me/favorites/CP-FAV")
    assert again.json()["added_at"] == added.json()["added_at"]
    listed = (await ann.app.get("/api/app/me/favorites")).json()
    assert [f["charger_id"] for f in listed] == ["CP-FAV"]
    assert (await ann.app.get("/api/app/me")).json()["favorites"] == 1
    removed = await ann.app.delete("/api/app/me/favorites/CP-FAV")
    assert removed.json() == {"charger_id": "CP-FAV", "removed": True}
    assert (await ann.app.get("/api/app/me/favorites")).json() == []
    gone = await ann.app.delete("/api/app/me/favorites/CP-FAV")
    assert gone.json()["removed"] is False


# -- sessions -------------------------------------------------------------------------


async def test_customer_lists_own_sessions_newest_first_with_meter_values_in_detail(
    users: AppUsers,
) -> None:
    ann = await users.register()
    await ann.app.post("/api/app/me/cards", json={"uid": "04ANN0000001"})
    db = users.server.db
    await add_charger_for(db, "CP1")
    older = await add_session(db, "CP1", id_tag="04ANN0000001", stop=True, minute=0)
    newer = await add_session(db, "CP1", id_tag="04ANN0000001", stop=True, minute=120)
    listed = (await ann.app.get("/api/app/me/sessions")).json()
    assert [s["id"] for s in listed] == [newer, older]
    assert all(s["customer_number"] == ann.number for s in listed)
    assert all("id_tag" not in s for s in listed)
    assert listed[0]["energy_wh"] == 3000 and listed[0]["status"] == "completed"
    detail = (await ann.app.get(f"/api/app/me/sessions/{older}")).json()
    assert detail["id"] == older and "id_tag" not in detail
    assert [m["value"] for m in detail["meter_values"]] == ["1500"]
    unknown = await ann.app.get("/api/app/me/sessions/999999")
    assert unknown.status_code == 404
    assert not users.saw("04ANN0000001")


async def test_session_list_filters_running_sessions(users: AppUsers) -> None:
    ann = await users.register()
    await ann.app.post("/api/app/me/cards", json={"uid": "04ANN0000002"})
    db = users.server.db
    await add_charger_for(db, "CP1")
    done = await add_session(db, "CP1", id_tag="04ANN0000002", stop=True, minute=0)
    running = await add_session(db, "CP1", id_tag="04ANN0000002", connector_id=2, minute=200)
    active = (await ann.app.get("/api/app/me/sessions", params={"active": "true"})).json()
    ended = (await ann.app.get("/api/app/me/sessions", params={"active": "false"})).json()
    assert [s["id"] for s in active] == [running]
    assert [s["id"] for s in ended] == [done]


# -- export and deletion --------------------------------------------------------------


async def test_export_holds_everything_about_the_customer(users: AppUsers) -> None:
    ann = await users.register(
        phone="+4930666666",
        address="Hauptstr. 1, Berlin",
        vehicle="Renault/Zoe/2021",
        notify=["email"],
        marketing_opt_in=True,
        pin="4826",
    )
    db = users.server.db
    await add_charger_for(db, "CP1")
    await ann.app.post("/api/app/me/cards", json={"uid": "04EXPORT0001"})
    await ann.app.put("/api/app/me/favorites/CP1")
    session_id = await add_session(db, "CP1", id_tag="04EXPORT0001", stop=True)

    response = await ann.app.get("/api/app/me/export")
    assert response.status_code == 200
    assert f"csms-export-{ann.number}.json" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    export = response.json()
    assert export["format"] == "csms-customer-export/1"
    person = export["customer"]
    assert person["customer_number"] == ann.number
    assert (person["name"], person["email"], person["phone"]) == (
        "Ann Driver",
        ann.email,
        "+4930666666",
    )
    assert person["address"] == "Hauptstr. 1, Berlin"
    assert person["vehicle"] == {"make": "Renault", "model": "Zoe", "year": 2021}
    assert export["preferences"] == {"notify": ["email"]}
    assert export["consents"]["marketing"] is True
    assert export["consents"]["marketing_changed_at"] is not None
    assert export["credentials"] == {"password_set": True, "pin_set": True}
    assert [c["uid"] for c in export["cards"]] == ["****0001"]
    assert [f["charger_id"] for f in export["favorites"]] == ["CP1"]
    (session,) = export["sessions"]
    assert session["id"] == session_id and session["energy_wh"] == 3000
    assert [m["value"] for m in session["meter_values"]] == ["1500"]
    assert "id_tag" not in session
    assert export["app_logins"][0]["ip_address"] == "127.0.0.1"
    assert "04EXPORT0001" not in response.text
    assert PASSWORD not in response.text and "argon2" not in response.text


async def test_deleting_the_account_erases_identity_and_ends_every_login(
    users: AppUsers,
) -> None:
    ann = await users.register(phone="+4930777777")
    db = users.server.db
    await add_charger_for(db, "CP1")
    await ann.app.post("/api/app/me/cards", json={"uid": "04GONE000001"})
    session_id = await add_session(db, "CP1", id_tag="04GONE000001", stop=True)
    wrong = await ann.app.request("DELETE", "/api/app/me", json={"password": "not it at all"})
    assert wrong.status_code == 403
    assert (await ann.app.get("/api/app/me")).status_code == 200

    response = await ann.app.request("DELETE", "/api/app/me", json={"password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json()["customer_number"] == ann.number
    assert (await ann.app.get("/api/app/me")).status_code == 401
    login = await users.anonymous.post(
        "/api/app/login", json={"login": ann.email, "password": PASSWORD}
    )
    assert login.status_code == 401

    operator = users.operator()
    shown = await operator.get(f"/api/customers/{ann.number}")
    assert shown.status_code == 200, shown.text
    person = shown.json()
    assert person["name"] is None and person["email"] is None and person["phone"] is None
    assert person["erased_at"] is not None
    session = (await operator.get(f"/api/sessions/{session_id}")).json()
    assert session["customer_number"] == ann.number and session["id_tag"] is None
    assert await db.read(lambda uow: uow.id_tags.by_uid("04GONE000001")) is None
    # The address is free again: the person may come back as a new customer.
    again = await users.register(phone="+4930777777")
    assert again.number != ann.number


async def test_account_with_a_running_session_cannot_be_deleted_yet(users: AppUsers) -> None:
    ann = await users.register()
    db = users.server.db
    await add_charger_for(db, "CP1")
    await ann.app.post("/api/app/me/cards", json={"uid": "04BUSY000001"})
    await add_session(db, "CP1", id_tag="04BUSY000001")
    response = await ann.app.request("DELETE", "/api/app/me", json={"password": PASSWORD})
    assert response.status_code == 409
    assert "stop it, then delete your account" in response.json()["error"]
    assert (await ann.app.get("/api/app/me")).status_code == 200
