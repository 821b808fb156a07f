"""Operator commands, version-neutral, and their translation to OCPP actions.

The API builds a ``Command`` from a request; ``to_ocpp`` turns it into the action and
payload for the charger's OCPP version and ``answer_from_ocpp`` turns the charger's
CALLRESULT back into a version-neutral answer. This is the one place that knows OCPP
action names for commands: 2.0.1 translations go here (``_V201``) when they come.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from csms.api.errors import ApiError
from csms.commands import ChargerNotConnected, CommandError, CommandRouter, CommandTimeout
from csms.domain.errors import InvalidRequest
from csms.domain.views import normalize_ocpp_version

__all__ = [
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "Command",
    "GetConfiguration",
    "RemoteStart",
    "RemoteStop",
    "Reset",
    "TriggerMessage",
    "UnlockConnector",
    "UnsupportedCommand",
    "answer_from_ocpp",
    "send_command",
    "to_ocpp",
]


class UnsupportedCommand(Exception):
    """The command has no translation for the charger's OCPP version (yet)."""


@dataclass(frozen=True, slots=True)
class Reset:
    hard: bool = False


@dataclass(frozen=True, slots=True)
class UnlockConnector:
    connector_id: int


@dataclass(frozen=True, slots=True)
class ChangeAvailability:
    operative: bool
    connector_id: int = 0


@dataclass(frozen=True, slots=True)
class GetConfiguration:
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChangeConfiguration:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class TriggerMessage:
    message: str
    connector_id: int | None = None


@dataclass(frozen=True, slots=True)
class ClearCache:
    pass


@dataclass(frozen=True, slots=True)
class RemoteStart:
    id_tag: str
    connector_id: int | None = None


@dataclass(frozen=True, slots=True)
class RemoteStop:
    transaction_id: int


Command = (
    Reset
    | UnlockConnector
    | ChangeAvailability
    | GetConfiguration
    | ChangeConfiguration
    | TriggerMessage
    | ClearCache
    | RemoteStart
    | RemoteStop
)

# -- OCPP 1.6J ----------------------------------------------------------------------

# 1.6 §7.27 MessageTrigger
_V16_TRIGGERS = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)
_V16_ID_TAG = 20  # 1.6 §7.28 IdToken: CiString20Type
_V16_KEY = 50  # 1.6 §6.23 ChangeConfiguration.req key: CiString50Type
_V16_VALUE = 500  # value: CiString500Type


def _v16_trigger_name(message: str) -> str:
    wanted = message.replace("_", "").replace("-", "").lower()
    for name in _V16_TRIGGERS:
        if name.lower() == wanted:
            return name
    raise InvalidRequest(f"cannot trigger {message!r}: use one of {', '.join(_V16_TRIGGERS)}")


def _v16(command: Command) -> tuple[str, dict[str, Any]]:
    match command:
        case Reset(hard=hard):  # 1.6 §6.41
            return "Reset", {"type": "Hard" if hard else "Soft"}
        case UnlockConnector(connector_id=connector_id):  # 1.6 §6.51
            return "UnlockConnector", {"connectorId": connector_id}
        case ChangeAvailability(operative=operative, connector_id=connector_id):  # 1.6 §6.3
            kind = "Operative" if operative else "Inoperative"
            return "ChangeAvailability", {"connectorId": connector_id, "type": kind}
        case GetConfiguration(keys=keys):  # 1.6 §6.29: no key means all keys
            too_long = [k for k in keys if len(k) > _V16_KEY]
            if too_long:
                raise InvalidRequest(
                    f"configuration key {too_long[0]!r} is longer than {_V16_KEY} characters"
                )
            return "GetConfiguration", ({"key": list(keys)} if keys else {})
        case ChangeConfiguration(key=key, value=value):  # 1.6 §6.23
            if len(key) > _V16_KEY:
                raise InvalidRequest(f"configuration key is longer than {_V16_KEY} characters")
            if len(value) > _V16_VALUE:
                raise InvalidRequest(f"configuration value is longer than {_V16_VALUE} characters")
            return "ChangeConfiguration", {"key": key, "value": value}
        case TriggerMessage(message=message, connector_id=connector_id):  # 1.6 §6.49
            payload: dict[str, Any] = {"requestedMessage": _v16_trigger_name(message)}
            if connector_id is not None:
                payload["connectorId"] = connector_id
            return "TriggerMessage", payload
        case ClearCache():  # 1.6 §6.9
            return "ClearCache", {}
        case RemoteStart(id_tag=id_tag, connector_id=connector_id):  # 1.6 §6.33
            if len(id_tag) > _V16_ID_TAG:
                raise InvalidRequest(
                    f"id tag is longer than {_V16_ID_TAG} characters (the OCPP 1.6 limit)"
                )
            payload = {"idTag": id_tag}
            if connector_id is not None:
                payload["connectorId"] = connector_id
            return "RemoteStartTransaction", payload
        case RemoteStop(transaction_id=transaction_id):  # 1.6 §6.35
            return "RemoteStopTransaction", {"transactionId": transaction_id}
    raise AssertionError(f"unhandled command {command!r}")


