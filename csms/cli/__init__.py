"""``csms``: the operator command line (noun-verb, like ``gh`` or ``kubectl``).

``serve``, ``db`` and ``token`` work on the database directly; every other command talks
to the running server's HTTP API (``CSMS_API_URL``, token from ``CSMS_API_TOKEN`` or
``$CSMS_HOME/admin.token``). ``--json`` prints only JSON on stdout; without it the output
is for people. Errors go to stderr with a non-zero exit status: 1 for a failed command,
2 for bad usage or configuration.

This module assembles the parser from the noun modules, each of which registers its own
verbs and handlers (:mod:`~csms.cli.admin`, :mod:`~csms.cli.chargers`,
:mod:`~csms.cli.certificates`, :mod:`~csms.cli.sessions`, :mod:`~csms.cli.customers`,
:mod:`~csms.cli.billing`), and turns what a command raises into a message and an exit
status. They share
:mod:`~csms.cli.client` (the API client, exit statuses, :class:`CliError`),
:mod:`~csms.cli.output` (JSON, tables, formatters), :mod:`~csms.cli.context` (what a
handler gets: call the API, print the answer) and :mod:`~csms.cli.options` (the command
tree, argument types, shared options). A new noun is a module with a
``register(tree)`` added to ``_REGISTER``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TextIO

import httpx

from csms.cli import admin, billing, ca, certificates, chargers, customers, sessions
from csms.cli.client import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ApiClient, CliError
from csms.cli.context import Context
from csms.cli.options import CommandTree, Parser
from csms.cli.output import Output
from csms.config import ConfigError
from csms.wiring import load_settings

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ApiClient",
    "CliError",
    "build_parser",
    "main",
    "package_version",
]

#: What the exit statuses mean (the end of ``csms --help``).
_EXIT_HELP = f"""\
exit status:
  {EXIT_OK}    done (a charger command: the charger answered Accepted, Scheduled,
       Unlocked or RebootRequired)
  {EXIT_FAILED}    failed: the charger refused (Rejected, NotSupported, UnlockFailed, ...),
       or the command could not be done (not found, server unreachable, bad token)
  {EXIT_USAGE}    bad usage or configuration (an unknown option, a bad CSMS_* value)
  130  interrupted (Ctrl-C)"""

#: The nouns in the order ``csms --help`` lists them.
_REGISTER = (
    admin.register_server,
    chargers.register,
    certificates.register,
    sessions.register,
    customers.register_customers,
    customers.register_cards,
    billing.register,
    admin.register_personal_data,
    ca.register,
)


def package_version() -> str:
    """The installed csms package's version (``0`` in a source tree never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("csms")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def build_parser() -> argparse.ArgumentParser:
    """The ``csms`` parser: every noun and verb, each with ``--json``."""
    common = Parser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print only JSON"
    )
    parser = Parser(
        prog="csms",
        description="csms: OCPP central system. Commands other than serve, db and token talk "
        "to the running server (CSMS_API_URL, CSMS_API_TOKEN).",
        parents=[common],
        epilog=_EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"csms {package_version()}")
    tree = CommandTree(
        nouns=parser.add_subparsers(dest="noun", required=True, metavar="COMMAND"),
        common=common,
    )
    for register in _REGISTER:
        register(tree)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run one ``csms`` command; returns the exit status."""
    out_stream = stdout or sys.stdout
    err_stream = stderr or sys.stderr
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(out_stream), contextlib.redirect_stderr(err_stream):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out = Output(json=getattr(args, "json", False), out=out_stream, err=err_stream)
    try:
        settings = load_settings(env)
        ctx = Context(
            args=args, settings=settings, out=out, transport=transport, stdin=stdin or sys.stdin
        )
        return int(args.handler(ctx))
    except CliError as exc:
        err_stream.write(f"csms: error: {exc}\n")
        return exc.exit_code
    except ConfigError as exc:
        err_stream.write(f"csms: configuration error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err_stream.write("csms: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`csms sessions show 1 | head`): nothing more to say.
        # Later flushes of stdout at exit would fail the same way; send them nowhere.
        if stdout is None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
