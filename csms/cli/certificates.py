"""``csms certificates``: the certificates csms's CA issued to chargers (SignCertificate →
CertificateSigned). ``list`` shows them newest first; ``--expiring DAYS`` the ones in use
that run out within DAYS days. The table marks those expiring within 30 days."""

from __future__ import annotations

from typing import Any

from csms.cli.context import Context
from csms.cli.options import CommandTree, int_in
from csms.cli.output import Column, field, time_field

__all__ = ["register"]

#: Days before its not-after from which a certificate is marked in the table (the daily
#: server warning uses the same: csms.domain.security.issued_certificates).
MARK_DAYS = 30

_days = int_in(0, 36500, "a number of days (a whole number such as 30)")


def _state(row: dict[str, Any]) -> str | None:
    days = row.get("expires_in_days")
    if not isinstance(days, int):
        return None
    if days < 0:
        return "EXPIRED"
    if days <= MARK_DAYS:
        return "EXPIRING"
    return None


_COLUMNS: list[Column] = [
    ("SERIAL", field("serial")),
    ("CHARGER", field("charger_id")),
    ("SUBJECT", field("subject")),
    ("ISSUED", time_field("issued_at")),
    ("NOT AFTER", time_field("not_after")),
    ("DAYS LEFT", field("expires_in_days")),
    ("", _state),
]


def cmd_certificates_list(ctx: Context) -> int:
    a = ctx.args
    rows = ctx.get("/api/certificates", charger=a.charger, expiring=a.expiring)
    if a.expiring is not None:
        empty = f"no certificate in use expires within {a.expiring} days"
    elif a.charger is not None:
        empty = f"csms has issued no certificate to {a.charger}"
    else:
        empty = "csms has issued no certificates (chargers ask with SignCertificate)"
    return ctx.rows(rows, _COLUMNS, empty)


def register(tree: CommandTree) -> None:
    """``csms certificates …``."""
    certificates = tree.noun("certificates", "certificates csms's CA issued to chargers")
    p = tree.verb(
        certificates,
        "list",
        cmd_certificates_list,
        "list issued certificates, newest first (EXPIRING: within 30 days)",
    )
    p.add_argument("--charger", metavar="ID", help="only this charger's certificates")
    p.add_argument(
        "--expiring",
        type=_days,
        metavar="DAYS",
        help="only certificates in use (each charger's newest) that expire within DAYS "
        "days, expired ones included, soonest first",
    )
