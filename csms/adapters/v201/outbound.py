"""OCPP 2.0.1: operator commands as the CALLs a charging station takes, and its answers back.

* **EVSEs.** A station has EVSEs, each with connectors numbered from 1. ``evse_id`` with
  an optional ``connector_id`` names that connector of that EVSE; a ``connector_id``
  alone names the EVSE with that number (what a 1.6 connector is in 2.0.1 terms), so
  ``--connector 1`` means the same place on both versions for the usual one connector per
  EVSE. Where 2.0.1 needs a connector number too (UnlockConnector), it is then 1.
* **Variables.** Configuration keys are variable names ``Component.Variable``
  (:func:`csms.domain.charging.remote_commands.parse_variable_name`); the attribute is
  one of :data:`ATTRIBUTE_TYPES`, ``Actual`` by default.
* **Reset.** A hard reset is ``Immediate``, a soft one ``OnIdle`` (the station waits until
  no transaction is running).
* Answers carry a ``statusInfo``, given back as ``reason`` (``reasonCode: additionalInfo``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from csms.adapters.triggers import trigger_name
from csms.domain.charging.remote_commands import (
    CertificateHashData,
    ChangeAvailability,
    ChangeConfiguration,
    ClearCache,
    Command,
    DeleteCertificate,
    GetBaseReport,
    GetConfiguration,
    GetInstalledCertificateIds,
    GetReport,
    GetTransactionStatus,
    InstallCertificate,
    NoStationTransactionId,
    RemoteStart,
    RemoteStop,
    RenewCertificate,
    Reset,
    SetNetworkProfile,
    TriggerMessage,
    UnlockConnector,
    VariableName,
    parse_variable_name,
)
from csms.domain.errors import InvalidRequest
from protocol import ID_TOKEN_TYPES
from protocol.messages.v201 import (
    AttributeEnumType,
    CertificateHashDataChainType,
    CertificateHashDataType,
    ChangeAvailabilityRequest,
    ClearCacheRequest,
    ComponentCriterionEnumType,
    ComponentType,
    ComponentVariableType,
    DeleteCertificateRequest,
    EVSEType,
    GetBaseReportRequest,
    GetCertificateIdUseEnumType,
    GetInstalledCertificateIdsRequest,
    GetInstalledCertificateIdsResponse,
    GetReportRequest,
    GetTransactionStatusRequest,
    GetTransactionStatusResponse,
    GetVariableDataType,
    GetVariablesRequest,
    GetVariablesResponse,
    HashAlgorithmEnumType,
    IdTokenEnumType,
    InstallCertificateRequest,
    InstallCertificateUseEnumType,
    MessageTriggerEnumType,
    ReportBaseEnumType,
    RequestStartTransactionRequest,
    RequestStartTransactionResponse,
    RequestStopTransactionRequest,
    ResetRequest,
    SetNetworkProfileRequest,
    SetVariableDataType,
    SetVariablesRequest,
    SetVariablesResponse,
    StatusInfoType,
    TriggerMessageRequest,
    UnlockConnectorRequest,
    VariableType,
)

__all__ = [
    "ATTRIBUTE_TYPES",
    "REPORT_BASES",
    "REPORT_CRITERIA",
    "Request",
    "answer_from_ocpp",
    "component_type",
    "to_ocpp",
    "variable_type",
]

#: The requests of the commands a 2.0.1 station takes.
Request = (
    ResetRequest
    | UnlockConnectorRequest
    | ChangeAvailabilityRequest
    | GetVariablesRequest
    | SetVariablesRequest
    | TriggerMessageRequest
    | ClearCacheRequest
    | RequestStartTransactionRequest
    | RequestStopTransactionRequest
    | GetBaseReportRequest
    | GetReportRequest
    | GetTransactionStatusRequest
    | SetNetworkProfileRequest
    | InstallCertificateRequest
    | GetInstalledCertificateIdsRequest
    | DeleteCertificateRequest
)

#: 2.0.1 AttributeEnumType.
ATTRIBUTE_TYPES: tuple[AttributeEnumType, ...] = ("Actual", "Target", "MinSet", "MaxSet")
#: Report names as the API and CLI spell them → 2.0.1 ReportBaseEnumType.
REPORT_BASES: dict[str, ReportBaseEnumType] = {
    "full": "FullInventory",
    "config": "ConfigurationInventory",
    "summary": "SummaryInventory",
}
#: Criteria as the API and CLI spell them → 2.0.1 ComponentCriterionEnumType.
REPORT_CRITERIA: dict[str, ComponentCriterionEnumType] = {
    "active": "Active",
    "available": "Available",
    "enabled": "Enabled",
    "problem": "Problem",
}

_VALUE = 1000  # SetVariableDataType.attributeValue: string(1000)
_URL = 512  # NetworkConnectionProfileType.ocppCsmsUrl: string(512)
_MAX_SLOT = 2**31 - 1
_ID_TOKEN = 36  # IdTokenType.idToken: string(36)


def component_type(name: VariableName) -> ComponentType:
    """2.0.1 ComponentType of a variable name."""
    component: ComponentType = {"name": name.component}
    if name.component_instance is not None:
        component["instance"] = name.component_instance
    if name.evse_id is not None:
        evse: EVSEType = {"id": name.evse_id}
        if name.connector_id is not None:
            evse["connectorId"] = name.connector_id
        component["evse"] = evse
    return component


def variable_type(name: VariableName) -> VariableType:
    """2.0.1 VariableType of a variable name (one that names a variable)."""
    if name.variable is None:
        raise AssertionError("no variable")
    variable: VariableType = {"name": name.variable}
    if name.variable_instance is not None:
        variable["instance"] = name.variable_instance
    return variable


def _name_from(component: ComponentType | None, variable: VariableType | None) -> str:
    """The command-line form of a ComponentType/VariableType the station sent."""
    evse = component.get("evse") if component else None
    return str(
        VariableName(
            component=str(component.get("name") if component else None),
            variable=str(variable.get("name")) if variable else None,
            component_instance=component.get("instance") if component else None,
            variable_instance=variable.get("instance") if variable else None,
            evse_id=evse.get("id") if evse else None,
            connector_id=evse.get("connectorId") if evse else None,
        )
    )


def _evse(evse_id: int | None, connector_id: int | None) -> EVSEType | None:
    """2.0.1 EVSEType for a place named the version-neutral way (module docstring);
    None for the whole station."""
    if evse_id is not None:
        evse: EVSEType = {"id": evse_id}
        if connector_id:  # 0 (the 1.6 "whole charger") names no connector
            evse["connectorId"] = connector_id
        return evse
    if connector_id:
        return {"id": connector_id}
    return None


def _attribute(attribute: str) -> AttributeEnumType:
    if attribute not in ATTRIBUTE_TYPES:
        raise InvalidRequest(
            f"unknown attribute {attribute!r}: use one of {', '.join(ATTRIBUTE_TYPES)}"
        )
    return attribute


def _report_names(names: tuple[str, ...]) -> list[ComponentVariableType]:
    """2.0.1 ComponentVariableType for each ``Component`` or ``Component.Variable``."""
    wanted: list[ComponentVariableType] = []
    for text in names:
        name = parse_variable_name(text, variable_required=False)
        item: ComponentVariableType = {"component": component_type(name)}
        if name.variable is not None:
            item["variable"] = variable_type(name)
        wanted.append(item)
    return wanted


def to_ocpp(command: Command) -> tuple[str, Request]:
    """The 2.0.1 action and payload for ``command``; raises InvalidRequest for values
    2.0.1 cannot carry (NoStationTransactionId for a session the station gave no id)."""
    match command:
        case Reset(hard=hard, evse_id=evse_id):  # 2.0.1 B11 (station), B12 (EVSE)
            reset: ResetRequest = {"type": "Immediate" if hard else "OnIdle"}
            if evse_id is not None:
                reset["evseId"] = evse_id
            return "Reset", reset
        case UnlockConnector(connector_id=connector_id, evse_id=evse_id):  # 2.0.1 F05
            if evse_id is None:
                evse_id, connector_id = connector_id, 1
            unlock: UnlockConnectorRequest = {"evseId": evse_id, "connectorId": connector_id}
            return "UnlockConnector", unlock
        case ChangeAvailability(
            operative=operative, connector_id=connector_id, evse_id=evse_id
        ):  # 2.0.1 G03 (station), G04 (EVSE/connector)
            availability: ChangeAvailabilityRequest = {
                "operationalStatus": "Operative" if operative else "Inoperative"
            }
            evse = _evse(evse_id, connector_id)
            if evse is not None:
                availability["evse"] = evse
            return "ChangeAvailability", availability
        case GetConfiguration(keys=keys, attribute=attribute):  # 2.0.1 B06
            if not keys:
                raise InvalidRequest(
                    "an OCPP 2.0.1 station reads variables by name (Component.Variable, e.g. "
                    "OCPPCommCtrlr.HeartbeatInterval); for all of them ask for a report: "
                    "`csms chargers report ID --type config`"
                )
            kind = _attribute(attribute)
            data: list[GetVariableDataType] = []
            for key in keys:
                name = parse_variable_name(key)
                data.append(
                    {
                        "attributeType": kind,
                        "component": component_type(name),
                        "variable": variable_type(name),
                    }
                )
            read: GetVariablesRequest = {"getVariableData": data}
            return "GetVariables", read
        case ChangeConfiguration(key=key, value=value, attribute=attribute):  # 2.0.1 B05
            name = parse_variable_name(key)
            if len(value) > _VALUE:
                raise InvalidRequest(
                    f"the value is longer than {_VALUE} characters (the OCPP 2.0.1 limit)"
                )
            item: SetVariableDataType = {
                "attributeType": _attribute(attribute),
                "attributeValue": value,
                "component": component_type(name),
                "variable": variable_type(name),
            }
            change: SetVariablesRequest = {"setVariableData": [item]}
            return "SetVariables", change
        case TriggerMessage(
            message=message, connector_id=connector_id, evse_id=evse_id
        ):  # 2.0.1 F06
            requested = cast("MessageTriggerEnumType", trigger_name(message, version="2.0.1"))
            trigger: TriggerMessageRequest = {"requestedMessage": requested}
            evse = _evse(evse_id, connector_id)
            if evse is not None:
                trigger["evse"] = evse
            return "TriggerMessage", trigger
        case ClearCache():  # 2.0.1 C11
            clear: ClearCacheRequest = {}
            return "ClearCache", clear
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
            if len(id_tag) > _ID_TOKEN:
                raise InvalidRequest(
                    f"id token is longer than {_ID_TOKEN} characters (the OCPP 2.0.1 limit)"
                )
            if evse_id is not None and connector_id is not None:
                raise InvalidRequest(
                    "RequestStartTransaction names an EVSE, not a connector of it: "
                    "give --evse N alone (or --connector N, which means EVSE N on 2.0.1)"
                )
            start: RequestStartTransactionRequest = {
                "idToken": {"idToken": id_tag, "type": cast("IdTokenEnumType", token_type)},
                "remoteStartId": remote_start_id,
            }
            evse = _evse(evse_id, connector_id)
            if evse is not None:
                start["evseId"] = evse["id"]  # an EVSE (> 0); the station picks its connector
            return "RequestStartTransaction", start
        case RemoteStop(station_transaction_id=station_transaction_id):  # 2.0.1 F03
            if not station_transaction_id:
                raise NoStationTransactionId(
                    "this session has no transaction id from the station, so an OCPP 2.0.1 "
                    "station cannot be asked to stop it; stop it at the station"
                )
            stop: RequestStopTransactionRequest = {"transactionId": station_transaction_id}
            return "RequestStopTransaction", stop
        case GetBaseReport(report=report, request_id=request_id):  # 2.0.1 B07/B08
            base = REPORT_BASES.get(report)
            if base is None:
                raise InvalidRequest(
                    f"unknown report {report!r}: use one of {', '.join(REPORT_BASES)}"
                )
            base_report: GetBaseReportRequest = {"requestId": request_id, "reportBase": base}
            return "GetBaseReport", base_report
        case GetReport(names=names, criteria=criteria, request_id=request_id):  # 2.0.1 B08
            report_of: GetReportRequest = {"requestId": request_id}
            if names:
                report_of["componentVariable"] = _report_names(names)
            if criteria:
                unknown = [c for c in criteria if c not in REPORT_CRITERIA]
                if unknown:
                    raise InvalidRequest(
                        f"unknown criterion {unknown[0]!r}: use {', '.join(REPORT_CRITERIA)}"
                    )
                report_of["componentCriteria"] = [
                    REPORT_CRITERIA[c] for c in dict.fromkeys(criteria)
                ]
            return "GetReport", report_of
        case GetTransactionStatus(
            station_transaction_id=station_transaction_id, of_session=of_session
        ):  # 2.0.1 E14
            if of_session and station_transaction_id is None:
                raise NoStationTransactionId(
                    "this session has no transaction id from the station, so an OCPP 2.0.1 "
                    "station cannot be asked for its status"
                )
            status: GetTransactionStatusRequest = (
                {"transactionId": station_transaction_id} if station_transaction_id else {}
            )
            return "GetTransactionStatus", status
        case SetNetworkProfile(
            slot=slot,
            csms_url=csms_url,
            security_profile=security_profile,
            message_timeout=message_timeout,
        ):  # 2.0.1 B09 (A05: raising the security profile)
            if not 0 <= slot <= _MAX_SLOT:
                raise InvalidRequest(f"configuration slot must be 0 to {_MAX_SLOT}")
            if len(csms_url) > _URL:
                raise InvalidRequest(
                    f"the CSMS URL is longer than {_URL} characters (the OCPP 2.0.1 limit)"
                )
            network: SetNetworkProfileRequest = {
                "configurationSlot": slot,
                "connectionData": {
                    "ocppVersion": "OCPP20",  # 2.0.1 OCPPVersionEnumType: OCPP 2.0 and 2.0.1
                    "ocppTransport": "JSON",
                    "ocppCsmsUrl": csms_url,
                    "messageTimeout": message_timeout,
                    "securityProfile": security_profile,
                    "ocppInterface": "Wired0",
                },
            }
            return "SetNetworkProfile", network
        case (
            InstallCertificate()
            | GetInstalledCertificateIds()
            | DeleteCertificate()
            | RenewCertificate()
        ):
            return _certificate_request(command)
    raise AssertionError(f"unhandled command {command!r}")


_UNKNOWN_VARIABLE = frozenset({"UnknownComponent", "UnknownVariable"})


def _reason(payload: Mapping[str, Any]) -> str | None:
    """2.0.1 StatusInfoType (``statusInfo``, or ``attributeStatusInfo`` of a variable's
    result) as one line: ``reasonCode: additionalInfo``."""
    info: StatusInfoType | None = payload.get("statusInfo") or payload.get("attributeStatusInfo")
    if not info:
        return None
    extra = info.get("additionalInfo")
    return f"{info.get('reasonCode')}: {extra}" if extra else str(info.get("reasonCode"))


def answer_from_ocpp(command: Command, payload: dict[str, Any]) -> dict[str, Any]:
    """Version-neutral fields of a 2.0.1 CALLRESULT (see
    :func:`csms.adapters.outbound.answer_from_ocpp`)."""
    answer: dict[str, Any]
    match command:
        case GetConfiguration():  # 2.0.1 B06: one result per requested variable
            configuration: list[dict[str, Any]] = []
            unknown: list[str] = []
            rejected: list[dict[str, Any]] = []
            for result in cast("GetVariablesResponse", payload).get("getVariableResult") or []:
                key = _name_from(result.get("component"), result.get("variable"))
                status = result.get("attributeStatus")
                if status == "Accepted":
                    value = result.get("attributeValue")
                    configuration.append({"key": key, "value": value, "readonly": None})
                elif status in _UNKNOWN_VARIABLE:
                    unknown.append(key)
                else:
                    rejected.append({"key": key, "status": status, "reason": _reason(result)})
            answer = {"configuration": configuration, "unknown_keys": unknown}
            if rejected:
                answer["rejected_keys"] = rejected
            return answer
        case ChangeConfiguration():  # 2.0.1 B05: one result for the one variable set
            results = cast("SetVariablesResponse", payload).get("setVariableResult")
            first: Mapping[str, Any] = results[0] if results else {}
            return {"status": first.get("attributeStatus"), "reason": _reason(first)}
        case GetTransactionStatus():  # 2.0.1 E14
            transaction = cast("GetTransactionStatusResponse", payload)
            return {
                "ongoing": transaction.get("ongoingIndicator"),
                "messages_in_queue": transaction.get("messagesInQueue"),
            }
        case RemoteStart(remote_start_id=remote_start_id):  # 2.0.1 F01: already started?
            started = cast("RequestStartTransactionResponse", payload)
            answer = {"status": started.get("status"), "remote_start_id": remote_start_id}
            if started.get("transactionId") is not None:
                answer["station_transaction_id"] = started["transactionId"]
        case GetBaseReport(request_id=request_id) | GetReport(request_id=request_id):
            answer = {"status": payload.get("status"), "request_id": request_id}
        case GetInstalledCertificateIds():  # 2.0.1 M03
            answer = _installed_certificates(payload)
        case _:
            answer = {"status": payload.get("status")}
    reason = _reason(payload)
    if reason is not None:
        answer["reason"] = reason
    return answer


# -- certificates (2.0.1 M03 list, M04 delete, M05 install; A02 renewal) ----------------

_INSTALL_USES: tuple[InstallCertificateUseEnumType, ...] = (
    "V2GRootCertificate",
    "MORootCertificate",
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
)
_ID_USES: tuple[GetCertificateIdUseEnumType, ...] = (*_INSTALL_USES, "V2GCertificateChain")


def _use(certificate_type: str, uses: tuple[str, ...]) -> str:
    if certificate_type not in uses:
        raise InvalidRequest(
            f"unknown certificate type {certificate_type!r}: use one of {', '.join(uses)}"
        )
    return certificate_type


def _hash_data(data: CertificateHashData) -> CertificateHashDataType:
    return {
        "hashAlgorithm": cast("HashAlgorithmEnumType", data.hash_algorithm),
        "issuerNameHash": data.issuer_name_hash,
        "issuerKeyHash": data.issuer_key_hash,
        "serialNumber": data.serial,
    }


def _certificate_request(command: Command) -> tuple[str, Request]:
    match command:
        case InstallCertificate(certificate_type=certificate_type, pem=pem):  # M05
            use = cast("InstallCertificateUseEnumType", _use(certificate_type, _INSTALL_USES))
            install: InstallCertificateRequest = {"certificateType": use, "certificate": pem}
            return "InstallCertificate", install
        case GetInstalledCertificateIds(types=types):  # M03: no type means all of them
            ids: GetInstalledCertificateIdsRequest = {}
            if types:
                ids["certificateType"] = [
                    cast("GetCertificateIdUseEnumType", _use(t, _ID_USES))
                    for t in dict.fromkeys(types)
                ]
            return "GetInstalledCertificateIds", ids
        case DeleteCertificate(hash_data=hash_data):  # M04
            delete: DeleteCertificateRequest = {"certificateHashData": _hash_data(hash_data)}
            return "DeleteCertificate", delete
        case RenewCertificate():  # A02: the station answers with a SignCertificate
            renew: TriggerMessageRequest = {"requestedMessage": "SignChargingStationCertificate"}
            return "TriggerMessage", renew
    raise AssertionError(f"not a certificate command: {command!r}")


def _certificate_entry(
    certificate_type: str | None, data: CertificateHashDataType, child_of: str | None
) -> dict[str, Any]:
    return {
        "certificate_type": certificate_type,
        "serial": data.get("serialNumber"),
        "hash_algorithm": data.get("hashAlgorithm"),
        "issuer_name_hash": data.get("issuerNameHash"),
        "issuer_key_hash": data.get("issuerKeyHash"),
        "child_of": child_of,
    }


def _installed_certificates(payload: dict[str, Any]) -> dict[str, Any]:
    """M03: each certificateHashDataChain as its certificate and then its child
    certificates (a V2GCertificateChain's sub-CAs), each child naming its chain's
    certificate by serial in ``child_of``."""
    answer = cast("GetInstalledCertificateIdsResponse", payload)
    certificates: list[dict[str, Any]] = []
    chains: list[CertificateHashDataChainType] = answer.get("certificateHashDataChain") or []
    for chain in chains:
        kind = chain.get("certificateType")
        head = chain["certificateHashData"]
        certificates.append(_certificate_entry(kind, head, None))
        for child in chain.get("childCertificateHashData") or []:
            certificates.append(_certificate_entry(kind, child, head.get("serialNumber")))
    return {"status": answer.get("status"), "certificates": certificates}
