"""``csms sessions``: list and show charging sessions (page by page), start and stop them
remotely, ask a 2.0.1 station about one, and close a stuck one without the charger."""

from __future__ import annotations

from typing import Any

from csms.cli.billing import show_invoice_lines
from csms.cli.chargers import charger_command, evse_option, place
from csms.cli.client import EXIT_USAGE, CliError, segment
from csms.cli.context import Context
from csms.cli.options import (
    CommandTree,
    Subject,
    date_range_options,
    given,
    limit_option,
    non_negative,
    positive,
)
from csms.cli.output import Column, Output, cost, field, kwh, so_far, time_field, when
from protocol import ID_TOKEN_TYPES

__all__ = ["register"]

_SESSION_COLUMNS: list[Column] = [
    ("ID", field("id")),
    ("CHARGER", field("charger_id")),
    ("CONNECTOR", field("connector_id")),
    ("TRANSACTION", field("transaction_id")),
    ("CUSTOMER", field("customer_number")),
    ("METHOD", field("auth_method")),
    ("STARTED", time_field("started_at")),
    ("STOPPED", time_field("stopped_at")),
    ("KWH", lambda s: kwh(s.get("energy_wh")) or so_far(kwh(s.get("energy_so_far_wh")))),
    ("COST", lambda s: cost(s.get("cost")) or so_far(cost(s.get("cost_so_far")))),
    ("STATUS", field("status")),
]

_METER_COLUMNS: list[Column] = [
    ("TIMESTAMP", time_field("timestamp")),
    ("MEASURAND", field("measurand")),
    ("PHASE", field("phase")),
    ("VALUE", field("value")),
    ("UNIT", field("unit")),
    ("CONTEXT", field("context")),
]


def _show_session(out: Output, s: dict[str, Any]) -> None:
    out.fields(
        [
            ("session", s.get("id")),
            ("charger", s.get("charger_id")),
            ("connector", s.get("connector_id")),
            ("transaction id", s.get("transaction_id")),
            ("customer", s.get("customer_number")),
            ("id tag", s.get("id_tag")),
            ("auth method", s.get("auth_method")),
            ("auth status", s.get("auth_status")),
            ("status", s.get("status")),
            ("started", when(s.get("started_at"))),
            ("stopped", when(s.get("stopped_at"))),
            ("meter start (Wh)", s.get("meter_start_wh")),
            ("meter stop (Wh)", s.get("meter_stop_wh")),
            ("energy (kWh)", kwh(s.get("energy_wh"))),
            ("energy so far (kWh)", kwh(s.get("energy_so_far_wh"))),
            ("cost so far", cost(s.get("cost_so_far"))),
            ("stop reason", s.get("stop_reason")),
            ("closed by", s.get("closed_by")),
            ("stop note", s.get("stop_note")),
            ("charging done", when(s.get("charging_done_at"))),
            ("cost", cost(s.get("cost"))),
        ]
    )
    invoice = s.get("invoice")
    if invoice:
        out.line()
        show_invoice_lines(out, invoice)
    if "meter_values" in s:
        out.line()
        out.table(s["meter_values"], _METER_COLUMNS, "no meter values")


def cmd_sessions_list(ctx: Context) -> int:
    a = ctx.args
    sessions, headers = ctx.get_page(
        "/api/sessions",
        charger=a.charger,
        active="true" if a.active else None,
        customer=a.customer,
        limit=a.limit,
        before=a.before,
        **{"from": a.start, "to": a.end},
    )
    code = ctx.rows(sessions, _SESSION_COLUMNS, "no sessions")
    cursor = headers.get("X-Next-Before")
    if cursor:
        # (on stderr: --json output stays a plain list)
        ctx.out.note(
            f"more sessions than these {len(sessions)}: add `--before {cursor}` for the next "
            "page (or a larger --limit, up to 1000)"
        )
    return code


def cmd_sessions_show(ctx: Context) -> int:
    session = ctx.get(f"/api/sessions/{ctx.args.id}")
    return ctx.result(session, lambda s: _show_session(ctx.out, s))


