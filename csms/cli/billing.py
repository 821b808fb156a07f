"""The money side: ``csms owners`` and ``csms reports`` (station owners and their
revenue), ``csms tariffs``, ``csms invoices`` (held ones released or adjusted) and
``csms outbox`` (the deliveries after commits: billing, card charges, email, SMS)."""

from __future__ import annotations

from typing import Any

from csms.cli.client import EXIT_OK, EXIT_USAGE, CliError, segment
from csms.cli.context import Context
from csms.cli.options import (
    CommandTree,
    Subject,
    date_range_options,
    epilog,
    given,
    int_in,
    limit_option,
    positive,
)
from csms.cli.output import Column, Output, field, kwh, money, time_field, when
from csms.domain.model import PAYMENT_STATUSES

__all__ = ["register", "show_invoice_lines"]

_OWNER_COLUMNS: list[Column] = [
    ("NAME", field("name")),
    ("CHARGERS", field("chargers")),
    ("CREATED", time_field("created_at")),
]

_REPORT_COLUMNS: list[Column] = [
    ("SESSION", field("session_id")),
    ("CHARGER", field("charger_id")),
    ("CONNECTOR", field("connector_id")),
    ("STARTED", time_field("started_at")),
    ("STOPPED", time_field("stopped_at")),
    ("KWH", lambda r: kwh(r.get("energy_wh"))),
    ("BILLED", lambda r: f"{r['billed']} {r['currency']}" if r.get("billed") else None),
    ("COLLECTED", lambda r: f"{r['amount']} {r['currency']}" if r.get("amount") else None),
    ("CUSTOMER", field("customer_number")),
    ("METHOD", field("auth_method")),
]

_TARIFF_COLUMNS: list[Column] = [
    ("NAME", field("name")),
    ("CURRENCY", field("currency")),
    ("PER KWH", field("per_kwh")),
    ("PER HOUR", field("per_hour")),
    ("SESSION", field("session_fee")),
    ("IDLE/MIN", field("idle_fee_per_minute")),
    ("GRACE MIN", field("idle_grace_minutes")),
    ("TAX %", field("tax_rate")),
    ("DEFAULT", field("default")),
    ("CHARGERS", lambda t: ", ".join(t.get("chargers") or []) or None),
]

_INVOICE_COLUMNS: list[Column] = [
    ("INVOICE", field("id")),
    ("NUMBER", field("number")),
    ("SESSION", field("session_id")),
    ("CUSTOMER", field("customer_number")),
    ("TOTAL", money),
    ("PAYMENT", field("payment_status")),
    ("DECLINES", field("declines")),
    ("CREATED", time_field("created_at")),
]

#: ``csms invoices list --held``: what an operator decides on, and why it was held.
_HELD_INVOICE_COLUMNS: list[Column] = [
    *(c for c in _INVOICE_COLUMNS if c[0] not in ("PAYMENT", "DECLINES")),
    ("REASON", field("held_reason")),
]

_PAYMENT_ATTEMPT_COLUMNS: list[Column] = [
    ("ATTEMPT AT", time_field("at")),
    ("STATUS", field("status")),
    ("AMOUNT", field("amount")),
    ("DECLINE", field("decline_code")),
    ("REFERENCE", field("reference")),
]

_OUTBOX_COLUMNS: list[Column] = [
    ("ID", field("id")),
    ("TOPIC", field("topic")),
    ("KEY", field("key")),
    ("STATUS", field("status")),
    ("ATTEMPTS", field("attempts")),
    ("NEXT", time_field("next_attempt_at")),
    (
        "RESULT / ERROR",
        lambda r: r.get("last_error") if r.get("status") != "done" else r.get("result"),
    ),
]


