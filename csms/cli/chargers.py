"""``csms chargers``: provision chargers, see their status, and send them commands
(reset, unlock, availability, configuration, trigger, report).

A charger command prints the charger's answer and exits 1 when the charger refused
(:func:`charger_command`, which ``csms sessions start|stop|status`` use too).
"""

from __future__ import annotations

import argparse
from typing import Any

from csms.cli.charger_credentials import register as register_credential_verbs
from csms.cli.client import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliError, segment
from csms.cli.context import Context
from csms.cli.options import (
    CommandTree,
    Subject,
    comma_list,
    epilog,
    given,
    non_negative,
    positive,
)
from csms.cli.output import Column, Output, field, time_field, when

__all__ = ["charger_command", "evse_option", "place", "register", "show_answer"]

_CHARGER_COLUMNS: list[Column] = [
    ("ID", field("id")),
    ("NAME", field("name")),
    ("OWNER", field("owner")),
    ("CONNECTED", field("connected")),
    ("OCPP", field("ocpp_version")),
    ("STATUS", field("status")),
    ("REGISTRATION", field("registration_status")),
    ("VENDOR", field("vendor")),
    ("MODEL", field("model")),
    ("LAST SEEN", time_field("last_seen")),
]

_CONNECTOR_COLUMNS: list[Column] = [
    ("CONNECTOR", field("id")),
    ("STATUS", field("status")),
    ("ERROR", field("error_code")),
    ("SINCE", time_field("updated_at")),
]

_PASSWORD_STATES = {
    "none": "none: any connection is let in (`csms chargers accept ID` issues one)",
    "pending": "issued, not confirmed by the charger yet (it may still connect without)",
    "rejected": "refused by the charger (it still connects without one)",
    "active": "set: Basic auth enforced",
    "rotating": "a new one waits to be sent (the current one stays valid until it is used)",
    "sent": "the charger took a new one (the current one stays valid until it is used)",
}


def _password_text(c: dict[str, Any]) -> str | None:
    state = c.get("password_state")
    if state is None:
        return None
    text = _PASSWORD_STATES.get(state, state)
    detail = c.get("password_detail")
    return f"{text}; {detail}" if detail and state != "none" else text


def _show_charger(out: Output, c: dict[str, Any]) -> None:
    out.fields(
        [
            ("id", c.get("id")),
            ("name", c.get("name")),
            ("owner", c.get("owner")),
            ("connected", c.get("connected")),
            ("ocpp version", c.get("ocpp_version")),
            ("status", c.get("status")),
            ("error code", c.get("error_code")),
            ("registration", c.get("registration_status")),
            ("security profile", c.get("security_profile")),
            ("pending security profile", c.get("pending_security_profile")),
            ("password", _password_text(c)),
            ("archived", when(c.get("archived_at"))),
            ("vendor", c.get("vendor")),
            ("model", c.get("model")),
            ("serial number", c.get("serial_number")),
            ("firmware", c.get("firmware_version")),
            ("last boot", when(c.get("last_boot"))),
            ("last seen", when(c.get("last_seen"))),
        ]
    )
    out.line()
    out.table(c.get("connectors") or [], _CONNECTOR_COLUMNS, "no connectors reported yet")
    model = c.get("device_model")
    if model:  # 2.0.1: what the station's last NotifyReport said
        out.line()
        report = when(model.get("last_report_at"))
        if model.get("last_report_complete") is False:
            report = f"{report} (incomplete)"
        out.fields(
            [
                (
                    "device model",
                    f"{model.get('components')} components, "
                    f"{model.get('variables')} variables, {model.get('evses')} EVSEs",
                ),
                ("last report", report),
                *sorted((model.get("values") or {}).items()),
            ]
        )


# -- a charger's answer -----------------------------------------------------------------


def show_answer(out: Output, answer: dict[str, Any]) -> None:
    """A charger's answer to a command, for people."""
    if answer.get("configuration") is not None:
        out.table(
            answer["configuration"],
            [("KEY", field("key")), ("VALUE", field("value")), ("READONLY", field("readonly"))],
            "no configuration keys",
        )
        if answer.get("unknown_keys"):
            out.line("unknown keys: " + ", ".join(answer["unknown_keys"]))
        for rejected in answer.get("rejected_keys") or []:
            reason = f" ({rejected['reason']})" if rejected.get("reason") else ""
            out.line(f"not read: {rejected['key']}: {rejected['status']}{reason}")
        return
    head = f"{answer.get('charger_id')}: {answer.get('action')}"
    if answer.get("messages_in_queue") is not None:  # GetTransactionStatus
        ongoing = answer.get("ongoing")
        state = "unknown" if ongoing is None else ("yes" if ongoing else "no")
        queued = "yes" if answer["messages_in_queue"] else "no"
        out.line(f"{head}: transaction ongoing: {state}; messages queued: {queued}")
        return
    line = f"{head} {answer.get('status')}"
    if answer.get("reason"):
        line += f" ({answer['reason']})"
    out.line(line)
    if answer.get("request_id") is not None and answer.get("status") == "Accepted":
        out.line(
            f"report request {answer['request_id']}: the station sends the report in "
            "NotifyReport messages"
        )
    if answer.get("remote_start_id") is not None:
        out.line(f"remote start id: {answer['remote_start_id']}")
    if answer.get("station_transaction_id") is not None:
        out.line(f"already running as station transaction {answer['station_transaction_id']}")


