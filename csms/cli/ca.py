"""``csms ca``: csms's charging-station CA and the wss server certificate, as files under
``$CSMS_HOME`` (no server needed; the server reads them at start, so restart it after
``ca init``). See :mod:`csms.domain.security.ca`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from csms.cli.client import EXIT_OK, CliError
from csms.cli.context import Context
from csms.cli.options import CommandTree, epilog, int_in
from csms.cli.output import Column, field, when
from csms.domain.errors import DomainError
from csms.domain.security.ca import (
    CA_DAYS,
    DEFAULT_HOSTNAMES,
    SERVER_DAYS,
    CertificateFile,
    ca_files,
    describe,
    init_ca,
    issue_server_certificate,
    parse_hostname,
)

__all__ = ["register"]

_COLUMNS: list[Column] = [
    ("ROLE", field("role")),
    ("SUBJECT", field("subject")),
    ("NOT AFTER", lambda row: when(row["not_after"])),
    ("IN USE", field("in_use")),
    ("FINGERPRINT (SHA-256)", field("fingerprint")),
]


def _hostname(text: str) -> str:
    """An argparse type: a DNS name or an IP address."""
    try:
        parse_hostname(text)
    except DomainError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _view(item: CertificateFile, *, in_use: bool | None) -> dict[str, Any]:
    """``in_use``: whether the wss listener serves this server certificate (None: the CA)."""
    return {
        "role": item.role,
        "path": str(item.path),
        "subject": item.subject,
        "issuer": item.issuer,
        "serial": item.serial,
        "fingerprint": item.fingerprint,
        "not_before": _iso(item.not_before),
        "not_after": _iso(item.not_after),
        "names": list(item.names),
        "in_use": in_use,
    }


def cmd_ca_init(ctx: Context) -> int:
    args = ctx.args
    settings = ctx.settings
    hostnames = args.hostname or list(DEFAULT_HOSTNAMES)
    now = datetime.now(UTC)
    try:
        if args.server_only:
            files = issue_server_certificate(
                settings.home,
                hostnames=hostnames,
                days=args.days,
                now=now,
                organization=settings.tls.cert_org,
            )
        else:
            files = init_ca(
                settings.home,
                hostnames=hostnames,
                days=args.days,
                force=args.force,
                now=now,
                organization=settings.tls.cert_org,
            )
    except DomainError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(
            f"cannot write under {settings.home}: {exc.strerror}; check CSMS_HOME"
        ) from None
    report = {
        "ca_certificate": str(files.ca_cert),
        "ca_key": str(files.ca_key),
        "server_certificate": str(files.server_cert),
        "server_key": str(files.server_key),
        "hostnames": hostnames,
        "certificates": [
            _view(item, in_use=None if item.role == "ca" else settings.tls.cert is None)
            for item in describe(settings.home)
        ],
    }
    if ctx.out.json:
        ctx.out.data(report)
        return EXIT_OK
    out = ctx.out
    if not args.server_only:
        out.line(f"CA certificate:     {files.ca_cert}")
        out.line(f"CA key:             {files.ca_key} (keep it secret; back it up)")
    out.line(f"server certificate: {files.server_cert} (for {', '.join(hostnames)})")
    out.line(f"server key:         {files.server_key}")
    out.line()
    out.line("next:")
    out.line(
        f"  - restart `csms serve`: it serves wss on CSMS_OCPP_TLS_PORT "
        f"({settings.tls.port}) beside ws"
    )
    if settings.tls.cert is not None:
        out.line(
            f"    (CSMS_TLS_CERT is set: the server serves {settings.tls.cert} instead of "
            "this server certificate)"
        )
    if not args.server_only:
        out.line(
            f"  - install {files.ca_cert} on each charger as its CSMS root certificate "
            "(`csms chargers certificates install ID --type CSMSRootCertificate FILE`, or "
            "its own configuration) before raising it to security profile 2 or 3"
        )
    return EXIT_OK


def cmd_ca_show(ctx: Context) -> int:
    settings = ctx.settings
    try:
        found = describe(settings.home, tls_cert=settings.tls.cert)
    except DomainError as exc:
        raise CliError(str(exc)) from None
    served = "configured" if settings.tls.cert is not None else "server"
    rows = [
        _view(item, in_use=None if item.role == "ca" else item.role == served) for item in found
    ]
    if ctx.out.json:
        ctx.out.data(rows)
        return EXIT_OK
    out = ctx.out
    if not rows:
        out.line(f"no CA and no server certificate in {settings.home}: run `csms ca init`")
        return EXIT_OK
    now = datetime.now(UTC)
    for item, row in zip(found, rows, strict=True):
        label = {"ca": "CA", "server": "server", "configured": "CSMS_TLS_CERT"}[item.role]
        left = (item.not_after - now).days
        expiry = when(row["not_after"])
        expiry = f"{expiry} (in {left} days)" if item.not_after > now else f"{expiry} EXPIRED"
        pairs: list[tuple[str, Any]] = [
            ("file", row["path"]),
            ("subject", item.subject),
            ("fingerprint", item.fingerprint),
            ("not after", expiry),
        ]
        if item.names:
            pairs.append(("names", ", ".join(item.names)))
        if item.role != "ca":
            pairs.append(("served", row["in_use"]))
        out.line(f"{label}:")
        out.fields([(f"  {k}", v) for k, v in pairs])
    if not ca_files(settings.home).ca_cert.is_file():
        out.line("no CA: `csms ca init` creates one (chargers' CSRs are signed by it)")
    return EXIT_OK


_INIT_HELP = f"""\
Creates $CSMS_HOME/ca/ca.pem and ca.key (the CA that signs chargers' certificates and the
server certificate; valid {CA_DAYS} days) and $CSMS_HOME/tls/server.pem and server.key
(the certificate the wss listener serves; valid --days). Files are mode 0600.
An existing CA is kept unless --force: replacing it means the certificates it signed no
longer verify and every charger needs the new ca.pem. --server-only issues a new server
certificate from the existing CA (new hostnames, or before it expires).
Restart the server afterwards."""


def register(tree: CommandTree) -> None:
    """``csms ca init`` and ``ca show``."""
    ca = tree.noun("ca", "csms's charging-station CA and the wss server certificate (local files)")
    p = tree.verb(ca, "init", cmd_ca_init, "create the CA and a server certificate signed by it")
    p.add_argument(
        "--hostname",
        action="append",
        type=_hostname,
        metavar="NAME",
        help="a name or IP address chargers connect to (repeat it; default: "
        f"{' and '.join(DEFAULT_HOSTNAMES)}); the first is the certificate's CN",
    )
    p.add_argument(
        "--days",
        type=int_in(1, CA_DAYS, "a number of days"),
        default=SERVER_DAYS,
        help=f"validity of the server certificate (default {SERVER_DAYS})",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--force", action="store_true", help="replace an existing CA (see below)")
    group.add_argument(
        "--server-only",
        action="store_true",
        help="keep the CA; issue a new server certificate from it",
    )
    epilog(p, _INIT_HELP)
    tree.verb(
        ca, "show", cmd_ca_show, "subject, fingerprint and expiry of the CA and server certificates"
    )
