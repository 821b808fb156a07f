"""``csms chargers|cards|customers|owners|sessions`` against a running server."""

from __future__ import annotations

from typing import Any

from tests.cli.conftest import run_cli

SPEC_CHARGER_FIELDS = {
    "id",
    "connected",
    "ocpp_version",
    "status",
    "vendor",
    "model",
    "firmware_version",
    "last_seen",
    "connectors",
}


async def test_chargers_add_list_show_for_people(cli_env: dict[str, str]) -> None:
    added = await run_cli(cli_env, "chargers", "add", "CP1", "--name", "Gate 1")
    assert added.code == 0, added.err
    assert "added charger CP1" in added.out
    assert "password (shown only now): " in added.out
    listed = await run_cli(cli_env, "chargers", "list")
    header, row = listed.out.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "OWNER"]
    assert row.startswith("CP1") and "Gate 1" in row and "Offline" in row
    # Columns are aligned: every row's second column starts where its header does.
    assert row.index("Gate 1") == header.index("NAME")
    shown = await run_cli(cli_env, "chargers", "show", "CP1")
    assert shown.code == 0
    assert "status:" in shown.out and "Offline" in shown.out
    assert "no connectors reported yet" in shown.out


async def test_chargers_json_output_shapes(cli_env: dict[str, str]) -> None:
    added = await run_cli(cli_env, "chargers", "add", "CP1", "--security-profile", "2", "--json")
    created = added.json()
    assert created["id"] == "CP1" and created["security_profile"] == 2
    assert len(created["password"]) >= 16
    listed = await run_cli(cli_env, "chargers", "list", "--json")
    assert [c["id"] for c in listed.json()] == ["CP1"]
    assert set(listed.json()[0]) >= SPEC_CHARGER_FIELDS
    # --json before the noun works too.
    shown = await run_cli(cli_env, "--json", "chargers", "show", "CP1")
    assert shown.json()["status"] == "Offline" and "password" not in shown.json()
    assert shown.err == ""


async def test_chargers_accept_and_remove(cli_env: dict[str, str]) -> None:
    await run_cli(cli_env, "chargers", "add", "CP1")
    accepted = await run_cli(cli_env, "chargers", "accept", "CP1", "--json")
    assert accepted.json()["registration_status"] == "Accepted"
    removed = await run_cli(cli_env, "chargers", "remove", "CP1")
    assert removed.code == 0 and removed.out.strip() == "removed charger CP1"
    assert (await run_cli(cli_env, "chargers", "list", "--json")).json() == []


async def test_empty_list_says_how_to_add(cli_env: dict[str, str]) -> None:
    listed = await run_cli(cli_env, "chargers", "list")
    assert listed.code == 0
    assert "csms chargers add" in listed.out


async def test_cards_add_list_block_unblock(cli_env: dict[str, str]) -> None:
    customer = (
        await run_cli(
            cli_env, "customers", "add", "--name", "Ann", "--email", "ann@example.com", "--json"
        )
    ).json()
    number = str(customer["customer_number"])
    added = await run_cli(
        cli_env, "cards", "add", "04A1B2", "--customer", number, "--expires", "2099-12-31"
    )
    assert added.code == 0, added.err
    assert added.out.strip() == (
        f"added card 04A1B2 for customer {number}, expires 2099-12-31 23:59:59Z"
    )
    card_json = (await run_cli(cli_env, "cards", "add", "CARD2", "--json")).json()
    assert card_json["uid"] == "CARD2" and card_json["status"] == "active"
    listed = await run_cli(cli_env, "cards", "list")
    lines = listed.out.splitlines()
    assert lines[0].split() == ["UID", "STATUS", "EXPIRES", "CUSTOMER", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == ["04A1B2", "CARD2"]
    blocked = await run_cli(cli_env, "cards", "block", "04A1B2")
    assert blocked.out.strip() == "card 04A1B2 is blocked"
    cards: list[dict[str, Any]] = (
        await run_cli(cli_env, "cards", "list", "--customer", number, "--json")
    ).json()
    assert [(c["uid"], c["status"]) for c in cards] == [("04A1B2", "blocked")]
    unblocked = await run_cli(cli_env, "cards", "unblock", "04A1B2", "--json")
    assert unblocked.json()["status"] == "active"


async def test_customers_and_owners(cli_env: dict[str, str]) -> None:
    customer = (
        await run_cli(cli_env, "customers", "add", "--name", "Bo", "--email", "bo@example.com")
    ).out
    number = customer.split()[2]
    shown = await run_cli(cli_env, "customers", "show", number, "--json")
    assert shown.json()["email"] == "bo@example.com"
    listed = await run_cli(cli_env, "customers", "list")
    assert number in listed.out and "bo@example.com" in listed.out
    owner = await run_cli(cli_env, "owners", "add", "ACME", "--json")
    assert owner.json()["name"] == "ACME"
    await run_cli(cli_env, "chargers", "add", "CP1", "--owner", "ACME")
    owners = await run_cli(cli_env, "owners", "list")
    assert owners.out.splitlines()[1].split()[:2] == ["ACME", "1"]


async def test_sessions_list_and_show(cli_env: dict[str, str], csms_server: Any) -> None:
    from tests.api.conftest import add_session

    await run_cli(cli_env, "chargers", "add", "CP1")
    session_id = await add_session(csms_server.db, "CP1", stop=True)
    listed = await run_cli(cli_env, "sessions", "list", "--json")
    assert [s["id"] for s in listed.json()] == [session_id]
    table = await run_cli(cli_env, "sessions", "list", "--charger", "CP1")
    assert "3.000" in table.out and "completed" in table.out
    assert (await run_cli(cli_env, "sessions", "list", "--active", "--json")).json() == []
    shown = await run_cli(cli_env, "sessions", "show", str(session_id))
    assert "energy (kWh):" in shown.out and "Energy.Active.Import.Register" in shown.out
    detail = (await run_cli(cli_env, "sessions", "show", str(session_id), "--json")).json()
    assert detail["energy_wh"] == 3000 and len(detail["meter_values"]) == 1