#: Answers that mean the charger does (or will do) what it was asked: 1.6 and 2.0.1
#: ``Accepted``, ``Scheduled`` (after the running transaction), ``Unlocked``, and
#: ``RebootRequired`` (the value is taken, it applies after a reboot).
_DONE_STATUSES = frozenset({"Accepted", "Scheduled", "Unlocked", "RebootRequired"})


def _answered(ctx: Context, answer: dict[str, Any]) -> int:
    """Exit 0 when the charger did what it was asked, 1 when it refused (Rejected,
    NotSupported, UnlockFailed, ...); an answer without a status (a configuration read)
    is 0."""
    status = answer.get("status") if isinstance(answer, dict) else None
    if status is None or status in _DONE_STATUSES:
        return EXIT_OK
    ctx.out.note(f"csms: the charger answered {status}: it did not do what was asked")
    return EXIT_FAILED


def charger_command(ctx: Context, path: str, body: dict[str, Any] | None = None) -> int:
    """POST a command to the API, print the charger's answer, exit 1 if it refused."""
    answer = ctx.post(path, body)
    ctx.result(answer, lambda a: show_answer(ctx.out, a))
    return _answered(ctx, answer)


def place(body: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Add ``--connector``/``--evse`` to a command body when given."""
    return given(body, args, connector="connector_id", evse="evse_id")


# -- the commands -----------------------------------------------------------------------


def _path(ctx: Context, verb: str = "") -> str:
    """The API path of the charger ``ctx.args.id`` (and of a verb on it)."""
    return f"/api/chargers/{segment(ctx.args.id)}" + (f"/{verb}" if verb else "")


def cmd_chargers_add(ctx: Context) -> int:
    body = given({}, ctx.args, "id", "password", "security_profile", "owner", "name")
    charger = ctx.post("/api/chargers", body)
    return ctx.result(
        charger,
        lambda c: (
            f"added charger {c['id']} (security profile {c['security_profile']})\n"
            f"password (shown only now): {c['password']}"
        ),
    )


def cmd_chargers_list(ctx: Context) -> int:
    archived = "include" if ctx.args.all else "only" if ctx.args.archived else None
    chargers = ctx.get("/api/chargers", archived=archived)
    return ctx.rows(chargers, _CHARGER_COLUMNS, "no chargers: add one with `csms chargers add ID`")


def cmd_chargers_show(ctx: Context) -> int:
    return ctx.result(ctx.get(_path(ctx)), lambda c: _show_charger(ctx.out, c))


def _show_accepted(out: Output, charger: dict[str, Any]) -> None:
    delivery = charger.get("password_delivery") or {}
    out.line(f"accepted charger {charger['id']}")
    if charger.get("password"):
        out.line(f"password (shown only now): {charger['password']}")
    if delivery.get("status") == "accepted":
        out.line(f"{delivery['detail']}: Basic auth is enforced from now on")
    elif delivery.get("status") == "waiting":
        out.line(
            f"password not on the charger yet: {delivery['detail']}; until then it "
            "connects without one"
        )


def cmd_chargers_accept(ctx: Context) -> int:
    charger = ctx.post(_path(ctx, "accept"), given({}, ctx.args, "password"))
    ctx.result(charger, lambda c: _show_accepted(ctx.out, c))
    delivery = charger.get("password_delivery") or {}
    if delivery.get("status") != "refused":
        return EXIT_OK
    ctx.out.note(
        f"warning: {delivery['detail']}. The charger still connects without a password. "
        "Set the password on the charger by hand (1.6 AuthorizationKey, 2.0.1 "
        "SecurityCtrlr.BasicAuthPassword): it is enforced from its first connection "
        f"with it; or allow remote changes on the charger and run `csms chargers accept "
        f"{charger['id']}` again to resend it."
    )
    return EXIT_FAILED


def cmd_chargers_archive(ctx: Context) -> int:
    return ctx.result(
        ctx.post(_path(ctx, "archive")),
        lambda c: (
            f"archived charger {c['id']}: hidden from `csms chargers list` (see it with "
            "--archived), its connections refused; its sessions and reports are kept"
        ),
    )


def cmd_chargers_unarchive(ctx: Context) -> int:
    return ctx.result(
        ctx.post(_path(ctx, "unarchive")),
        lambda c: f"charger {c['id']} is no longer archived: it may connect again",
    )


def cmd_chargers_remove(ctx: Context) -> int:
    return ctx.result(ctx.delete(_path(ctx)), lambda _: f"removed charger {ctx.args.id}")


def cmd_chargers_reset(ctx: Context) -> int:
    body = place({"type": "hard" if ctx.args.hard else "soft"}, ctx.args)
    return charger_command(ctx, _path(ctx, "reset"), body)


def cmd_chargers_unlock(ctx: Context) -> int:
    return charger_command(ctx, _path(ctx, "unlock"), place({}, ctx.args))


def cmd_chargers_availability(ctx: Context) -> int:
    body = place({"state": ctx.args.state}, ctx.args)
    return charger_command(ctx, _path(ctx, "availability"), body)


def cmd_chargers_config_get(ctx: Context) -> int:
    body = given({"keys": ctx.args.keys}, ctx.args, "attribute")
    return charger_command(ctx, _path(ctx, "config/get"), body)


def cmd_chargers_config_set(ctx: Context) -> int:
    body = given({"key": ctx.args.key, "value": ctx.args.value}, ctx.args, "attribute")
    return charger_command(ctx, _path(ctx, "config/set"), body)


def cmd_chargers_trigger(ctx: Context) -> int:
    body = place({"message": ctx.args.message}, ctx.args)
    return charger_command(ctx, _path(ctx, "trigger"), body)


def cmd_chargers_clear_cache(ctx: Context) -> int:
    return charger_command(ctx, _path(ctx, "clear-cache"))


def cmd_chargers_report(ctx: Context) -> int:
    a = ctx.args
    if a.type is not None and (a.names or a.criteria):
        raise CliError(
            "--type asks for a whole base report; leave it out to report only some "
            "components (NAME...) or --criteria",
            exit_code=EXIT_USAGE,
        )
    body = given({"names": a.names, "criteria": a.criteria or []}, a, "type")
    return charger_command(ctx, _path(ctx, "report"), body)


# -- the parser -------------------------------------------------------------------------

_CHARGER = Subject("id", "charger id")

_CONFIG_HELP = """\
read or change charger configuration

OCPP 1.6 chargers name configuration keys plainly: HeartbeatInterval.
OCPP 2.0.1 stations name variables Component.Variable:
  OCPPCommCtrlr.HeartbeatInterval
  OCPPCommCtrlr.MessageAttempts[TransactionEvent]   a variable instance in brackets
  SmartChargingCtrlr[Main].Enabled                  a component instance in brackets
  EVSE@1.AvailabilityState                          the component of EVSE 1
  Connector@1:2.AvailabilityState                   connector 2 of EVSE 1
--attribute reads or writes Target, MinSet or MaxSet instead of Actual (2.0.1 only).
A 2.0.1 station lists all its variables in a report: `csms chargers report ID`."""

_RESET_HELP = """\
OCPP 2.0.1 stations reset OnIdle (after running transactions end) by default; --hard
resets Immediate (running transactions are stopped)."""

_PLACE_HELP = """\
--connector N names connector N of a 1.6 charger; on a 2.0.1 station it names EVSE N
(connector 1 where a connector is needed). --evse E (2.0.1) names EVSE E, and with
--connector C connector C of it."""

_CRITERIA = ("active", "available", "enabled", "problem")


def _criteria(text: str) -> list[str]:
    """An argparse type: comma-separated report criteria."""
    wanted = comma_list(text)
    unknown = [c for c in wanted if c not in _CRITERIA]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(
            f"{text!r}: criteria are {', '.join(_CRITERIA)} (comma-separated)"
        )
    return wanted


def evse_option(p: argparse.ArgumentParser) -> None:
    """``--evse E`` and the help on how it and ``--connector`` name a place."""
    p.add_argument(
        "--evse", type=positive, help="OCPP 2.0.1 EVSE number (see below for --connector)"
    )
    epilog(p, _PLACE_HELP)


def _attribute_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--attribute",
        choices=["Actual", "Target", "MinSet", "MaxSet"],
        help="OCPP 2.0.1 attribute (default Actual)",
    )
    epilog(p, _CONFIG_HELP.split("\n", 2)[2])


def register(tree: CommandTree) -> None:
    """``csms chargers …``."""
    chargers = tree.noun("chargers", "charging stations")
    p = tree.verb(chargers, "add", cmd_chargers_add, "provision a charger (password printed once)")
    p.add_argument("id", help="the charger's OCPP identity")
    p.add_argument("--password", help="8-40 characters (default: generated)")
    p.add_argument("--security-profile", type=int, choices=[1, 2, 3])
    p.add_argument("--owner", help="owner name (`csms owners list`)")
    p.add_argument("--name", help="a human-friendly name")
    p = tree.verb(chargers, "list", cmd_chargers_list, "list chargers (not archived ones)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--archived", action="store_true", help="only archived chargers")
    which.add_argument("--all", action="store_true", help="archived chargers too")
    p = tree.verb(
        chargers,
        "accept",
        cmd_chargers_accept,
        "accept a pending charger; one without a password gets one (printed once, sent to it)",
        subject=_CHARGER,
    )
    p.add_argument(
        "--password",
        help="the password to give it (16-20 characters for OCPP 1.6, up to 40 for 2.0.1; "
        "default: generated)",
    )
    for verb, handler, text in (
        ("show", cmd_chargers_show, "show a charger and its connectors"),
        ("remove", cmd_chargers_remove, "remove a charger without sessions"),
        (
            "archive",
            cmd_chargers_archive,
            "hide a charger that has sessions and refuse its connections (history kept)",
        ),
        ("unarchive", cmd_chargers_unarchive, "undo `chargers archive`"),
        ("clear-cache", cmd_chargers_clear_cache, "clear the charger's authorization cache"),
    ):
        tree.verb(chargers, verb, handler, text, subject=_CHARGER)
    p = tree.verb(
        chargers, "reset", cmd_chargers_reset, "reset a charger (soft by default)", subject=_CHARGER
    )
    p.add_argument(
        "--hard", action="store_true", help="reboot now (1.6 Hard; 2.0.1 Immediate, not OnIdle)"
    )
    p.add_argument("--evse", type=positive, help="OCPP 2.0.1: reset only this EVSE")
    epilog(p, _RESET_HELP)
    p = tree.verb(chargers, "unlock", cmd_chargers_unlock, "unlock a connector", subject=_CHARGER)
    p.add_argument("--connector", type=positive, required=True, help="connector number")
    evse_option(p)
    p = tree.verb(
        chargers, "availability", cmd_chargers_availability, "change availability", subject=_CHARGER
    )
    p.add_argument("state", choices=["operative", "inoperative"])
    p.add_argument(
        "--connector", type=non_negative, default=0, help="connector (default 0: whole charger)"
    )
    evse_option(p)
    config = tree.verbs(
        chargers,
        "config",
        "read or change charger configuration (2.0.1: variables)",
        _CONFIG_HELP,
    )
    p = tree.verb(
        config,
        "get",
        cmd_chargers_config_get,
        "read configuration keys (1.6: all by default) or 2.0.1 variables",
        subject=_CHARGER,
    )
    p.add_argument("keys", nargs="*", metavar="KEY", help="1.6 key or 2.0.1 Component.Variable")
    _attribute_option(p)
    p = tree.verb(
        config,
        "set",
        cmd_chargers_config_set,
        "change a configuration key or variable",
        subject=_CHARGER,
    )
    p.add_argument("key", metavar="KEY", help="1.6 key or 2.0.1 Component.Variable")
    p.add_argument("value", metavar="VALUE")
    _attribute_option(p)
    p = tree.verb(
        chargers,
        "trigger",
        cmd_chargers_trigger,
        "ask the charger to send a message",
        subject=_CHARGER,
    )
    p.add_argument(
        "message",
        metavar="MESSAGE",
        help="e.g. Heartbeat, StatusNotification, MeterValues; 2.0.1 also TransactionEvent, "
        "LogStatusNotification, SignChargingStationCertificate",
    )
    p.add_argument("--connector", type=positive, help="connector number")
    evse_option(p)
    p = tree.verb(
        chargers,
        "report",
        cmd_chargers_report,
        "ask a 2.0.1 station for its device model report (sent back in NotifyReport)",
        subject=_CHARGER,
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="only these components (Component) or variables (Component.Variable)",
    )
    p.add_argument(
        "--type",
        choices=["full", "config", "summary"],
        help="base report: FullInventory (default), ConfigurationInventory, SummaryInventory",
    )
    p.add_argument(
        "--criteria",
        type=_criteria,
        help="only components that are active,available,enabled,problem (comma-separated)",
    )
    register_credential_verbs(tree, chargers)
    # csms chargers certificates …, csms chargers events (imported here: it builds on this
    # module's charger_command).
    from csms.cli.charger_security import register_verbs

    register_verbs(tree, chargers)
