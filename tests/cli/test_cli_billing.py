"""``csms tariffs``, ``csms invoices``, ``csms outbox`` and ``csms customers
marketing-export`` against a running server."""

from __future__ import annotations

import asyncio
import csv
import io
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from csms.domain.people.customers import add_customer
from csms.domain.people.marketing import marketing_csv
from tests.api.conftest import NOW, add_charger_for, add_session
from tests.cli.conftest import Result, run_cli


async def _ok(env: dict[str, str], *args: str) -> Result:
    result = await run_cli(env, *args)
    assert result.code == 0, f"csms {' '.join(args)}: {result.err}"
    return result


async def _billed_session(csms_server: Any, cli_env: dict[str, str]) -> int:
    await _ok(
        cli_env,
        "tariffs",
        "add",
        "standard",
        "--per-kwh",
        "0.35",
        "--session-fee",
        "0.50",
        "--tax-rate",
        "19",
    )
    # in force from a day before the session (``add_session`` sessions start at NOW)
    tariff = await csms_server.db.read(lambda uow: uow.tariffs.by_name("standard"))
    await csms_server.db.write(
        lambda uow: uow.tariffs.assign(
            tariff_id=tariff.id, charger_id=None, at=NOW - timedelta(days=1)
        )
    )
    await add_charger_for(csms_server.db, "CP-BILL")
    session = await add_session(csms_server.db, "CP-BILL", stop=True)

    async with asyncio.timeout(10):
        while True:
            if await csms_server.db.read(lambda uow: uow.invoices.by_transaction(session)):
                return session
            await asyncio.sleep(0.05)


