"""``csms customers add|list|show|export|erase`` and ``csms cards list [--masked]`` against
a running server: a customer's full record, their export, and erasure that keeps sessions
under the customer number only."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

from tests.api.conftest import add_session
from tests.cli.conftest import CSMS, Result, run_cli

NAME = "Henrietta Voskuijlen"
EMAIL = "henrietta.voskuijlen@example.org"
PHONE = "+31 6 1234 5678"
ADDRESS = "Keizersgracht 99, 1015 Amsterdam"
CARD = "04C0FFEE1234"


async def _customer(env: dict[str, str], *extra: str) -> dict[str, Any]:
    added = await run_cli(
        env,
        "customers",
        "add",
        "--name",
        NAME,
        "--email",
        EMAIL,
        "--phone",
        PHONE,
        "--address",
        ADDRESS,
        "--vehicle",
        "Renault/Zoe/2021",
        "--pin",
        "4826",
        "--notify",
        "email,sms",
        *extra,
        "--json",
    )
    assert added.code == 0, added.err
    customer: dict[str, Any] = added.json()
    return customer


async def _customer_with_session(env: dict[str, str], server: Any) -> tuple[str, int]:
    """A customer with a card and a completed session on CP1; (number, session id)."""
    number = str((await _customer(env))["customer_number"])
    assert (await run_cli(env, "chargers", "add", "CP1")).code == 0
    assert (await run_cli(env, "cards", "add", CARD, "--customer", number)).code == 0
    session_id = await add_session(server.db, "CP1", id_tag=CARD, stop=True)
    return number, session_id


async def test_add_takes_every_field_and_show_prints_them(cli_env: dict[str, str]) -> None:
    customer = await _customer(cli_env)
    number = customer["customer_number"]
    assert 10_000_000 <= number <= 99_999_999
    assert {k: customer[k] for k in ("name", "email", "phone", "address")} == {
        "name": NAME,
        "email": EMAIL,
        "phone": "+31612345678",
        "address": ADDRESS,
    }
    assert customer["vehicle"] == {"make": "Renault", "model": "Zoe", "year": 2021}
    assert customer["notify"] == ["email", "sms"]
    assert customer["pin_set"] is True and "pin" not in customer and "pin_hash" not in customer
    assert customer["erased_at"] is None and customer["marketing_opt_in"] is False

    shown = await run_cli(cli_env, "customers", "show", str(number))
    assert shown.code == 0, shown.err
    fields = dict(line.split(":", 1) for line in shown.out.splitlines())
    assert {k: v.strip() for k, v in fields.items()} == {
        "customer number": str(number),
        "name": NAME,
        "email": EMAIL,
        "phone": "+31612345678",
        "address": ADDRESS,
        "vehicle": "Renault Zoe 2021",
        "notify": "email, sms",
        "pin set": "yes",
        "pin locked until": "-",
        "marketing": "no",
        "created": fields["created"].strip(),
        "erased": "-",
    }
    assert "4826" not in shown.out


async def test_add_without_options_sets_no_pin_and_no_notifications(
    cli_env: dict[str, str],
) -> None:
    added = await run_cli(
        cli_env, "customers", "add", "--name", "Bo", "--email", "bo@example.com", "--json"
    )
    customer = added.json()
    assert (customer["pin_set"], customer["notify"], customer["vehicle"]) == (False, [], None)


async def test_add_refuses_bad_input_and_says_what_is_expected(cli_env: dict[str, str]) -> None:
    base = ("customers", "add", "--name", "Bo", "--email", "bo@example.com")
    vehicle = await run_cli(cli_env, *base, "--vehicle", "Renault")
    assert vehicle.code == 1 and "MAKE/MODEL/YEAR" in vehicle.err
    pin = await run_cli(cli_env, *base, "--pin", "1234")
    assert pin.code == 1 and "PIN" in pin.err.upper()
    notify = await run_cli(cli_env, *base, "--notify", "pigeon")
    assert notify.code == 2 and "email, sms, email,sms or none" in notify.err
    sms = await run_cli(cli_env, *base, "--notify", "sms")
    assert sms.code == 1 and "--phone" in sms.err
    assert (await run_cli(cli_env, "customers", "list", "--json")).json() == []


async def test_list_shows_an_aligned_table(cli_env: dict[str, str]) -> None:
    number = (await _customer(cli_env))["customer_number"]
    listed = await run_cli(cli_env, "customers", "list")
    header, row = listed.out.splitlines()
    assert header.split() == ["NUMBER", "NAME", "EMAIL", "PHONE", "CREATED", "ERASED"]
    assert row.startswith(str(number)) and row.index(EMAIL) == header.index("EMAIL")
    empty = await run_cli(cli_env, "customers", "list", "--json")
    assert [c["customer_number"] for c in empty.json()] == [number]


async def test_cards_list_shows_full_uids_unless_masked(cli_env: dict[str, str]) -> None:
    number = str((await _customer(cli_env))["customer_number"])
    await run_cli(cli_env, "cards", "add", CARD, "--customer", number)
    full = await run_cli(cli_env, "cards", "list")
    assert CARD in full.out
    masked = await run_cli(cli_env, "cards", "list", "--masked")
    assert CARD not in masked.out and "****1234" in masked.out
    as_json = await run_cli(cli_env, "cards", "list", "--masked", "--json")
    assert [c["uid"] for c in as_json.json()] == ["****1234"]


async def test_export_holds_identity_masked_cards_and_sessions_with_meter_values(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    number, session_id = await _customer_with_session(cli_env, csms_server)
    exported = await run_cli(cli_env, "customers", "export", number)  # JSON without --json
    assert exported.code == 0, exported.err
    document = exported.json()
    assert document["customer"]["name"] == NAME and document["customer"]["email"] == EMAIL
    assert document["customer"]["address"] == ADDRESS
    assert document["preferences"] == {"notify": ["email", "sms"]}
    assert document["credentials"]["pin_set"] is True
    assert [c["uid"] for c in document["cards"]] == ["****1234"]
    assert CARD not in exported.out
    [session] = document["sessions"]
    assert session["id"] == session_id and session["customer_number"] == int(number)
    assert session["energy_wh"] == 3000 and len(session["meter_values"]) == 1
    assert "id_tag" not in session


async def test_export_to_a_file_is_readable_by_the_owner_only(
    cli_env: dict[str, str], csms_server: Any, tmp_path: Path
) -> None:
    number, _ = await _customer_with_session(cli_env, csms_server)
    target = tmp_path / "export.json"
    target.write_text("old")
    target.chmod(0o644)
    written = await run_cli(cli_env, "customers", "export", number, "--output", str(target))
    assert written.code == 0, written.err
    assert str(target) in written.out and NAME not in written.out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert json.loads(target.read_text())["customer"]["name"] == NAME
    as_json = await run_cli(
        cli_env, "customers", "export", number, "--output", str(target), "--json"
    )
    assert as_json.json() == {"customer_number": int(number), "output": str(target)}
    missing = await run_cli(
        cli_env, "customers", "export", number, "--output", str(tmp_path / "no" / "x.json")
    )
    assert missing.code == 1 and "folder exists" in missing.err


async def test_erase_keeps_sessions_under_the_number_without_identity(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    number, session_id = await _customer_with_session(cli_env, csms_server)
    erased = await run_cli(cli_env, "customers", "erase", number, "--yes")
    assert erased.code == 0, erased.err
    assert erased.out.strip() == (
        f"erased customer {number}: identity removed; sessions stay under the number"
    )
    shown = (await run_cli(cli_env, "customers", "show", number, "--json")).json()
    assert shown["erased_at"] is not None
    assert [shown[k] for k in ("name", "email", "phone", "address", "vehicle")] == [None] * 5
    assert (shown["pin_set"], shown["notify"]) == (False, [])
    sessions = (await run_cli(cli_env, "sessions", "list", "--customer", number, "--json")).json()
    assert [(s["id"], s["customer_number"], s["energy_wh"]) for s in sessions] == [
        (session_id, int(number), 3000)
    ]
    detail = (await run_cli(cli_env, "sessions", "show", str(session_id), "--json")).json()
    assert detail["id_tag"] is None and detail["customer_number"] == int(number)
    assert (await run_cli(cli_env, "cards", "list", "--json")).json() == []
    export = await run_cli(cli_env, "customers", "export", number)
    for text in (NAME, EMAIL, "+31612345678", ADDRESS, "Renault", CARD):
        assert text not in export.out
    # Erasing again changes nothing and says so.
    again = await run_cli(cli_env, "customers", "erase", number, "--yes", "--json")
    assert again.code == 0 and again.json()["erased_at"] == shown["erased_at"]


async def test_erase_without_yes_needs_a_terminal(cli_env: dict[str, str]) -> None:
    number = str((await _customer(cli_env))["customer_number"])
    piped = await run_cli(cli_env, "customers", "erase", number)
    assert piped.code == 2 and "--yes" in piped.err and piped.out == ""
    as_json = await run_cli(cli_env, "customers", "erase", number, "--json")
    assert as_json.code == 2 and "--yes" in as_json.err and as_json.out == ""
    shown = (await run_cli(cli_env, "customers", "show", number, "--json")).json()
    assert shown["name"] == NAME and shown["erased_at"] is None


async def _erase_on_a_terminal(env: dict[str, str], number: str, answer: bytes) -> Result:
    """The installed ``csms customers erase NUMBER`` with a terminal as its input."""
    leader, follower = os.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            str(CSMS),
            "customers",
            "erase",
            number,
            env={**os.environ, **env},
            stdin=follower,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        os.write(leader, answer)
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


async def test_erase_on_a_terminal_asks_first(cli_env: dict[str, str]) -> None:
    number = str((await _customer(cli_env))["customer_number"])
    declined = await _erase_on_a_terminal(cli_env, number, b"n\n")
    assert declined.code == 1, declined.err
    assert f"Erase customer {number} ({NAME}, {EMAIL}) for good?" in declined.err
    assert "not erased" in declined.err and declined.out == ""
    assert (await run_cli(cli_env, "customers", "show", number, "--json")).json()["name"] == NAME
    confirmed = await _erase_on_a_terminal(cli_env, number, b"y\n")
    assert confirmed.code == 0, confirmed.err
    assert confirmed.out.startswith(f"erased customer {number}")
    shown = (await run_cli(cli_env, "customers", "show", number, "--json")).json()
    assert shown["name"] is None and shown["erased_at"] is not None


async def test_owner_token_cannot_export_or_erase(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    number = str((await _customer(cli_env))["customer_number"])
    await run_cli(cli_env, "owners", "add", "ACME")
    token = await run_cli(
        {"CSMS_HOME": cli_env["CSMS_HOME"], "CSMS_DATABASE_URL": cli_env["CSMS_DATABASE_URL"]},
        "token",
        "create",
        "site",
        "--role",
        "owner",
        "--owner",
        "ACME",
        "--json",
    )
    owner_env = {**cli_env, "CSMS_API_TOKEN": token.json()["token"]}
    for command in (("export", number), ("erase", number, "--yes"), ("show", number)):
        refused = await run_cli(owner_env, "customers", *command)
        assert refused.code == 1 and "owner token cannot do this" in refused.err, command
        assert NAME not in refused.out + refused.err
    shown = (await run_cli(cli_env, "customers", "show", number, "--json")).json()
    assert shown["erased_at"] is None
