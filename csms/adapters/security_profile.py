"""Raising a connected charger's security profile: telling it to move to the new one.

csms requires the new profile only once the charger connects with it (the part of the
gateway that checks profiles at the handshake moves ``pending_security_profile`` to
``security_profile`` then); until then the charger keeps connecting as before. Here the
charger is told, each version its own way:

- **1.6** (security whitepaper edition 3, section 2 "Security profiles", migrating to a
  higher profile): ChangeConfiguration ``SecurityProfile`` = N. Accepted (or
  RebootRequired): the charger disconnects and reconnects with the new profile.
- **2.0.1** (A05 "Upgrade Charging Station Security Profile"; B09 SetNetworkProfile):
  1. GetVariables ``OCPPCommCtrlr.NetworkConfigurationPriority``: the configuration slots
     in use (a comma-separated list, first the one used now);
  2. SetNetworkProfile in a free slot (the one after the highest in use, or the one the
     operator names) with ``ocppCsmsUrl`` = CSMS_OCPP_PUBLIC_URL (or the operator's URL:
     the wss:// endpoint, without the station's identity), ``securityProfile`` N,
     OCPP20/JSON over Wired0, and csms's call timeout as ``messageTimeout``;
  3. SetVariables ``NetworkConfigurationPriority`` with the new slot first;
  4. Reset OnIdle, so the station reconnects with the new profile (after running
     transactions end).

Any refusal before the last step is reported and nothing is stored (a network profile in
a slot the priority does not name is never used). Once the station took the new priority
it switches at its next reboot anyway: the profile is stored as pending also when the
Reset is refused or unanswered, and the answer says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from csms.adapters.outbound import send_command
from csms.domain.charging.remote_commands import (
    ChangeConfiguration,
    Command,
    GetConfiguration,
    Reset,
    SetNetworkProfile,
)
from csms.domain.charging.stations import record_security_profile_raise
from csms.domain.errors import InvalidRequest
from csms.domain.views import normalize_ocpp_version
from csms.routing import ChargerNotConnected, CommandError, CommandRouter
from storage.database import Database

__all__ = ["NETWORK_PRIORITY", "ProfileRaise", "raise_security_profile"]

log = logging.getLogger(__name__)

#: 2.0.1: the ordered configuration slots the station tries (A05, B09).
NETWORK_PRIORITY = "OCPPCommCtrlr.NetworkConfigurationPriority"

#: What a charger answers when it takes a setting.
_TAKEN = frozenset({"Accepted", "RebootRequired"})
#: 2.0.1 ResetStatusEnumType values meaning the station resets (now or when idle).
_RESETTING = frozenset({"Accepted", "Scheduled"})


@dataclass(frozen=True, slots=True)
class ProfileRaise:
    """``status``: ``pending`` (the charger took it; enforced once it connects with it) or
    ``refused`` (nothing stored); ``steps``: each command sent and the charger's answer."""

    status: str
    detail: str
    steps: list[dict[str, Any]] = field(default_factory=list)


