"""The shape of the ``csms`` CLI package: the nouns in the order ``csms --help`` lists
them, ``python -m csms.cli`` (what the benchmark runs), and no noun module grown past
what one person reads in a sitting."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import csms.cli
from csms.cli import EXIT_OK, build_parser, main
from csms.cli.options import given

NOUNS = [
    "serve",
    "db",
    "token",
    "chargers",
    "certificates",
    "sessions",
    "customers",
    "cards",
    "owners",
    "reports",
    "tariffs",
    "invoices",
    "outbox",
    "retention",
    "keys",
    "ca",
]


def test_the_nouns_are_registered_in_the_order_the_help_lists_them() -> None:
    [subcommands] = [
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ]
    assert list(subcommands.choices) == NOUNS
    out = io.StringIO()
    assert main(["--help"], stdout=out, stderr=io.StringIO(), env={}) == EXIT_OK
    help_text = out.getvalue()
    listed = re.findall(r"^    ([a-z]+)\b", help_text, flags=re.MULTILINE)
    assert listed == NOUNS


def test_python_dash_m_csms_cli_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "csms.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"csms {version('csms')}")


def test_given_adds_only_the_options_given_under_their_field_names() -> None:
    args = argparse.Namespace(connector=2, evse=None, reason="stuck", meter_stop=0)
    body = given({"a": 1}, args, "reason", "missing", connector="connector_id", evse="evse_id")
    assert body == {"a": 1, "reason": "stuck", "connector_id": 2}
    assert given({}, args, meter_stop="meter_stop_wh") == {"meter_stop_wh": 0}  # 0 is given


def test_no_cli_module_is_longer_than_600_lines() -> None:
    package = Path(csms.cli.__file__).parent
    lengths = {p.name: len(p.read_text().splitlines()) for p in package.glob("*.py")}
    assert len(lengths) > 5
    assert {name: n for name, n in lengths.items() if n > 600} == {}
