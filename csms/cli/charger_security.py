"""``csms chargers certificates …`` (what is installed on a charger, installing a root,
deleting one, renewing the charger's own certificate) and ``csms chargers events ID``
(its security events and connections).

``certificates`` takes four forms, its first word either a charger id or a sub-verb:

    csms chargers certificates ID
    csms chargers certificates install ID --type TYPE FILE
    csms chargers certificates delete ID --serial HEX
    csms chargers certificates renew ID

(``list ID`` is the first form spelled out, for a charger called list, install, delete or
renew.) A first word that is no sub-verb is taken as a charger id (:class:`_VerbOrId`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csms.cli.chargers import charger_command, show_answer
from csms.cli.client import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, segment
from csms.cli.context import Context
from csms.cli.options import CommandTree, Parser, Subject, Verbs, epilog, limit_option
from csms.cli.output import Column, Output, field, time_field

__all__ = ["register_verbs"]

_CERTIFICATE_COLUMNS: list[Column] = [
    ("TYPE", field("certificate_type")),
    ("SERIAL", field("serial")),
    ("HASH", field("hash_algorithm")),
    ("ISSUER NAME HASH", field("issuer_name_hash")),
    ("CHILD OF", field("child_of")),
]

_EVENT_COLUMNS: list[Column] = [
    ("AT", time_field("at")),
    ("KIND", field("kind")),
    ("TYPE", field("type")),
    ("SOURCE", field("source")),
    ("DETAIL", field("detail")),
]

_CHARGER = Subject("id", "charger id")
_TYPES_HELP = (
    "CSMSRootCertificate or ManufacturerRootCertificate; OCPP 2.0.1 also V2GRootCertificate, "
    "MORootCertificate"
)
# The most a certificate file may be (a PEM certificate is at most 5500 characters in OCPP;
# text around it is allowed, a file far beyond that is not a certificate file).
_MAX_FILE = 64 * 1024

_CERTIFICATES_USAGE = """\
csms chargers certificates ID [--json]
       csms chargers certificates install ID --type TYPE FILE [--json]
       csms chargers certificates delete ID --serial HEX [--json]
       csms chargers certificates renew ID [--json]"""

_CERTIFICATES_HELP = """\
forms:
  certificates ID                           list what is installed (GetInstalledCertificateIds)
  certificates install ID --type TYPE FILE  install a root CA certificate (InstallCertificate)
  certificates delete ID --serial HEX       delete the installed certificate with that serial
  certificates renew ID                     ask the charger for a new CSR (1.6
                                            ExtendedTriggerMessage, 2.0.1 TriggerMessage
                                            SignChargingStationCertificate)

TYPE is CSMSRootCertificate or ManufacturerRootCertificate (OCPP 1.6 and 2.0.1), or on
OCPP 2.0.1 V2GRootCertificate or MORootCertificate. FILE holds one PEM certificate.
`certificates list ID` is the first form spelled out (for a charger called install, delete,
list or renew)."""

_EVENTS_HELP = """\
Security events the charger reported (SecurityEventNotification) and those csms recorded
about it (refused or throttled connections, rejected CSRs, ...), kind security, and its
connections (kept 21 days), kind connection; newest first."""


def _certificates_path(charger_id: str, tail: str = "") -> str:
    return f"/api/chargers/{segment(charger_id)}/certificates" + (f"/{tail}" if tail else "")


def _show_installed(out: Output, answer: dict[str, Any]) -> None:
    certificates = answer.get("certificates") or []
    out.table(
        certificates,
        _CERTIFICATE_COLUMNS,
        f"{answer.get('charger_id')}: no certificates installed ({answer.get('status')})",
    )


def _read_certificate_file(name: str) -> str:
    path = Path(name)
    try:
        size = path.stat().st_size
        if size > _MAX_FILE:
            raise CliError(
                f"{name} is {size} bytes: a certificate file is a few kilobytes; give the "
                "PEM file of the one root certificate to install",
                exit_code=EXIT_USAGE,
            )
        return path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise CliError(
            f"{name} is not a PEM text file: convert a DER certificate with "
            f"`openssl x509 -inform der -in {name} -out {name}.pem`",
            exit_code=EXIT_USAGE,
        ) from None
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}", exit_code=EXIT_USAGE) from None


def cmd_certificates_list(ctx: Context) -> int:
    answer = ctx.get(_certificates_path(ctx.args.id))
    return ctx.result(answer, lambda x: _show_installed(ctx.out, x))


def cmd_certificates_install(ctx: Context) -> int:
    a = ctx.args
    body = {"type": a.type, "pem": _read_certificate_file(a.file)}
    return charger_command(ctx, _certificates_path(a.id), body)


def cmd_certificates_delete(ctx: Context) -> int:
    a = ctx.args
    answer = ctx.delete(_certificates_path(a.id, segment(a.serial)))
    ctx.result(answer, lambda x: show_answer(ctx.out, x))
    if answer.get("status") == "Accepted":
        return EXIT_OK
    ctx.out.note(f"csms: the charger answered {answer.get('status')}: nothing was deleted")
    return EXIT_FAILED


def cmd_certificates_renew(ctx: Context) -> int:
    code = charger_command(ctx, _certificates_path(ctx.args.id, "renew"))
    if code == EXIT_OK and not ctx.out.json:
        ctx.out.line(
            "the charger sends a CSR next (SignCertificate); see the certificate csms signs "
            f"with `csms certificates list --charger {ctx.args.id}`"
        )
    return code


def cmd_chargers_events(ctx: Context) -> int:
    a = ctx.args
    events, headers = ctx.get_page(
        f"/api/chargers/{segment(a.id)}/events",
        security="true" if a.security else None,
        since=a.since,
        limit=a.limit,
        before=a.before,
    )
    code = ctx.rows(events, _EVENT_COLUMNS, f"no events of {a.id}")
    cursor = headers.get("X-Next-Before")
    if cursor:
        # (on stderr: --json output stays a plain list)
        ctx.out.note(
            f"more events than these {len(events)}: add `--before {cursor}` for the next "
            "page (or a larger --limit, up to 1000)"
        )
    return code


if TYPE_CHECKING:
    _SubParsers = argparse._SubParsersAction[Parser]
else:
    _SubParsers = argparse._SubParsersAction


class _VerbOrId(_SubParsers):
    """The sub-verbs of ``certificates``, whose first word may be a charger id instead:
    ``certificates ID`` is ``certificates list ID``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.choices = _AnyWord(self._name_parser_map)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        if values and values[0] not in self._name_parser_map:
            values = ["list", *values]
        super().__call__(parser, namespace, values, option_string)


