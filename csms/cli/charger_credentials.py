"""``csms chargers rotate-password`` and ``csms chargers set-profile``: a charger's Basic
auth password and the security profile it must connect with."""

from __future__ import annotations

import argparse
from typing import Any

from csms.cli.client import EXIT_FAILED, EXIT_OK, segment
from csms.cli.context import Context
from csms.cli.options import CommandTree, Subject, Verbs, epilog, given, non_negative
from csms.cli.output import Output

__all__ = ["register"]

_CHARGER = Subject("id", "charger id")


def _path(ctx: Context, verb: str) -> str:
    return f"/api/chargers/{segment(ctx.args.id)}/{verb}"


def _show_rotated(out: Output, charger: dict[str, Any]) -> None:
    delivery = charger.get("password_delivery") or {}
    out.line(f"new password for charger {charger['id']} (shown only now): {charger['password']}")
    if delivery.get("status") == "accepted":
        out.line(delivery["detail"])
    elif delivery.get("status") == "waiting":
        out.line(
            f"not on the charger yet ({delivery['detail']}); until it connects with the "
            "new one, its current password stays valid"
        )


def cmd_chargers_rotate_password(ctx: Context) -> int:
    charger = ctx.post(_path(ctx, "password"), given({}, ctx.args, "password"))
    ctx.result(charger, lambda c: _show_rotated(ctx.out, c))
    delivery = charger.get("password_delivery") or {}
    if delivery.get("status") != "refused":
        return EXIT_OK
    ctx.out.note(
        f"warning: {delivery['detail']}. The new password was dropped: a connection with it "
        "is refused. Allow remote password changes on the charger and run "
        f"`csms chargers rotate-password {charger['id']}` again."
    )
    return EXIT_FAILED


def _show_profile(out: Output, answer: dict[str, Any]) -> None:
    for step in answer.get("steps") or []:
        reason = f" ({step['reason']})" if step.get("reason") else ""
        out.line(f"{answer['id']}: {step.get('action')} {step.get('status')}{reason}")
    out.line(answer["detail"])
    pending = answer.get("pending_security_profile")
    required = f"security profile required: {answer['security_profile']}"
    if pending is not None:
        required += f" (pending: {pending}, required once the charger connects with it)"
    out.line(required)


def cmd_chargers_set_profile(ctx: Context) -> int:
    body = given({"profile": ctx.args.profile}, ctx.args, "url", "slot")
    if ctx.args.allow_downgrade:
        body["allow_downgrade"] = True
    if ctx.args.force:
        body["force"] = True
    answer = ctx.post(_path(ctx, "security-profile"), body)
    ctx.result(answer, lambda a: _show_profile(ctx.out, a))
    if answer.get("change") != "refused":
        return EXIT_OK
    ctx.out.note(f"csms: {answer['detail']}")
    return EXIT_FAILED


_PROFILE_HELP = """\
Profiles: 1 = Basic auth (ws:// or wss://), 2 = TLS + Basic auth, 3 = TLS with a client
certificate. Raising tells the connected charger: 1.6 ChangeConfiguration SecurityProfile;
2.0.1 SetNetworkProfile in a free configuration slot with the wss:// URL (CSMS_OCPP_PUBLIC_URL
or --url), NetworkConfigurationPriority with that slot first, then Reset OnIdle. Once the
charger accepted, the new profile is pending: required from its first connection with it.
Raising to 3 needs a certificate csms issued to the charger (`csms chargers certificates
renew ID`) unless --force. Lowering is refused without --allow-downgrade."""


def _profile(text: str) -> int:
    """An argparse type: a security profile, 1 to 3."""
    if text not in ("1", "2", "3"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a security profile is 1 (Basic auth), 2 (TLS + Basic auth) or "
            "3 (TLS client certificate)"
        )
    return int(text)


def register(tree: CommandTree, chargers: Verbs) -> None:
    """``csms chargers rotate-password`` and ``set-profile`` (verbs of ``chargers``)."""
    p = tree.verb(
        chargers,
        "rotate-password",
        cmd_chargers_rotate_password,
        "give a charger a new Basic auth password (printed once, sent to it)",
        subject=_CHARGER,
    )
    p.add_argument(
        "--password",
        help="the new password (16-20 bytes for OCPP 1.6, 16-40 characters for 2.0.1; "
        "default: generated)",
    )
    epilog(
        p,
        "The current password stays valid until the charger has connected once with the "
        "new one. A charger that refuses the new one keeps its current one.",
    )
    p = tree.verb(
        chargers,
        "set-profile",
        cmd_chargers_set_profile,
        "set the security profile a charger must connect with (raising tells the charger)",
        subject=_CHARGER,
    )
    p.add_argument("profile", type=_profile, metavar="1|2|3", help="the security profile")
    p.add_argument(
        "--allow-downgrade", action="store_true", help="lower the required profile at once"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="raise to 3 although csms has issued the charger no certificate",
    )
    p.add_argument("--url", help="2.0.1: the wss:// URL to give (default CSMS_OCPP_PUBLIC_URL)")
    p.add_argument("--slot", type=non_negative, help="2.0.1: the configuration slot to use")
    epilog(p, _PROFILE_HELP)
