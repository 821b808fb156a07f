"""What a new operator meets first: exit statuses, --version, the help's exit codes, a
missing CSMS_CONFIG, a port in use, a CLI run where no token file is."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from csms.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from tests.api.conftest import add_charger_for, add_session
from tests.cli.conftest import CSMS, Result, answer_one_call, run_cli
from tests.gateway.conftest import basic_auth

CSMS_SIM = Path(sys.executable).with_name("csms-sim")


async def _process(
    command: Path, *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 30
) -> Result:
    """Run an installed entry point to its end (killed after ``timeout``)."""
    process = await asyncio.create_subprocess_exec(
        str(command),
        *args,
        env={**os.environ, **env},
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


# -- a charger's refusal exits 1 --------------------------------------------------------


async def test_a_refusal_by_the_charger_exits_1_and_what_it_does_exits_0(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    added = (await run_cli(cli_env, "chargers", "add", "CP1", "--json")).json()
    async with connect(
        f"{csms_server.ocpp_url}/CP1",
        subprotocols=[Subprotocol("ocpp1.6")],
        additional_headers=basic_auth("CP1", added["password"]),
    ) as ws:
        boot = [2, "b1", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "W"}]
        await ws.send(json.dumps(boot))
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"

        async def command(answer: dict[str, Any], *args: str) -> Result:
            cli = asyncio.create_task(run_cli(cli_env, *args))
            await answer_one_call(ws, answer)
            return await cli

        cases: list[tuple[dict[str, Any], list[str], int]] = [
            ({"status": "Accepted"}, ["chargers", "reset", "CP1"], EXIT_OK),
            ({"status": "Rejected"}, ["chargers", "reset", "CP1"], EXIT_FAILED),
            ({"status": "Unlocked"}, ["chargers", "unlock", "CP1", "--connector", "1"], EXIT_OK),
            (
                {"status": "NotSupported"},
                ["chargers", "unlock", "CP1", "--connector", "1"],
                EXIT_FAILED,
            ),
            ({"status": "RebootRequired"}, ["chargers", "config", "set", "CP1", "K", "1"], EXIT_OK),
            ({"status": "NotSupported"}, ["chargers", "config", "set", "CP1", "K", "1"], 1),
            ({"status": "Scheduled"}, ["chargers", "availability", "CP1", "inoperative"], 0),
            ({"status": "Rejected"}, ["sessions", "start", "CP1", "--id-tag", "T"], EXIT_FAILED),
            (
                {"configurationKey": [], "unknownKey": ["K"]},
                ["chargers", "config", "get", "CP1"],
                0,
            ),
        ]
        for answer, args, expected in cases:
            result = await command(answer, *args)
            assert result.code == expected, (args, answer, result.err)
            if expected == EXIT_FAILED:
                assert f"the charger answered {answer['status']}" in result.err
        # --json: the answer is still printed (stdout), the status says it was refused.
        result = await command({"status": "Rejected"}, "chargers", "reset", "CP1", "--json")
        assert result.code == EXIT_FAILED and result.json()["status"] == "Rejected"


def test_help_lists_the_exit_statuses() -> None:
    out = io.StringIO()
    assert main(["--help"], stdout=out, stderr=io.StringIO(), env={}) == EXIT_OK
    text = out.getvalue()
    epilog = text[text.index("exit status:") :]
    for code, meaning in (
        (EXIT_OK, "done"),
        (EXIT_FAILED, "the charger refused (Rejected, NotSupported"),
        (EXIT_USAGE, "bad usage or configuration"),
        (130, "interrupted"),
    ):
        assert f"  {code} " in epilog and meaning in epilog


# -- --version --------------------------------------------------------------------------


async def test_csms_and_csms_sim_print_the_package_version() -> None:
    expected = version("csms")
    csms = await _process(CSMS, "--version", env={})
    assert (csms.code, csms.out.strip()) == (0, f"csms {expected}")
    sim = await _process(CSMS_SIM, "--version", env={})
    assert (sim.code, sim.out.strip()) == (0, f"csms-sim {expected}")


# -- CSMS_CONFIG naming a missing file --------------------------------------------------


async def test_csms_config_naming_a_missing_file_stops_the_cli_and_the_server(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "etc" / "csms.toml"
    env = {"CSMS_HOME": str(tmp_path / "var"), "CSMS_CONFIG": str(missing)}
    cli = await run_cli(env, "chargers", "list")
    assert cli.code == EXIT_USAGE
    assert cli.err == (
        f"csms: configuration error: CSMS_CONFIG: {missing} does not exist: fix the path or "
        "unset CSMS_CONFIG\n"
    )
    served = await _process(CSMS, "serve", "--ocpp-port", "0", "--api-port", "0", env=env)
    assert served.code == EXIT_USAGE
    assert f"CSMS_CONFIG: {missing} does not exist" in served.err
    assert not (tmp_path / "var").exists()  # stopped before touching anything


async def test_a_relative_csms_config_says_where_it_looked(tmp_path: Path) -> None:
    env = {"CSMS_HOME": str(tmp_path / "var"), "CSMS_CONFIG": "conf/csms.toml"}
    result = await _process(CSMS, "chargers", "list", env=env, cwd=tmp_path)
    assert result.code == EXIT_USAGE
    assert f"CSMS_CONFIG: conf/csms.toml does not exist (looked in {tmp_path})" in result.err


# -- a port in use ----------------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_the_api_port_in_use_gets_the_same_one_line_message_as_the_ocpp_port(
    tmp_path: Path, taken_port: int
) -> None:
    env = {"CSMS_HOME": str(tmp_path), "CSMS_OCPP_HOST": "127.0.0.1", "CSMS_API_HOST": "127.0.0.1"}
    assert (await run_cli(env, "db", "upgrade")).code == 0
    port = str(taken_port)
    ocpp = await _process(CSMS, "serve", "--ocpp-port", port, "--api-port", "0", env=env)
    api = await _process(CSMS, "serve", "--ocpp-port", "0", "--api-port", port, env=env)
    expected = (
        f"csms: error: cannot start the server: [Errno 98] error while attempting to bind on "
        f"address ('127.0.0.1', {taken_port}): address already in use (is another csms using "
        "the ports? choose others with --ocpp-port/--ocpp-tls-port/--api-port)"
    )
    for result in (ocpp, api):
        assert result.code == EXIT_FAILED, result.err
        assert result.err.splitlines()[-1] == expected
        assert "Traceback" not in result.err and "ERROR" not in result.err


# -- no token file where the CLI looked -------------------------------------------------


async def test_the_cli_run_elsewhere_says_which_home_and_token_file_it_tried(
    csms_server: Any, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"CSMS_API_URL": csms_server.api_url, "CSMS_HOME": "", "CSMS_API_TOKEN": ""}
    result = await _process(CSMS, "chargers", "list", env=env, cwd=elsewhere)
    assert result.code == EXIT_FAILED
    tried = elsewhere / "var" / "admin.token"
    assert result.err.strip() == (
        f"csms: error: no API token: CSMS_API_TOKEN is not set and there is no token file at "
        f"{tried} (CSMS_HOME=var, relative to {elsewhere}); set CSMS_HOME to the server's "
        "data directory, or set CSMS_API_TOKEN (`csms token create NAME` makes one)"
    )
    # Following the advice works.
    fixed = await _process(
        CSMS,
        "chargers",
        "list",
        env={**env, "CSMS_HOME": str(csms_server.settings.home)},
        cwd=elsewhere,
    )
    assert fixed.code == 0, fixed.err


# -- reports without --owner ------------------------------------------------------------


async def test_reports_sessions_without_owner_covers_every_owner_for_an_admin(
    cli_env: dict[str, str], csms_server: Any
) -> None:
    for owner in ("ACME", "Other"):
        assert (await run_cli(cli_env, "owners", "add", owner)).code == 0
        await add_charger_for(csms_server.db, f"CP-{owner}", owner=owner)
        await add_session(csms_server.db, f"CP-{owner}", stop=True)
    every = await run_cli(cli_env, "reports", "sessions", "--json")
    assert every.code == 0, every.err
    assert sorted(r["charger_id"] for r in every.json()) == ["CP-ACME", "CP-Other"]
    table = await run_cli(cli_env, "reports", "sessions")
    assert table.code == 0 and "CP-ACME" in table.out and "CP-Other" in table.out
    owner = await run_cli(
        cli_env, "token", "create", "acme", "--role", "owner", "--owner", "ACME", "--json"
    )
    own = await run_cli(
        {**cli_env, "CSMS_API_TOKEN": owner.json()["token"]}, "reports", "sessions", "--json"
    )
    assert own.code == 0 and [r["charger_id"] for r in own.json()] == ["CP-ACME"]
