"""OCPP 1.6J inbound: one handler per action a charge point sends (Core profile).

Each handler translates the 1.6 payload into a version-neutral domain call and the
result back into the 1.6 answer. Transaction messages are committed before the answer
is returned (``Database.write`` returns after the commit). A handler gets the payload
and the connection's :class:`~csms.gateway.CallContext`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from csms.adapters.certificate_signing import sign_certificate_v16
from csms.adapters.shared_handlers import (
    VENDOR_HANDLERS,
    VendorHandler,
    answer_boot,
    data_transfer,
    heartbeat,
    security_event_notification,
)
from csms.adapters.timestamps import format_time, parse_time
from csms.domain.charging import transactions
from csms.domain.charging.authorization import authorize_id_tag
from csms.domain.charging.stations import record_charger_event, record_status
from csms.domain.model import BootInfo, IdTokenInfo, MeterSample
from csms.gateway import CallContext, Handler
from protocol.messages.v16 import (
    AuthorizeRequest,
    AuthorizeResponse,
    BootNotificationRequest,
    BootNotificationResponse,
    DiagnosticsStatusNotificationRequest,
    FirmwareStatusNotificationRequest,
    IdTagInfo,
    LogStatusNotificationRequest,
    MeterValue,
    MeterValuesRequest,
    MeterValuesResponse,
    SignedFirmwareStatusNotificationRequest,
    StartTransactionRequest,
    StartTransactionResponse,
    StatusNotificationRequest,
    StatusNotificationResponse,
    StopTransactionRequest,
    StopTransactionResponse,
)

__all__ = ["HANDLERS", "VENDOR_HANDLERS", "VendorHandler", "meter_samples"]

log = logging.getLogger(__name__)


def id_tag_info(info: IdTokenInfo) -> IdTagInfo:
    """1.6 §7.19 IdTagInfo for an authorization result."""
    result: IdTagInfo = {"status": info.status.value}
    if info.expiry_date is not None:
        result["expiryDate"] = format_time(info.expiry_date)
    if info.parent_id_tag is not None:
        result["parentIdTag"] = info.parent_id_tag
    return result


def meter_samples(meter_values: Sequence[MeterValue]) -> list[MeterSample]:
    """Every sampledValue of a 1.6 meterValue list, defaults of 1.6 §7.45 made explicit."""
    samples: list[MeterSample] = []
    for meter_value in meter_values:
        timestamp = parse_time(meter_value["timestamp"], field="meterValue.timestamp")
        for sampled in meter_value["sampledValue"]:
            # The bound get, looked up once per value (its keys: MeterValueSampledValue).
            get: Callable[..., Any] = sampled.get
            # Positional: this runs for every value of every reading (see SampledValue).
            samples.append(
                MeterSample(
                    timestamp,
                    sampled["value"],
                    get("measurand", "Energy.Active.Import.Register"),
                    get("phase"),
                    get("unit", "Wh"),
                    get("context", "Sample.Periodic"),
                    get("location", "Outlet"),
                    get("format", "Raw"),
                )
            )
    return samples


async def boot_notification(
    ctx: CallContext, p: BootNotificationRequest
) -> BootNotificationResponse:
    """1.6 §4.2: store what the charger reports; Accepted with the heartbeat interval, or
    Pending until an operator runs ``csms chargers accept``."""
    info = BootInfo(
        vendor=p["chargePointVendor"],
        model=p["chargePointModel"],
        ocpp_version="1.6",
        serial_number=p.get("chargePointSerialNumber"),
        charge_box_serial_number=p.get("chargeBoxSerialNumber"),
        firmware_version=p.get("firmwareVersion"),
        iccid=p.get("iccid"),
        imsi=p.get("imsi"),
        meter_type=p.get("meterType"),
        meter_serial_number=p.get("meterSerialNumber"),
    )
    answer = await answer_boot(ctx, info)
    return {
        "status": answer.status.value,
        "currentTime": answer.current_time,
        "interval": answer.interval,
    }


async def status_notification(
    ctx: CallContext, p: StatusNotificationRequest
) -> StatusNotificationResponse:
    """1.6 §4.9: current status per connector, and its history."""
    now = ctx.clock()
    timestamp = parse_time(p["timestamp"], field="timestamp") if "timestamp" in p else None
    await ctx.db.write(
        lambda uow: record_status(
            uow,
            charger_id=ctx.charger_id,
            connector_id=p["connectorId"],
            status=p["status"],
            error_code=p["errorCode"],
            info=p.get("info"),
            vendor_id=p.get("vendorId"),
            vendor_error_code=p.get("vendorErrorCode"),
            timestamp=timestamp,
            now=now,
        )
    )
    return {}


async def authorize(ctx: CallContext, p: AuthorizeRequest) -> AuthorizeResponse:
    """1.6 §4.1."""
    now = ctx.clock()
    id_tag = p["idTag"]
    info = await ctx.db.read(lambda uow: authorize_id_tag(uow, id_tag, now=now))
    return {"idTagInfo": id_tag_info(info)}


async def start_transaction(
    ctx: CallContext, p: StartTransactionRequest
) -> StartTransactionResponse:
    """1.6 §4.8: the CSMS assigns the transactionId; the idTag is checked again, and the
    transaction is kept whatever the status (the charger decides to stop it)."""
    now = ctx.clock()
    timestamp = parse_time(p["timestamp"], field="timestamp")
    result = await ctx.db.write(
        lambda uow: transactions.start_transaction(
            uow,
            charger_id=ctx.charger_id,
            connector_id=p["connectorId"],
            id_tag=p["idTag"],
            meter_start_wh=p["meterStart"],
            timestamp=timestamp,
            reservation_id=p.get("reservationId"),
            now=now,
        )
    )
    if result.created:
        log.info(
            "transaction %s started on %s/%s (%s)",
            result.transaction_id,
            ctx.charger_id,
            p["connectorId"],
            result.id_token_info.status.value,
        )
    return {"transactionId": result.transaction_id, "idTagInfo": id_tag_info(result.id_token_info)}


async def meter_values(ctx: CallContext, p: MeterValuesRequest) -> MeterValuesResponse:
    """1.6 §4.7: every sampled value is kept, linked to the transaction or the connector."""
    now = ctx.clock()
    samples = meter_samples(p["meterValue"])
    await ctx.db.write(
        lambda uow: transactions.record_meter_values(
            uow,
            charger_id=ctx.charger_id,
            connector_id=p["connectorId"],
            transaction_id=p.get("transactionId"),
            samples=samples,
            now=now,
        )
    )
    return {}


async def stop_transaction(ctx: CallContext, p: StopTransactionRequest) -> StopTransactionResponse:
    """1.6 §4.10: always acknowledged; unknown ids are kept for reconciliation; a repeated
    stop is counted once."""
    now = ctx.clock()
    timestamp = parse_time(p["timestamp"], field="timestamp")
    # transactionData is a meterValue list (1.6 §6.47: the same MeterValue type).
    samples = meter_samples(cast("list[MeterValue]", p.get("transactionData") or []))
    outcome = await ctx.db.write(
        lambda uow: transactions.stop_transaction(
            uow,
            charger_id=ctx.charger_id,
            transaction_id=p["transactionId"],
            meter_stop_wh=p["meterStop"],
            timestamp=timestamp,
            reason=p.get("reason"),
            id_tag=p.get("idTag"),
            samples=samples,
            raw_payload=cast("dict[str, Any]", p),
            now=now,
        )
    )
    if outcome.recorded and outcome.transaction is not None:
        log.info(
            "transaction %s stopped on %s: %s Wh",
            p["transactionId"],
            ctx.charger_id,
            outcome.transaction.energy_wh,
        )
    if outcome.id_token_info is None:
        return {}
    return {"idTagInfo": id_tag_info(outcome.id_token_info)}


def _status_report(kind: str, charger_field: str) -> Handler:
    """A handler that records a charger's status report and keeps its latest status."""

    async def handle(
        ctx: CallContext,
        p: DiagnosticsStatusNotificationRequest
        | FirmwareStatusNotificationRequest
        | LogStatusNotificationRequest
        | SignedFirmwareStatusNotificationRequest,
    ) -> dict[str, object]:
        now = ctx.clock()
        await ctx.db.write(
            lambda uow: record_charger_event(
                uow,
                charger_id=ctx.charger_id,
                kind=kind,
                payload=cast("dict[str, Any]", p),
                now=now,
                **{charger_field: p["status"]},
            )
        )
        return {}

    handle.__name__ = handle.__qualname__ = kind
    return handle