def cmd_sessions_start(ctx: Context) -> int:
    a = ctx.args
    body = given(place({"charger_id": a.charger, "id_tag": a.id_tag}, a), a, "token_type")
    return charger_command(ctx, "/api/sessions/start", body)


def cmd_sessions_stop(ctx: Context) -> int:
    return charger_command(ctx, f"/api/sessions/{ctx.args.id}/stop")


def cmd_sessions_status(ctx: Context) -> int:
    if (ctx.args.id is None) == (ctx.args.charger is None):
        raise CliError(
            "give a session id (is that session still ongoing?) or --charger ID (are any "
            "transaction messages still queued in the station?), one of the two",
            exit_code=EXIT_USAGE,
        )
    if ctx.args.id is None:
        return charger_command(ctx, f"/api/chargers/{segment(ctx.args.charger)}/transaction-status")
    return charger_command(ctx, f"/api/sessions/{ctx.args.id}/status")


def cmd_sessions_close(ctx: Context) -> int:
    a = ctx.args
    body = given({}, a, meter_stop="meter_stop_wh", reason="reason")
    return ctx.result(
        ctx.post(f"/api/sessions/{a.id}/close", body),
        lambda s: (
            f"closed session {s['id']} on {s['charger_id']}: meter stop "
            f"{s['meter_stop_wh']} Wh, {kwh(s.get('energy_wh')) or '-'} kWh; "
            "it is billed now and its card is free again"
        ),
    )


_SESSION = Subject("id", "session id", positive)


def register(tree: CommandTree) -> None:
    """``csms sessions …``."""
    sessions = tree.noun("sessions", "charging sessions")
    p = tree.verb(sessions, "list", cmd_sessions_list, "list sessions, most recent first")
    p.add_argument("--charger", help="only this charger's sessions")
    p.add_argument("--active", action="store_true", help="only running sessions")
    p.add_argument("--customer", type=positive, help="only this customer number's sessions")
    limit_option(p, most=1000)
    p.add_argument(
        "--before",
        type=positive,
        metavar="ID",
        help="the page after session ID (the cursor a previous page printed)",
    )
    date_range_options(
        p,
        start="started from: YYYY-MM-DD or ISO 8601",
        end="started before the end of: YYYY-MM-DD or ISO 8601",
    )
    tree.verb(
        sessions,
        "show",
        cmd_sessions_show,
        "show a session with its meter values",
        subject=_SESSION,
    )
    p = tree.verb(sessions, "start", cmd_sessions_start, "ask a charger to start a session")
    p.add_argument("charger", help="charger id")
    p.add_argument(
        "--id-tag", required=True, help="the id tag (card UID) or 2.0.1 id token to start for"
    )
    p.add_argument("--connector", type=positive, help="connector number")
    evse_option(p)
    p.add_argument(
        "--token-type",
        choices=list(ID_TOKEN_TYPES),
        help="OCPP 2.0.1 idToken type (default Central: a token the CSMS vouches for)",
    )
    tree.verb(
        sessions, "stop", cmd_sessions_stop, "ask the charger to stop a session", subject=_SESSION
    )
    p = tree.verb(
        sessions,
        "close",
        cmd_sessions_close,
        "end a stuck session without the charger (billed, its card free again)",
        subject=_SESSION,
    )
    p.add_argument(
        "--meter-stop",
        type=non_negative,
        metavar="WH",
        help="the meter reading in Wh to close with (default: the last meter value, else "
        "the meter start)",
    )
    p.add_argument("--reason", help="why, kept with the session")
    p = tree.verb(
        sessions,
        "status",
        cmd_sessions_status,
        "ask a 2.0.1 station whether a session is still ongoing, or whether it holds any "
        "transaction messages (GetTransactionStatus)",
    )
    p.add_argument("id", nargs="?", type=positive, help="session id")
    p.add_argument(
        "--charger",
        metavar="ID",
        help="instead of a session: ask this station whether any transaction messages are "
        "still queued (GetTransactionStatus without a transactionId)",
    )
