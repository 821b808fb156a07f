"""``csms serve`` as an operator runs it: its own process, on each event loop it offers.

The other end-to-end tests run the server inside the test's event loop; this one runs the
installed executable, so what ``CSMS_EVENT_LOOP`` selects (uvloop by default) carries real
charging sessions and stops cleanly on SIGTERM with everything committed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench.processes import free_port, run_checked, start_process
from simulators import ChargePoint16, ChargingPlan
from tests.cli.conftest import run_csms_process

CSMS = str(Path(sys.executable).with_name("csms"))


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
async def test_served_process_records_a_session_on_each_event_loop(
    tmp_path: Path, event_loop: str
) -> None:
    ocpp_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "CSMS_HOME": str(tmp_path / "home"),
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_OCPP_PORT": str(ocpp_port),
        "CSMS_API_PORT": str(api_port),
        "CSMS_API_URL": f"http://127.0.0.1:{api_port}",
        "CSMS_UNKNOWN_CHARGERS": "accept",
        "CSMS_EVENT_LOOP": event_loop,
        "CSMS_PING_INTERVAL": "0",
    }
    log_path = tmp_path / "serve.log"
    await run_checked([CSMS, "db", "upgrade"], env=env, log_path=tmp_path / "upgrade.log")
    # (the API listens last: once it answers, the charger endpoint is up too)
    async with start_process("csms", [CSMS, "serve"], port=api_port, env=env, log_path=log_path):
        added = await run_csms_process(env, "cards", "add", "04A1B2C3")
        assert added.code == 0, added.err
        async with ChargePoint16(
            url=f"ws://127.0.0.1:{ocpp_port}/ocpp",
            identity="CP-LOOP",
            speed=3600,
            meter_interval=60,
            charging_plan=ChargingPlan(energy_wh=2000, power_w=11_000),
        ) as cp:
            await cp.boot()
            result = await cp.charge(id_tag="04A1B2C3")
        assert result.id_tag_status == "Accepted"
        listed = await run_csms_process(env, "sessions", "list", "--json")
    assert listed.code == 0, listed.err
    (session,) = listed.json()
    assert session["transaction_id"] == result.transaction_id
    assert session["energy_wh"] == 2000
    log = log_path.read_text()
    assert f"({event_loop} loop)" in log
    assert "Traceback" not in log
