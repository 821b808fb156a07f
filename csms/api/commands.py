"""Operator commands, version-neutral, and their translation to OCPP actions.

The API builds a ``Command`` from a request; ``to_ocpp`` turns it into the action and
payload for the charger's OCPP version and ``answer_from_ocpp`` turns the charger's
CALLRESULT back into a version-neutral answer. This is the one place that knows OCPP
action names for commands.

How the two versions are addressed:

* **Connectors and EVSEs.** A 1.6 charger numbers its connectors; a 2.0.1 station has
  EVSEs, each with connectors numbered from 1. A command may name ``evse_id`` and/or
  ``connector_id``. On 1.6 only ``connector_id`` exists. On 2.0.1, ``evse_id`` with an
  optional ``connector_id`` names that connector of that EVSE; a ``connector_id`` alone
  names the EVSE with that number (what a 1.6 connector is in 2.0.1 terms), so
  ``--connector 1`` means the same place on both versions for the usual one connector per
  EVSE. Where 2.0.1 needs a connector number too (UnlockConnector), it is then 1.
* **Configuration.** 1.6 keys are plain names (``HeartbeatInterval``). 2.0.1 variables
  are written ``Component.Variable``, with optional instances in brackets and an EVSE
  (and connector) after ``@``: ``OCPPCommCtrlr.HeartbeatInterval``,
  ``OCPPCommCtrlr.MessageAttempts[TransactionEvent]``, ``EVSE@1.AvailabilityState``,
  ``Connector@1:2.AvailabilityState``, ``Ctrlr[instance].Variable``. The attribute read
  or written is ``Actual`` unless the command names another (2.0.1 only).
* **Reset.** 1.6 Hard/Soft; on 2.0.1 a hard reset is ``Immediate`` and a soft one
  ``OnIdle`` (the station waits until no transaction is running).
* **Trigger names** that differ are mapped: 1.6 ``DiagnosticsStatusNotification`` is
  2.0.1 ``LogStatusNotification`` and back. Names only 2.0.1 has (TransactionEvent,
  SignChargingStationCertificate, …) are refused for 1.6 chargers.
* Commands only one version has (GetTransactionStatus and device model reports on 2.0.1)
  raise ``UnsupportedCommand`` for the other, with a message saying what to use instead.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from csms.api.errors import ApiError
from csms.domain.errors import InvalidRequest
from csms.domain.views import normalize_ocpp_version
from csms.routing import ChargerNotConnected, CommandError, CommandRouter, CommandTimeout
from protocol import ID_TOKEN_TYPES

__all__ = [
    "ATTRIBUTE_TYPES",
    "ID_TOKEN_TYPES",
    "REPORT_BASES",
    "REPORT_CRITERIA",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "Command",
    "GetBaseReport",
    "GetConfiguration",
    "GetReport",
    "GetTransactionStatus",
    "RemoteStart",
    "RemoteStop",
    "Reset",
    "TriggerMessage",
    "UnlockConnector",
    "UnsupportedCommand",
    "VariableName",
    "answer_from_ocpp",
    "new_request_id",
    "parse_variable_name",
    "send_command",
    "to_ocpp",
]


class UnsupportedCommand(Exception):
    """The command has no translation for the charger's OCPP version."""


def new_request_id() -> int:
    """A positive 31-bit id for a 2.0.1 requestId or remoteStartId (integer fields that
    the station echoes in its NotifyReport or TransactionEvent)."""
    return secrets.randbelow(2**31 - 1) + 1


#: 2.0.1 AttributeEnumType.
ATTRIBUTE_TYPES = ("Actual", "Target", "MinSet", "MaxSet")
#: Report names as the API and CLI spell them → 2.0.1 ReportBaseEnumType.
REPORT_BASES = {
    "full": "FullInventory",
    "config": "ConfigurationInventory",
    "summary": "SummaryInventory",
}
#: Criteria as the API and CLI spell them → 2.0.1 ComponentCriterionEnumType.
REPORT_CRITERIA = {
    "active": "Active",
    "available": "Available",
    "enabled": "Enabled",
    "problem": "Problem",
}


