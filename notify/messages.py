"""The texts drivers get: "your EV is done charging" and the receipt, as email (plain text
and HTML) and as SMS. Pure functions of the session's facts; no I/O.

Times are shown in UTC with the zone named (csms keeps no time zone per customer).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta

from csms.domain.billing.pricing import format_money

__all__ = [
    "EmailText",
    "InvoiceFacts",
    "SessionFacts",
    "charging_done_email",
    "charging_done_sms",
    "receipt_email",
    "receipt_sms",
    "registration_attempt_email",
]

PRODUCT = "csms"


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    currency: str
    lines: list[dict[str, str]]
    net_minor: int
    tax_rate: str
    tax_minor: int
    total_minor: int
    payment_status: str
    #: The card chosen at billing: "visa •••• 4242"; "" when csms no longer holds it; None
    #: when there was none.
    card: str | None = None
    #: "2026-000001" (None: an invoice from before numbering had none).
    number: str | None = None
    #: Who sold the charging, as on the invoice: {"name", "address", "vat_id"}.
    seller: dict[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What a message about one session says."""

    session_id: int
    customer_number: int
    name: str | None
    charger: str
    connector_id: int
    started_at: datetime
    stopped_at: datetime | None
    charging_done_at: datetime | None
    energy_wh: int | None
    invoice: InvoiceFacts | None = None
    #: From the tariff, for "done charging": idle fee per minute and its grace period.
    idle_fee: str | None = None
    idle_grace_minutes: int = 0
    unsubscribe_url: str | None = None


@dataclass(frozen=True, slots=True)
class EmailText:
    subject: str
    text: str
    html: str


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def _kwh(energy_wh: int | None) -> str:
    return "unknown" if energy_wh is None else f"{energy_wh / 1000:.3f} kWh"


def _duration(start: datetime, stop: datetime | None) -> str:
    if stop is None or stop < start:
        return "-"
    minutes = int((stop - start) / timedelta(minutes=1))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _greeting(facts: SessionFacts) -> str:
    return f"Hello {facts.name}," if facts.name else "Hello,"


def _paragraphs(paragraphs: list[str]) -> str:
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


def _html(
    paragraphs: list[str],
    table: list[tuple[str, str]] | None = None,
    closing: list[str] | None = None,
    *,
    letterhead: list[str] | None = None,
) -> str:
    """An HTML body: the ``letterhead`` lines (one paragraph), ``paragraphs``, then
    ``table``, then the ``closing`` paragraphs."""
    body = ""
    if letterhead:
        body += "<p>" + "<br>".join(html.escape(line) for line in letterhead) + "</p>"
    body += _paragraphs(paragraphs)
    if table:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td style='text-align:right'>{html.escape(v)}</td></tr>"
            for k, v in table
        )
        body += f"<table cellpadding='4'>{rows}</table>"
    body += _paragraphs(closing or [])
    return f"<!DOCTYPE html><html><body>{body}</body></html>"


def charging_done_email(facts: SessionFacts) -> EmailText:
    where = f"{facts.charger}, connector {facts.connector_id}"
    lines = [
        _greeting(facts),
        f"your EV at {where} is done charging ({_time(facts.charging_done_at)}). "
        f"It has taken {_kwh(facts.energy_wh)} so far.",
    ]
    if facts.idle_fee:
        lines.append(
            f"Please unplug and move your car: after {facts.idle_grace_minutes} minutes an "
            f"idle fee of {facts.idle_fee} per minute applies."
        )
    else:
        lines.append("Please unplug and move your car to free the charger for the next driver.")
    lines.append(f"Session {facts.session_id}, customer number {facts.customer_number}.")
    return EmailText(
        subject="Your EV is done charging",
        text="\n\n".join(lines) + "\n",
        html=_html(lines),
    )


def charging_done_sms(facts: SessionFacts) -> str:
    text = (
        f"{PRODUCT}: your EV at {facts.charger} is done charging "
        f"({_kwh(facts.energy_wh)}). Please unplug to free the charger."
    )
    if facts.idle_fee:
        text += f" Idle fee {facts.idle_fee}/min after {facts.idle_grace_minutes} min."
    return text


def _money(minor: int, currency: str) -> str:
    return f"{format_money(minor, currency)} {currency}"


def _payment_line(invoice: InvoiceFacts) -> str:
    """How the invoice is paid: what stays true while the payment goes through (a receipt
    delivered again says the same)."""
    status = invoice.payment_status
    if status == "not_required":
        return "Nothing to pay."
    if status == "pending":
        return "You will be asked to pay for this session separately."
    if invoice.card:
        return f"The total is charged to your card {invoice.card}."
    if invoice.card is not None:
        return "The total is charged to your card."
    return "Please add a card in the app to pay for this session."