def _v16_answer(command: Command, payload: dict[str, Any]) -> dict[str, Any]:
    if isinstance(command, GetConfiguration):  # 1.6 §6.30
        return {
            "configuration": [
                {
                    "key": item.get("key"),
                    "value": item.get("value"),
                    "readonly": bool(item.get("readonly", False)),
                }
                for item in payload.get("configurationKey") or []
            ],
            "unknown_keys": list(payload.get("unknownKey") or []),
        }
    return {"status": payload.get("status")}


_Translator = tuple[
    Callable[[Command], tuple[str, dict[str, Any]]],
    Callable[[Command, dict[str, Any]], dict[str, Any]],
]

_TRANSLATORS: dict[str, _Translator] = {"1.6": (_v16, _v16_answer)}


def _translator(ocpp_version: str | None) -> _Translator:
    version = normalize_ocpp_version(ocpp_version) or "1.6"
    try:
        return _TRANSLATORS[version]
    except KeyError:
        raise UnsupportedCommand(
            f"commands to OCPP {version} chargers are not supported yet (only OCPP 1.6)"
        ) from None


def to_ocpp(command: Command, ocpp_version: str | None) -> tuple[str, dict[str, Any]]:
    """The OCPP action and payload for ``command``; raises InvalidRequest for values the
    version cannot carry, UnsupportedCommand for a version without translations."""
    build, _ = _translator(ocpp_version)
    return build(command)


def answer_from_ocpp(
    command: Command, ocpp_version: str | None, payload: dict[str, Any]
) -> dict[str, Any]:
    """Version-neutral fields of the charger's answer (``status``, or ``configuration`` and
    ``unknown_keys`` for GetConfiguration)."""
    _, parse = _translator(ocpp_version)
    return parse(command, payload)


async def send_command(router: CommandRouter, charger_id: str, command: Command) -> dict[str, Any]:
    """Send ``command`` to a connected charger and return the version-neutral answer.

    Raises ApiError: 503 not connected, 504 no answer in time, 502 a CALLERROR,
    501 no translation for the charger's OCPP version; InvalidRequest for bad values.
    """
    if not router.is_connected(charger_id):
        raise ApiError(503, _not_connected(charger_id))
    version = router.ocpp_version(charger_id)
    try:
        action, payload = to_ocpp(command, version)
    except UnsupportedCommand as exc:
        raise ApiError(501, str(exc)) from None
    try:
        result = await router.send(charger_id, action, payload)
    except ChargerNotConnected:
        raise ApiError(503, _not_connected(charger_id)) from None
    except CommandTimeout:
        raise ApiError(
            504,
            f"charger {charger_id} did not answer {action} in time: it may be busy or its "
            f"connection stale; try again, or check `csms chargers show {charger_id}`",
        ) from None
    except CommandError as exc:
        code = f" {exc.error_code}" if exc.error_code else ""
        raise ApiError(
            502,
            f"charger {charger_id} answered {action} with an error{code}: {exc} "
            "(the charger may not support this command or value)",
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