@dataclass(frozen=True, slots=True)
class Reset:
    hard: bool = False
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class UnlockConnector:
    connector_id: int
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeAvailability:
    operative: bool
    connector_id: int = 0
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class GetConfiguration:
    """1.6 GetConfiguration; 2.0.1 GetVariables (``keys`` in ``Component.Variable`` form)."""

    keys: tuple[str, ...] = ()
    attribute: str = "Actual"


@dataclass(frozen=True, slots=True)
class ChangeConfiguration:
    """1.6 ChangeConfiguration; 2.0.1 SetVariables."""

    key: str
    value: str
    attribute: str = "Actual"


@dataclass(frozen=True, slots=True)
class TriggerMessage:
    message: str
    connector_id: int | None = None
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class ClearCache:
    pass


@dataclass(frozen=True, slots=True)
class RemoteStart:
    """1.6 RemoteStartTransaction; 2.0.1 RequestStartTransaction with an idToken of
    ``token_type`` (``Central`` by default: a token the CSMS vouches for) and a
    ``remote_start_id`` that the station reports back in its TransactionEvent."""

    id_tag: str
    connector_id: int | None = None
    evse_id: int | None = None
    token_type: str = "Central"
    remote_start_id: int = field(default_factory=new_request_id)


@dataclass(frozen=True, slots=True)
class RemoteStop:
    """1.6 RemoteStopTransaction (the CSMS's integer ``transaction_id``); 2.0.1
    RequestStopTransaction (the station's own ``station_transaction_id``)."""

    transaction_id: int
    station_transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class GetBaseReport:
    """2.0.1 GetBaseReport; the station answers, then sends NotifyReport messages."""

    report: Literal["full", "config", "summary"] = "full"
    request_id: int = field(default_factory=new_request_id)


@dataclass(frozen=True, slots=True)
class GetReport:
    """2.0.1 GetReport for some components/variables (``Component`` or
    ``Component.Variable``) and/or component criteria."""

    names: tuple[str, ...] = ()
    criteria: tuple[str, ...] = ()
    request_id: int = field(default_factory=new_request_id)


@dataclass(frozen=True, slots=True)
class GetTransactionStatus:
    """2.0.1 GetTransactionStatus: is the transaction still ongoing, are its messages
    still queued in the station? Without an id: are any transaction messages queued?"""

    station_transaction_id: str | None = None


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
    | GetBaseReport
    | GetReport
    | GetTransactionStatus
)

# -- trigger names --------------------------------------------------------------------

# 1.6 §7.27 MessageTrigger
_V16_TRIGGERS = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)
# 2.0.1 MessageTriggerEnumType
_V201_TRIGGERS = (
    "BootNotification",
    "LogStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "SignChargingStationCertificate",
    "SignV2GCertificate",
    "StatusNotification",
    "TransactionEvent",
    "SignCombinedCertificate",
    "PublishFirmwareStatusNotification",
)
# The same message under each version's name.
_TRIGGER_EQUIVALENTS = {
    "DiagnosticsStatusNotification": "LogStatusNotification",
    "LogStatusNotification": "DiagnosticsStatusNotification",
}