def show_invoice_lines(out: Output, invoice: dict[str, Any]) -> None:
    """An invoice's lines, net, tax and total as a table, then its payment status."""
    currency = invoice["currency"]
    rows = [
        {
            "item": line["description"],
            "quantity": f"{line['quantity']} {line['unit']}",
            "price": line["unit_price"],
            "amount": f"{line['amount']} {currency}",
        }
        for line in invoice["lines"]
    ]
    rows.append({"item": "net", "amount": f"{invoice['net']} {currency}"})
    rows.append(
        {"item": f"tax ({invoice['tax_rate']} %)", "amount": f"{invoice['tax']} {currency}"}
    )
    rows.append({"item": "total", "amount": f"{invoice['total']} {currency}"})
    out.table(
        rows,
        [
            (f"INVOICE {invoice['id']}", field("item")),
            ("QUANTITY", field("quantity")),
            ("UNIT PRICE", field("price")),
            ("AMOUNT", field("amount")),
        ],
        "no lines",
    )
    payment = invoice["payment_status"]
    if invoice.get("decline_code"):
        payment += f" (declined {invoice['declines']}x: {invoice['decline_code']})"
    if payment == "held":
        payment += (
            f" ({invoice.get('held_reason')}): `csms invoices release {invoice['id']}` or "
            f"`csms invoices adjust {invoice['id']} --energy-kwh X`"
        )
    out.line(f"payment: {payment}")


# -- owners and reports -----------------------------------------------------------------


def cmd_owners_add(ctx: Context) -> int:
    return ctx.result(
        ctx.post("/api/owners", {"name": ctx.args.name}),
        lambda owner: f"added owner {owner['name']}",
    )


def cmd_owners_list(ctx: Context) -> int:
    return ctx.rows(
        ctx.get("/api/owners"), _OWNER_COLUMNS, "no owners: add one with `csms owners add NAME`"
    )


def cmd_reports_sessions(ctx: Context) -> int:
    a = ctx.args
    if ctx.out.json and a.format == "csv":
        raise CliError(
            "--json prints JSON: leave out --format csv (or --json)", exit_code=EXIT_USAGE
        )
    params = {"owner": a.owner, "from": a.start, "to": a.end}
    if a.format == "csv":
        ctx.out.out.write(ctx.get_text("/api/reports/sessions", format="csv", **params))
        return EXIT_OK
    rows = ctx.get("/api/reports/sessions", format="json", **params)
    if a.format == "json":
        ctx.out.data(rows)
        return EXIT_OK
    return ctx.rows(rows, _REPORT_COLUMNS, "no sessions in this period")


# -- tariffs ----------------------------------------------------------------------------


def cmd_tariffs_add(ctx: Context) -> int:
    a = ctx.args
    body = {
        "name": a.name,
        "currency": a.currency,
        "per_kwh": a.per_kwh,
        "per_hour": a.per_hour,
        "session_fee": a.session_fee,
        "idle_fee_per_minute": a.idle_fee,
        "idle_grace_minutes": a.idle_grace,
        "tax_rate": a.tax_rate,
    }
    return ctx.result(
        ctx.post("/api/tariffs", body),
        lambda t: (
            f"added tariff {t['name']}: {t['per_kwh']} {t['currency']}/kWh; "
            f"assign it with `csms tariffs assign {t['name']} --charger ID` (or --default)"
        ),
    )


def cmd_tariffs_list(ctx: Context) -> int:
    return ctx.rows(
        ctx.get("/api/tariffs"),
        _TARIFF_COLUMNS,
        "no tariffs: add one with `csms tariffs add NAME`",
    )


def cmd_tariffs_assign(ctx: Context) -> int:
    a = ctx.args
    if (a.charger is None) == (not a.default):
        raise CliError(
            "say where the tariff applies: --charger ID, or --default for every charger "
            "without a tariff of its own",
            exit_code=EXIT_USAGE,
        )
    tariff = ctx.post(f"/api/tariffs/{segment(a.name)}/assign", {"charger_id": a.charger})
    where = f"charger {a.charger}" if a.charger else "every charger without its own tariff"
    return ctx.result(
        tariff, lambda t: f"sessions starting from now on {where} are billed under {t['name']}"
    )


# -- invoices ---------------------------------------------------------------------------


def cmd_invoices_list(ctx: Context) -> int:
    a = ctx.args
    if a.held and a.status not in (None, "held"):
        raise CliError("--held lists held invoices: leave out --status", exit_code=EXIT_USAGE)
    status = "held" if a.held else a.status
    invoices = ctx.get("/api/invoices", customer=a.customer, status=status, limit=a.limit)
    if a.held:
        return ctx.rows(invoices, _HELD_INVOICE_COLUMNS, "no held invoices")
    return ctx.rows(invoices, _INVOICE_COLUMNS, "no invoices")