async def test_a_tariff_is_added_listed_and_assigned_as_the_default(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    added = await _ok(cli_env, "tariffs", "add", "day", "--per-kwh", "0.39", "--currency", "eur")
    assert "added tariff day: 0.39 EUR/kWh" in added.out
    assert "csms tariffs assign day --charger ID" in added.out
    await add_charger_for(csms_server.db, "CP-T1")
    await _ok(cli_env, "tariffs", "add", "night", "--per-kwh", "0.25", "--idle-fee", "0.10")
    await _ok(cli_env, "tariffs", "assign", "day", "--default")
    assigned = await _ok(cli_env, "tariffs", "assign", "night", "--charger", "CP-T1")
    assert "on charger CP-T1 are billed under night" in assigned.out
    tariffs = {t["name"]: t for t in (await _ok(cli_env, "tariffs", "list", "--json")).json()}
    assert tariffs["day"]["default"] is True and tariffs["day"]["chargers"] == []
    assert tariffs["night"]["default"] is False and tariffs["night"]["chargers"] == ["CP-T1"]
    assert tariffs["night"]["idle_fee_per_minute"] == "0.10"
    table = (await _ok(cli_env, "tariffs", "list")).out
    assert table.splitlines()[0].split()[:3] == ["NAME", "CURRENCY", "PER"]
    assert "CP-T1" in table


async def test_bad_tariff_input_says_what_to_do(cli_env: dict[str, str]) -> None:
    price = await run_cli(cli_env, "tariffs", "add", "x", "--per-kwh", "cheap")
    assert price.code != 0 and "--per-kwh must be a decimal number like 0.39" in price.err
    currency = await run_cli(cli_env, "tariffs", "add", "x", "--currency", "XYZ")
    assert currency.code != 0 and "unknown currency 'XYZ'" in currency.err
    await _ok(cli_env, "tariffs", "add", "once")
    again = await run_cli(cli_env, "tariffs", "add", "once", "--per-kwh", "1")
    assert again.code != 0 and "add one under a new name" in again.err
    nowhere = await run_cli(cli_env, "tariffs", "assign", "once")
    assert nowhere.code == 2 and "--charger ID, or --default" in nowhere.err
    missing = await run_cli(cli_env, "tariffs", "assign", "nope", "--default")
    assert missing.code != 0 and "`csms tariffs list` shows them" in missing.err
    charger = await run_cli(cli_env, "tariffs", "assign", "once", "--charger", "CP-NONE")
    assert charger.code != 0 and "charger 'CP-NONE' not found" in charger.err


async def test_a_billed_session_shows_its_cost_and_invoice(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    session = await _billed_session(csms_server, cli_env)
    shown = (await _ok(cli_env, "sessions", "show", str(session), "--json")).json()
    # 3 kWh × 0.35 = 1.05, session fee 0.50: net 1.55; 19 % tax 0.2945 → 0.29; total 1.84
    assert shown["cost"] == {"amount": "1.84", "currency": "EUR"}
    invoice = shown["invoice"]
    assert (invoice["net"], invoice["tax"], invoice["total"]) == ("1.55", "0.29", "1.84")
    assert [line["kind"] for line in invoice["lines"]] == ["energy", "session"]  # no per-hour price
    # the card belongs to nobody: nothing to charge it to
    assert invoice["payment_status"] == "no_payment_method"
    listed = (await _ok(cli_env, "sessions", "list", "--json")).json()
    assert listed[0]["cost"] == {"amount": "1.84", "currency": "EUR"}
    table = (await _ok(cli_env, "sessions", "list")).out.splitlines()
    assert "COST" in table[0].split() and "1.84 EUR" in table[1]
    text = (await _ok(cli_env, "sessions", "show", str(session))).out
    assert "cost:" in text and "1.84 EUR" in text and f"INVOICE {invoice['id']}" in text
    assert "payment: no_payment_method" in text


async def test_invoices_are_listed_and_shown(csms_server: Any, cli_env: dict[str, str]) -> None:
    session = await _billed_session(csms_server, cli_env)
    [invoice] = (await _ok(cli_env, "invoices", "list", "--json")).json()
    assert invoice["session_id"] == session and invoice["total"] == "1.84"
    none = await _ok(cli_env, "invoices", "list", "--status", "paid")
    assert none.out.strip() == "no invoices"
    shown = (await _ok(cli_env, "invoices", "show", str(invoice["id"]))).out
    assert "session:" in shown and "total" in shown and "1.84 EUR" in shown
    missing = await run_cli(cli_env, "invoices", "show", "999")
    assert missing.code != 0 and "`csms invoices list`" in missing.err


async def test_the_outbox_lists_deliveries_and_retry_refuses_what_did_not_fail(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    session = await _billed_session(csms_server, cli_env)
    rows = (await _ok(cli_env, "outbox", "list", "--json")).json()
    [completed] = [r for r in rows if r["topic"] == "session.completed"]
    assert completed["key"] == f"session.completed:{session}"
    assert completed["status"] == "done" and completed["payload"] == {"transaction_pk": session}
    failed = await _ok(cli_env, "outbox", "list", "--failed")
    assert failed.out.strip() == "no failed deliveries"
    refused = await run_cli(cli_env, "outbox", "retry", str(completed["id"]))
    assert refused.code != 0 and "only failed deliveries are retried" in refused.err
    absent = await run_cli(cli_env, "outbox", "retry", "99999")
    assert absent.code != 0 and "`csms outbox list`" in absent.err


async def test_the_marketing_export_lists_only_customers_whose_consent_stands(
    csms_server: Any, cli_env: dict[str, str], tmp_path: Path
) -> None:
    now = datetime.now(UTC)

    def customers(uow: Any) -> None:
        for name, email, opt_in in (
            ("Mia Mailable", "mia@example.com", True),
            ("Otto Optout", "otto@example.com", True),
            ("Nina Never", "nina@example.com", False),
        ):
            add_customer(uow, name=name, email=email, marketing_opt_in=opt_in, now=now)

    await csms_server.db.write(customers)
    rows = list(
        csv.DictReader(io.StringIO((await _ok(cli_env, "customers", "marketing-export")).out))
    )
    assert [r["email"] for r in rows] == sorted(
        ["mia@example.com", "otto@example.com"],
        key=lambda e: next(r["customer_number"] for r in rows if r["email"] == e),
    )
    otto = next(r for r in rows if r["email"] == "otto@example.com")
    # Otto follows the link in a newsletter: no login needed
    async with httpx.AsyncClient() as client:
        followed = await client.get(otto["unsubscribe_url"])
    assert followed.status_code == 200 and followed.json()["unsubscribed"] is True
    path = tmp_path / "marketing.csv"
    written = await _ok(cli_env, "customers", "marketing-export", "--output", str(path))
    assert "wrote 1 opted-in customer(s)" in written.out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    [mia] = list(csv.DictReader(io.StringIO(path.read_text())))
    assert (mia["name"], mia["email"]) == ("Mia Mailable", "mia@example.com")
    assert mia["unsubscribe_url"].startswith(f"{csms_server.api_url}/api/app/unsubscribe/")
    as_json = await run_cli(cli_env, "customers", "marketing-export", "--json")
    assert as_json.code == 2 and "leave out --json" in as_json.err


def test_the_marketing_csv_keeps_formulas_from_running_in_a_spreadsheet() -> None:
    names = ['=HYPERLINK("http://x.test","click")', "+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR"]
    rows = [
        {
            "customer_number": 100 + n,
            "name": name,
            "email": "=1+1@example.com" if n == 0 else f"c{n}@example.com",
            "opted_in_at": "2026-12-01T08:00:00Z",
            "unsubscribe_url": f"https://csms.test/api/app/unsubscribe/t{n}",
        }
        for n, name in enumerate(names)
    ]
    rows.append({**rows[1], "name": "Mia Mailable", "email": "mia@example.com"})
    rows.append({**rows[1], "name": None})

    parsed = list(csv.DictReader(io.StringIO(marketing_csv(rows), newline="")))

    assert [r["name"] for r in parsed] == [f"'{name}" for name in names] + ["Mia Mailable", ""]
    assert parsed[0]["email"] == "'=1+1@example.com" and parsed[1]["email"] == "c1@example.com"
    assert parsed[0]["customer_number"] == "100"
    assert parsed[0]["unsubscribe_url"] == "https://csms.test/api/app/unsubscribe/t0"
