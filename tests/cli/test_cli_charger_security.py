"""``csms chargers certificates …`` and ``csms chargers events`` from the CLI through the
API and the gateway to a connected 1.6 charger (played over a real WebSocket)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from csms.config import Settings
from csms.gateway import AUTH_THROTTLED_EVENT
from csms.ratelimit import parse_rate
from tests.cli.conftest import answer_one_call, run_cli
from tests.fakes.charger_certificates import hash_data
from tests.gateway.conftest import basic_auth
from tests.pki import root_certificate_pem


@pytest.fixture
async def csms_server(settings_factory: Callable[..., Settings]) -> AsyncIterator[Any]:
    """The usual test server, with one wrong charger password a minute before throttling
    (so that a refused connection is recorded as a security event at the second)."""
    from csms.server import running_server

    settings = settings_factory(rate_limit_charger_auth=parse_rate("1/min"))
    async with running_server(settings) as server:
        yield server


@asynccontextmanager
async def _charger(
    cli_env: dict[str, str], server: Any, password: str
) -> AsyncIterator[ClientConnection]:
    async with connect(
        f"{server.ocpp_url}/CP1",
        subprotocols=[Subprotocol("ocpp1.6")],
        additional_headers=basic_auth("CP1", password),
    ) as ws:
        boot = {"chargePointVendor": "Acme", "chargePointModel": "W"}
        await ws.send(json.dumps([2, "b1", "BootNotification", boot]))
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        yield ws


async def _added(cli_env: dict[str, str]) -> str:
    added = (await run_cli(cli_env, "chargers", "add", "CP1", "--json")).json()
    return str(added["password"])


async def _listing(ws: ClientConnection) -> list[list[Any]]:
    """As a 1.6 charger: answer the two GetInstalledCertificateIds (one per type)."""
    first = await answer_one_call(
        ws, {"status": "Accepted", "certificateHashData": [hash_data("1A")]}
    )
    second = await answer_one_call(
        ws, {"status": "Accepted", "certificateHashData": [hash_data("2B", name_hash="cc")]}
    )
    return [first, second]


async def test_certificates_id_lists_what_the_16_charger_has_of_each_type(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    async with _charger(cli_env, csms_server, await _added(cli_env)) as ws:
        cli = asyncio.create_task(run_cli(cli_env, "chargers", "certificates", "CP1", "--json"))
        calls = await _listing(ws)
        result = await cli
        assert result.code == 0, result.err
        # 1.6 Security Whitepaper M03: one certificateType per request
        assert [call[2:] for call in calls] == [
            ["GetInstalledCertificateIds", {"certificateType": "CentralSystemRootCertificate"}],
            ["GetInstalledCertificateIds", {"certificateType": "ManufacturerRootCertificate"}],
        ]
        listed = result.json()
        assert [(c["certificate_type"], c["serial"]) for c in listed["certificates"]] == [
            ("CSMSRootCertificate", "1A"),
            ("ManufacturerRootCertificate", "2B"),
        ]

        cli = asyncio.create_task(run_cli(cli_env, "chargers", "certificates", "CP1"))
        await _listing(ws)
        table = await cli
        assert table.code == 0
        assert "SERIAL" in table.out and "ManufacturerRootCertificate" in table.out


async def test_install_sends_the_file_and_a_rejection_exits_1(
    cli_env: dict[str, str], csms_server: Any, tmp_path: Path
) -> None:
    pem = root_certificate_pem("Operator Root")
    root = tmp_path / "root.pem"
    root.write_text(pem)
    async with _charger(cli_env, csms_server, await _added(cli_env)) as ws:
        cli = asyncio.create_task(
            run_cli(
                cli_env,
                "chargers",
                "certificates",
                "install",
                "CP1",
                "--type",
                "CSMSRootCertificate",
                str(root),
            )
        )
        call = await answer_one_call(ws, {"status": "Accepted"})
        result = await cli
        assert call[2:] == [
            "InstallCertificate",
            {"certificateType": "CentralSystemRootCertificate", "certificate": pem},
        ]
        assert result.code == 0, result.err
        assert result.out.strip() == "CP1: InstallCertificate Accepted"

        cli = asyncio.create_task(
            run_cli(
                cli_env,
                "chargers",
                "certificates",
                "install",
                "CP1",
                "--type",
                "ManufacturerRootCertificate",
                str(root),
            )
        )
        await answer_one_call(ws, {"status": "Rejected"})
        result = await cli
        assert result.code == 1
        assert "answered Rejected" in result.err


async def test_install_of_a_file_that_is_no_certificate_sends_nothing(
    cli_env: dict[str, str], csms_server: Any, tmp_path: Path
) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a certificate\n")
    async with _charger(cli_env, csms_server, await _added(cli_env)) as ws:
        result = await run_cli(
            cli_env, "chargers", "certificates", "install", "CP1", "--type", "CSMSRootCertificate",
            str(junk),
        )  # fmt: skip
        assert result.code == 1
        assert "not a PEM certificate" in result.err
        missing = await run_cli(
            cli_env, "chargers", "certificates", "install", "CP1", "--type", "CSMSRootCertificate",
            str(tmp_path / "absent.pem"),
        )  # fmt: skip
        assert missing.code == 2 and "cannot read" in missing.err
        # Nothing reached the charger: the next thing it gets is this Heartbeat's answer.
        await ws.send(json.dumps([2, "h1", "Heartbeat", {}]))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))[1] == "h1"


async def test_delete_by_serial_looks_up_the_hash_data_then_deletes(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    async with _charger(cli_env, csms_server, await _added(cli_env)) as ws:
        cli = asyncio.create_task(
            run_cli(cli_env, "chargers", "certificates", "delete", "CP1", "--serial", "002b")
        )
        await _listing(ws)
        call = await answer_one_call(ws, {"status": "Accepted"})
        result = await cli
        assert call[2:] == [
            "DeleteCertificate",
            {"certificateHashData": hash_data("2B", name_hash="cc")},
        ]
        assert result.code == 0, result.err

        cli = asyncio.create_task(
            run_cli(cli_env, "chargers", "certificates", "delete", "CP1", "--serial", "77")
        )
        await _listing(ws)
        result = await cli
        assert result.code == 1
        assert "no certificate with serial 77" in result.err and "1A" in result.err


async def test_renew_sends_extended_trigger_message(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    async with _charger(cli_env, csms_server, await _added(cli_env)) as ws:
        cli = asyncio.create_task(
            run_cli(cli_env, "chargers", "certificates", "renew", "CP1", "--json")
        )
        call = await answer_one_call(ws, {"status": "Accepted"})
        result = await cli
        assert call[2:] == [
            "ExtendedTriggerMessage",
            {"requestedMessage": "SignChargePointCertificate"},
        ]
        assert result.code == 0, result.err
        assert result.json()["status"] == "Accepted"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["install", "CP1", "root.pem"], "required: --type"),
        (["install", "CP1", "--type", "CSMSRootCertificate"], "required: FILE"),
        (["delete", "CP1"], "required: --serial"),
        (["renew"], "required: id"),
        (["CP1", "extra"], "unrecognized arguments: extra"),
        (["CP1", "--serial", "1A"], "unrecognized arguments: --serial"),
        ([], "required: ID | COMMAND"),
    ],
)
async def test_bad_certificates_usage_exits_2_saying_what_is_missing(
    cli_env: dict[str, str], args: list[str], message: str
) -> None:
    result = await run_cli(cli_env, "chargers", "certificates", *args)
    assert result.code == 2
    assert message in result.err


async def test_a_charger_named_like_a_sub_verb_is_listed_with_list(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    # `certificates renew` alone asks for an id; `certificates list renew` lists charger
    # "renew" (unknown here: the API's 404, not a usage error).
    result = await run_cli(cli_env, "chargers", "certificates", "list", "renew")
    assert result.code == 1
    assert "charger renew not found" in result.err


async def test_certificates_help_shows_all_four_forms(cli_env: dict[str, str]) -> None:
    result = await run_cli(cli_env, "chargers", "certificates", "--help")
    assert result.code == 0
    for form in (
        "csms chargers certificates ID",
        "csms chargers certificates install ID --type TYPE FILE",
        "csms chargers certificates delete ID --serial HEX",
        "csms chargers certificates renew ID",
    ):
        assert form in result.out


async def test_events_show_security_events_a_refused_connection_and_connections(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    password = await _added(cli_env)
    async with _charger(cli_env, csms_server, password) as ws:
        event = {"type": "FirmwareUpdated", "timestamp": "2026-11-22T10:00:00Z", "techInfo": "v9"}
        await ws.send(json.dumps([2, "s1", "SecurityEventNotification", event]))
        assert json.loads(await ws.recv())[0] == 3
    # Two wrong passwords: the second is over the rate (1/min) and recorded.
    for attempt in range(2):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                f"{csms_server.ocpp_url}/CP1",
                subprotocols=[Subprotocol("ocpp1.6")],
                additional_headers=basic_auth("CP1", f"wrong-guess-{attempt}"),
            ):
                pass
        assert refused.value.response.status_code == 401

    result = await run_cli(cli_env, "chargers", "events", "CP1", "--json")
    assert result.code == 0, result.err
    events = result.json()
    assert [(e["kind"], e["type"]) for e in events] == [
        ("security", AUTH_THROTTLED_EVENT),
        ("security", "FirmwareUpdated"),
        ("connection", "Connected"),
    ]
    assert set(events[0]) >= {"at", "kind", "type", "detail"}
    assert events[1]["detail"] == "v9"
    assert events[2]["detail"] == "connected from 127.0.0.1"
    assert "wrong-guess" not in result.out and password not in result.out

    security = await run_cli(cli_env, "chargers", "events", "CP1", "--security", "--json")
    assert [e["kind"] for e in security.json()] == ["security", "security"]

    paged = await run_cli(cli_env, "chargers", "events", "CP1", "--limit", "1")
    assert paged.code == 0
    assert AUTH_THROTTLED_EVENT in paged.out and "Connected" not in paged.out
    assert "add `--before " in paged.err


async def test_events_since_a_bad_date_says_the_format(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    await _added(cli_env)
    result = await run_cli(cli_env, "chargers", "events", "CP1", "--since", "22.11.2026")
    assert result.code == 1
    assert "use YYYY-MM-DD or an ISO 8601 date-time" in result.err
    today = await run_cli(cli_env, "chargers", "events", "CP1", "--since", "2999-01-01")
    assert today.code == 0 and "no events of CP1" in today.out


async def test_events_of_an_unknown_charger_say_how_to_find_chargers(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    result = await run_cli(cli_env, "chargers", "events", "NOPE")
    assert result.code == 1
    assert "charger NOPE not found" in result.err