def _invoice_done(ctx: Context, invoice: dict[str, Any], what: str) -> int:
    return ctx.result(
        invoice,
        lambda i: (
            f"invoice {i['id']} ({i.get('number') or 'no number'}) {what}: "
            f"total {money(i)}, payment {i['payment_status']}"
        ),
    )


def cmd_invoices_release(ctx: Context) -> int:
    return _invoice_done(ctx, ctx.post(f"/api/invoices/{ctx.args.id}/release"), "released")


def cmd_invoices_adjust(ctx: Context) -> int:
    a = ctx.args
    body = given({"energy_kwh": a.energy_kwh}, a, "reason")
    invoice = ctx.post(f"/api/invoices/{a.id}/adjust", body)
    return _invoice_done(ctx, invoice, f"adjusted to {a.energy_kwh} kWh and released")


def _adjusted_kwh(invoice: dict[str, Any]) -> str | None:
    text = kwh(invoice.get("adjusted_energy_wh"))
    return None if text is None else f"{text} kWh"


def _seller_fields(seller: dict[str, Any] | None) -> list[tuple[str, Any]]:
    if not seller:
        return []
    address = seller.get("address")
    return [
        ("seller", seller.get("name")),
        ("seller address", address.replace("\n", ", ") if address else None),
        ("seller VAT id", seller.get("vat_id")),
    ]


def _show_invoice(out: Output, invoice: dict[str, Any]) -> None:
    card = invoice.get("card")
    out.fields(
        [
            ("invoice", invoice["id"]),
            ("number", invoice.get("number")),
            ("session", invoice["session_id"]),
            ("customer", invoice.get("customer_number")),
            ("created", when(invoice.get("created_at"))),
            ("paid", when(invoice.get("paid_at"))),
            ("card", f"{card['brand']} •••• {card['last4']}" if card else None),
            ("processor reference", invoice.get("payment_reference")),
            ("held", invoice.get("held_reason")),
            ("released", when(invoice.get("released_at"))),
            ("adjusted energy", _adjusted_kwh(invoice)),
            ("adjust reason", invoice.get("adjust_reason")),
            *_seller_fields(invoice.get("seller")),
        ]
    )
    out.line()
    show_invoice_lines(out, invoice)
    attempts = invoice.get("payment_attempts") or []
    if attempts:
        out.line()
        out.table(attempts, _PAYMENT_ATTEMPT_COLUMNS, "")


def cmd_invoices_show(ctx: Context) -> int:
    invoice = ctx.get(f"/api/invoices/{ctx.args.id}")
    return ctx.result(invoice, lambda i: _show_invoice(ctx.out, i))


# -- outbox -----------------------------------------------------------------------------


def cmd_outbox_list(ctx: Context) -> int:
    status = "failed" if ctx.args.failed else ctx.args.status
    rows = ctx.get("/api/outbox", status=status, limit=ctx.args.limit)
    empty = "no failed deliveries" if status == "failed" else "the outbox is empty"
    return ctx.rows(rows, _OUTBOX_COLUMNS, empty)


def cmd_outbox_retry(ctx: Context) -> int:
    return ctx.result(
        ctx.post(f"/api/outbox/{ctx.args.id}/retry"),
        lambda row: f"outbox {row['id']} ({row['topic']}) is queued again: due now",
    )


# -- the parser -------------------------------------------------------------------------

_TARIFF_HELP = """\
A session is billed under the tariff in force on its charger when it started. Each amount
is rounded half-up to the currency's minor unit (cents) as it is computed: every line,
then the tax on their sum. A tariff never changes: for a new price, add a new tariff and
assign it."""


