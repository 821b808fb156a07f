"""``csms keys``, ``csms retention run`` and ``csms reports sessions`` against a running
server: key rotation and retirement through the API, never showing key material;
retention counts; owners' reports without driver identity."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from csms.config import Settings
from csms.domain.people.customers import add_customer
from csms.domain.people.retention import years_before
from csms.server import running_server
from storage.crypto import DataKey, KeyRing, load_key_ring, save_key_ring
from storage.database import Database
from storage.migrate import upgrade
from storage.records import ChargerEventRecord, UnreconciledRecord
from tests.api.conftest import add_session
from tests.cli.conftest import Result, run_cli

OLD = DataKey("old", bytes(range(32)))
NEWER = DataKey("newer", bytes(range(100, 132)))
NAME = "Clementine Schlüsselmeier"
EMAIL = "clementine@example.org"


def _material(ring: KeyRing) -> list[str]:
    """The base64 key texts of a ring (what must never be printed)."""
    return [entry.split(":", 1)[1] for entry in ring.format().split(",")]


def _shows_no_key(result: Result, *rings: KeyRing) -> bool:
    return not any(m in result.out + result.err for ring in rings for m in _material(ring))


def _env(server: Any) -> dict[str, str]:
    return {
        "CSMS_HOME": str(server.settings.home),
        "CSMS_API_URL": server.api_url,
        "CSMS_DATABASE_URL": server.settings.database.url,
    }


async def _add_customer(env: dict[str, str]) -> str:
    added = await run_cli(env, "customers", "add", "--name", NAME, "--email", EMAIL, "--json")
    assert added.code == 0, added.err
    return str(added.json()["customer_number"])


async def _keys(env: dict[str, str]) -> list[tuple[str, bool, int]]:
    listed = await run_cli(env, "keys", "list", "--json")
    assert listed.code == 0, listed.err
    return [(k["key_id"], k["newest"], k["values"]) for k in listed.json()]


# -- keys in $CSMS_HOME/data.keys ------------------------------------------------------


async def test_rotate_then_retire_the_old_key_keeps_every_customer_readable(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    home = Path(cli_env["CSMS_HOME"])
    first = load_key_ring(env_value=None, home=home)
    number = await _add_customer(cli_env)
    old_id = first.newest.key_id
    assert await _keys(cli_env) == [(old_id, True, 3)]  # name, email, email hash

    table = await run_cli(cli_env, "keys", "list")
    assert table.out.splitlines()[0].split() == ["KEY", "NEWEST", "VALUES"]
    assert "keys from data.keys" in table.out

    rotated = await run_cli(cli_env, "keys", "rotate")
    assert rotated.code == 0, rotated.err
    ring = load_key_ring(env_value=None, home=home)
    new_id = ring.newest.key_id
    assert ring.key_ids == [new_id, old_id]
    assert f"new data key {new_id}" in rotated.out and "back that file up" in rotated.out
    assert "re-encrypted rows: customers 1, id_tags 0" in rotated.out
    assert f"older keys: {old_id}" in rotated.out
    assert await _keys(cli_env) == [(new_id, True, 3), (old_id, False, 0)]

    retired = await run_cli(cli_env, "keys", "retire", old_id)
    assert retired.code == 0, retired.err
    assert retired.out.strip() == f"retired data key {old_id}; keys left: {new_id}"
    assert load_key_ring(env_value=None, home=home).key_ids == [new_id]
    shown = await run_cli(cli_env, "customers", "show", number, "--json")
    assert shown.json()["name"] == NAME
    for result in (table, rotated, retired, shown):
        assert _shows_no_key(result, first, ring)


async def test_rotate_json_reports_counts_per_table(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    await _add_customer(cli_env)
    await run_cli(cli_env, "cards", "add", "04AA55AA55")
    rotated = await run_cli(cli_env, "keys", "rotate", "--json")
    report = rotated.json()
    assert report["key_source"] == "data.keys"
    assert report["newest_key_id"] == report["new_key_id"] == report["key_ids"][0]
    assert report["reencrypted"] == {
        "customers": 1,
        "id_tags": 1,
        "transactions": 0,
        "transaction_events": 0,
        "meter_values": 0,
        "unreconciled_messages": 0,
        "charger_events": 0,
        "payment_methods": 0,
        "chargers": 0,
    }
    events = await csms_server.db.read(lambda uow: uow.security_events.list(kind="DataKeyRotated"))
    assert len(events) == 1 and events[0].details["new_key_id"] == report["new_key_id"]


async def test_the_newest_and_only_key_cannot_be_retired(cli_env: dict[str, str]) -> None:
    [(key_id, _, _)] = await _keys(cli_env)
    only = await run_cli(cli_env, "keys", "retire", key_id)
    assert only.code == 1 and "only key" in only.err and "csms keys rotate" in only.err
    unknown = await run_cli(cli_env, "keys", "retire", "nope")
    assert unknown.code == 1 and "csms keys list" in unknown.err


@pytest.fixture
async def server_with_old_data(
    settings_factory: Callable[..., Settings],
) -> AsyncIterator[Any]:
    """A server whose data.keys holds ``newer`` and ``old``, with a customer written
    under ``old`` before ``newer`` was added."""
    settings = settings_factory()
    home = settings.home
    save_key_ring(KeyRing([OLD]), home)
    await asyncio.to_thread(upgrade, settings.database.url, keys=KeyRing([OLD]))
    database = Database(settings.database.url, keys=KeyRing([OLD]))
    now = datetime.now(UTC)
    try:
        await database.write(lambda uow: add_customer(uow, name=NAME, email=EMAIL, now=now))
    finally:
        await database.close()
    save_key_ring(KeyRing([NEWER, OLD]), home)
    async with running_server(settings) as server:
        yield server


async def test_retire_is_refused_while_data_uses_the_key(server_with_old_data: Any) -> None:
    env = _env(server_with_old_data)
    assert await _keys(env) == [("newer", True, 0), ("old", False, 3)]
    refused = await run_cli(env, "keys", "retire", "old")
    assert refused.code == 1 and refused.out == ""
    assert "3 stored values are still encrypted under data key 'old'" in refused.err
    assert "run `csms keys rotate` first" in refused.err
    home = server_with_old_data.settings.home
    assert load_key_ring(env_value=None, home=home).key_ids == ["newer", "old"]

    rotated = (await run_cli(env, "keys", "rotate", "--json")).json()
    assert rotated["key_ids"][1:] == ["newer", "old"]
    for key_id in ("old", "newer"):
        retired = await run_cli(env, "keys", "retire", key_id)
        assert retired.code == 0, retired.err
    assert load_key_ring(env_value=None, home=home).key_ids == [rotated["new_key_id"]]
    [customer] = (await run_cli(env, "customers", "list", "--json")).json()
    assert customer["email"] == EMAIL


# -- keys in CSMS_DATA_KEYS -------------------------------------------------------------


async def test_environment_keys_rotate_only_after_the_operator_adds_a_key(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(data_keys=KeyRing([OLD]).format())
    async with running_server(settings) as server:
        env = _env(server)
        await _add_customer(env)
        refused = await run_cli(env, "keys", "rotate")
        assert refused.code == 1 and refused.out == ""
        assert "CSMS_DATA_KEYS" in refused.err and "restart csms" in refused.err
        offered = refused.err.split("freshly generated one: ", 1)[1].split(" ", 1)[0]
        fresh = KeyRing.parse(offered)
        assert _shows_no_key(refused, KeyRing([OLD]))
        listed = (await run_cli(env, "keys", "list", "--json")).json()
        assert [(k["key_id"], k["source"]) for k in listed] == [("old", "CSMS_DATA_KEYS")]
    assert not (settings.home / "data.keys").exists()

    # The operator puts the offered key first and restarts.
    restarted = settings.with_overrides(data_keys=f"{offered},{KeyRing([OLD]).format()}")
    async with running_server(restarted) as server:
        env = _env(server)
        rotated = await run_cli(env, "keys", "rotate")
        assert rotated.code == 0, rotated.err
        new_id = fresh.newest.key_id
        assert rotated.out.startswith(
            f"re-encrypted under data key {new_id}, the newest in CSMS_DATA_KEYS"
        )
        assert _shows_no_key(rotated, fresh, KeyRing([OLD]))
        assert await _keys(env) == [(new_id, True, 3), ("old", False, 0)]
        retire = await run_cli(env, "keys", "retire", "old")
        assert retire.code == 1 and "remove that entry from CSMS_DATA_KEYS" in retire.err
        [customer] = (await run_cli(env, "customers", "list", "--json")).json()
        assert customer["name"] == NAME
    assert not (settings.home / "data.keys").exists()


async def test_keys_need_an_admin_token(cli_env: dict[str, str]) -> None:
    created = await run_cli(
        {"CSMS_HOME": cli_env["CSMS_HOME"], "CSMS_DATABASE_URL": cli_env["CSMS_DATABASE_URL"]},
        "token",
        "create",
        "ops",
        "--role",
        "operator",
        "--json",
    )
    operator_env = {**cli_env, "CSMS_API_TOKEN": created.json()["token"]}
    for command in (("list",), ("rotate",), ("retire", "whatever")):
        refused = await run_cli(operator_env, "keys", *command)
        assert refused.code == 1 and "needs an admin token" in refused.err, command
    retention = await run_cli(operator_env, "retention", "run", "--json")
    assert retention.code == 0, retention.err


# -- retention --------------------------------------------------------------------------


async def test_retention_run_prints_what_it_removed(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    now = datetime.now(UTC)

    def seed(uow: Any) -> None:
        for days in (30, 22, 1):
            uow.connection_log.add(
                charger_id=f"CP-{days}",
                remote_address="192.0.2.4",
                connected_at=now - timedelta(days=days),
            )
        uow.id_tags.add(
            uid="LOGIN-OLD",
            status="active",
            created_at=now - timedelta(days=3),
            expires_at=now - timedelta(days=2),
            kind="login",
        )
        for days in (181, 179):  # CSMS_EVENT_RETENTION_DAYS: 180 by default
            when = now - timedelta(days=days)
            uow.security_events.add(kind="PinLoginRejected", details={}, created_at=when)
            uow.charger_events.add(
                ChargerEventRecord(charger_id="CP-1", kind="Security", payload={}, received_at=when)
            )
            uow.unreconciled.add(
                UnreconciledRecord(
                    charger_id="CP-1",
                    action="MeterValues",
                    reason="r",
                    payload={},
                    received_at=when,
                )
            )

    await csms_server.db.write(seed)
    ran = await run_cli(cli_env, "retention", "run")
    assert ran.code == 0, ran.err
    lines = [line.split(": ", 1) for line in ran.out.splitlines()]
    printed = {label.strip(): value.strip() for label, value in lines}
    assert printed.pop("tables vacuumed")  # "none (SQLite)", or the tables on PostgreSQL
    counts = {label: int(value) for label, value in printed.items()}
    cutoff = years_before(now, 7).date().isoformat()
    assert counts.pop(f"sessions anonymized (ended before {cutoff})") == 0
    events = (now - timedelta(days=180)).date().isoformat()
    assert counts == {
        "charger connections deleted (older than 21 days)": 2,
        "app login addresses cleared (older than 21 days)": 0,
        "expired app logins deleted": 0,
        "expired one-time tokens deleted": 1,
        f"security events deleted (before {events})": 1,
        f"charger events deleted (before {events})": 1,
        f"unreconciled messages deleted (before {events})": 1,
    }
    again = (await run_cli(cli_env, "retention", "run", "--json")).json()
    assert again["connection_log_deleted"] == 0 and again["login_tokens_deleted"] == 0
    left = await csms_server.db.read(lambda uow: uow.connection_log.list())
    assert [r.charger_id for r in left] == ["CP-1"]


# -- owners' reports --------------------------------------------------------------------


async def _owner_env(cli_env: dict[str, str], server: Any) -> tuple[dict[str, str], str]:
    """Owner ACME with a charger where a customer charged; (owner token env, number)."""
    assert (await run_cli(cli_env, "owners", "add", "ACME")).code == 0
    assert (await run_cli(cli_env, "chargers", "add", "CP-A", "--owner", "ACME")).code == 0
    number = await _add_customer(cli_env)
    await run_cli(cli_env, "cards", "add", "04BEEF0001", "--customer", number)
    await add_session(server.db, "CP-A", id_tag="04BEEF0001", stop=True)
    created = await run_cli(
        {"CSMS_HOME": cli_env["CSMS_HOME"], "CSMS_DATABASE_URL": cli_env["CSMS_DATABASE_URL"]},
        "token",
        "create",
        "acme",
        "--role",
        "owner",
        "--owner",
        "ACME",
        "--json",
    )
    return {**cli_env, "CSMS_API_TOKEN": created.json()["token"]}, number


async def test_owner_report_as_table_csv_and_json(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    owner_env, number = await _owner_env(cli_env, csms_server)
    table = await run_cli(owner_env, "reports", "sessions")
    assert table.code == 0, table.err
    header, row = table.out.splitlines()
    assert header.split() == [
        "SESSION",
        "CHARGER",
        "CONNECTOR",
        "STARTED",
        "STOPPED",
        "KWH",
        "BILLED",
        "COLLECTED",
        "CUSTOMER",
        "METHOD",
    ]
    assert "CP-A" in row and number in row and "3.000" in row
    as_csv = await run_cli(owner_env, "reports", "sessions", "--format", "csv")
    [parsed] = list(csv.DictReader(io.StringIO(as_csv.out)))
    assert (parsed["charger_id"], parsed["customer_number"], parsed["amount"]) == (
        "CP-A",
        number,
        "",
    )
    as_json = await run_cli(owner_env, "reports", "sessions", "--owner", "ACME", "--json")
    assert [r["customer_number"] for r in as_json.json()] == [int(number)]
    for result in (table, as_csv, as_json):
        assert NAME not in result.out and EMAIL not in result.out
        assert "04BEEF0001" not in result.out


async def test_report_usage_errors(cli_env: dict[str, str], csms_server: Any) -> None:
    owner_env, _ = await _owner_env(cli_env, csms_server)
    both = await run_cli(owner_env, "reports", "sessions", "--format", "csv", "--json")
    assert both.code == 2 and "--json" in both.err and both.out == ""
    other = await run_cli(owner_env, "reports", "sessions", "--owner", "Other")
    assert other.code == 1 and "its own owner" in other.err
    every_owner = await run_cli(cli_env, "reports", "sessions", "--json")
    assert every_owner.code == 0 and len(every_owner.json()) >= 1  # an admin: every owner's
    by_admin = await run_cli(
        cli_env, "reports", "sessions", "--owner", "ACME", "--from", "2000-01-01", "--json"
    )
    assert len(by_admin.json()) == 1
