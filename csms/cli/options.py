"""How the noun modules declare their commands: the command tree, the argument types
(numbers in a range, durations, lists) and the options several commands share."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn, TypeAlias

from csms.cli.client import EXIT_USAGE
from csms.cli.context import Handler

__all__ = [
    "CommandTree",
    "Parser",
    "Subject",
    "Verbs",
    "comma_list",
    "date_range_options",
    "epilog",
    "given",
    "int_in",
    "limit_option",
    "non_negative",
    "output_option",
    "port",
    "positive",
    "token_lifetime",
]

#: The subcommands of a noun (``chargers`` → ``add``, ``list``, …).
Verbs: TypeAlias = "argparse._SubParsersAction[Parser]"


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit 2 and point at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


@dataclass(frozen=True)
class Subject:
    """The positional argument naming what a verb acts on (a charger id, a session id)."""

    dest: str
    help: str
    type: Callable[[str], Any] = str


@dataclass
class CommandTree:
    """The ``csms`` parser's nouns and their verbs; every one takes the ``common`` options
    (``--json``)."""

    nouns: Verbs
    common: Parser

    def noun(self, name: str, help: str) -> Verbs:
        """A noun (``csms chargers``); its verbs are added to what this returns."""
        p = self.nouns.add_parser(name, help=help, description=help, parents=[self.common])
        return p.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    def verb(
        self,
        group: Verbs | None,
        name: str,
        handler: Handler,
        help: str,
        *,
        subject: Subject | None = None,
    ) -> argparse.ArgumentParser:
        """A command run by ``handler``: a verb of ``group``, or a noun of its own (None);
        its first argument the ``subject`` when given."""
        p = (group or self.nouns).add_parser(
            name, help=help, description=help, parents=[self.common]
        )
        p.set_defaults(handler=handler)
        if subject is not None:
            p.add_argument(subject.dest, type=subject.type, help=subject.help)
        return p

    def verbs(self, group: Verbs, name: str, help: str, description: str) -> Verbs:
        """A verb with verbs of its own (``csms chargers config get``)."""
        p = group.add_parser(
            name,
            help=help,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[self.common],
        )
        return p.add_subparsers(dest=f"{name}_verb", required=True, metavar="COMMAND")


def given(
    body: dict[str, Any], args: argparse.Namespace, *names: str, **renamed: str
) -> dict[str, Any]:
    """``body`` with the options that were given (not None) added: each of ``names``
    under its own name, each of ``renamed`` (option → field) under the field's name."""
    for dest, key in (*((n, n) for n in names), *renamed.items()):
        value = getattr(args, dest, None)
        if value is not None:
            body[key] = value
    return body


def epilog(p: argparse.ArgumentParser, text: str) -> None:
    """Text after the options in ``--help``, line breaks kept."""
    p.epilog = text
    p.formatter_class = argparse.RawDescriptionHelpFormatter


# -- argument types ---------------------------------------------------------------------


def int_in(low: int, high: int | None, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (high is not None and value > high):
            limit = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{value} must be {limit}")
        return value

    return parse


positive = int_in(1, None, "a number")
non_negative = int_in(0, None, "a number")
port = int_in(0, 65535, "a port number")


def token_lifetime(text: str) -> timedelta:
    """An argparse type: seconds, or a number with a unit: ``90s``, ``10m``, ``24h``, ``30d``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in units else (raw, "s")
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use seconds or a number with s, m, h or d (30d)"
        ) from None
    if not value > 0 or value * units[unit] > 100 * 365 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: give a duration above 0 and under 100 years")
    return timedelta(seconds=value * units[unit])


def comma_list(text: str) -> list[str]:
    """The lower-cased, non-empty items of a comma-separated argument."""
    return [c.strip().lower() for c in text.split(",") if c.strip()]


# -- options several commands share ---------------------------------------------------


def limit_option(p: argparse.ArgumentParser, *, most: int | None = None) -> None:
    """``--limit N`` (default 100), at most ``most`` when given."""
    kind = positive if most is None else int_in(1, most, "a number")
    p.add_argument("--limit", type=kind, default=100, help="at most N (default 100)")


def date_range_options(p: argparse.ArgumentParser, *, start: str, end: str) -> None:
    """``--from DATE`` and ``--to DATE`` (``args.start``, ``args.end``) with their help."""
    p.add_argument("--from", dest="start", metavar="DATE", help=start)
    p.add_argument("--to", dest="end", metavar="DATE", help=end)


def output_option(p: argparse.ArgumentParser) -> None:
    """``--output FILE``: write to a file only its owner may read instead of stdout."""
    p.add_argument(
        "--output", metavar="FILE", help="write it to FILE, readable by you only (mode 0600)"
    )
