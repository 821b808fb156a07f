"""``csms invoices list --held | release ID | adjust ID --energy-kwh X [--reason TEXT]``
against a running server (issue 18 item 1); the invoice number and the seller in
``invoices list/show`` and their JSON (item 15)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from csms.config import Settings
from csms.domain.charging.transactions import start_transaction, stop_transaction
from csms.server import running_server
from storage.database import Database
from tests.api.conftest import NOW, add_charger_for, add_session
from tests.cli.conftest import Result, run_cli
from tests.waiting import eventually


async def _ok(env: dict[str, str], *args: str) -> Result:
    result = await run_cli(env, *args)
    assert result.code == 0, f"csms {' '.join(args)}: {result.err}"
    return result


async def _jumped_session(db: Database, charger_id: str, *, hour: int) -> int:
    """A 1.6 session whose meter jumps to 2147483647 in an hour; its session id."""
    started = NOW + timedelta(hours=hour)

    def run(uow: Any) -> int:
        result = start_transaction(
            uow,
            charger_id=charger_id,
            connector_id=1,
            id_tag=f"CARD{hour}",
            meter_start_wh=7,
            timestamp=started,
            now=started,
        )
        stop_transaction(
            uow,
            charger_id=charger_id,
            transaction_id=result.transaction_id,
            meter_stop_wh=2_147_483_647,
            timestamp=started + timedelta(hours=1),
            now=started + timedelta(hours=1),
            reason="EVDisconnected",
            id_tag=None,
            samples=[],
            raw_payload={},
        )
        tx = uow.transactions.by_transaction_id(result.transaction_id)
        return int(tx.id)

    return await db.write(run)


async def _held_invoices(csms_server: Any, cli_env: dict[str, str]) -> list[dict[str, Any]]:
    await _ok(cli_env, "tariffs", "add", "standard", "--per-kwh", "0.35", "--session-fee", "0.50")
    tariff = await csms_server.db.read(lambda uow: uow.tariffs.by_name("standard"))
    await csms_server.db.write(
        lambda uow: uow.tariffs.assign(
            tariff_id=tariff.id, charger_id=None, at=NOW - timedelta(days=1)
        )
    )
    await add_charger_for(csms_server.db, "CP-HELD")
    sessions = [await _jumped_session(csms_server.db, "CP-HELD", hour=h) for h in (0, 2)]

    async def both_held() -> list[dict[str, Any]] | None:
        rows = (await _ok(cli_env, "invoices", "list", "--held", "--json")).json()
        return rows if len(rows) == 2 else None

    rows: list[dict[str, Any]] = await eventually(both_held, timeout=10)
    assert sorted(r["session_id"] for r in rows) == sorted(sessions)
    return rows


async def test_held_invoices_are_listed_with_their_reason_and_released_once(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    rows = await _held_invoices(csms_server, cli_env)
    assert all(r["payment_status"] == "held" for r in rows)
    assert all("exceeds what 350 kW (ceiling) can deliver" in r["held_reason"] for r in rows)
    table = (await _ok(cli_env, "invoices", "list", "--held")).out.splitlines()
    assert table[0].split() == [
        "INVOICE",
        "NUMBER",
        "SESSION",
        "CUSTOMER",
        "TOTAL",
        "CREATED",
        "REASON",
    ]
    assert len(table) == 3 and "exceeds what 350 kW" in table[1]
    first = min(rows, key=lambda r: r["id"])
    shown = (await _ok(cli_env, "invoices", "show", str(first["id"]))).out
    assert "held:" in shown and "exceeds what 350 kW" in shown
    assert f"`csms invoices release {first['id']}`" in shown  # what to do about it
    session = (await _ok(cli_env, "sessions", "show", str(first["session_id"]))).out
    assert "payment: held (" in session

    released = await _ok(cli_env, "invoices", "release", str(first["id"]))
    # no card on file: released, and it says how it stands
    assert f"invoice {first['id']}" in released.out and "released" in released.out
    assert "payment no_payment_method" in released.out
    again = await run_cli(cli_env, "invoices", "release", str(first["id"]))
    assert again.code != 0 and "not held" in again.err
    left = (await _ok(cli_env, "invoices", "list", "--held", "--json")).json()
    assert [r["id"] for r in left] == [max(r["id"] for r in rows)]
    missing = await run_cli(cli_env, "invoices", "release", "9999")
    assert missing.code != 0 and "`csms invoices list --held`" in missing.err


async def test_a_held_invoice_is_adjusted_to_the_corrected_energy_and_released(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    rows = await _held_invoices(csms_server, cli_env)
    invoice_id = str(rows[0]["id"])
    bad = await run_cli(cli_env, "invoices", "adjust", invoice_id, "--energy-kwh", "lots")
    assert bad.code != 0 and "--energy-kwh must be a number of kWh" in bad.err
    still = (await _ok(cli_env, "invoices", "show", invoice_id, "--json")).json()
    assert still["payment_status"] == "held"
    no_energy = await run_cli(cli_env, "invoices", "adjust", invoice_id)
    assert no_energy.code == 2 and "--energy-kwh" in no_energy.err
    adjusted = (
        await _ok(
            cli_env,
            "invoices",
            "adjust",
            invoice_id,
            "--energy-kwh",
            "12.5",
            "--reason",
            "meter overflow; reading from the display",
            "--json",
        )
    ).json()
    # 12.5 kWh × 0.35 = 4.375 → 4.38, session fee 0.50: 4.88 EUR (no tax)
    assert (adjusted["total"], adjusted["payment_status"]) == ("4.88", "no_payment_method")
    assert adjusted["adjusted_energy_wh"] == 12_500
    assert adjusted["adjust_reason"] == "meter overflow; reading from the display"
    text = (await _ok(cli_env, "invoices", "show", invoice_id)).out
    assert "adjusted energy:" in text and "12.500 kWh" in text and "4.88 EUR" in text
    plain = await _ok(cli_env, "invoices", "adjust", str(rows[1]["id"]), "--energy-kwh", "1")
    assert "adjusted to 1 kWh and released" in plain.out and "total 0.85 EUR" in plain.out


async def test_invoices_show_their_number_and_the_seller(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(
        seller_name="Stadtwerke Beispiel GmbH",
        seller_address="Hauptstraße 1\n12345 Beispielstadt",
        seller_vat_id="DE123456789",
    )
    async with running_server(settings) as server:
        env = {
            "CSMS_HOME": str(server.settings.home),
            "CSMS_API_URL": server.api_url,
            "CSMS_DATABASE_URL": server.settings.database.url,
        }
        await _ok(env, "tariffs", "add", "standard", "--per-kwh", "0.35")
        tariff = await server.db.read(lambda uow: uow.tariffs.by_name("standard"))
        await server.db.write(
            lambda uow: uow.tariffs.assign(
                tariff_id=tariff.id, charger_id=None, at=NOW - timedelta(days=1)
            )
        )
        await add_charger_for(server.db, "CP-SELL")
        await add_session(server.db, "CP-SELL", stop=True)
        await add_session(server.db, "CP-SELL", stop=True, minute=120, id_tag="CARD2")

        async def listed() -> list[dict[str, Any]] | None:
            rows = (await _ok(env, "invoices", "list", "--json")).json()
            return rows if len(rows) == 2 else None

        rows = await eventually(listed, timeout=10)
        year = rows[0]["created_at"][:4]
        assert sorted(r["number"] for r in rows) == [f"{year}-000001", f"{year}-000002"]
        table = (await _ok(env, "invoices", "list")).out.splitlines()
        assert table[0].split()[:2] == ["INVOICE", "NUMBER"] and f"{year}-00000" in table[1]
        shown = (await _ok(env, "invoices", "show", str(rows[0]["id"]), "--json")).json()
        assert shown["number"] == rows[0]["number"]
        assert shown["seller"] == {
            "name": "Stadtwerke Beispiel GmbH",
            "address": "Hauptstraße 1\n12345 Beispielstadt",
            "vat_id": "DE123456789",
        }
        text = (await _ok(env, "invoices", "show", str(rows[0]["id"]))).out
        for expected in (
            rows[0]["number"],
            "Stadtwerke Beispiel GmbH",
            "Hauptstraße 1, 12345 Beispielstadt",
            "DE123456789",
        ):
            assert expected in text, expected
