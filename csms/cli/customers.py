"""``csms customers`` and ``csms cards``: drivers, their personal data (export, erasure,
the marketing list) and their RFID cards."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from csms.cli.client import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, segment
from csms.cli.context import Context
from csms.cli.options import CommandTree, Subject, comma_list, given, output_option, positive
from csms.cli.output import Column, Output, field, time_field, when, write_private_file

__all__ = ["register_cards", "register_customers"]

_CUSTOMER_COLUMNS: list[Column] = [
    ("NUMBER", field("customer_number")),
    ("NAME", field("name")),
    ("EMAIL", field("email")),
    ("PHONE", field("phone")),
    ("CREATED", time_field("created_at")),
    ("ERASED", time_field("erased_at")),
]

_CARD_COLUMNS: list[Column] = [
    ("UID", field("uid")),
    ("STATUS", field("status")),
    ("EXPIRES", time_field("expires_at")),
    ("CUSTOMER", field("customer_number")),
    ("CREATED", time_field("created_at")),
]


def _vehicle(vehicle: dict[str, Any] | None) -> str | None:
    if not vehicle:
        return None
    return " ".join(str(vehicle[k]) for k in ("make", "model", "year") if vehicle.get(k))


def _show_customer(out: Output, c: dict[str, Any]) -> None:
    out.fields(
        [
            ("customer number", c.get("customer_number")),
            ("name", c.get("name")),
            ("email", c.get("email")),
            ("phone", c.get("phone")),
            ("address", c.get("address")),
            ("vehicle", _vehicle(c.get("vehicle"))),
            ("notify", ", ".join(c.get("notify") or []) or "none"),
            ("pin set", c.get("pin_set")),
            ("pin locked until", when(c.get("pin_locked_until"))),
            ("marketing", c.get("marketing_opt_in")),
            ("created", when(c.get("created_at"))),
            ("erased", when(c.get("erased_at"))),
        ]
    )


# -- customers --------------------------------------------------------------------------


def cmd_customers_add(ctx: Context) -> int:
    a = ctx.args
    body = given(
        {"name": a.name, "email": a.email}, a, "phone", "address", "vehicle", "pin", "notify"
    )
    return ctx.result(
        ctx.post("/api/customers", body),
        lambda c: f"added customer {c['customer_number']} ({c['name']})",
    )


def cmd_customers_list(ctx: Context) -> int:
    return ctx.rows(
        ctx.get("/api/customers"),
        _CUSTOMER_COLUMNS,
        "no customers: add one with `csms customers add`",
    )


def cmd_customers_show(ctx: Context) -> int:
    customer = ctx.get(f"/api/customers/{ctx.args.number}")
    return ctx.result(customer, lambda c: _show_customer(ctx.out, c))


def _write_output(ctx: Context, text: str) -> Path | None:
    """Write ``text`` to ``--output`` (mode 0600) and return the path, or print it on
    stdout when there is no ``--output`` (None)."""
    if ctx.args.output is None:
        ctx.out.out.write(text)
        return None
    path = Path(ctx.args.output)
    write_private_file(path, text)
    return path


def cmd_customers_export(ctx: Context) -> int:
    number = ctx.args.number
    document = ctx.get(f"/api/customers/{number}/export")
    # The export is JSON, --json or not.
    path = _write_output(ctx, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    if path is None:
        return EXIT_OK
    return ctx.result(
        {"customer_number": number, "output": str(path)},
        lambda _: f"wrote everything held about customer {number} to {path} (readable by you only)",
    )


def cmd_customers_erase(ctx: Context) -> int:
    number = ctx.args.number
    if not ctx.args.yes:
        if ctx.out.json:
            raise CliError(
                "--json cannot ask for confirmation: add --yes to erase the customer",
                exit_code=EXIT_USAGE,
            )
        if not ctx.stdin.isatty():
            raise CliError(
                "erasing a customer cannot be undone and there is no terminal to confirm it "
                "on: add --yes",
                exit_code=EXIT_USAGE,
            )
    with ctx.client() as api:
        if not ctx.args.yes:
            customer = api.get(f"/api/customers/{number}")
            if customer.get("erased_at"):
                ctx.out.line(f"customer {number} was erased on {when(customer['erased_at'])}")
                return EXIT_OK
            who = ", ".join(str(customer[k]) for k in ("name", "email") if customer.get(k))
            if not ctx.confirm(
                f"Erase customer {number} ({who}) for good? Name, contact details, address, "
                "vehicle, PIN, cards and logins are deleted; sessions stay under the number."
            ):
                ctx.out.note("not erased")
                return EXIT_FAILED
        erased = api.post(f"/api/customers/{number}/erase")
    return ctx.result(
        erased,
        lambda _: f"erased customer {number}: identity removed; sessions stay under the number",
    )


def cmd_customers_marketing_export(ctx: Context) -> int:
    if ctx.out.json:
        raise CliError("the marketing export is CSV: leave out --json", exit_code=EXIT_USAGE)
    text = ctx.get_text("/api/marketing/export")
    path = _write_output(ctx, text)
    if path is not None:
        count = max(0, text.count("\r\n") - 1)
        ctx.out.line(f"wrote {count} opted-in customer(s) to {path} (readable by you only)")
    return EXIT_OK


_CUSTOMER = Subject("number", "customer number", positive)


def _notify_channels(text: str) -> list[str]:
    """An argparse type: ``email``, ``sms``, ``email,sms`` or ``none``."""
    wanted = comma_list(text)
    if wanted == ["none"]:
        return []
    if not wanted or any(c not in ("email", "sms") for c in wanted):
        raise argparse.ArgumentTypeError(f"{text!r}: use email, sms, email,sms or none")
    return sorted(set(wanted))


def register_customers(tree: CommandTree) -> None:
    """``csms customers …``."""
    customers = tree.noun("customers", "customers (drivers) and their personal data")
    p = tree.verb(customers, "add", cmd_customers_add, "add a customer")
    p.add_argument("--name", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--phone", help="international, with + and country code: +4930123456")
    p.add_argument("--address", help="postal address")
    p.add_argument("--vehicle", metavar="MAKE/MODEL/YEAR", help="e.g. Renault/Zoe/2021")
    p.add_argument("--pin", help="touchscreen PIN, 4-8 digits (stored as a salted hash only)")
    p.add_argument(
        "--notify",
        type=_notify_channels,
        metavar="email,sms",
        help="how to tell the driver the car is done: email, sms, email,sms or none",
    )
    tree.verb(customers, "list", cmd_customers_list, "list customers")
    tree.verb(customers, "show", cmd_customers_show, "show a customer", subject=_CUSTOMER)
    p = tree.verb(
        customers,
        "export",
        cmd_customers_export,
        "everything held about a customer, as JSON (their right of access)",
        subject=_CUSTOMER,
    )
    output_option(p)
    p = tree.verb(
        customers,
        "erase",
        cmd_customers_erase,
        "erase a customer's identity for good (sessions stay under the number)",
        subject=_CUSTOMER,
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p = tree.verb(
        customers,
        "marketing-export",
        cmd_customers_marketing_export,
        "the customers who opted in to marketing, as CSV with their unsubscribe links",
    )
    output_option(p)


# -- cards ------------------------------------------------------------------------------


def cmd_cards_add(ctx: Context) -> int:
    a = ctx.args
    body = given({"uid": a.uid}, a, customer="customer_number", expires="expires", group="group")

    def text(card: dict[str, Any]) -> str:
        owner = f" for customer {card['customer_number']}" if card.get("customer_number") else ""
        expiry = f", expires {when(card['expires_at'])}" if card.get("expires_at") else ""
        return f"added card {card['uid']}{owner}{expiry}"

    return ctx.result(ctx.post("/api/cards", body), text)


def cmd_cards_list(ctx: Context) -> int:
    cards = ctx.get(
        "/api/cards",
        customer=ctx.args.customer,
        masked="true" if ctx.args.masked else None,
    )
    return ctx.rows(cards, _CARD_COLUMNS, "no cards: add one with `csms cards add UID`")


def _card_status(ctx: Context, verb: str) -> int:
    return ctx.result(
        ctx.post(f"/api/cards/{segment(ctx.args.uid)}/{verb}"),
        lambda card: f"card {card['uid']} is {card['status']}",
    )


def cmd_cards_block(ctx: Context) -> int:
    return _card_status(ctx, "block")


def cmd_cards_unblock(ctx: Context) -> int:
    return _card_status(ctx, "unblock")


def register_cards(tree: CommandTree) -> None:
    """``csms cards …``."""
    cards = tree.noun("cards", "RFID cards")
    p = tree.verb(cards, "add", cmd_cards_add, "add a card")
    p.add_argument("uid", help="the card UID as chargers report it")
    p.add_argument("--customer", type=positive, help="customer number")
    p.add_argument("--expires", metavar="DATE", help="YYYY-MM-DD (valid through that day, UTC)")
    p.add_argument(
        "--group", metavar="GROUP", help="group id chargers get as parentIdTag/groupIdToken"
    )
    p = tree.verb(cards, "list", cmd_cards_list, "list cards (full UIDs unless --masked)")
    p.add_argument("--customer", type=positive, help="only this customer number's cards")
    p.add_argument("--masked", action="store_true", help="show only the last 4 UID characters")
    for verb, handler, text in (
        ("block", cmd_cards_block, "block a card"),
        ("unblock", cmd_cards_unblock, "unblock a card"),
    ):
        tree.verb(cards, verb, handler, text, subject=Subject("uid", "card UID"))
