"""``csms-sim`` as a user runs it: a subprocess against the fake CSMS."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.simulators.fake_csms import FakeCSMS

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--speed", "100", "--meter-interval", "10", "--kwh", "0.5", "--power-kw", "36"]


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulators.cli",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _run(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    process = await _start(*args)
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _sessions(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


async def test_charge_runs_a_session_and_prints_a_json_summary(csms: FakeCSMS) -> None:
    code, out, err = await _run(
        "charge", "--url", csms.url, "--id", "CP1", "--id-tag", "CARD1", "--json", *FAST
    )
    assert code == 0, err
    [summary] = _sessions(out)
    assert summary["transaction_id"] == 1000
    assert summary["energy_wh"] == 500
    assert summary["stop_reason"] == "Local"
    assert summary["ok"] is True
    assert csms.actions()[0] == "BootNotification"
    assert csms.actions()[-3:] == ["StopTransaction", "StatusNotification", "StatusNotification"]
    assert csms.refused == []


async def test_charge_prints_a_readable_summary_without_json(csms: FakeCSMS) -> None:
    code, out, _ = await _run("charge", "--url", csms.url, "--id", "CP1", "--id-tag", "C", *FAST)
    assert code == 0
    assert "transaction 1000" in out and "500 Wh" in out


async def test_charge_with_a_rejected_card_exits_non_zero_with_a_message(
    csms: FakeCSMS,
) -> None:
    csms.rules["Authorize"] = lambda identity, payload: {"idTagInfo": {"status": "Blocked"}}
    code, _, err = await _run(
        "charge", "--url", csms.url, "--id", "CP1", "--id-tag", "STOLEN", *FAST
    )
    assert code == 1
    assert "Authorize" in err and "Blocked" in err
    assert csms.of("StartTransaction") == []


async def test_charge_refused_at_start_transaction_stops_it_and_exits_non_zero(
    csms: FakeCSMS,
) -> None:
    csms.rules["StartTransaction"] = lambda identity, payload: {
        "transactionId": 5,
        "idTagInfo": {"status": "Expired"},
    }
    code, _, err = await _run("charge", "--url", csms.url, "--id", "CP1", "--id-tag", "OLD", *FAST)
    assert code == 1
    assert "StartTransaction" in err and "Expired" in err
    assert csms.of("StopTransaction")[0].payload["reason"] == "DeAuthorized"


async def test_charge_with_pin_login_starts_with_the_one_time_id_tag(csms: FakeCSMS) -> None:
    csms.rules["DataTransfer"] = lambda identity, payload: {
        "status": "Accepted",
        "data": json.dumps({"idTag": "OTP-42", "expiresAt": "2030-01-01T00:00:00Z"}),
    }
    code, out, err = await _run(
        "charge", "--url", csms.url, "--id", "CP1", "--login", "a@b.c", "--pin", "1234", "--json",
        *FAST,
    )  # fmt: skip
    assert code == 0, err
    assert csms.of("StartTransaction")[0].payload["idTag"] == "OTP-42"
    assert _sessions(out)[0]["id_tag"] == "OTP-42"


async def test_charge_to_an_unreachable_csms_exits_with_status_3() -> None:
    code, _, err = await _run(
        "charge", "--url", "ws://127.0.0.1:9/ocpp", "--id", "CP1", "--id-tag", "C"
    )
    assert code == 3
    assert "cannot connect" in err


async def test_charge_with_ocpp201_runs_a_transaction_event_session(csms: FakeCSMS) -> None:
    code, out, err = await _run(
        "charge", "--url", csms.url, "--id", "CS1", "--id-tag", "CARD1", "--json",
        "--protocol", "ocpp2.0.1", "--serial", "SN-9", *FAST,
    )  # fmt: skip
    assert code == 0, err
    [summary] = _sessions(out)
    events = [r.payload for r in csms.of("TransactionEvent")]
    assert summary["transaction_id"] == events[0]["transactionInfo"]["transactionId"]
    assert summary["energy_wh"] == 500 and summary["ok"] is True
    assert summary["stop_reason"] == "Local"
    assert summary["meter_values"] == sum(
        e["triggerReason"] == "MeterValuePeriodic" for e in events
    )
    assert [e["seqNo"] for e in events] == list(range(len(events)))
    assert [e["eventType"] for e in events][:: len(events) - 1] == ["Started", "Ended"]
    charging_states = [e["transactionInfo"].get("chargingState") for e in events]
    assert [s for s in charging_states if s] == ["EVConnected", "Charging", "SuspendedEV",
                                                 "EVConnected"]  # fmt: skip
    boot = csms.of("BootNotification")[0].payload["chargingStation"]
    assert (boot["model"], boot["serialNumber"]) == ("SimCharger-201", "SN-9")
    assert csms.refused == []


async def test_charge_with_ocpp201_and_a_pin_login_authorizes_a_key_code(
    csms: FakeCSMS,
) -> None:
    code, out, err = await _run(
        "charge", "--url", csms.url, "--id", "CS1", "--protocol", "ocpp2.0.1",
        "--login", "+4915112345678", "--pin", "2468", "--json", *FAST,
    )  # fmt: skip
    assert code == 0, err
    assert _sessions(out)[0]["id_tag"] == "2468"
    token = csms.of("Authorize")[0].payload["idToken"]
    assert token == {
        "idToken": "2468",
        "type": "KeyCode",
        "additionalInfo": [{"additionalIdToken": "+4915112345678", "type": "Login"}],
    }
    assert csms.of("DataTransfer") == []


async def test_charge_with_ocpp201_and_a_refused_token_exits_non_zero(csms: FakeCSMS) -> None:
    csms.rules["Authorize"] = lambda identity, payload: {"idTokenInfo": {"status": "Blocked"}}
    code, _, err = await _run(
        "charge", "--url", csms.url, "--id", "CS1", "--id-tag", "STOLEN",
        "--protocol", "ocpp2.0.1", "--id-token-type", "ISO15693", *FAST,
    )  # fmt: skip
    assert code == 1
    assert "Authorize answered idToken 'STOLEN' with Blocked" in err
    assert csms.of("Authorize")[0].payload["idToken"]["type"] == "ISO15693"
    assert csms.of("TransactionEvent") == []


async def test_serve_with_ocpp201_runs_a_session_the_csms_requests(csms: FakeCSMS) -> None:
    process = await _start(
        "serve", "--url", csms.url, "--id", "CS9", "--protocol", "ocpp2.0.1",
        "--max-sessions", "1", "--json", *FAST,
    )  # fmt: skip
    try:
        await csms.wait_for("StatusNotification", 1, timeout=15)
        answer = await csms.call(
            "CS9",
            "RequestStartTransaction",
            {"idToken": {"idToken": "APP-1", "type": "Central"}, "remoteStartId": 3},
        )
        assert answer == {"status": "Accepted"}
        async with asyncio.timeout(30):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    [summary] = _sessions(out.decode())
    assert summary["remote"] is True and summary["energy_wh"] == 500
    started = csms.of("TransactionEvent")[0].payload
    assert started["triggerReason"] == "RemoteStart"
    assert started["transactionInfo"]["remoteStartId"] == 3


async def test_serve_waits_for_a_remote_start_and_exits_after_max_sessions(
    csms: FakeCSMS,
) -> None:
    process = await _start(
        "serve", "--url", csms.url, "--id", "CP9", "--max-sessions", "1", "--json", *FAST
    )
    try:
        await csms.wait_for("StatusNotification", 2, timeout=15)
        answer = await csms.call("CP9", "RemoteStartTransaction", {"idTag": "APP-1"})
        assert answer == {"status": "Accepted"}
        async with asyncio.timeout(30):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    [summary] = _sessions(out.decode())
    assert summary["remote"] is True and summary["id_tag"] == "APP-1"
    assert summary["energy_wh"] == 500


async def test_ctrl_c_during_a_session_stops_the_transaction_locally(csms: FakeCSMS) -> None:
    process = await _start(
        "charge", "--url", csms.url, "--id", "CP1", "--id-tag", "C", "--kwh", "100",
        "--speed", "10",
    )  # fmt: skip
    try:
        await csms.wait_for("StartTransaction", timeout=15)
        await asyncio.sleep(0.2)
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(30):
            _, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 130, err.decode()
    stop = csms.of("StopTransaction")
    assert len(stop) == 1 and stop[0].payload["reason"] == "Local"


async def test_load_refuses_a_remote_url() -> None:
    code, _, err = await _run(
        "load", "--url", "ws://example.com/ocpp", "--chargers", "1", "--duration", "1"
    )
    assert code == 2
    assert "only connects to this machine" in err


def test_help_documents_the_stay_option_and_the_serve_command() -> None:
    entry_point = Path(sys.executable).with_name("csms-sim")
    command = (
        [str(entry_point)] if entry_point.exists() else [sys.executable, "-m", "simulators.cli"]
    )
    charge_help = subprocess.run(
        [*command, "charge", "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    top_help = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert "--stay" in charge_help and "serve" in charge_help
    assert all(name in top_help for name in ("charge", "serve", "load"))
