"""OCPP 2.0.1 inbound: one handler per action a charging station sends.

Each handler translates the 2.0.1 payload into a version-neutral domain call and the
result back into the 2.0.1 answer, like :mod:`csms.adapters.v16.inbound`. Transaction messages
are committed before the answer is returned (``Database.write`` returns after the commit).
Every answer is checked against the official response schema by the session before it goes
out.

Covered: Core and Advanced Device Management (B, C, E, G, J, L, N, P of the 2.0.1 use
cases); messages this CSMS has no feature for yet (smart charging, display messages,
ISO 15118 certificates, ...) are recorded as charger events and answered correctly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from csms.adapters.certificate_signing import sign_certificate_v201
from csms.adapters.shared_handlers import (
    answer_boot,
    data_transfer,
    heartbeat,
    security_event_notification,
)
from csms.adapters.timestamps import format_time, parse_time
from csms.domain.charging.authorization import KEY_CODE, NO_AUTHORIZATION, authorize_id_token
from csms.domain.charging.device_model import record_report_part
from csms.domain.charging.stations import record_charger_event, record_status
from csms.domain.charging.transaction_events import (
    ENERGY_REGISTER,
    TransactionEvent,
    record_transaction_event,
)
from csms.domain.charging.transactions import record_meter_values
from csms.domain.model import (
    AuthorizationStatus,
    BootInfo,
    IdTokenInfo,
    MeterSample,
)
from csms.domain.people.pin_login import LOGIN_TOKEN_LIFETIME, pin_login, verify_pin_login
from csms.gateway import CallContext, Handler
from protocol.messages.v201 import (
    AuthorizeRequest,
    AuthorizeResponse,
    BootNotificationRequest,
    BootNotificationResponse,
    IdTokenInfoType,
    IdTokenType,
    MeterValuesRequest,
    MeterValuesResponse,
    MeterValueType,
    NotifyReportRequest,
    NotifyReportResponse,
    StatusNotificationRequest,
    StatusNotificationResponse,
    TransactionEventRequest,
    TransactionEventResponse,
)

__all__ = [
    "AUTHORIZATION_CACHE_LIFETIME",
    "HANDLERS",
    "id_token_info",
    "key_code_login",
    "meter_samples",
]

log = logging.getLogger(__name__)


#: How long a station may keep an accepted idToken in its authorization cache (C10), at
#: most: a card blocked here stops working everywhere within this time, also offline.
AUTHORIZATION_CACHE_LIFETIME = timedelta(days=1)


def id_token_info(info: IdTokenInfo, id_token: IdTokenType, *, now: datetime) -> IdTokenInfoType:
    """2.0.1 IdTokenInfoType for an authorization result.

    ``groupIdToken`` is the card's parent (1.6 parentIdTag), of the presented token's type;
    ``cacheExpiryDateTime`` bounds how long the station may cache the answer: the card's own
    expiry, and never longer than :data:`AUTHORIZATION_CACHE_LIFETIME` for an accepted one.
    """
    result: IdTokenInfoType = {"status": info.status.value}
    if id_token["type"] != NO_AUTHORIZATION:
        expiry = info.expiry_date
        if info.status is AuthorizationStatus.ACCEPTED:
            bound = now + AUTHORIZATION_CACHE_LIFETIME
            expiry = bound if expiry is None else min(expiry, bound)
        if expiry is not None:
            result["cacheExpiryDateTime"] = format_time(expiry)
    if info.parent_id_tag is not None:
        result["groupIdToken"] = {"idToken": info.parent_id_tag, "type": id_token["type"]}
    return result


def _number_text(value: float) -> str:
    """A JSON number as stored text: integers without a fraction, floats round-trippable."""
    return str(value) if isinstance(value, int) else repr(value)


def meter_samples(meter_values: list[MeterValueType]) -> list[MeterSample]:
    """Every sampledValue of a 2.0.1 meterValue list, with the defaults of SampledValueType
    and UnitOfMeasureType made explicit; signedMeterValue kept verbatim (JSON text)."""
    samples: list[MeterSample] = []
    for meter_value in meter_values:
        timestamp = parse_time(meter_value["timestamp"], field="meterValue.timestamp")
        for sampled in meter_value["sampledValue"]:
            # The bound get, looked up once per value (its keys: SampledValueType).
            get: Callable[..., Any] = sampled.get
            measurand = get("measurand", ENERGY_REGISTER)
            unit_of_measure = get("unitOfMeasure")
            if unit_of_measure is not None:
                unit: str | None = unit_of_measure.get("unit", "Wh")
                multiplier = unit_of_measure.get("multiplier", 0)
            else:
                # "Wh" is the default unit of the Energy measurands only.
                unit = "Wh" if measurand.startswith("Energy") else None
                multiplier = 0
            signed = get("signedMeterValue")
            # Positional: this runs for every value of every reading (see SampledValue).
            samples.append(
                MeterSample(
                    timestamp,
                    _number_text(sampled["value"]),
                    measurand,
                    get("phase"),
                    unit,
                    get("context", "Sample.Periodic"),
                    get("location", "Outlet"),
                    None,  # 1.6 ValueFormat; 2.0.1 signs values in signedMeterValue
                    multiplier,
                    json.dumps(signed, separators=(",", ":")) if signed is not None else None,
                )
            )
    return samples


# -- B: provisioning ------------------------------------------------------------------


async def boot_notification(
    ctx: CallContext, p: BootNotificationRequest
) -> BootNotificationResponse:
    """B01/B02/B03: store what the station reports; Accepted with the heartbeat interval,
    Pending until an operator runs ``csms chargers accept``, or Rejected."""
    station = p["chargingStation"]
    modem = station.get("modem") or {}
    info = BootInfo(
        vendor=station["vendorName"],
        model=station["model"],
        ocpp_version="2.0.1",
        serial_number=station.get("serialNumber"),
        charge_box_serial_number=None,
        firmware_version=station.get("firmwareVersion"),
        iccid=modem.get("iccid"),
        imsi=modem.get("imsi"),
        meter_type=None,
        meter_serial_number=None,
    )
    answer = await answer_boot(ctx, info, reason=p["reason"])
    return {
        "status": answer.status.value,
        "currentTime": answer.current_time,
        "interval": answer.interval,
    }


async def notify_report(ctx: CallContext, p: NotifyReportRequest) -> NotifyReportResponse:
    """B07/B08: the device model, stored per station (a report may come in parts)."""
    now = ctx.clock()
    generated_at = parse_time(p["generatedAt"], field="generatedAt")
    report = await ctx.db.write(
        lambda uow: record_report_part(
            uow,
            charger_id=ctx.charger_id,
            request_id=p["requestId"],
            generated_at=generated_at,
            seq_no=p["seqNo"],
            tbc=p.get("tbc", False),
            report_data=cast("list[dict[str, Any]]", p.get("reportData") or []),
            now=now,
        )
    )
    if report.complete:
        log.info(
            "station %s reported its device model (request %s, %d variables)",
            ctx.charger_id,
            p["requestId"],
            report.variables,
        )
    return {}


# -- C: authorization -----------------------------------------------------------------


#: additionalInfo type that carries the login (email or phone) of a KeyCode idToken.
LOGIN_INFO_TYPE = "Login"


def key_code_login(id_token: IdTokenType) -> str | None:
    """The login of a touchscreen ``KeyCode`` idToken (SPEC "Authorization methods": the PIN
    in ``idToken``, the email or phone in an additionalInfo of type ``Login``), or None."""
    if id_token.get("type") != KEY_CODE:
        return None
    for info in id_token.get("additionalInfo") or ():
        if info.get("type") == LOGIN_INFO_TYPE and info.get("additionalIdToken"):
            return str(info["additionalIdToken"])
    return None


async def authorize(ctx: CallContext, p: AuthorizeRequest) -> AuthorizeResponse:
    """C01–C06: the idToken checked like a 1.6 idTag, whatever its type. A KeyCode with a
    Login (C04, touchscreen) is a PIN login: Accepted when login and PIN match (cacheable
    only as long as a one-time login token lives), else Invalid, whatever the reason."""
    now = ctx.clock()
    token = p["idToken"]
    if token["type"] == KEY_CODE:
        login = key_code_login(token)
        info = IdTokenInfo(AuthorizationStatus.INVALID)
        if login is not None:
            outcome = await pin_login(
                ctx.db,
                login=login,
                pin=token["idToken"],
                charger_id=ctx.charger_id,
                now=now,
                issue_token=False,
            )
            if outcome.accepted:
                info = IdTokenInfo(AuthorizationStatus.ACCEPTED, now + LOGIN_TOKEN_LIFETIME)
        return {"idTokenInfo": id_token_info(info, token, now=now)}
    info = await ctx.db.read(
        lambda uow: authorize_id_token(uow, token["idToken"], token["type"], now=now)
    )
    return {"idTokenInfo": id_token_info(info, token, now=now)}


# -- E: transactions ------------------------------------------------------------------


async def transaction_event(
    ctx: CallContext, p: TransactionEventRequest
) -> TransactionEventResponse:
    """E01–E15: stored once per (station, transactionId, seqNo), whatever the order in which
    events arrive; an idToken is answered with idTokenInfo (E05: the transaction is kept
    whatever its status). See :mod:`csms.domain.charging.transaction_events`."""
    now = ctx.clock()
    info = p["transactionInfo"]
    token = p.get("idToken")
    # Kept as the event's details, without the meter values and the token itself.
    details = cast("dict[str, Any]", p).copy()
    meter_value = details.pop("meterValue", None)
    if token is not None:
        # The token itself (a card UID; a KeyCode's login) is personal data: it is stored
        # encrypted in its own column, never in the plain-text details.
        details["idToken"] = {"type": token["type"]}
    id_token = token["idToken"] if token is not None else None
    pin_check = None
    if token is not None and token["type"] == KEY_CODE:
        # A KeyCode is a PIN: never stored. With a Login it is a touchscreen login, verified
        # here off the event loop and recorded with the event, which then carries the
        # customer's one-time login token instead (SPEC "Authorization methods").
        id_token = None
        login = key_code_login(token)
        if login is not None:
            pin_check = await verify_pin_login(ctx.db, login=login, pin=token["idToken"])
    event = TransactionEvent(
        event_type=p["eventType"],
        station_transaction_id=info["transactionId"],
        seq_no=p["seqNo"],
        timestamp=parse_time(p["timestamp"], field="timestamp"),
        trigger_reason=p["triggerReason"],
        details=details,
        samples=meter_samples(meter_value) if meter_value else (),
        offline=p.get("offline", False),
        charging_state=info.get("chargingState"),
        id_token=id_token,
        id_token_type=token["type"] if token is not None else None,
        pin_check=pin_check,
    )
    outcome = await ctx.db.write(
        lambda uow: record_transaction_event(uow, charger_id=ctx.charger_id, event=event, now=now)
    )
    if outcome.recorded and event.event_type != "Updated" and outcome.transaction is not None:
        tx = outcome.transaction
        log.info(
            "transaction %s %s on %s/%s (seqNo %s%s)",
            event.station_transaction_id,
            event.event_type.lower(),
            ctx.charger_id,
            tx.connector_id,
            event.seq_no,
            f", {tx.energy_wh} Wh" if tx.energy_wh is not None else "",
        )
    if outcome.id_token_info is None or token is None:
        return {}
    return {"idTokenInfo": id_token_info(outcome.id_token_info, token, now=now)}


# -- G: availability, J: meter values -------------------------------------------------


async def status_notification(
    ctx: CallContext, p: StatusNotificationRequest
) -> StatusNotificationResponse:
    """G01: the status of a connector of an EVSE. Shown as connector ``evseId`` (what an
    operator calls connector N on both versions); the connectorId is kept with it."""
    now = ctx.clock()
    timestamp = parse_time(p["timestamp"], field="timestamp")
    await ctx.db.write(
        lambda uow: record_status(
            uow,
            charger_id=ctx.charger_id,
            connector_id=p["evseId"],
            evse_connector_id=p["connectorId"],
            status=p["connectorStatus"],
            # 2.0.1 reports faults through NotifyEvent; the status has no error code.
            error_code="NoError",
            timestamp=timestamp,
            now=now,
        )
    )
    return {}


async def meter_values(ctx: CallContext, p: MeterValuesRequest) -> MeterValuesResponse:
    """J01: meter values outside transactions, per EVSE (0 is the station's main meter)."""
    now = ctx.clock()
    samples = meter_samples(p["meterValue"])
    await ctx.db.write(
        lambda uow: record_meter_values(
            uow,
            charger_id=ctx.charger_id,
            connector_id=p["evseId"],
            transaction_id=None,
            samples=samples,
            now=now,
        )
    )
    return {}


# -- L: firmware, N: diagnostics, P: data transfer, and what is only recorded ----------


def _recorded(kind: str, answer: dict[str, Any], charger_field: str | None = None) -> Handler:
    """A handler that keeps the message as a charger event and gives a fixed answer;
    ``charger_field`` also keeps the message's ``status`` on the charger (latest status)."""

    async def handle(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
        now = ctx.clock()
        fields = {charger_field: p["status"]} if charger_field else {}
        await ctx.db.write(
            lambda uow: record_charger_event(
                uow, charger_id=ctx.charger_id, kind=kind, payload=p, now=now, **fields
            )
        )
        return dict(answer)

    handle.__name__ = handle.__qualname__ = kind
    return handle


HANDLERS: Mapping[str, Handler] = {
    "Authorize": authorize,
    "BootNotification": boot_notification,
    "DataTransfer": data_transfer,
    "Heartbeat": heartbeat,
    "MeterValues": meter_values,
    "NotifyReport": notify_report,
    "StatusNotification": status_notification,
    "TransactionEvent": transaction_event,
    # L01: firmware update progress; N01: log upload progress (latest kept on the charger).
    "FirmwareStatusNotification": _recorded("FirmwareStatusNotification", {}, "firmware_status"),
    "LogStatusNotification": _recorded("LogStatusNotification", {}, "diagnostics_status"),
    # N07/N08: monitoring events and reports (stored); A04: security events (stored,
    # critical ones logged).
    "NotifyEvent": _recorded("NotifyEvent", {}),
    "NotifyMonitoringReport": _recorded("NotifyMonitoringReport", {}),
    "SecurityEventNotification": security_event_notification,
    # Recorded until the features behind them exist; the answers are what the 2.0.1 use
    # cases allow when the CSMS does not take part (no schedule, no certificate service).
    "ClearedChargingLimit": _recorded("ClearedChargingLimit", {}),
    "NotifyChargingLimit": _recorded("NotifyChargingLimit", {}),
    "NotifyCustomerInformation": _recorded("NotifyCustomerInformation", {}),
    "NotifyDisplayMessages": _recorded("NotifyDisplayMessages", {}),
    "NotifyEVChargingNeeds": _recorded("NotifyEVChargingNeeds", {"status": "Rejected"}),
    "NotifyEVChargingSchedule": _recorded("NotifyEVChargingSchedule", {"status": "Accepted"}),
    "PublishFirmwareStatusNotification": _recorded("PublishFirmwareStatusNotification", {}),
    "ReportChargingProfiles": _recorded("ReportChargingProfiles", {}),
    "ReservationStatusUpdate": _recorded("ReservationStatusUpdate", {}),
    "Get15118EVCertificate": _recorded(
        "Get15118EVCertificate", {"status": "Failed", "exiResponse": ""}
    ),
    "GetCertificateStatus": _recorded("GetCertificateStatus", {"status": "Failed"}),
    # A02/A03: csms's CA signs the CSR; CertificateSigned follows the answer.
    "SignCertificate": sign_certificate_v201,
}