def register(tree: CommandTree) -> None:
    """``csms owners``, ``reports``, ``tariffs``, ``invoices`` and ``outbox``."""
    owners = tree.noun("owners", "station owners")
    tree.verb(owners, "add", cmd_owners_add, "add an owner").add_argument("name")
    tree.verb(owners, "list", cmd_owners_list, "list owners")

    reports = tree.noun("reports", "reports for station owners (no driver identity)")
    p = tree.verb(
        reports,
        "sessions",
        cmd_reports_sessions,
        "the sessions on an owner's (or every) charger: times, energy, amount, customer number",
    )
    p.add_argument(
        "--owner",
        help="owner name (default: every owner's for an admin or operator token; "
        "an owner token: its own)",
    )
    date_range_options(
        p,
        start="YYYY-MM-DD (from midnight UTC) or ISO 8601",
        end="YYYY-MM-DD (through that day, UTC) or ISO 8601",
    )
    p.add_argument(
        "--format", choices=["csv", "json"], help="csv or json (default: a table for people)"
    )

    tariffs = tree.noun("tariffs", "prices: per kWh, per hour, per session, idle fee, tax")
    p = tree.verb(
        tariffs, "add", cmd_tariffs_add, "add a tariff (prices net of tax; never changed)"
    )
    p.add_argument("name")
    p.add_argument("--per-kwh", default="0", metavar="X", help="price per kWh, e.g. 0.39")
    p.add_argument("--per-hour", default="0", metavar="X", help="price per hour plugged in")
    p.add_argument("--session-fee", default="0", metavar="X", help="price per session")
    p.add_argument(
        "--idle-fee",
        default="0",
        metavar="X",
        help="per full minute plugged in after charging is done (after --idle-grace)",
    )
    p.add_argument(
        "--idle-grace", type=int_in(0, 1440, "a number of minutes"), default=0, metavar="MIN"
    )
    p.add_argument("--tax-rate", default="0", metavar="PCT", help="percent added, e.g. 19")
    p.add_argument("--currency", default="EUR", help="ISO 4217 code (default EUR)")
    epilog(p, _TARIFF_HELP)
    tree.verb(tariffs, "list", cmd_tariffs_list, "list tariffs and where they are in force")
    p = tree.verb(
        tariffs,
        "assign",
        cmd_tariffs_assign,
        "bill sessions that start from now on on a charger (or by default) under a tariff",
    )
    p.add_argument("name")
    p.add_argument("--charger", metavar="ID", help="the charger")
    p.add_argument(
        "--default", action="store_true", help="every charger without a tariff of its own"
    )

    invoices = tree.noun("invoices", "invoices of billed sessions and their payment")
    p = tree.verb(invoices, "list", cmd_invoices_list, "list invoices, newest first")
    p.add_argument("--customer", type=positive, help="only this customer number's invoices")
    p.add_argument(
        "--status",
        choices=list(PAYMENT_STATUSES),
        help="only invoices with this payment status",
    )
    limit_option(p)
    p.add_argument(
        "--held",
        action="store_true",
        help="only held invoices (implausible sessions, never charged), with the reason",
    )
    tree.verb(
        invoices,
        "show",
        cmd_invoices_show,
        "show an invoice and its payment attempts",
        subject=Subject("id", "invoice id", positive),
    )
    held = Subject("id", "invoice id (`csms invoices list --held`)", positive)
    p = tree.verb(
        invoices,
        "release",
        cmd_invoices_release,
        "charge a held invoice as billed (card charge and receipt go out)",
        subject=held,
    )
    p = tree.verb(
        invoices,
        "adjust",
        cmd_invoices_adjust,
        "price a held invoice again from the corrected energy, then release it",
        subject=held,
    )
    p.add_argument(
        "--energy-kwh", required=True, metavar="X", help="the energy to bill, in kWh (12.5)"
    )
    p.add_argument("--reason", metavar="TEXT", help="why (kept on the invoice)")

    outbox = tree.noun("outbox", "deliveries after commits: billing, card charges, email, SMS")
    p = tree.verb(outbox, "list", cmd_outbox_list, "list deliveries, newest first")
    p.add_argument("--failed", action="store_true", help="only those that failed for good")
    p.add_argument("--status", choices=["pending", "done", "failed"], help="only this status")
    limit_option(p)
    tree.verb(
        outbox,
        "retry",
        cmd_outbox_retry,
        "queue a failed delivery again",
        subject=Subject("id", "outbox id (`csms outbox list --failed`)", positive),
    )
