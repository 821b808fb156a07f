"""Issue "customers, card / PIN / app authorization, privacy": the whole story, end to end.

``csms serve`` runs as its own process at DEBUG. A customer registers through the customer
API and charges three times on a simulated 1.6 charger of a station owner: with an RFID
card, with a touchscreen PIN login and from the app. Then:

- ``csms sessions list --json`` shows the three sessions under the customer's number with
  ``auth_method`` card, touchscreen and app;
- the owner's report (JSON and CSV, owner token) names the customer by number only;
- export returns the identity, the card masked and every session with its meter values;
  erase removes the identity and keeps the sessions under the number;
- nothing the server logged at DEBUG, and nothing in its database file, contains the
  password, the PIN, the card UID, the app or login tokens, or the customer's name,
  email, phone or address.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx

from bench.processes import free_port, run_checked, start_process
from simulators import ChargePoint16, ChargingPlan
from simulators.station import MessageRecord
from tests.cli.conftest import Result, run_csms_process

CSMS = str(Path(sys.executable).with_name("csms"))

NAME = "Ottilie Brunnhuber-Kasprzak"
EMAIL = "ottilie.brunnhuber@example.net"
PHONE = "+4917612398765"
ADDRESS = "Lindenhof 9, 98765 Obertrubach"
PASSWORD = "wide-meadow-lantern-9"
PIN = "73915846"
CARD = "04C7D2A91B6E80"
OWNER = "Hofladen Gmbh"
CHARGER = "CP-HOF-1"


async def _cli(env: dict[str, str], *args: str) -> Result:
    result = await run_csms_process(env, *args)
    assert result.code == 0, f"csms {' '.join(args)}: {result.err}"
    return result


def _received_calls(cp: ChargePoint16, action: str) -> list[MessageRecord]:
    return [
        r
        for r in cp.history
        if r.direction == "received" and r.kind == "call" and r.action == action
    ]


async def test_a_customer_charges_by_card_pin_and_app_and_owners_see_only_the_number(
    tmp_path: Path,
) -> None:
    ocpp_port, api_port = free_port(), free_port()
    home = tmp_path / "home"
    env = {
        **os.environ,
        "CSMS_HOME": str(home),
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_OCPP_PORT": str(ocpp_port),
        "CSMS_API_PORT": str(api_port),
        "CSMS_API_URL": f"http://127.0.0.1:{api_port}",
        "CSMS_LOG_LEVEL": "DEBUG",
        "CSMS_PING_INTERVAL": "0",
    }
    env.pop("CSMS_API_TOKEN", None)
    log_path = tmp_path / "serve.log"
    secrets_seen: set[str] = {PASSWORD, PIN, CARD, NAME, EMAIL, PHONE, ADDRESS}
    await run_checked([CSMS, "db", "upgrade"], env=env, log_path=tmp_path / "upgrade.log")
    async with start_process("csms", [CSMS, "serve"], port=api_port, env=env, log_path=log_path):
        await _cli(env, "owners", "add", OWNER)
        added = await _cli(env, "chargers", "add", CHARGER, "--owner", OWNER, "--json")
        charger_password = added.json()["password"]
        owner_token = (
            await _cli(
                env, "token", "create", "hofladen", "--role", "owner", "--owner", OWNER, "--json"
            )
        ).json()["token"]

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as app:
            registered = await app.post(
                "/api/app/register",
                json={
                    "name": NAME,
                    "email": EMAIL,
                    "password": PASSWORD,
                    "birth_date": "1988-03-14",
                    "phone": PHONE,
                    "address": ADDRESS,
                    "vehicle": "Renault/Zoe/2021",
                    "notify": ["email", "sms"],
                    "pin": PIN,
                },
            )
            assert registered.status_code == 202, registered.text
            logged_in = await app.post(
                "/api/app/login", json={"login": EMAIL, "password": PASSWORD}
            )
            assert logged_in.status_code == 200, logged_in.text
            number = logged_in.json()["customer_number"]
            app.headers["Authorization"] = f"Bearer {logged_in.json()['token']}"
            card = await app.post("/api/app/me/cards", json={"uid": CARD})
            assert card.status_code in (200, 201), card.text

            async with ChargePoint16(
                url=f"ws://127.0.0.1:{ocpp_port}/ocpp",
                identity=CHARGER,
                password=charger_password,
                speed=3600,
                meter_interval=60,
                charging_plan=ChargingPlan(energy_wh=2000, power_w=11_000),
            ) as cp:
                await cp.boot()
                by_card = await cp.charge(id_tag=CARD)
                assert by_card.id_tag_status == "Accepted"

                login_token = await cp.pin_login(EMAIL, PIN)
                assert login_token is not None
                secrets_seen.add(login_token)
                by_pin = await cp.charge(id_tag=login_token)
                assert by_pin.id_tag_status == "Accepted"

                started = await app.post("/api/app/me/sessions", json={"charger_id": CHARGER})
                assert started.json()["status"] == "Accepted", started.text
                await cp.wait_sessions(3)
                (remote,) = _received_calls(cp, "RemoteStartTransaction")
                secrets_seen.add(remote.payload["idTag"])

        sessions = (await _cli(env, "sessions", "list", "--json")).json()
        assert sorted(s["auth_method"] for s in sessions) == ["app", "card", "touchscreen"]
        assert {s["customer_number"] for s in sessions} == {number}
        assert all(s["status"] == "completed" and s["energy_wh"] == 2000 for s in sessions)

        owner_env = {**env, "CSMS_API_TOKEN": owner_token}
        report = (await _cli(owner_env, "reports", "sessions", "--format", "json")).json()
        assert sorted(r["auth_method"] for r in report) == ["app", "card", "touchscreen"]
        assert {r["customer_number"] for r in report} == {number}
        csv_report = (await _cli(owner_env, "reports", "sessions", "--format", "csv")).out
        assert str(number) in csv_report
        for text in (str(report), csv_report):
            assert not [s for s in secrets_seen if s in text]

        exported = (await _cli(env, "customers", "export", str(number))).json()
        assert exported["customer"]["email"] == EMAIL
        assert [c["uid"] for c in exported["cards"]] == ["****" + CARD[-4:]]
        assert len(exported["sessions"]) == 3
        assert all(s["meter_values"] for s in exported["sessions"])

        # Before erasure too: the identity is stored, and must be stored encrypted.
        assert _plaintext_in_database(home, secrets_seen) == []

        await _cli(env, "customers", "erase", str(number), "--yes")
        shown = (await _cli(env, "customers", "show", str(number), "--json")).json()
        assert (shown["name"], shown["email"], shown["phone"]) == (None, None, None)
        after = (await _cli(env, "sessions", "list", "--json")).json()
        assert {s["customer_number"] for s in after} == {number} and len(after) == 3

    log = log_path.read_text()
    assert " DEBUG " in log  # the run really logged at DEBUG
    assert "Traceback" not in log
    assert sorted(s for s in secrets_seen if s in log) == []
    assert _plaintext_in_database(home, secrets_seen) == []


def _plaintext_in_database(home: Path, secrets_seen: set[str]) -> list[str]:
    """Which of ``secrets_seen`` the SQLite database file and its WAL hold in plain text."""
    stored = b"".join(p.read_bytes() for p in home.glob("csms.sqlite3*") if p.is_file())
    text = stored.decode("latin-1")
    return sorted(s for s in secrets_seen if s in text)
