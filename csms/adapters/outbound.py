"""Operator commands to connected chargers: the version dispatch of the translation, and
sending through the command router.

``to_ocpp`` turns a version-neutral :data:`~csms.domain.charging.remote_commands.Command`
into the action and payload for the charger's OCPP version
(:mod:`csms.adapters.v16.outbound`, :mod:`csms.adapters.v201.outbound`);
``answer_from_ocpp`` turns the charger's CALLRESULT back into a version-neutral answer;
``send_command`` does both around :meth:`csms.routing.CommandRouter.send`. These are the
only places that know the OCPP action names of commands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from csms.adapters.v16 import outbound as v16
from csms.adapters.v201 import outbound as v201
from csms.domain.charging.remote_commands import Command, UnsupportedCommand
from csms.domain.views import normalize_ocpp_version
from csms.routing import ChargerNotConnected, CommandError, CommandRouter, CommandTimeout

__all__ = ["answer_from_ocpp", "send_command", "to_ocpp"]

_Translator = tuple[
    Callable[[Command], tuple[str, Mapping[str, Any]]],
    Callable[[Command, dict[str, Any]], dict[str, Any]],
]

_TRANSLATORS: dict[str, _Translator] = {
    "1.6": (v16.to_ocpp, v16.answer_from_ocpp),
    "2.0.1": (v201.to_ocpp, v201.answer_from_ocpp),
}


def _translator(ocpp_version: str | None) -> _Translator:
    version = normalize_ocpp_version(ocpp_version) or "1.6"
    try:
        return _TRANSLATORS[version]
    except KeyError:
        raise UnsupportedCommand(
            f"commands to OCPP {version} chargers are not supported "
            f"(only OCPP {' and '.join(_TRANSLATORS)})"
        ) from None


def to_ocpp(command: Command, ocpp_version: str | None) -> tuple[str, dict[str, Any]]:
    """The OCPP action and payload for ``command`` (a charger of unknown version is taken
    as 1.6); raises InvalidRequest for values the version cannot carry,
    UnsupportedCommand for a command the version does not have."""
    build, _ = _translator(ocpp_version)
    action, payload = build(command)
    # The typed request (v16.outbound.Request, v201.outbound.Request) is a plain dict.
    return action, cast("dict[str, Any]", payload)


def answer_from_ocpp(
    command: Command, ocpp_version: str | None, payload: dict[str, Any]
) -> dict[str, Any]:
    """Version-neutral fields of the charger's answer: ``status`` (and ``reason`` when a
    2.0.1 station gave one); ``configuration``, ``unknown_keys`` (and ``rejected_keys``)
    for a configuration read; ``request_id`` for reports; ``remote_start_id`` (and
    ``station_transaction_id``) for a 2.0.1 remote start; ``ongoing`` and
    ``messages_in_queue`` for GetTransactionStatus; ``certificates`` for
    GetInstalledCertificateIds (see :mod:`csms.adapters.certificates`)."""
    _, parse = _translator(ocpp_version)
    return parse(command, payload)


async def send_command(router: CommandRouter, charger_id: str, command: Command) -> dict[str, Any]:
    """Send ``command`` to a connected charger and return the version-neutral answer:
    ``charger_id``, ``action``, ``ocpp_version``, the fields of :func:`answer_from_ocpp`
    and the charger's raw ``response``.

    Raises, each with a message saying what happened and what to do: ChargerNotConnected,
    CommandTimeout (no answer in time), CommandError (a CALLERROR, or a request the schema
    check refused), UnsupportedCommand (a command the charger's OCPP version does not
    have); InvalidRequest for values the version cannot carry.
    """
    if not router.is_connected(charger_id):
        raise ChargerNotConnected(_not_connected(charger_id))
    version = router.ocpp_version(charger_id)
    action, payload = to_ocpp(command, version)
    try:
        result = await router.send(charger_id, action, payload)
    except ChargerNotConnected:
        raise ChargerNotConnected(_not_connected(charger_id)) from None
    except CommandTimeout:
        raise CommandTimeout(
            f"charger {charger_id} did not answer {action} in time: it may be busy or its "
            f"connection stale; try again, or check `csms chargers show {charger_id}`",
        ) from None
    except CommandError as exc:
        code = f" {exc.error_code}" if exc.error_code else ""
        raise CommandError(
            f"charger {charger_id} answered {action} with an error{code}: {exc} "
            "(the charger may not support this command or value)",
            error_code=exc.error_code,
        ) from None
    return {
        "charger_id": charger_id,
        "action": action,
        "ocpp_version": normalize_ocpp_version(version),
        **answer_from_ocpp(command, version, result.payload),
        "response": result.payload,
    }


def _not_connected(charger_id: str) -> str:
    return (
        f"charger {charger_id} is not connected: commands reach a charger only while it is "
        f"online; check `csms chargers show {charger_id}` and try again when it is connected"
    )
