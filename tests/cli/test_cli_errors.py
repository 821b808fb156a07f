"""What the CLI says when something is wrong: stderr, exit status, what to do."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from csms.cli import main
from tests.cli.conftest import run_cli, run_csms_process


def _run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdout=out, stderr=err, env=env)
    return code, out.getvalue(), err.getvalue()


def test_bad_argument_is_exit_2_with_the_reason(tmp_path: Path) -> None:
    code, out, err = _run(
        ["chargers", "add", "CP1", "--security-profile", "4"], {"CSMS_HOME": str(tmp_path)}
    )
    assert code == 2 and out == ""
    assert "invalid choice: 4" in err
    assert "csms chargers add --help" in err


def test_missing_required_option_names_it(tmp_path: Path) -> None:
    code, _, err = _run(["chargers", "unlock", "CP1"], {"CSMS_HOME": str(tmp_path)})
    assert code == 2
    assert "--connector" in err


def test_connector_must_be_a_positive_number(tmp_path: Path) -> None:
    code, _, err = _run(
        ["chargers", "unlock", "CP1", "--connector", "zero"], {"CSMS_HOME": str(tmp_path)}
    )
    assert code == 2
    assert "'zero' is not a number" in err


def test_bad_configuration_is_exit_2(tmp_path: Path) -> None:
    code, _, err = _run(
        ["chargers", "list"], {"CSMS_HOME": str(tmp_path), "CSMS_API_PORT": "99999"}
    )
    assert code == 2
    assert "CSMS_API_PORT" in err


async def test_unreachable_api_says_to_start_the_server(tmp_path: Path) -> None:
    env = {"CSMS_HOME": str(tmp_path), "CSMS_API_URL": "http://127.0.0.1:9", "CSMS_API_TOKEN": "x"}
    result = await run_csms_process(env, "chargers", "list", "--json")
    assert result.code == 1 and result.out == ""
    assert result.err.startswith(
        "csms: error: cannot reach the csms API at http://127.0.0.1:9: is `csms serve` running? "
        "(set CSMS_API_URL)"
    )


async def test_api_error_goes_to_stderr_with_exit_1(cli_env: dict[str, str]) -> None:
    result = await run_cli(cli_env, "chargers", "show", "NOPE", "--json")
    assert result.code == 1 and result.out == ""
    assert result.err == "csms: error: charger NOPE not found: see `csms chargers list`\n"


async def test_command_to_offline_charger_says_it_is_not_connected(
    cli_env: dict[str, str],
) -> None:
    await run_cli(cli_env, "chargers", "add", "CP1")
    result = await run_cli(cli_env, "chargers", "reset", "CP1")
    assert result.code == 1
    assert "CP1 is not connected" in result.err


async def test_no_token_says_where_tokens_come_from(csms_server: Any, tmp_path: Path) -> None:
    env = {"CSMS_HOME": str(tmp_path / "empty"), "CSMS_API_URL": csms_server.api_url}
    result = await run_cli(env, "chargers", "list")
    assert result.code == 1
    assert "no API token: CSMS_API_TOKEN is not set and there is no token file at" in result.err
    assert str(tmp_path / "empty" / "admin.token") in result.err


async def test_wrong_token_is_reported(csms_server: Any, tmp_path: Path) -> None:
    env = {
        "CSMS_HOME": str(tmp_path),
        "CSMS_API_URL": csms_server.api_url,
        "CSMS_API_TOKEN": "csms_wrong",
    }
    result = await run_cli(env, "chargers", "list")
    assert result.code == 1
    assert "invalid or revoked API token" in result.err


async def test_bad_input_rejected_by_the_api_is_explained(cli_env: dict[str, str]) -> None:
    result = await run_cli(cli_env, "customers", "add", "--name", "A", "--email", "nope")
    assert result.code == 1
    assert "is not an email address (expected name@example.com)" in result.err


def test_closed_output_pipe_ends_quietly(tmp_path: Path) -> None:
    """`csms ... | head`: once the reader has gone, the CLI stops without a traceback."""

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    err = io.StringIO()
    env = {"CSMS_HOME": str(tmp_path)}
    code = main(["db", "upgrade"], stdout=ClosedPipe(), stderr=err, env=env)
    assert code == 0
    assert "Traceback" not in err.getvalue()
