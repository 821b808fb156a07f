"""``csms certificates list``: a charger gets its certificate over the socket, the CLI
lists it (JSON fields of the SPEC; the table marks what expires within 30 days)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from csms.cli import EXIT_OK, EXIT_USAGE
from tests.api.conftest import add_charger_for
from tests.api.test_api_certificates import issue
from tests.cli.conftest import answer_one_call, run_cli
from tests.gateway.conftest import basic_auth
from tests.pki import csms_ca, csr_pem, write_ca


async def test_a_certificate_a_charger_got_is_listed_with_the_spec_fields(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    write_ca(csms_server.settings.home, csms_ca())
    password = (await run_cli(cli_env, "chargers", "add", "CP1", "--json")).json()["password"]
    async with connect(
        f"{csms_server.ocpp_url}/CP1",
        subprotocols=[Subprotocol("ocpp1.6")],
        additional_headers=basic_auth("CP1", password),
    ) as ws:
        boot = {"chargePointVendor": "Acme", "chargePointModel": "Wallbox 1"}
        await ws.send(json.dumps([2, "b1", "BootNotification", boot]))
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        await ws.send(json.dumps([2, "s1", "SignCertificate", {"csr": csr_pem(cn="CP1")}]))
        assert json.loads(await ws.recv()) == [3, "s1", {"status": "Accepted"}]
        call = await answer_one_call(ws, {"status": "Accepted"})
        assert call[2] == "CertificateSigned"
    result = await run_cli(cli_env, "certificates", "list", "--json")
    assert result.code == EXIT_OK, result.err
    (row,) = result.json()
    assert row["charger_id"] == "CP1"
    assert row["subject"] == "CN=CP1,O=csms"
    assert len(row["serial"]) == 32 and len(row["fingerprint"]) == 64
    assert datetime.fromisoformat(row["not_after"]) > datetime.now(UTC) + timedelta(days=364)
    table = await run_cli(cli_env, "certificates", "list")
    assert row["serial"] in table.out
    assert "EXPIRING" not in table.out


async def test_the_table_marks_what_expires_within_30_days_and_expiring_filters(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    db = csms_server.db
    for charger_id in ("CP1", "CP2", "CP3"):
        await add_charger_for(db, charger_id)
    await issue(db, "0A01", "CP1", days_left=12.5)
    await issue(db, "0B01", "CP2", days_left=200.5)
    await issue(db, "0C01", "CP3", days_left=-3.5)
    table = (await run_cli(cli_env, "certificates", "list")).out
    lines = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert lines["0A01"].rstrip().endswith("EXPIRING")
    assert lines["0C01"].rstrip().endswith("EXPIRED")
    assert "EXPIR" not in lines["0B01"]
    expiring = (await run_cli(cli_env, "certificates", "list", "--expiring", "30", "--json")).json()
    assert [r["serial"] for r in expiring] == ["0C01", "0A01"]
    one = (await run_cli(cli_env, "certificates", "list", "--charger", "CP2", "--json")).json()
    assert [r["serial"] for r in one] == ["0B01"]
    none = await run_cli(cli_env, "certificates", "list", "--expiring", "5", "--charger", "CP2")
    assert none.out.strip() == "no certificate in use expires within 5 days"


async def test_a_bad_expiring_value_says_what_to_give(cli_env: dict[str, str]) -> None:
    result = await run_cli(cli_env, "certificates", "list", "--expiring", "soon")
    assert result.code == EXIT_USAGE
    assert "'soon' is not a number of days" in result.err
    result = await run_cli(cli_env, "certificates", "list", "--expiring", "-3")
    assert result.code == EXIT_USAGE
    assert "must be from 0 to 36500" in result.err