def _squash(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def _trigger_name(message: str, *, version: str) -> str:
    """``message`` (any case, ``_``/``-`` ignored, either version's name) as the
    requestedMessage the charger's version knows."""
    own, other = (
        (_V16_TRIGGERS, _V201_TRIGGERS) if version == "1.6" else (_V201_TRIGGERS, _V16_TRIGGERS)
    )
    wanted = _squash(message)
    for name in own:
        if _squash(name) == wanted:
            return name
    for name in other:
        if _squash(name) == wanted:
            equivalent = _TRIGGER_EQUIVALENTS.get(name)
            if equivalent is not None and equivalent in own:
                return equivalent
            raise InvalidRequest(
                f"cannot trigger {name} on an OCPP {version} charger (it has no such "
                f"message): use one of {', '.join(own)}"
            )
    raise InvalidRequest(f"cannot trigger {message!r}: use one of {', '.join(own)}")


# -- 2.0.1 variable names -------------------------------------------------------------

_V201_NAME = 50  # 2.0.1 ComponentType.name/instance, VariableType.name/instance: string(50)
_V201_VALUE = 1000  # SetVariableDataType.attributeValue: string(1000)
_V201_ID_TOKEN = 36  # IdTokenType.idToken: string(36)

_VARIABLE_NAME = re.compile(
    r"""
    (?P<component>[^.\[\]@:\s]+)
    (?:\[(?P<component_instance>[^\[\]]+)\])?
    (?:@(?P<evse>\d+)(?::(?P<connector>\d+))?)?
    (?:\.(?P<variable>[^\[\]\s]+?)(?:\[(?P<variable_instance>[^\[\]]+)\])?)?
    """,
    re.VERBOSE,
)

# Common 1.6 keys and their 2.0.1 variables (2.0.1 Part 2, Appendix 3 and the
# controller components' variables), for the hint when a 1.6 key reaches a 2.0.1 station.
_V16_KEY_HINTS = {
    "heartbeatinterval": "OCPPCommCtrlr.HeartbeatInterval",
    "websocketpinginterval": "OCPPCommCtrlr.WebSocketPingInterval",
    "resetretries": "OCPPCommCtrlr.ResetRetries",
    "transactionmessageattempts": "OCPPCommCtrlr.MessageAttempts[TransactionEvent]",
    "transactionmessageretryinterval": "OCPPCommCtrlr.MessageAttemptInterval[TransactionEvent]",
    "metervaluesampleinterval": "SampledDataCtrlr.TxUpdatedInterval",
    "metervaluessampleddata": "SampledDataCtrlr.TxUpdatedMeasurands",
    "stoptxnsampleddata": "SampledDataCtrlr.TxEndedMeasurands",
    "clockaligneddatainterval": "AlignedDataCtrlr.Interval",
    "metervaluesaligneddata": "AlignedDataCtrlr.Measurands",
    "stoptxnaligneddata": "AlignedDataCtrlr.TxEndedMeasurands",
    "connectiontimeout": "TxCtrlr.EVConnectionTimeOut",
    "stoptransactiononinvalidid": "TxCtrlr.StopTxOnInvalidId",
    "stoptransactiononevsidedisconnect": "TxCtrlr.StopTxOnEVSideDisconnect",
    "maxenergyoninvalidid": "TxCtrlr.MaxEnergyOnInvalidId",
    "authorizeremotetxrequests": "AuthCtrlr.AuthorizeRemoteStart",
    "localpreauthorize": "AuthCtrlr.LocalPreAuthorize",
    "localauthorizeoffline": "AuthCtrlr.LocalAuthorizeOffline",
    "allowofflinetxforunknownid": "AuthCtrlr.OfflineTxForUnknownIdEnabled",
    "authorizationcacheenabled": "AuthCacheCtrlr.Enabled",
    "localauthlistenabled": "LocalAuthListCtrlr.Enabled",
}


@dataclass(frozen=True, slots=True)
class VariableName:
    """A 2.0.1 component (and variable) as written on the command line."""

    component: str
    variable: str | None = None
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None

    def component_type(self) -> dict[str, Any]:
        """2.0.1 ComponentType."""
        component: dict[str, Any] = {"name": self.component}
        if self.component_instance is not None:
            component["instance"] = self.component_instance
        if self.evse_id is not None:
            evse: dict[str, Any] = {"id": self.evse_id}
            if self.connector_id is not None:
                evse["connectorId"] = self.connector_id
            component["evse"] = evse
        return component

    def variable_type(self) -> dict[str, Any]:
        """2.0.1 VariableType."""
        if self.variable is None:
            raise AssertionError("no variable")
        variable: dict[str, Any] = {"name": self.variable}
        if self.variable_instance is not None:
            variable["instance"] = self.variable_instance
        return variable

    def __str__(self) -> str:
        text = self.component
        if self.component_instance is not None:
            text += f"[{self.component_instance}]"
        if self.evse_id is not None:
            text += f"@{self.evse_id}"
            if self.connector_id is not None:
                text += f":{self.connector_id}"
        if self.variable is not None:
            text += f".{self.variable}"
            if self.variable_instance is not None:
                text += f"[{self.variable_instance}]"
        return text


def _name_hint(text: str) -> str:
    known = _V16_KEY_HINTS.get(text.strip().lower())
    if known:
        return f"OCPP 2.0.1 stations name it {known}"
    return (
        "OCPP 2.0.1 stations name variables Component.Variable, e.g. "
        "OCPPCommCtrlr.HeartbeatInterval (instances in brackets, an EVSE after @: "
        "EVSE@1.AvailabilityState); `csms chargers report ID` asks the station for all of them"
    )


def parse_variable_name(text: str, *, variable_required: bool = True) -> VariableName:
    """``Component[instance]@evse:connector.Variable[instance]`` → VariableName; raises
    InvalidRequest with the 2.0.1 form of a 1.6 key when ``text`` is not in that form."""
    match = _VARIABLE_NAME.fullmatch(text.strip())
    if match is None or (variable_required and match["variable"] is None):
        raise InvalidRequest(f"{text!r} is not a 2.0.1 variable name: {_name_hint(text)}")
    name = VariableName(
        component=match["component"],
        variable=match["variable"],
        component_instance=match["component_instance"],
        variable_instance=match["variable_instance"],
        evse_id=int(match["evse"]) if match["evse"] is not None else None,
        connector_id=int(match["connector"]) if match["connector"] is not None else None,
    )
    parts = (name.component, name.component_instance, name.variable, name.variable_instance)
    if any(part is not None and len(part) > _V201_NAME for part in parts):
        raise InvalidRequest(
            f"{text!r}: component and variable names and instances are at most "
            f"{_V201_NAME} characters in OCPP 2.0.1"
        )
    return name


def _name_from(component: dict[str, Any], variable: dict[str, Any] | None) -> str:
    """The command-line form of a ComponentType/VariableType the station sent."""
    evse = component.get("evse") or {}
    return str(
        VariableName(
            component=str(component.get("name")),
            variable=str(variable.get("name")) if variable else None,
            component_instance=component.get("instance"),
            variable_instance=variable.get("instance") if variable else None,
            evse_id=evse.get("id"),
            connector_id=evse.get("connectorId"),
        )
    )


# -- OCPP 1.6J ----------------------------------------------------------------------

_V16_ID_TAG = 20  # 1.6 §7.28 IdToken: CiString20Type
_V16_KEY = 50  # 1.6 §6.23 ChangeConfiguration.req key: CiString50Type
_V16_VALUE = 500  # value: CiString500Type


def _v16_no_evse(evse_id: int | None) -> None:
    if evse_id is not None:
        raise InvalidRequest(
            "OCPP 1.6 chargers have no EVSEs: name the connector (--connector N) instead"
        )


def _v16_actual(attribute: str) -> None:
    if attribute != "Actual":
        raise InvalidRequest(
            f"OCPP 1.6 configuration keys have no {attribute} attribute: leave it out"
        )


def _v16(command: Command) -> tuple[str, dict[str, Any]]:
    match command:
        case Reset(hard=hard, evse_id=evse_id):  # 1.6 §6.41
            _v16_no_evse(evse_id)
            return "Reset", {"type": "Hard" if hard else "Soft"}
        case UnlockConnector(connector_id=connector_id, evse_id=evse_id):  # 1.6 §6.51
            _v16_no_evse(evse_id)
            return "UnlockConnector", {"connectorId": connector_id}
        case ChangeAvailability(
            operative=operative, connector_id=connector_id, evse_id=evse_id
        ):  # 1.6 §6.3
            _v16_no_evse(evse_id)
            kind = "Operative" if operative else "Inoperative"
            return "ChangeAvailability", {"connectorId": connector_id, "type": kind}
        case GetConfiguration(keys=keys, attribute=attribute):  # 1.6 §6.29: none means all
            _v16_actual(attribute)
            too_long = [k for k in keys if len(k) > _V16_KEY]
            if too_long:
                raise InvalidRequest(
                    f"configuration key {too_long[0]!r} is longer than {_V16_KEY} characters"
                )
            return "GetConfiguration", ({"key": list(keys)} if keys else {})
        case ChangeConfiguration(key=key, value=value, attribute=attribute):  # 1.6 §6.23
            _v16_actual(attribute)
            if len(key) > _V16_KEY:
                raise InvalidRequest(f"configuration key is longer than {_V16_KEY} characters")
            if len(value) > _V16_VALUE:
                raise InvalidRequest(f"configuration value is longer than {_V16_VALUE} characters")
            return "ChangeConfiguration", {"key": key, "value": value}
        case TriggerMessage(
            message=message, connector_id=connector_id, evse_id=evse_id
        ):  # 1.6 §6.49
            _v16_no_evse(evse_id)
            payload: dict[str, Any] = {"requestedMessage": _trigger_name(message, version="1.6")}
            if connector_id is not None:
                payload["connectorId"] = connector_id
            return "TriggerMessage", payload
        case ClearCache():  # 1.6 §6.9
            return "ClearCache", {}
        case RemoteStart(
            id_tag=id_tag, connector_id=connector_id, evse_id=evse_id, token_type=token_type
        ):  # 1.6 §6.33
            _v16_no_evse(evse_id)
            if token_type != "Central":
                raise InvalidRequest("OCPP 1.6 id tags have no token type: leave it out")
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
        case GetBaseReport() | GetReport():
            raise UnsupportedCommand(
                "OCPP 1.6 chargers have no device model reports: read their configuration "
                "with `csms chargers config get ID`"
            )
        case GetTransactionStatus():
            raise UnsupportedCommand(
                "OCPP 1.6 has no GetTransactionStatus (it is OCPP 2.0.1 only): "
                "see the session with `csms sessions show ID`"
            )
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


# -- OCPP 2.0.1 ---------------------------------------------------------------------


def _v201_evse(evse_id: int | None, connector_id: int | None) -> dict[str, Any] | None:
    """2.0.1 EVSEType for a place named the version-neutral way (module docstring);
    None for the whole station."""
    if evse_id is not None:
        evse: dict[str, Any] = {"id": evse_id}
        if connector_id:  # 0 (the 1.6 "whole charger") names no connector
            evse["connectorId"] = connector_id
        return evse
    if connector_id:
        return {"id": connector_id}
    return None


def _v201_attribute(attribute: str) -> str:
    if attribute not in ATTRIBUTE_TYPES:
        raise InvalidRequest(
            f"unknown attribute {attribute!r}: use one of {', '.join(ATTRIBUTE_TYPES)}"
        )
    return attribute


def _v201_report_names(names: tuple[str, ...]) -> list[dict[str, Any]]:
    """2.0.1 ComponentVariableType for each ``Component`` or ``Component.Variable``."""
    wanted: list[dict[str, Any]] = []
    for text in names:
        name = parse_variable_name(text, variable_required=False)
        item: dict[str, Any] = {"component": name.component_type()}
        if name.variable is not None:
            item["variable"] = name.variable_type()
        wanted.append(item)
    return wanted


def _v201(command: Command) -> tuple[str, dict[str, Any]]:
    match command:
        case Reset(hard=hard, evse_id=evse_id):  # 2.0.1 B11 (station), B12 (EVSE)
            payload: dict[str, Any] = {"type": "Immediate" if hard else "OnIdle"}
            if evse_id is not None:
                payload["evseId"] = evse_id
            return "Reset", payload
        case UnlockConnector(connector_id=connector_id, evse_id=evse_id):  # 2.0.1 F05
            if evse_id is None:
                evse_id, connector_id = connector_id, 1
            return "UnlockConnector", {"evseId": evse_id, "connectorId": connector_id}
        case ChangeAvailability(
            operative=operative, connector_id=connector_id, evse_id=evse_id
        ):  # 2.0.1 G03 (station), G04 (EVSE/connector)
            payload = {"operationalStatus": "Operative" if operative else "Inoperative"}
            evse = _v201_evse(evse_id, connector_id)
            if evse is not None:
                payload["evse"] = evse
            return "ChangeAvailability", payload
        case GetConfiguration(keys=keys, attribute=attribute):  # 2.0.1 B06
            if not keys:
                raise InvalidRequest(
                    "an OCPP 2.0.1 station reads variables by name (Component.Variable, e.g. "
                    "OCPPCommCtrlr.HeartbeatInterval); for all of them ask for a report: "
                    "`csms chargers report ID --type config`"
                )
            kind = _v201_attribute(attribute)
            data = []
            for key in keys:
                name = parse_variable_name(key)
                data.append(
                    {
                        "attributeType": kind,
                        "component": name.component_type(),
                        "variable": name.variable_type(),
                    }
                )
            return "GetVariables", {"getVariableData": data}
        case ChangeConfiguration(key=key, value=value, attribute=attribute):  # 2.0.1 B05
            name = parse_variable_name(key)
            if len(value) > _V201_VALUE:
                raise InvalidRequest(
                    f"the value is longer than {_V201_VALUE} characters (the OCPP 2.0.1 limit)"
                )
            item = {
                "attributeType": _v201_attribute(attribute),
                "attributeValue": value,
                "component": name.component_type(),
                "variable": name.variable_type(),
            }
            return "SetVariables", {"setVariableData": [item]}
        case TriggerMessage(
            message=message, connector_id=connector_id, evse_id=evse_id
        ):  # 2.0.1 F06
            payload = {"requestedMessage": _trigger_name(message, version="2.0.1")}
            evse = _v201_evse(evse_id, connector_id)
            if evse is not None:
                payload["evse"] = evse
            return "TriggerMessage", payload
        case ClearCache():  # 2.0.1 C11
            return "ClearCache", {}
        case RemoteStart(
            id_tag=id_tag,
            connector_id=connector_id,
            evse_id=evse_id,
            token_type=token_type,
            remote_start_id=remote_start_id,
        ):  # 2.0.1 F01/F02
            if token_type not in ID_TOKEN_TYPES:
                raise InvalidRequest(
                    f"unknown token type {token_type!r}: use one of {', '.join(ID_TOKEN_TYPES)}"
                )
            if len(id_tag) > _V201_ID_TOKEN:
                raise InvalidRequest(
                    f"id token is longer than {_V201_ID_TOKEN} characters (the OCPP 2.0.1 limit)"
                )
            if evse_id is not None and connector_id is not None:
                raise InvalidRequest(
                    "RequestStartTransaction names an EVSE, not a connector of it: "
                    "give --evse N alone (or --connector N, which means EVSE N on 2.0.1)"
                )
            payload = {
                "idToken": {"idToken": id_tag, "type": token_type},
                "remoteStartId": remote_start_id,
            }
            evse = _v201_evse(evse_id, connector_id)
            if evse is not None:
                payload["evseId"] = evse["id"]  # an EVSE (> 0); the station picks its connector
            return "RequestStartTransaction", payload
        case RemoteStop(station_transaction_id=station_transaction_id):  # 2.0.1 F03
            if not station_transaction_id:
                raise InvalidRequest(
                    "this session has no transaction id from the station, so an OCPP 2.0.1 "
                    "station cannot be asked to stop it; stop it at the station"
                )
            return "RequestStopTransaction", {"transactionId": station_transaction_id}
        case GetBaseReport(report=report, request_id=request_id):  # 2.0.1 B07/B08
            base = REPORT_BASES.get(report)
            if base is None:
                raise InvalidRequest(
                    f"unknown report {report!r}: use one of {', '.join(REPORT_BASES)}"
                )
            return "GetBaseReport", {"requestId": request_id, "reportBase": base}
        case GetReport(names=names, criteria=criteria, request_id=request_id):  # 2.0.1 B08
            payload = {"requestId": request_id}
            if names:
                payload["componentVariable"] = _v201_report_names(names)
            if criteria:
                unknown = [c for c in criteria if c not in REPORT_CRITERIA]
                if unknown:
                    raise InvalidRequest(
                        f"unknown criterion {unknown[0]!r}: use {', '.join(REPORT_CRITERIA)}"
                    )
                payload["componentCriteria"] = [REPORT_CRITERIA[c] for c in dict.fromkeys(criteria)]
            return "GetReport", payload
        case GetTransactionStatus(station_transaction_id=station_transaction_id):  # 2.0.1 E14
            return "GetTransactionStatus", (
                {"transactionId": station_transaction_id} if station_transaction_id else {}
            )
    raise AssertionError(f"unhandled command {command!r}")


_UNKNOWN_VARIABLE = frozenset({"UnknownComponent", "UnknownVariable"})


def _v201_reason(payload: dict[str, Any]) -> str | None:
    """2.0.1 StatusInfoType as one line: ``reasonCode: additionalInfo``."""
    info = payload.get("statusInfo") or payload.get("attributeStatusInfo")
    if not info:
        return None
    extra = info.get("additionalInfo")
    return f"{info.get('reasonCode')}: {extra}" if extra else str(info.get("reasonCode"))


def _v201_answer(command: Command, payload: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any]
    match command:
        case GetConfiguration():  # 2.0.1 B06: one result per requested variable
            configuration: list[dict[str, Any]] = []
            unknown: list[str] = []
            rejected: list[dict[str, Any]] = []
            for result in payload.get("getVariableResult") or []:
                key = _name_from(result.get("component") or {}, result.get("variable"))
                status = result.get("attributeStatus")
                if status == "Accepted":
                    value = result.get("attributeValue")
                    configuration.append({"key": key, "value": value, "readonly": None})
                elif status in _UNKNOWN_VARIABLE:
                    unknown.append(key)
                else:
                    rejected.append({"key": key, "status": status, "reason": _v201_reason(result)})
            answer = {"configuration": configuration, "unknown_keys": unknown}
            if rejected:
                answer["rejected_keys"] = rejected
            return answer
        case ChangeConfiguration():  # 2.0.1 B05: one result for the one variable set
            results = payload.get("setVariableResult") or [{}]
            first = results[0]
            return {"status": first.get("attributeStatus"), "reason": _v201_reason(first)}
        case GetTransactionStatus():  # 2.0.1 E14
            return {
                "ongoing": payload.get("ongoingIndicator"),
                "messages_in_queue": payload.get("messagesInQueue"),
            }
        case RemoteStart(remote_start_id=remote_start_id):  # 2.0.1 F01: already started?
            answer = {"status": payload.get("status"), "remote_start_id": remote_start_id}
            if payload.get("transactionId") is not None:
                answer["station_transaction_id"] = payload["transactionId"]
        case GetBaseReport(request_id=request_id) | GetReport(request_id=request_id):
            answer = {"status": payload.get("status"), "request_id": request_id}
        case _:
            answer = {"status": payload.get("status")}
    reason = _v201_reason(payload)
    if reason is not None:
        answer["reason"] = reason
    return answer


_Translator = tuple[
    Callable[[Command], tuple[str, dict[str, Any]]],
    Callable[[Command, dict[str, Any]], dict[str, Any]],
]

_TRANSLATORS: dict[str, _Translator] = {
    "1.6": (_v16, _v16_answer),
    "2.0.1": (_v201, _v201_answer),
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
    """The OCPP action and payload for ``command``; raises InvalidRequest for values the
    version cannot carry, UnsupportedCommand for a command the version does not have."""
    build, _ = _translator(ocpp_version)
    return build(command)


def answer_from_ocpp(
    command: Command, ocpp_version: str | None, payload: dict[str, Any]
) -> dict[str, Any]:
    """Version-neutral fields of the charger's answer: ``status`` (and ``reason`` when a
    2.0.1 station gave one); ``configuration``, ``unknown_keys`` (and ``rejected_keys``)
    for a configuration read; ``request_id`` for reports; ``remote_start_id`` (and
    ``station_transaction_id``) for a 2.0.1 remote start; ``ongoing`` and
    ``messages_in_queue`` for GetTransactionStatus."""
    _, parse = _translator(ocpp_version)
    return parse(command, payload)


async def send_command(router: CommandRouter, charger_id: str, command: Command) -> dict[str, Any]:
    """Send ``command`` to a connected charger and return the version-neutral answer.

    Raises ApiError: 503 not connected, 504 no answer in time, 502 a CALLERROR,
    501 a command the charger's OCPP version does not have; InvalidRequest for bad values.
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