class _AnyWord(dict[str, Any]):
    """The sub-verbs, as argparse checks a first word against them: any word is taken
    (a word that is no sub-verb is a charger id)."""

    def __init__(self, verbs: dict[str, Any]) -> None:
        super().__init__()
        self.verbs = verbs

    def __contains__(self, word: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.verbs)

    def __len__(self) -> int:
        return len(self.verbs)


def register_verbs(tree: CommandTree, chargers: Verbs) -> None:
    """``csms chargers certificates …`` and ``csms chargers events``, verbs of
    ``chargers``."""
    help_text = "certificates on a charger: list, install, delete, renew"
    group = chargers.add_parser(
        "certificates",
        help=help_text,
        description=help_text,
        usage=_CERTIFICATES_USAGE,
        epilog=_CERTIFICATES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[tree.common],
    )
    verbs = group.add_subparsers(
        dest="certificates_verb",
        required=True,
        metavar="ID | COMMAND",
        action=_VerbOrId,
        prog=group.prog,  # (not its usage, which lists the forms)
    )
    tree.verb(
        verbs,
        "list",
        cmd_certificates_list,
        "list the certificates installed on the charger (the same as `certificates ID`)",
        subject=_CHARGER,
    )
    p = tree.verb(
        verbs,
        "install",
        cmd_certificates_install,
        "install a root CA certificate on the charger (InstallCertificate)",
        subject=_CHARGER,
    )
    p.add_argument("--type", required=True, metavar="TYPE", help=_TYPES_HELP)
    p.add_argument("file", metavar="FILE", help="the PEM file of the one certificate")
    p = tree.verb(
        verbs,
        "delete",
        cmd_certificates_delete,
        "delete an installed certificate (DeleteCertificate)",
        subject=_CHARGER,
    )
    p.add_argument(
        "--serial",
        required=True,
        metavar="HEX",
        help="its serial number, as `csms chargers certificates ID` lists it",
    )
    tree.verb(
        verbs,
        "renew",
        cmd_certificates_renew,
        "ask the charger for a new CSR for its own certificate",
        subject=_CHARGER,
    )
    p = tree.verb(
        chargers,
        "events",
        cmd_chargers_events,
        "a charger's security events and connections, newest first",
        subject=_CHARGER,
    )
    p.add_argument("--security", action="store_true", help="only security events")
    p.add_argument(
        "--since", metavar="DATE", help="from DATE: YYYY-MM-DD (midnight UTC) or ISO 8601"
    )
    limit_option(p, most=1000)
    p.add_argument("--before", metavar="CURSOR", help="the next page (printed after a full page)")
    epilog(p, _EVENTS_HELP)