async def _step(
    router: CommandRouter, charger_id: str, command: Command, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    answer = await send_command(router, charger_id, command)
    status, reason = answer.get("status"), answer.get("reason")
    if "configuration" in answer:  # a read: what was read, or why not
        read = answer["configuration"]
        rejected = answer.get("rejected_keys") or []
        if read:
            status, reason = "Accepted", f"{read[0].get('key')} = {read[0].get('value')}"
        elif rejected:
            status, reason = rejected[0].get("status"), rejected[0].get("reason")
        else:
            status = "UnknownVariable"
    steps.append({"action": answer.get("action"), "status": status, "reason": reason})
    return answer


def _refused(steps: list[dict[str, Any]], what: str) -> ProfileRaise:
    last = steps[-1]
    reason = f", {last['reason']}" if last.get("reason") else ""
    return ProfileRaise(
        "refused",
        f"the charger refused {what} ({last['action']}: {last['status']}{reason}); "
        "nothing changed: its profile stays as it was",
        steps,
    )


def _slots(answer: dict[str, Any]) -> list[int] | None:
    """The slots listed in a NetworkConfigurationPriority read; None if not read."""
    for item in answer.get("configuration") or []:
        value = item.get("value")
        if value is None:
            return None
        try:
            return [int(part) for part in str(value).split(",") if part.strip()]
        except ValueError:
            return None
    return None


async def raise_security_profile(
    db: Database,
    router: CommandRouter,
    charger_id: str,
    *,
    profile: int,
    csms_url: str | None,
    message_timeout: int,
    slot: int | None = None,
) -> ProfileRaise:
    """Tell the connected charger to move to ``profile`` (module docstring) and, once it
    took it, store it as pending with a security event.

    Raises ChargerNotConnected, CommandTimeout, CommandError, UnsupportedCommand (each
    with a message saying what to do) when a step before the charger took the new
    profile did not get an answer; InvalidRequest for a 2.0.1 station without a wss://
    URL to give it, or whose slots in use cannot be read and no ``slot`` was given."""
    if not router.is_connected(charger_id):
        raise ChargerNotConnected(
            f"charger {charger_id} is not connected: raising its security profile needs it "
            "online to be told; try again when `csms chargers show "
            f"{charger_id}` says it is connected"
        )
    version = normalize_ocpp_version(router.ocpp_version(charger_id))
    steps: list[dict[str, Any]] = []
    if version == "2.0.1":
        outcome = await _raise_v201(
            router,
            charger_id,
            profile=profile,
            csms_url=csms_url,
            message_timeout=message_timeout,
            slot=slot,
            steps=steps,
        )
    else:
        answer = await _step(
            router,
            charger_id,
            ChangeConfiguration(key="SecurityProfile", value=str(profile)),
            steps,
        )
        if answer.get("status") not in _TAKEN:
            return _refused(steps, f"security profile {profile}")
        outcome = ProfileRaise(
            "pending",
            f"the charger accepted security profile {profile} (ChangeConfiguration "
            f"SecurityProfile: {answer.get('status')}); it reconnects with it, and from "
            "then on only that profile is let in",
            steps,
        )
    if outcome.status != "pending":
        return outcome
    now = datetime.now(UTC)
    await db.write(
        lambda uow: record_security_profile_raise(
            uow, charger_id, profile=profile, now=now, detail=outcome.detail
        )
    )
    log.info("charger %s accepted security profile %d: pending", charger_id, profile)
    return outcome


async def _raise_v201(
    router: CommandRouter,
    charger_id: str,
    *,
    profile: int,
    csms_url: str | None,
    message_timeout: int,
    slot: int | None,
    steps: list[dict[str, Any]],
) -> ProfileRaise:
    if csms_url is None:
        raise InvalidRequest(
            "a 2.0.1 station is told the URL to connect to with its new profile: set "
            "CSMS_OCPP_PUBLIC_URL (e.g. wss://csms.example.com:9443/ocpp) or give --url"
        )
    if not csms_url.lower().startswith("wss://"):
        raise InvalidRequest(
            f"security profile {profile} connects over TLS: the URL must be wss://..., "
            f"not {csms_url!r}"
        )
    read = await _step(router, charger_id, GetConfiguration(keys=(NETWORK_PRIORITY,)), steps)
    used = _slots(read)
    if used is None:
        if slot is None:
            raise InvalidRequest(
                f"the station did not tell its {NETWORK_PRIORITY} (which configuration "
                "slots are in use): give a free slot with --slot N"
            )
        used = []
    if slot is None:
        slot = max(used, default=0) + 1
    elif slot in used[:1]:
        raise InvalidRequest(
            f"configuration slot {slot} holds the connection the station uses now: "
            "give another one with --slot"
        )
    network = SetNetworkProfile(
        slot=slot, csms_url=csms_url, security_profile=profile, message_timeout=message_timeout
    )
    answer = await _step(router, charger_id, network, steps)
    if answer.get("status") != "Accepted":
        return _refused(steps, f"the network profile for security profile {profile}")
    priority = ",".join(str(s) for s in [slot, *(s for s in used if s != slot)])
    answer = await _step(
        router, charger_id, ChangeConfiguration(key=NETWORK_PRIORITY, value=priority), steps
    )
    if answer.get("status") not in _TAKEN:
        return _refused(steps, f"the new {NETWORK_PRIORITY} {priority}")
    taken = (
        f"the station took security profile {profile} in configuration slot {slot} "
        f"(priority {priority})"
    )
    try:
        answer = await _step(router, charger_id, Reset(hard=False), steps)
    except CommandError as exc:  # the station may have reset before answering
        steps.append({"action": "Reset", "status": None, "reason": str(exc)})
        return ProfileRaise(
            "pending",
            f"{taken}; the Reset got no answer ({exc}): it applies at its next reboot",
            steps,
        )
    if answer.get("status") in _RESETTING:
        return ProfileRaise(
            "pending",
            f"{taken}; it resets when idle (Reset OnIdle: {answer.get('status')}) and then "
            "reconnects with it",
            steps,
        )
    return ProfileRaise(
        "pending",
        f"{taken}; it refused the Reset ({answer.get('status')}): it applies at its next "
        "reboot (`csms chargers reset ID` when it is idle)",
        steps,
    )