#: 1.6 §4.4 and §4.5: recorded with the charger's latest status.
diagnostics_status_notification = _status_report(
    "DiagnosticsStatusNotification", "diagnostics_status"
)
firmware_status_notification = _status_report("FirmwareStatusNotification", "firmware_status")
#: 1.6 security extension (OCPP 1.6 Security Whitepaper edition 3): N01 LogStatusNotification,
#: the upload status of a GetLog (the security counterpart of DiagnosticsStatusNotification,
#: kept in the same status), and L01 SignedFirmwareStatusNotification, the progress of a
#: SignedUpdateFirmware (its statuses include the signature checks: InvalidSignature,
#: SignatureVerified, ...). Both answered with an empty confirmation and kept.
log_status_notification = _status_report("LogStatusNotification", "diagnostics_status")
signed_firmware_status_notification = _status_report(
    "SignedFirmwareStatusNotification", "firmware_status"
)


HANDLERS: Mapping[str, Handler] = {
    "Authorize": authorize,
    "BootNotification": boot_notification,
    "DataTransfer": data_transfer,
    "DiagnosticsStatusNotification": diagnostics_status_notification,
    "FirmwareStatusNotification": firmware_status_notification,
    "Heartbeat": heartbeat,
    "LogStatusNotification": log_status_notification,
    "MeterValues": meter_values,
    # 1.6 security extension (OCPP 1.6 Security Whitepaper) N02: kept, critical ones logged.
    "SecurityEventNotification": security_event_notification,
    # Security extension A02/A03: csms's CA signs the CSR; CertificateSigned follows.
    "SignCertificate": sign_certificate_v16,
    "SignedFirmwareStatusNotification": signed_firmware_status_notification,
    "StartTransaction": start_transaction,
    "StatusNotification": status_notification,
    "StopTransaction": stop_transaction,
}
