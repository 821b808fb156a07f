"""``csms-sim`` touchscreen logins against a real csms over real sockets: DataTransfer
PinLogin on 1.6 and 2.0.1, the 2.0.1 KeyCode, and the CLI options for them."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from csms.domain.charging.stations import add_charger
from csms.domain.people.customers import add_customer
from simulators import ChargePoint16, ChargePoint201, ChargingPlan
from simulators.cli import main
from simulators.scenario import SessionScript
from storage.records import CustomerRecord, TransactionRecord

ROOT = Path(__file__).resolve().parents[2]
EMAIL = "sam.volt@example.org"
PIN = "246810"
PLAN = ChargingPlan(energy_wh=2000, power_w=11_000)
FAST: dict[str, Any] = {"speed": 3600, "meter_interval": 60, "call_timeout": 5.0}


async def _provision(server: Any, charger_id: str) -> tuple[str, CustomerRecord]:
    now = datetime.now(UTC)
    _, password = await server.db.write(
        lambda uow: add_charger(uow, charger_id=charger_id, now=now, password=None)
    )
    customer = await server.db.read(lambda uow: uow.customers.by_email(EMAIL))
    if customer is None:
        customer = await server.db.write(
            lambda uow: add_customer(uow, name="Sam Volt", email=EMAIL, pin=PIN, now=now)
        )
    return str(password), customer


def _charge_point(server: Any, protocol: str, charger_id: str, password: str) -> Any:
    common: dict[str, Any] = {
        "url": server.ocpp_url,
        "identity": charger_id,
        "password": password,
        "charging_plan": PLAN,
        **FAST,
    }
    if protocol == "ocpp2.0.1":
        return ChargePoint201(**common)
    return ChargePoint16(**common)


async def _sessions(server: Any, charger_id: str) -> list[TransactionRecord]:
    return list(await server.db.read(lambda uow: uow.transactions.list(charger_id=charger_id)))


def _sent(cp: Any, action: str) -> list[dict[str, Any]]:
    return [
        r.payload
        for r in cp.history
        if r.direction == "sent" and r.kind == "call" and r.action == action
    ]


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_simulator_pin_login_starts_a_touchscreen_session_with_the_one_time_token(
    csms_server: Any, protocol: str
) -> None:
    password, customer = await _provision(csms_server, "SIM1")
    cp = _charge_point(csms_server, protocol, "SIM1", password)
    outcome = await SessionScript(cp, login=EMAIL, pin=PIN, plan=PLAN).run()
    assert outcome.ok, outcome.error
    (result,) = outcome.sessions
    assert len(result.id_tag) == 20 and result.id_tag != PIN
    (transfer,) = _sent(cp, "DataTransfer")
    assert (transfer["vendorId"], transfer["messageId"]) == ("csms", "PinLogin")
    assert json.loads(transfer["data"]) == {"login": EMAIL, "pin": PIN}
    assert _sent(cp, "Authorize") == []  # the one-time token starts the session directly
    (tx,) = await _sessions(csms_server, "SIM1")
    assert (tx.status, tx.auth_method, tx.auth_status, tx.customer_id, tx.id_tag) == (
        "completed",
        "touchscreen",
        "Accepted",
        customer.id,
        result.id_tag,
    )
    assert tx.energy_wh == 2000
    if protocol == "ocpp2.0.1":
        (started, *_) = _sent(cp, "TransactionEvent")
        assert started["idToken"] == {"idToken": result.id_tag, "type": "Central"}


async def test_simulator_keycode_sends_the_pin_with_the_login_and_is_touchscreen(
    csms_server: Any,
) -> None:
    password, customer = await _provision(csms_server, "SIM2")
    cp = _charge_point(csms_server, "ocpp2.0.1", "SIM2", password)
    outcome = await SessionScript(cp, login=EMAIL, pin=PIN, keycode=True, plan=PLAN).run()
    assert outcome.ok, outcome.error
    key_code = {
        "idToken": PIN,
        "type": "KeyCode",
        "additionalInfo": [{"additionalIdToken": EMAIL, "type": "Login"}],
    }
    assert _sent(cp, "Authorize") == [{"idToken": key_code}]
    assert _sent(cp, "DataTransfer") == []
    (tx,) = await _sessions(csms_server, "SIM2")
    assert (tx.status, tx.auth_method, tx.customer_id) == ("completed", "touchscreen", customer.id)
    assert tx.id_tag is not None and tx.id_tag != PIN


@pytest.mark.parametrize(
    ("protocol", "keycode"), [("ocpp1.6", False), ("ocpp2.0.1", False), ("ocpp2.0.1", True)]
)
async def test_simulator_with_a_wrong_pin_reports_the_refusal_and_charges_nothing(
    csms_server: Any, protocol: str, keycode: bool
) -> None:
    password, _ = await _provision(csms_server, "SIM3")
    cp = _charge_point(csms_server, protocol, "SIM3", password)
    outcome = await SessionScript(cp, login=EMAIL, pin="135791", keycode=keycode).run()
    assert not outcome.ok
    assert outcome.error is not None
    assert ("Invalid" if keycode else "PIN login was rejected") in outcome.error
    assert await _sessions(csms_server, "SIM3") == []


async def test_csms_sim_charge_with_pin_login_runs_a_touchscreen_session(
    csms_server: Any,
) -> None:
    password, customer = await _provision(csms_server, "SIM4")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators.cli", "charge", "--url", csms_server.ocpp_url,
        "--id", "SIM4", "--password", password, "--protocol", "ocpp2.0.1",
        "--pin-login", EMAIL, "--pin", PIN, "--json",
        "--speed", "3600", "--kwh", "2", "--power-kw", "11",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    (summary,) = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert summary["ok"] is True and len(summary["id_tag"]) == 20
    (tx,) = await _sessions(csms_server, "SIM4")
    assert (tx.auth_method, tx.customer_id, tx.id_tag) == (
        "touchscreen",
        customer.id,
        summary["id_tag"],
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--pin-login", EMAIL], "--pin-login needs --pin"),
        (["--pin", PIN, "--id-tag", "C1"], "--pin is for a touchscreen login"),
        (["--pin-login", EMAIL, "--pin", PIN, "--keycode"], "--keycode is for ocpp2.0.1"),
        (["--id-tag", "C1", "--keycode", "--protocol", "ocpp2.0.1"], "--keycode is for"),
        (["--pin-login", EMAIL, "--pin", PIN, "--id-tag", "C1"], "not several"),
    ],
)
def test_csms_sim_refuses_pin_login_options_that_do_not_fit(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["charge", "--url", "ws://127.0.0.1:9/ocpp", "--id", "CP1", *arguments])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