def _seller_lines(invoice: InvoiceFacts | None) -> list[str]:
    """The seller's name, address (one line per address line) and VAT id, as a business's
    invoice states them."""
    seller = (invoice.seller if invoice is not None else None) or {}
    lines: list[str] = []
    if seller.get("name"):
        lines.append(str(seller["name"]))
    address = seller.get("address")
    if address:
        lines.extend(part.strip() for part in str(address).splitlines() if part.strip())
    if seller.get("vat_id"):
        lines.append(f"VAT id {seller['vat_id']}")
    return lines


#: An SMS names the seller in at most this many characters (one SMS is 160 characters of
#: the GSM alphabet: the cut adds no ellipsis, which would make it a 70-character UCS-2 one).
_SMS_SELLER_CHARS = 30


def receipt_email(facts: SessionFacts) -> EmailText:
    table: list[tuple[str, str]] = [
        ("Charger", f"{facts.charger}, connector {facts.connector_id}"),
        ("Started", _time(facts.started_at)),
        ("Stopped", _time(facts.stopped_at)),
        ("Duration", _duration(facts.started_at, facts.stopped_at)),
        ("Energy", _kwh(facts.energy_wh)),
    ]
    paragraphs = [_greeting(facts), "thank you for charging with us. Your receipt:"]
    invoice = facts.invoice
    if invoice is not None and invoice.number:
        table.insert(0, ("Invoice", invoice.number))
    if invoice is None:
        table.append(("Cost", "not billed"))
    else:
        for line in invoice.lines:
            table.append(
                (
                    f"{line['description']} ({line['quantity']} {line['unit']} × "
                    f"{line['unit_price']})",
                    f"{line['amount']} {invoice.currency}",
                )
            )
        table.append(("Net", _money(invoice.net_minor, invoice.currency)))
        table.append((f"Tax ({invoice.tax_rate} %)", _money(invoice.tax_minor, invoice.currency)))
        table.append(("Total", _money(invoice.total_minor, invoice.currency)))
    closing = [f"Session {facts.session_id}, customer number {facts.customer_number}."]
    if invoice is not None:
        closing.insert(0, _payment_line(invoice))
    seller = _seller_lines(invoice)
    width = max(len(k) for k, _ in table)
    text = "\n".join(seller) + "\n\n" if seller else ""
    text += "\n\n".join(paragraphs) + "\n\n"
    text += "\n".join(f"{k.ljust(width)}  {v}" for k, v in table)
    text += "\n\n" + "\n".join(closing) + "\n"
    body = _html(paragraphs, table, closing, letterhead=seller)
    subject = f"Your charging receipt, session {facts.session_id}"
    if invoice is not None and invoice.number:
        subject = f"Your charging receipt {invoice.number}, session {facts.session_id}"
    return EmailText(subject=subject, text=text, html=body)


def receipt_sms(facts: SessionFacts) -> str:
    """Short: the seller's name (cut to fit) and the invoice number stand for the full
    invoice, which the email and the app carry (address and VAT id included)."""
    invoice = facts.invoice
    cost = "not billed" if invoice is None else _money(invoice.total_minor, invoice.currency)
    seller = str(((invoice.seller if invoice is not None else None) or {}).get("name") or "")
    if len(seller) > _SMS_SELLER_CHARS:
        seller = seller[:_SMS_SELLER_CHARS].rstrip()
    title = f"{seller or PRODUCT} receipt"
    if invoice is not None and invoice.number:
        title += f" {invoice.number}"
    return (
        f"{title}: {facts.charger}, {_kwh(facts.energy_wh)}, "
        f"{_duration(facts.started_at, facts.stopped_at)}, total {cost}. "
        f"Session {facts.session_id}. Thank you!"
    )


def registration_attempt_email(*, name: str | None, at: datetime) -> EmailText:
    """To the owner of an account whose email address someone tried to register with.

    It says nothing about who tried (their name, address, IP address stay with csms): the
    owner needs to know only that it happened, and what to do.
    """
    lines = [
        f"Hello {name}," if name else "Hello,",
        f"someone tried to register a new {PRODUCT} account with your email address "
        f"({_time(at)}). Your address already has an account, so no new account was made "
        "and nothing in yours was changed.",
        "If it was you: log in to the app with your email address and your password. If "
        "you have forgotten your password, contact support to have it reset.",
        "If it was not you, you need not do anything. If you think someone knows your "
        "password, log in and change it.",
    ]
    return EmailText(
        subject="Someone tried to register with your email address",
        text="\n\n".join(lines) + "\n",
        html=_html(lines),
    )
