"""``csms chargers certificates …`` (what is installed on a charger, installing a root,
deleting one, renewing the charger's own certificate) and ``csms chargers events ID``
(its security events and connections).

``certificates`` takes four forms, its first word either a charger id or a sub-verb:

    csms chargers certificates ID
    csms chargers certificates install ID --type TYPE FILE
    csms chargers certificates delete ID --serial HEX
    csms chargers certificates renew ID

(``list ID`` is the first form spelled out, for a charger called install, delete or renew.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csms.cli.chargers import charger_command, show_answer
from csms.cli.client import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, segment
from csms.cli.context import Context
from csms.cli.options import CommandTree, Verbs, epilog, limit_option
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

_SUB_VERBS = ("list", "install", "delete", "renew")
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
`certificates list ID` is the first form, for a charger whose id is a sub-verb."""

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


def _usage(message: str) -> CliError:
    return CliError(
        f"{message}; the forms are:\n  {_CERTIFICATES_USAGE.replace('       ', '  ')}",
        exit_code=EXIT_USAGE,
    )


def cmd_chargers_certificates(ctx: Context) -> int:
    a = ctx.args
    words: list[str] = a.words
    verb = words[0] if words[0] in _SUB_VERBS and len(words) > 1 else None
    if verb is None:
        if len(words) != 1:
            raise _usage(f"unexpected {' '.join(words[1:])!r} after the charger id")
        verb, charger_id, rest = "list", words[0], []
    else:
        charger_id, rest = words[1], words[2:]
    if verb != "install" and a.type is not None:
        raise _usage("--type is for `certificates install`")
    if verb != "delete" and a.serial is not None:
        raise _usage("--serial is for `certificates delete`")
    if verb == "install":
        if len(rest) != 1 or a.type is None:
            raise _usage("install needs --type TYPE and the certificate FILE")
        body = {"type": a.type, "pem": _read_certificate_file(rest[0])}
        return charger_command(ctx, _certificates_path(charger_id), body)
    if rest:
        raise _usage(f"unexpected {' '.join(rest)!r}")
    if verb == "list":
        answer = ctx.get(_certificates_path(charger_id))
        return ctx.result(answer, lambda x: _show_installed(ctx.out, x))
    if verb == "renew":
        code = charger_command(ctx, _certificates_path(charger_id, "renew"))
        if code == EXIT_OK and not ctx.out.json:
            ctx.out.line(
                "the charger sends a CSR next (SignCertificate); see the certificate csms "
                f"signs with `csms certificates list --charger {charger_id}`"
            )
        return code
    if a.serial is None:
        raise _usage("delete needs --serial HEX (see `csms chargers certificates ID`)")
    answer = ctx.delete(_certificates_path(charger_id, segment(a.serial)))
    ctx.result(answer, lambda x: show_answer(ctx.out, x))
    if answer.get("status") == "Accepted":
        return EXIT_OK
    ctx.out.note(f"csms: the charger answered {answer.get('status')}: nothing was deleted")
    return EXIT_FAILED


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


def register_verbs(tree: CommandTree, chargers: Verbs) -> None:
    """``csms chargers certificates …`` and ``csms chargers events``, verbs of
    ``chargers``."""
    p = tree.verb(
        chargers,
        "certificates",
        cmd_chargers_certificates,
        "certificates on a charger: list, install, delete, renew",
    )
    p.usage = _CERTIFICATES_USAGE
    p.add_argument(
        "words",
        nargs="+",
        metavar="ID | install ID FILE | delete ID | renew ID",
        help="a charger id, or a sub-verb and the charger id (and FILE for install)",
    )
    p.add_argument("--type", metavar="TYPE", help="install: the certificate type")
    p.add_argument("--serial", metavar="HEX", help="delete: the installed certificate's serial")
    epilog(p, _CERTIFICATES_HELP)
    p = tree.verb(
        chargers,
        "events",
        cmd_chargers_events,
        "a charger's security events and connections, newest first",
    )
    p.add_argument("id", help="charger id")
    p.add_argument("--security", action="store_true", help="only security events")
    p.add_argument(
        "--since", metavar="DATE", help="from DATE: YYYY-MM-DD (midnight UTC) or ISO 8601"
    )
    limit_option(p, most=1000)
    p.add_argument("--before", metavar="CURSOR", help="the next page (printed after a full page)")
    epilog(p, _EVENTS_HELP)
