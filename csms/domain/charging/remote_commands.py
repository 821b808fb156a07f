"""Operator commands to a charger, the same for every OCPP version.

The API builds a ``Command`` from a request; the version adapters translate it into the
charger's OCPP action and payload and its answer back (:mod:`csms.adapters.outbound`).

How a command names a place on the charger, whatever its version:

* **Connectors and EVSEs.** A command may name ``evse_id`` and/or ``connector_id``. A
  ``connector_id`` alone is what an operator calls connector N on every version (on a
  station with EVSEs: EVSE N); ``evse_id`` with an optional ``connector_id`` names that
  connector of that EVSE, on versions that have EVSEs.
* **Configuration.** A key is a plain name (``HeartbeatInterval``) or a variable name
  ``Component.Variable``, with optional instances in brackets and an EVSE (and
  connector) after ``@``: ``OCPPCommCtrlr.HeartbeatInterval``,
  ``OCPPCommCtrlr.MessageAttempts[TransactionEvent]``, ``EVSE@1.AvailabilityState``,
  ``Connector@1:2.AvailabilityState``, ``Ctrlr[instance].Variable``
  (:func:`parse_variable_name`). The attribute read or written is ``Actual`` unless the
  command names another.
* A command the charger's version does not have raises :class:`UnsupportedCommand`, with
  a message saying what to use instead.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

from csms.domain.errors import InvalidRequest

__all__ = [
    "CertificateHashData",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "Command",
    "DeleteCertificate",
    "GetBaseReport",
    "GetConfiguration",
    "GetInstalledCertificateIds",
    "GetReport",
    "GetTransactionStatus",
    "InstallCertificate",
    "NoStationTransactionId",
    "RemoteStart",
    "RemoteStop",
    "RenewCertificate",
    "Reset",
    "SetNetworkProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UnsupportedCommand",
    "VariableName",
    "new_request_id",
    "parse_variable_name",
]


class UnsupportedCommand(Exception):
    """The command has no translation for the charger's OCPP version."""


class NoStationTransactionId(InvalidRequest):
    """The command is about a session whose transaction id from the station is unknown,
    and the charger's version names transactions only by that id."""


def new_request_id() -> int:
    """A positive 31-bit id for a requestId or remoteStartId (integer fields that the
    station echoes in its reports or transaction events)."""
    return secrets.randbelow(2**31 - 1) + 1


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
    """Read configuration keys or variables (``keys`` in ``Component.Variable`` form on a
    station with a device model; none: all keys, where the version allows it)."""

    keys: tuple[str, ...] = ()
    attribute: str = "Actual"


@dataclass(frozen=True, slots=True)
class ChangeConfiguration:
    """Set one configuration key or variable."""

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
    """Start a session for ``id_tag``, an id token of ``token_type`` (``Central`` by
    default: a token the CSMS vouches for), with a ``remote_start_id`` that a station may
    report back with the transaction it starts."""

    id_tag: str
    connector_id: int | None = None
    evse_id: int | None = None
    token_type: str = "Central"
    remote_start_id: int = field(default_factory=new_request_id)


@dataclass(frozen=True, slots=True)
class RemoteStop:
    """Stop a session: by the CSMS's integer ``transaction_id`` or the station's own
    ``station_transaction_id``, whichever the charger's version uses."""

    transaction_id: int
    station_transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class GetBaseReport:
    """Ask for a device model report; the station answers, then sends the report."""

    report: Literal["full", "config", "summary"] = "full"
    request_id: int = field(default_factory=new_request_id)


@dataclass(frozen=True, slots=True)
class GetReport:
    """A device model report of some components/variables (``Component`` or
    ``Component.Variable``) and/or component criteria."""

    names: tuple[str, ...] = ()
    criteria: tuple[str, ...] = ()
    request_id: int = field(default_factory=new_request_id)


@dataclass(frozen=True, slots=True)
class GetTransactionStatus:
    """Is the transaction still ongoing, are its messages still queued in the station?
    Without an id: are any transaction messages queued? With ``of_session``, the command
    is about one session, and a version that names transactions by the station's id
    refuses it without one (:class:`NoStationTransactionId`) instead of asking about all."""

    station_transaction_id: str | None = None
    of_session: bool = False


@dataclass(frozen=True, slots=True)
class SetNetworkProfile:
    """Store a connection profile in ``slot`` of a station's network configuration (2.0.1
    B09): where it connects (``csms_url``, without the station's identity) and with which
    ``security_profile``. The station uses it once ``NetworkConfigurationPriority`` puts
    the slot first and it reconnects (after a reset)."""

    slot: int
    csms_url: str
    security_profile: int
    message_timeout: int = 30


# -- certificates on the charger (1.6 security extension, 2.0.1 M) --------------------
# Certificate types are named as 2.0.1 names them (CSMSRootCertificate, ...); the 1.6
# adapter translates (CentralSystemRootCertificate) and refuses the types 1.6 has not.


@dataclass(frozen=True, slots=True)
class InstallCertificate:
    """Install a root certificate (``pem``: one X.509 certificate, checked beforehand by
    :func:`csms.domain.security.charger_certificates.checked_certificate`)."""

    certificate_type: str
    pem: str


@dataclass(frozen=True, slots=True)
class GetInstalledCertificateIds:
    """Which certificates of ``types`` (none: every type) the charger has installed."""

    types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CertificateHashData:
    """How OCPP names an installed certificate: hashes of its issuer's name and key, and
    its serial number (hex, as the charger reported it)."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial: str


@dataclass(frozen=True, slots=True)
class DeleteCertificate:
    """Delete the installed certificate ``hash_data`` names (as the charger reported it
    in GetInstalledCertificateIds)."""

    hash_data: CertificateHashData


@dataclass(frozen=True, slots=True)
class RenewCertificate:
    """Ask the charger for a new CSR for its charging-station certificate: 1.6
    ExtendedTriggerMessage SignChargePointCertificate, 2.0.1 TriggerMessage
    SignChargingStationCertificate (A02); its SignCertificate follows."""


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
    | SetNetworkProfile
    | InstallCertificate
    | GetInstalledCertificateIds
    | DeleteCertificate
    | RenewCertificate
)

# -- variable names -------------------------------------------------------------------

#: Component and variable names and instances: string(50) (2.0.1 ComponentType,
#: VariableType).
_NAME_LIMIT = 50

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
    """A component (and variable) of a station's device model, as written on the command
    line: ``Component[instance]@evse:connector.Variable[instance]``."""

    component: str
    variable: str | None = None
    component_instance: str | None = None
    variable_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None

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
    if any(part is not None and len(part) > _NAME_LIMIT for part in parts):
        raise InvalidRequest(
            f"{text!r}: component and variable names and instances are at most "
            f"{_NAME_LIMIT} characters in OCPP 2.0.1"
        )
    return name
