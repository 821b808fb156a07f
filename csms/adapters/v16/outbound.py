"""OCPP 1.6J: operator commands as the CALLs a charge point takes, and its answers back.

A 1.6 charger numbers its connectors and has no EVSEs: a command naming an EVSE is
refused (name the connector instead). Configuration keys are plain names with only an
actual value. A hard reset is ``Hard``, a soft one ``Soft``. Device model reports and
GetTransactionStatus are 2.0.1 only: :class:`UnsupportedCommand`, saying what to use.
"""

from __future__ import annotations

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
    RemoteStart,
    RemoteStop,
    RenewCertificate,
    Reset,
    SetNetworkProfile,
    TriggerMessage,
    UnlockConnector,
    UnsupportedCommand,
)
from csms.domain.errors import InvalidRequest
from protocol.messages.v16 import (
    CertificateHashDataType,
    CertificateUseEnumType,
    ChangeAvailabilityRequest,
    ChangeConfigurationRequest,
    ClearCacheRequest,
    DeleteCertificateRequest,
    ExtendedTriggerMessageRequest,
    GetConfigurationRequest,
    GetConfigurationResponse,
    GetInstalledCertificateIdsRequest,
    GetInstalledCertificateIdsResponse,
    HashAlgorithmEnumType,
    InstallCertificateRequest,
    RemoteStartTransactionRequest,
    RemoteStopTransactionRequest,
    RequestedMessage,
    ResetRequest,
    TriggerMessageRequest,
    UnlockConnectorRequest,
)

__all__ = ["Request", "answer_from_ocpp", "to_ocpp"]

#: The requests of the commands a 1.6 charger takes.
Request = (
    ResetRequest
    | UnlockConnectorRequest
    | ChangeAvailabilityRequest
    | GetConfigurationRequest
    | ChangeConfigurationRequest
    | TriggerMessageRequest
    | ClearCacheRequest
    | RemoteStartTransactionRequest
    | RemoteStopTransactionRequest
    | InstallCertificateRequest
    | GetInstalledCertificateIdsRequest
    | DeleteCertificateRequest
    | ExtendedTriggerMessageRequest
)

_ID_TAG = 20  # 1.6 §7.28 IdToken: CiString20Type
_KEY = 50  # 1.6 §6.23 ChangeConfiguration.req key: CiString50Type
_VALUE = 500  # value: CiString500Type


def _no_evse(evse_id: int | None) -> None:
    if evse_id is not None:
        raise InvalidRequest(
            "OCPP 1.6 chargers have no EVSEs: name the connector (--connector N) instead"
        )


def _actual(attribute: str) -> None:
    if attribute != "Actual":
        raise InvalidRequest(
            f"OCPP 1.6 configuration keys have no {attribute} attribute: leave it out"
        )


def to_ocpp(command: Command) -> tuple[str, Request]:
    """The 1.6 action and payload for ``command``; raises InvalidRequest for values 1.6
    cannot carry, UnsupportedCommand for a command 1.6 does not have."""
    match command:
        case Reset(hard=hard, evse_id=evse_id):  # 1.6 §6.41
            _no_evse(evse_id)
            reset: ResetRequest = {"type": "Hard" if hard else "Soft"}
            return "Reset", reset
        case UnlockConnector(connector_id=connector_id, evse_id=evse_id):  # 1.6 §6.51
            _no_evse(evse_id)
            unlock: UnlockConnectorRequest = {"connectorId": connector_id}
            return "UnlockConnector", unlock
        case ChangeAvailability(
            operative=operative, connector_id=connector_id, evse_id=evse_id
        ):  # 1.6 §6.3
            _no_evse(evse_id)
            availability: ChangeAvailabilityRequest = {
                "connectorId": connector_id,
                "type": "Operative" if operative else "Inoperative",
            }
            return "ChangeAvailability", availability
        case GetConfiguration(keys=keys, attribute=attribute):  # 1.6 §6.29: none means all
            _actual(attribute)
            too_long = [k for k in keys if len(k) > _KEY]
            if too_long:
                raise InvalidRequest(
                    f"configuration key {too_long[0]!r} is longer than {_KEY} characters"
                )
            read: GetConfigurationRequest = {"key": list(keys)} if keys else {}
            return "GetConfiguration", read
        case ChangeConfiguration(key=key, value=value, attribute=attribute):  # 1.6 §6.23
            _actual(attribute)
            if len(key) > _KEY:
                raise InvalidRequest(f"configuration key is longer than {_KEY} characters")
            if len(value) > _VALUE:
                raise InvalidRequest(f"configuration value is longer than {_VALUE} characters")
            change: ChangeConfigurationRequest = {"key": key, "value": value}
            return "ChangeConfiguration", change
        case TriggerMessage(
            message=message, connector_id=connector_id, evse_id=evse_id
        ):  # 1.6 §6.49
            _no_evse(evse_id)
            requested = cast("RequestedMessage", trigger_name(message, version="1.6"))
            trigger: TriggerMessageRequest = {"requestedMessage": requested}
            if connector_id is not None:
                trigger["connectorId"] = connector_id
            return "TriggerMessage", trigger
        case ClearCache():  # 1.6 §6.9
            clear: ClearCacheRequest = {}
            return "ClearCache", clear
        case RemoteStart(
            id_tag=id_tag, connector_id=connector_id, evse_id=evse_id, token_type=token_type
        ):  # 1.6 §6.33
            _no_evse(evse_id)
            if token_type != "Central":
                raise InvalidRequest("OCPP 1.6 id tags have no token type: leave it out")
            if len(id_tag) > _ID_TAG:
                raise InvalidRequest(
                    f"id tag is longer than {_ID_TAG} characters (the OCPP 1.6 limit)"
                )
            start: RemoteStartTransactionRequest = {"idTag": id_tag}
            if connector_id is not None:
                start["connectorId"] = connector_id
            return "RemoteStartTransaction", start
        case RemoteStop(transaction_id=transaction_id):  # 1.6 §6.35
            stop: RemoteStopTransactionRequest = {"transactionId": transaction_id}
            return "RemoteStopTransaction", stop
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
        case SetNetworkProfile():
            raise UnsupportedCommand(
                "OCPP 1.6 has no SetNetworkProfile (it is OCPP 2.0.1 only): a 1.6 charger "
                "changes its security profile with the SecurityProfile configuration key "
                "(`csms chargers set-profile ID N` sends it)"
            )
        case (
            InstallCertificate()
            | GetInstalledCertificateIds()
            | DeleteCertificate()
            | RenewCertificate()
        ):
            return _certificate_request(command)
    raise AssertionError(f"unhandled command {command!r}")


def answer_from_ocpp(command: Command, payload: dict[str, Any]) -> dict[str, Any]:
    """Version-neutral fields of a 1.6 CALLRESULT: ``configuration`` and ``unknown_keys``
    for GetConfiguration, else the charger's ``status``."""
    if isinstance(command, GetConfiguration):  # 1.6 §6.30
        read = cast("GetConfigurationResponse", payload)
        return {
            "configuration": [
                {
                    "key": item.get("key"),
                    "value": item.get("value"),
                    "readonly": bool(item.get("readonly", False)),
                }
                for item in read.get("configurationKey") or []
            ],
            "unknown_keys": list(read.get("unknownKey") or []),
        }
    if isinstance(command, GetInstalledCertificateIds):
        return _installed_certificates(command, payload)
    return {"status": payload.get("status")}


# -- certificates (OCPP 1.6 Security Whitepaper edition 3, use cases M03-M05, A02) -------

#: csms's certificate type names → 1.6 CertificateUseEnumType (1.6 has no V2G or MO roots).
_CERTIFICATE_USES: dict[str, CertificateUseEnumType] = {
    "CSMSRootCertificate": "CentralSystemRootCertificate",
    "ManufacturerRootCertificate": "ManufacturerRootCertificate",
}


def _certificate_use(certificate_type: str) -> CertificateUseEnumType:
    use = _CERTIFICATE_USES.get(certificate_type)
    if use is None:
        raise InvalidRequest(
            f"OCPP 1.6 chargers have no {certificate_type} (that is OCPP 2.0.1 / ISO 15118): "
            f"use {' or '.join(_CERTIFICATE_USES)}"
        )
    return use


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
            install: InstallCertificateRequest = {
                "certificateType": _certificate_use(certificate_type),
                "certificate": pem,
            }
            return "InstallCertificate", install
        case GetInstalledCertificateIds(types=types):  # M03: one type per request
            if len(types) != 1:
                raise InvalidRequest(
                    "an OCPP 1.6 charger lists the certificates of one type per "
                    "GetInstalledCertificateIds: ask for each type in turn"
                )
            ids: GetInstalledCertificateIdsRequest = {"certificateType": _certificate_use(types[0])}
            return "GetInstalledCertificateIds", ids
        case DeleteCertificate(hash_data=hash_data):  # M04
            delete: DeleteCertificateRequest = {"certificateHashData": _hash_data(hash_data)}
            return "DeleteCertificate", delete
        case RenewCertificate():  # A02: the charger answers with a SignCertificate
            renew: ExtendedTriggerMessageRequest = {
                "requestedMessage": "SignChargePointCertificate"
            }
            return "ExtendedTriggerMessage", renew
    raise AssertionError(f"not a certificate command: {command!r}")


def _installed_certificates(
    command: GetInstalledCertificateIds, payload: dict[str, Any]
) -> dict[str, Any]:
    """M03: the 1.6 answer names no type per certificate: each is of the type asked for."""
    answer = cast("GetInstalledCertificateIdsResponse", payload)
    asked = command.types[0] if command.types else None
    return {
        "status": answer.get("status"),
        "certificates": [
            {
                "certificate_type": asked,
                "serial": data.get("serialNumber"),
                "hash_algorithm": data.get("hashAlgorithm"),
                "issuer_name_hash": data.get("issuerNameHash"),
                "issuer_key_hash": data.get("issuerKeyHash"),
                "child_of": None,
            }
            for data in answer.get("certificateHashData") or []
        ],
    }
