"""A simulated OCPP 2.0.1 charging station (Core, Advanced Device Management, and the
security functional block's certificates and network profiles: A02/A03, A05, M03-M05).

The Python API mirrors :class:`simulators.v16.ChargePoint16`::

    async with ChargePoint201(url="ws://127.0.0.1:9000/ocpp", identity="CS1") as cs:
        await cs.boot()                                   # + StatusNotification per connector
        tx = await cs.start_transaction(id_tag="CARD1")   # TransactionEvent Started
        cs.deliver_energy(1, 500, power_w=11_000)
        await cs.send_transaction_update(tx)              # Updated, MeterValuePeriodic
        await cs.stop_transaction(tx)                     # Ended, stoppedReason Local

or the scripted session: ``await cs.charge(id_tag="CARD1", plan=ChargingPlan(...))``:
Authorize, cable plugged in (StatusNotification Occupied, TransactionEvent Started with
triggerReason CablePluggedIn and chargingState EVConnected), Updated ChargingStateChanged
→ Charging, Updated MeterValuePeriodic every ``SampledDataCtrlr.TxUpdatedInterval``,
Updated ChargingStateChanged → SuspendedEV when the battery is full, Ended
(StopAuthorized, stoppedReason Local), StatusNotification Available.

Each transaction has a station-chosen ``transactionId`` (a UUID) and ``seqNo`` 0, 1, 2, …
(E01 / E04: one counter per transaction). TransactionEvents go through the offline
queue: produced while the connection is down, they carry ``offline: true`` and are sent
later in order with their own timestamps and seqNos (E04).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from protocol import ID_TOKEN_TYPES, OCPPVersion
from simulators.charge_point import (
    UNITS,
    apply_scheduled_availability,
    change_availability,
    free_target,
    reading,
)
from simulators.charging import ChargingPlan
from simulators.clock import iso_utc, utc_now
from simulators.errors import SimulatorError, StationOffline
from simulators.station import Handler, Reply
from simulators.transaction import Transaction
from simulators.v201_device import DeviceModelStation, NotAccepted
from simulators.v201_device_model import MEASURANDS, DeviceModel201

if TYPE_CHECKING:
    from protocol.messages import v201

__all__ = ["ID_TOKEN_TYPES", "ChargePoint201", "Evse201", "NotAccepted", "Transaction201"]

#: stoppedReason → the triggerReason of the Ended event it comes with.
_STOP_TRIGGERS: dict[str, v201.TriggerReasonEnumType] = {
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "ImmediateReset": "ResetCommand",
    "Reboot": "ResetCommand",
    "DeAuthorized": "Deauthorized",
    "EVDisconnected": "EVDeparted",
    "EnergyLimitReached": "EnergyLimitReached",
    "TimeLimitReached": "TimeLimitReached",
    "Timeout": "EVConnectTimeout",
}
#: Stop reasons after which the station reboots: no Available status before it.
_REBOOT_REASONS = frozenset({"ImmediateReset", "Reboot", "PowerLoss"})
#: TriggerMessage requests this station carries out (F06); others: NotImplemented.
_TRIGGERABLE = frozenset(
    {
        "BootNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "SignChargingStationCertificate",
        "StatusNotification",
        "TransactionEvent",
    }
)
#: The certificate types InstallCertificate may install here (M05).
_ROOT_TYPES = ("CSMSRootCertificate", "ManufacturerRootCertificate", "MORootCertificate",
               "V2GRootCertificate")  # fmt: skip


@dataclass(eq=False)
class Transaction201(Transaction):
    """A 2.0.1 transaction: the station's own ``transaction_id`` and its seqNo counter."""

    evse_id: int = 1
    id_token: v201.IdTokenType | None = None
    remote_start_id: int | None = None
    charging_state: v201.ChargingStateEnumType | None = None
    #: The seqNo the next TransactionEvent of this transaction gets.
    next_seq_no: int = 0
    events: list[v201.TransactionEventRequest] = field(default_factory=list)

    def take_seq_no(self) -> int:
        seq_no = self.next_seq_no
        self.next_seq_no += 1
        return seq_no


@dataclass(eq=False)
class Evse201:
    """An EVSE with one connector (connectorId 1) and its energy meter."""

    evse_id: int
    connector_id: int = 1
    status: v201.ConnectorStatusEnumType = "Available"
    #: The last connector status the CSMS acknowledged (None: never reported).
    reported: v201.ConnectorStatusEnumType | None = None
    operative: bool = True
    #: Availability change waiting for the running transaction to end (G03).
    scheduled_operative: bool | None = None
    cable_plugged: bool = False
    energy_wh: float = 0.0
    power_w: float = 0.0
    transaction: Transaction201 | None = None
    remote_start_pending: bool = False
    #: The remoteStartId of the RequestStartTransaction being set up.
    remote_start_id: int | None = None
    history: list[str] = field(default_factory=list)

    @property
    def free(self) -> bool:
        return (
            self.transaction is None
            and not self.remote_start_pending
            and self.operative
            and self.status == "Available"
        )


class ChargePoint201(DeviceModelStation[Transaction201]):
    """A 2.0.1 charging station. Keyword arguments beyond these go to :class:`Station`.

    Its device model and the calls that read and write it (the boot gate, Get/Set
    Variables, reports) are in :class:`simulators.v201_device.DeviceModelStation`.

    Args:
        evses: number of EVSEs (each with one connector).
        vendor, model, serial_number, firmware_version: BootNotification chargingStation.
        heartbeat_interval: OCPPCommCtrlr.HeartbeatInterval until the CSMS sets one (s).
        meter_interval: SampledDataCtrlr.TxUpdatedInterval (simulated s, 0: no samples).
        energy_wh: initial reading of every EVSE's energy register.
        charging_plan: what the EV takes in sessions the CSMS starts remotely.
        id_token_type: idToken type of the tokens passed as plain strings (ISO14443).
        report_status_on_boot: StatusNotification for every connector after each
            accepted boot (B01).
    """

    version = OCPPVersion.V201
    csms_root_types = frozenset({"CSMSRootCertificate"})
    invalid_certificate_event = "InvalidChargingStationCertificate"
    #: The message that starts a transaction and answers for its idToken.
    start_action = "TransactionEvent"
    token_label = "idToken"

    def __init__(
        self,
        *,
        url: str,
        identity: str,
        evses: int = 1,
        vendor: str = "csms-sim",
        model: str = "SimCharger-201",
        serial_number: str | None = None,
        firmware_version: str = "1.0.0",
        heartbeat_interval: int = 300,
        meter_interval: int = 60,
        energy_wh: float = 0.0,
        charging_plan: ChargingPlan | None = None,
        id_token_type: str = "ISO14443",
        report_status_on_boot: bool = True,
        **station_options: Any,
    ) -> None:
        super().__init__(url=url, identity=identity, charging_plan=charging_plan, **station_options)
        if evses < 1:
            raise ValueError("a charging station needs at least one EVSE")
        if id_token_type not in ID_TOKEN_TYPES:
            raise ValueError(f"unknown idToken type {id_token_type!r}; use one of {ID_TOKEN_TYPES}")
        self.vendor = vendor
        self.model = model
        self.serial_number = serial_number
        self.firmware_version = firmware_version
        self.id_token_type = id_token_type
        self.report_status_on_boot = report_status_on_boot
        self.device_model = DeviceModel201(
            identity=identity,
            evses=evses,
            vendor=vendor,
            model=model,
            serial_number=serial_number,
            firmware_version=firmware_version,
            heartbeat_interval=heartbeat_interval,
            tx_updated_interval=meter_interval,
            now=iso_utc,
        )
        self.device_model.set_internal("SecurityCtrlr", "OrganizationName", self.organization)
        self.device_model.set_internal(
            "SecurityCtrlr", "SecurityProfile", str(self.security_profile)
        )
        #: Network connection profiles by configuration slot (A05); slot 0 is the one it
        #: was started with. A Reset switches to the first of NetworkConfigurationPriority.
        self.network_profiles: dict[int, v201.NetworkConnectionProfileType] = {
            0: {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": self.url,
                "messageTimeout": int(self.call_timeout),
                "securityProfile": self.security_profile,
                "ocppInterface": "Wired0",
            }
        }
        self.heartbeat_interval = 0.0  # starts with the first accepted boot
        self.evses: dict[int, Evse201] = {
            number: Evse201(number, energy_wh=energy_wh) for number in range(1, evses + 1)
        }
        #: BootNotification reason of the next boot (B01: PowerUp, then RemoteReset, ...).
        self.boot_reason: v201.BootReasonEnumType = "PowerUp"
        #: Authorization cache (C10): (idToken, type) → idTokenInfo.
        self.auth_cache: dict[tuple[str, str], v201.IdTokenInfoType] = {}
        self._tokens: dict[str, v201.IdTokenType] = {}
        self._reset_when_idle = False
        handlers: dict[str, Handler] = {
            "ChangeAvailability": self._on_change_availability,
            "ClearCache": self._on_clear_cache,
            "DataTransfer": self._on_data_transfer,
            "GetTransactionStatus": self._on_get_transaction_status,
            "RequestStartTransaction": self._on_request_start,
            "RequestStopTransaction": self._on_request_stop,
            "Reset": self._on_reset,
            "TriggerMessage": self._on_trigger_message,
            "UnlockConnector": self._on_unlock_connector,
            "CertificateSigned": self._on_certificate_signed,
            "DeleteCertificate": self._on_delete_certificate,
            "GetInstalledCertificateIds": self._on_get_installed_certificate_ids,
            "InstallCertificate": self._on_install_certificate,
            "SetNetworkProfile": self._on_set_network_profile,
        }
        for action, handler in handlers.items():
            self.on(action, handler)

    # -- Station hooks ---------------------------------------------------------------------

    def boot_request(self) -> v201.BootNotificationRequest:
        station: v201.ChargingStationType = {
            "vendorName": self.vendor[:50],
            "model": self.model[:20],
            "firmwareVersion": self.firmware_version[:50],
        }
        if self.serial_number:
            station["serialNumber"] = self.serial_number[:25]
        return {"reason": self.boot_reason, "chargingStation": station}

    async def on_boot_accepted(self) -> None:
        self._asked_for.clear()
        if self.heartbeat_interval <= 0:  # the CSMS gave none: keep the configured one
            self.set_heartbeat_interval(
                float(self.device_model.int_value("OCPPCommCtrlr", "HeartbeatInterval"))
            )
        if self.report_status_on_boot:
            await self.report_all_statuses()

    async def on_reconnected(self) -> None:
        # Replay the queued TransactionEvents first, then report the connector statuses
        # that changed while offline.
        await self.wait_queue_empty(timeout=self.call_timeout * 2)
        for evse in self.evses.values():
            if evse.reported != evse.status:
                await self._report_status(evse)

    def on_heartbeat_interval(self, interval: float) -> None:
        self.device_model.set_internal("OCPPCommCtrlr", "HeartbeatInterval", str(int(interval)))

    def on_security_profile(self, profile: int) -> None:
        self.device_model.set_internal("SecurityCtrlr", "SecurityProfile", str(profile))

    async def before_reboot(self, reason: str) -> None:
        await self._stop_transactions(reason)
        for evse in self.evses.values():
            apply_scheduled_availability(evse)
            evse.power_w = 0.0
            evse.cable_plugged = False
            self._set_local_status(evse, "Available" if evse.operative else "Unavailable")
        self.boot_reason = "RemoteReset"
        self._reset_when_idle = False
        self._apply_network_priority()

    def _apply_network_priority(self) -> None:
        """At a reboot: connect with the first profile of NetworkConfigurationPriority
        that is stored (A05: SetNetworkProfile, the priority set, then a Reset)."""
        for item in self.device_model.list_value("OCPPCommCtrlr", "NetworkConfigurationPriority"):
            try:
                profile = self.network_profiles.get(int(item))
            except ValueError:
                continue
            if profile is None:
                continue
            url, security = profile["ocppCsmsUrl"].rstrip("/"), profile["securityProfile"]
            if (url, security) != (self.url, self.security_profile):
                self.log.info(
                    "%s: network profile of slot %s: %s, security profile %d",
                    self.identity, item, url, security,
                )  # fmt: skip
                self.url = url
                self.security_profile = security
                self.on_security_profile(security)
                if self.tls is not None:
                    self.tls.forget_session()
            return

    # -- state -----------------------------------------------------------------------------

    def evse(self, evse_id: int) -> Evse201:
        try:
            return self.evses[evse_id]
        except KeyError:
            raise SimulatorError(f"{self.identity} has no EVSE {evse_id}") from None

    def active_transaction(self, evse_id: int = 1) -> Transaction201 | None:
        return self.evse(evse_id).transaction

    def meter_interval(self) -> float:
        if not self.device_model.bool_value("SampledDataCtrlr", "Enabled"):
            return 0.0
        return float(self.device_model.int_value("SampledDataCtrlr", "TxUpdatedInterval"))

    def deliver_energy(self, evse_id: int, energy_wh: float, power_w: float = 0.0) -> None:
        """Advance an EVSE's energy register (and set the power it draws now)."""
        evse = self.evse(evse_id)
        evse.energy_wh += energy_wh
        evse.power_w = power_w

    def id_token(
        self,
        token: str,
        *,
        type: str | None = None,
        additional_info: list[v201.AdditionalInfoType] | None = None,
    ) -> v201.IdTokenType:
        """An IdTokenType for ``token`` (type: the station's default); remembered, so that
        the sessions started with the plain string ``token`` use it."""
        id_token: v201.IdTokenType = {
            "idToken": token,
            "type": cast("v201.IdTokenEnumType", type or self.id_token_type),
        }
        if additional_info:
            id_token["additionalInfo"] = additional_info
        self._tokens[token] = id_token
        return id_token

    def _token_for(self, id_tag: str) -> v201.IdTokenType:
        return self._tokens.get(id_tag) or {
            "idToken": id_tag,
            "type": cast("v201.IdTokenEnumType", self.id_token_type),
        }

    def transaction_events(
        self, transaction: Transaction201 | None = None
    ) -> list[v201.TransactionEventRequest]:
        """The TransactionEvents produced (sent or queued), oldest first."""
        chosen = self.transactions if transaction is None else [transaction]
        return [event for tx in chosen for event in tx.events]

    # -- statuses --------------------------------------------------------------------------

    def _set_local_status(self, evse: Evse201, status: v201.ConnectorStatusEnumType) -> None:
        evse.status = status
        evse.history.append(status)
        for component in ("EVSE", "Connector"):
            self.device_model.set_internal(
                component, "AvailabilityState", status, evse_id=evse.evse_id
            )
            self.device_model.set_internal(
                component, "Available", "true" if evse.operative else "false", evse_id=evse.evse_id
            )

    async def set_status(self, evse_id: int, status: v201.ConnectorStatusEnumType) -> None:
        """Change a connector's status and send StatusNotification (later, if offline)."""
        evse = self.evse(evse_id)
        self._set_local_status(evse, status)
        await self._report_status(evse)

    async def report_all_statuses(self) -> None:
        """StatusNotification for every connector (as after a boot, B01)."""
        for evse in self.evses.values():
            await self._report_status(evse)

    async def _report_status(self, evse: Evse201) -> None:
        if not self.ready and "StatusNotification" not in self._asked_for:
            return  # reported when the connection is back (on_reconnected)
        status = evse.status
        payload: v201.StatusNotificationRequest = {
            "timestamp": iso_utc(),
            "connectorStatus": status,
            "evseId": evse.evse_id,
            "connectorId": evse.connector_id,
        }
        try:
            await self.call("StatusNotification", payload)
        except SimulatorError as exc:
            self.log.info("StatusNotification not delivered: %s", exc)
            return
        evse.reported = status

    # -- authorization -----------------------------------------------------------------------

    async def authorize(self, id_token: v201.IdTokenType | str) -> v201.IdTokenInfoType:
        """Authorize (C01); returns the idTokenInfo. Offline, the authorization cache
        answers (AuthCtrlr.LocalAuthorizeOffline, C12) or OfflineTxForUnknownIdEnabled;
        else :class:`StationOffline`."""
        token = self._token_for(id_token) if isinstance(id_token, str) else id_token
        key = (token["idToken"], token["type"])
        model = self.device_model
        if self.ready:
            request: v201.AuthorizeRequest = {"idToken": token}
            response: v201.AuthorizeResponse = await self.call("Authorize", request)
            info = response["idTokenInfo"]
            self._cache(key, info)
            return info
        cached = self.auth_cache.get(key)
        if model.bool_value("AuthCtrlr", "LocalAuthorizeOffline") and cached is not None:
            return cached
        if model.bool_value("AuthCtrlr", "OfflineTxForUnknownIdEnabled"):
            return {"status": "Accepted"}
        raise StationOffline(
            f"{self.identity} is offline and {token['idToken']!r} is not in its cache"
        )

    def _cache(self, key: tuple[str, str], info: v201.IdTokenInfoType) -> None:
        if self.device_model.bool_value("AuthCacheCtrlr", "Enabled") and key[1] not in (
            "Central",
            "NoAuthorization",
        ):
            self.auth_cache[key] = info

    # -- TransactionEvent ----------------------------------------------------------------------

    def _sampled_value(
        self, evse: Evse201, measurand: str, context: v201.ReadingContextEnumType
    ) -> v201.SampledValueType:
        return {
            "value": reading(measurand, energy_wh=evse.energy_wh, power_w=evse.power_w),
            "context": context,
            "measurand": cast("v201.MeasurandEnumType", measurand),
            "location": "Outlet",
            "unitOfMeasure": {"unit": UNITS[measurand]},
        }

    def _meter_value(
        self, evse: Evse201, context: v201.ReadingContextEnumType, variable: str
    ) -> v201.MeterValueType:
        measurands = [
            m for m in self.device_model.list_value("SampledDataCtrlr", variable) if m in MEASURANDS
        ] or ["Energy.Active.Import.Register"]
        return {
            "timestamp": iso_utc(),
            "sampledValue": [self._sampled_value(evse, m, context) for m in measurands],
        }

    def transaction_event(
        self,
        transaction: Transaction201,
        event_type: v201.TransactionEventEnumType,
        trigger_reason: v201.TriggerReasonEnumType,
        *,
        charging_state: v201.ChargingStateEnumType | None = None,
        stopped_reason: str | None = None,
        meter: tuple[v201.ReadingContextEnumType, str] | None = None,
        with_id_token: bool = False,
        at: datetime | None = None,
        wait: bool = False,
    ) -> asyncio.Future[v201.TransactionEventResponse | None]:
        """Queue one TransactionEvent of ``transaction`` with the next seqNo.

        ``meter`` is (reading context, SampledDataCtrlr measurands variable). The event
        carries ``offline: true`` when produced while the station cannot send (E04).
        Returns the future of the CSMS's answer.
        """
        evse = self.evse(transaction.evse_id)
        # Transaction201 ids are the station's own UUIDs, set when it is created.
        info: v201.TransactionType = {"transactionId": cast(str, transaction.transaction_id)}
        if charging_state is not None and charging_state != transaction.charging_state:
            info["chargingState"] = charging_state  # only when it changed (E01)
            transaction.charging_state = charging_state
        if stopped_reason is not None:
            info["stoppedReason"] = cast("v201.ReasonEnumType", stopped_reason)
        if event_type == "Started" and transaction.remote_start_id is not None:
            info["remoteStartId"] = transaction.remote_start_id  # F01
        payload: v201.TransactionEventRequest = {
            "eventType": event_type,
            "timestamp": iso_utc(at),
            "triggerReason": trigger_reason,
            "seqNo": transaction.take_seq_no(),
            "transactionInfo": info,
        }
        if not self.ready:
            payload["offline"] = True
        if with_id_token and transaction.id_token is not None:
            payload["idToken"] = transaction.id_token
        if event_type == "Started":
            payload["evse"] = {"id": evse.evse_id, "connectorId": evse.connector_id}
        if meter is not None:
            payload["meterValue"] = [self._meter_value(evse, *meter)]
        transaction.events.append(payload)
        message = self.enqueue(
            "TransactionEvent",
            payload,
            on_result=lambda result: self._on_event_answered(transaction, payload, result),
        )
        return message.future

    def _on_event_answered(
        self,
        transaction: Transaction201,
        payload: v201.TransactionEventRequest,
        result: v201.TransactionEventResponse,
    ) -> None:
        info = result.get("idTokenInfo")
        if payload["eventType"] == "Started":
            # The CSMS may leave idTokenInfo out; the station then keeps its own
            # authorization (Authorize, cache or remote start).
            granted = info or transaction.id_tag_info or {"status": "Accepted"}
            transaction.confirm(transaction.transaction_id or "", granted)
        elif info is not None:
            transaction.id_tag_info = info
            transaction.id_tag_status = str(info.get("status"))
        if info is not None and transaction.id_token is not None:
            self._cache((transaction.id_token["idToken"], transaction.id_token["type"]), info)
        if (
            info is not None
            and info.get("status") != "Accepted"
            and transaction.active
            and self.device_model.bool_value("TxCtrlr", "StopTxOnInvalidId")
        ):
            transaction.request_stop("DeAuthorized")  # E05

    async def _delivered(
        self, future: asyncio.Future[v201.TransactionEventResponse | None]
    ) -> None:
        """Wait for a queued event's answer while online (the message stays queued if the
        station goes offline); failures after the retries are logged, not raised."""
        if not self.ready:
            return
        waiter: asyncio.Future[Any] = asyncio.ensure_future(self._disconnected.wait())
        answered: asyncio.Future[Any] = future
        try:
            await asyncio.wait({answered, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if future.done() and not future.cancelled() and future.exception() is not None:
            self.log.warning("TransactionEvent failed: %s", future.exception())

    async def start_transaction(
        self,
        *,
        id_tag: str,
        evse_id: int = 1,
        remote: bool = False,
        remote_start_id: int | None = None,
        trigger_reason: v201.TriggerReasonEnumType | None = None,
        wait: bool = True,
        driven: bool = False,
    ) -> Transaction201:
        """TransactionEvent Started (cable in and authorized: chargingState EVConnected).

        ``trigger_reason``: RemoteStart for remote starts, else CablePluggedIn (the driver
        tapped the card first, then plugged in). With ``wait`` and the station online,
        returns once the CSMS has answered (``tx.id_tag_status``).
        """
        evse = self.evse(evse_id)
        if evse.transaction is not None:
            raise SimulatorError(f"EVSE {evse_id} already has a transaction")
        token = self._token_for(id_tag)
        transaction = Transaction201(
            local_id=next(self._local_ids),
            connector_id=evse_id,
            id_tag=id_tag,
            meter_start_wh=round(evse.energy_wh),
            started_at=utc_now(),
            remote=remote,
            driven=driven,
            transaction_id=str(uuid.uuid4()),
            evse_id=evse_id,
            id_token=token,
            remote_start_id=remote_start_id,
        )
        cached = self.auth_cache.get((token["idToken"], token["type"]))
        if cached is not None:
            transaction.id_tag_info = cached
        evse.transaction = transaction
        evse.cable_plugged = True
        self.transactions.append(transaction)
        future = self.transaction_event(
            transaction,
            "Started",
            trigger_reason or ("RemoteStart" if remote else "CablePluggedIn"),
            charging_state="EVConnected",
            meter=("Transaction.Begin", "TxStartedMeasurands"),
            with_id_token=True,
            at=transaction.started_at,
        )
        if wait:
            await self._delivered(future)
        return transaction

    async def send_transaction_update(
        self,
        transaction: Transaction201,
        *,
        trigger_reason: v201.TriggerReasonEnumType = "MeterValuePeriodic",
        context: v201.ReadingContextEnumType = "Sample.Periodic",
        wait: bool = True,
    ) -> v201.TransactionEventResponse | None:
        """TransactionEvent Updated with a meter sample (TxUpdatedMeasurands)."""
        if not transaction.active:
            raise SimulatorError(f"transaction {transaction.transaction_id} is already stopped")
        transaction.meter_values += 1
        future = self.transaction_event(
            transaction,
            "Updated",
            trigger_reason,
            meter=(context, "TxUpdatedMeasurands"),
        )
        if wait:
            await self._delivered(future)
            if future.done() and not future.cancelled() and future.exception() is None:
                return future.result()
        return None

    async def set_charging_state(
        self,
        transaction: Transaction201,
        charging_state: v201.ChargingStateEnumType,
        *,
        wait: bool = False,
    ) -> None:
        """TransactionEvent Updated, ChargingStateChanged (Charging, SuspendedEV, ...)."""
        if transaction.charging_state == charging_state:
            return
        future = self.transaction_event(
            transaction, "Updated", "ChargingStateChanged", charging_state=charging_state
        )
        if wait:
            await self._delivered(future)

    async def stop_transaction(
        self,
        transaction: Transaction201,
        *,
        reason: str = "Local",
        trigger_reason: v201.TriggerReasonEnumType | None = None,
        wait: bool = True,
    ) -> v201.TransactionEventResponse | None:
        """TransactionEvent Ended with stoppedReason ``reason`` and a Transaction.End
        sample (TxEndedMeasurands); the triggerReason follows the reason (Local:
        StopAuthorized with the idToken, E06/E07). Statuses are left to the caller."""
        if not transaction.active:
            raise SimulatorError(f"transaction {transaction.transaction_id} is already stopped")
        evse = self.evse(transaction.evse_id)
        evse.power_w = 0.0
        trigger = trigger_reason or _STOP_TRIGGERS.get(reason, "AbnormalCondition")
        stopped_at = utc_now()
        future = self.transaction_event(
            transaction,
            "Ended",
            trigger,
            charging_state="Idle" if reason == "EVDisconnected" else "EVConnected",
            stopped_reason=reason,
            meter=("Transaction.End", "TxEndedMeasurands"),
            with_id_token=trigger == "StopAuthorized",
            at=stopped_at,
        )
        transaction.mark_stopped(reason=reason, meter_stop_wh=round(evse.energy_wh), at=stopped_at)
        if evse.transaction is transaction:
            evse.transaction = None
        if wait:
            await self._delivered(future)
            if future.done() and not future.cancelled() and future.exception() is None:
                return future.result()
        return None

    async def end_session(self, transaction: Transaction201, reason: str) -> None:
        """Ended, then the EV leaves: Available (or Unavailable when an availability change
        was scheduled); after a reset reason, statuses come with the reboot instead."""
        await self.stop_transaction(transaction, reason=reason)
        if reason in _REBOOT_REASONS:
            return
        evse = self.evse(transaction.evse_id)
        evse.cable_plugged = False
        apply_scheduled_availability(evse)
        await self.set_status(evse.evse_id, "Available" if evse.operative else "Unavailable")
        if self._reset_when_idle and not any(tx.active for tx in self.transactions):
            self._spawn(self.reboot("OnIdle"))  # B12 Reset OnIdle, scheduled

    async def pin_login(self, login: str, pin: str) -> str | None:
        """Touchscreen login through DataTransfer ``csms``/``PinLogin`` (as on 1.6): the
        one-time token the CSMS returns, or None when it refused. The token is remembered
        as a ``Central`` idToken (an id the CSMS generated), so that the session started with
        it presents it so."""
        token = await super().pin_login(login, pin)
        if token is not None:
            self.id_token(token, type="Central")
        return token

    def pin_token(self, login: str, pin: str) -> str:
        """Touchscreen login: the PIN as a KeyCode idToken with the login as
        additionalInfo (type ``Login``); returns the key sessions are started with."""
        self.id_token(
            pin,
            type="KeyCode",
            additional_info=[{"additionalIdToken": login[:36], "type": "Login"}],
        )
        return pin

    # -- ChargingStation protocol (used by simulators.charging.charge) ----------------------

    async def session_authorize(self, id_tag: str) -> str:
        info = await self.authorize(self._token_for(id_tag))
        return str(info.get("status"))

    async def session_begin(
        self, *, id_tag: str, connector_id: int, remote: bool
    ) -> Transaction201:
        evse = self.evse(connector_id)
        await self.set_status(connector_id, "Occupied")  # the cable is plugged in
        remote_start_id = evse.remote_start_id if remote else None
        evse.remote_start_id = None
        transaction = await self.start_transaction(
            id_tag=id_tag,
            evse_id=connector_id,
            remote=remote,
            remote_start_id=remote_start_id,
            driven=True,
        )
        if not transaction.confirmed or transaction.accepted:
            evse.power_w = self.charging_plan.power_w
            await self.set_charging_state(transaction, "Charging")
        return transaction

    async def session_sample(self, transaction: Transaction) -> None:
        assert isinstance(transaction, Transaction201)
        await self.send_transaction_update(transaction, wait=False)

    async def session_suspend_ev(self, transaction: Transaction) -> None:
        assert isinstance(transaction, Transaction201)
        self.evse(transaction.evse_id).power_w = 0.0
        await self.set_charging_state(transaction, "SuspendedEV")

    async def session_end(self, transaction: Transaction, reason: str) -> None:
        assert isinstance(transaction, Transaction201)
        await self.end_session(transaction, reason)

    # -- the CSMS's calls: transactions (F01-F03, E14) -----------------------------------------

    async def _on_request_start(self, payload: v201.RequestStartTransactionRequest) -> Reply:
        evse = free_target(self.evses, payload.get("evseId"))
        if evse is None:
            return Reply({"status": "Rejected"})
        id_token = payload["idToken"]
        key = self.id_token(
            id_token["idToken"],
            type=id_token["type"],
            additional_info=id_token.get("additionalInfo"),
        )["idToken"]
        evse.remote_start_id = payload["remoteStartId"]
        return self._remote_session(
            evse,
            id_tag=key,
            connector_id=evse.evse_id,
            # F01: Authorize first only when AuthorizeRemoteStart is true.
            authorize=lambda: self.device_model.bool_value("AuthCtrlr", "AuthorizeRemoteStart"),
        )

    async def _on_request_stop(self, payload: v201.RequestStopTransactionRequest) -> Reply:
        transaction = self._find_transaction(payload["transactionId"])
        if transaction is None:
            return Reply({"status": "Rejected"})  # F03
        return self._stop_soon(transaction, "Remote")

    async def _on_get_transaction_status(self, payload: v201.GetTransactionStatusRequest) -> Reply:
        transaction_id = payload.get("transactionId")
        queued = [
            cast("v201.TransactionEventRequest", p)
            for action, p in self.queued_messages
            if action == "TransactionEvent"
        ]
        if transaction_id is None:  # E14: only whether anything is queued
            return Reply({"messagesInQueue": bool(queued)})
        ongoing = self._find_transaction(transaction_id) is not None
        in_queue = any(p["transactionInfo"]["transactionId"] == transaction_id for p in queued)
        return Reply({"ongoingIndicator": ongoing, "messagesInQueue": in_queue})

    # -- the CSMS's calls: availability, reset, unlock (B11, B12, F05, G03) ---------------------

    async def _on_reset(self, payload: v201.ResetRequest) -> Reply:
        if payload.get("evseId") is not None:
            return Reply({"status": "Rejected"})  # resetting one EVSE is not supported

        async def reset() -> None:
            await self.reboot("ImmediateReset")

        busy = any(tx.active for tx in self.transactions)
        if payload["type"] == "OnIdle" and busy:
            self._reset_when_idle = True  # B12: after the transactions end
            return Reply({"status": "Scheduled"})
        return Reply({"status": "Accepted"}, then=reset)

    async def _on_unlock_connector(self, payload: v201.UnlockConnectorRequest) -> Reply:
        evse = self.evses.get(payload["evseId"])
        if evse is None or payload["connectorId"] != evse.connector_id:
            return Reply({"status": "UnknownConnector"})  # F05
        transaction = evse.transaction
        if transaction is not None and transaction.accepted:
            return Reply({"status": "OngoingAuthorizedTransaction"})  # F05
        return Reply({"status": "Unlocked"})

    async def _on_change_availability(self, payload: v201.ChangeAvailabilityRequest) -> Reply:
        operative = payload["operationalStatus"] == "Operative"
        target = payload.get("evse")
        if target is None:
            targets = list(self.evses.values())
        else:
            evse = self.evses.get(target["id"])
            connector = target.get("connectorId")
            if evse is None or (connector is not None and connector != evse.connector_id):
                return Reply({"status": "Rejected"})
            targets = [evse]

        async def report(evse: Evse201, status: str) -> None:
            await self.set_status(evse.evse_id, cast("v201.ConnectorStatusEnumType", status))

        return change_availability(targets, operative=operative, report=report)

    # -- the CSMS's calls: TriggerMessage, cache, data transfer (F06, C11) -----------------------

    async def _on_trigger_message(self, payload: v201.TriggerMessageRequest) -> Reply:
        requested = payload["requestedMessage"]
        if requested not in _TRIGGERABLE:
            return Reply({"status": "NotImplemented"})
        target = payload.get("evse")
        if target is not None and target["id"] not in self.evses:
            return Reply({"status": "Rejected"})
        selected = list(self.evses.values()) if target is None else [self.evses[target["id"]]]
        if requested == "BootNotification" and self.accepted:
            return Reply({"status": "Rejected"})  # F06
        running = [e.transaction for e in selected if e.transaction is not None]
        if requested == "TransactionEvent" and not running:
            return Reply({"status": "Rejected"})  # nothing to report
        if not self.accepted:
            self._asked_for.add(requested)

        async def send() -> None:
            try:
                await self._send_triggered(requested, selected, running)
            finally:
                if not self.accepted:
                    self._asked_for.discard(requested)

        return Reply({"status": "Accepted"}, then=send)

    async def _send_triggered(
        self, requested: str, selected: list[Evse201], running: list[Transaction201]
    ) -> None:
        if requested == "BootNotification":
            self.boot_reason = "Triggered"
            await self.send_boot_notification()
        elif requested == "Heartbeat":
            await self.heartbeat()
        elif requested == "StatusNotification":
            for evse in selected:
                await self._report_status(evse)
        elif requested == "MeterValues":
            for evse in selected:
                meter = self._meter_value(evse, "Trigger", "TxUpdatedMeasurands")
                values: v201.MeterValuesRequest = {"evseId": evse.evse_id, "meterValue": [meter]}
                await self.call("MeterValues", values)
        elif requested == "TransactionEvent":
            for transaction in running:
                await self.send_transaction_update(
                    transaction, trigger_reason="Trigger", context="Trigger"
                )
        elif requested == "LogStatusNotification":
            log: v201.LogStatusNotificationRequest = {"status": "Idle"}
            await self.call("LogStatusNotification", log)
        elif requested == "FirmwareStatusNotification":
            firmware: v201.FirmwareStatusNotificationRequest = {"status": "Idle"}
            await self.call("FirmwareStatusNotification", firmware)
        elif requested == "SignChargingStationCertificate":  # A03: a new key and CSR
            status = await self.request_certificate()
            if status != "Accepted":
                self.log.warning("%s: SignCertificate answered %s", self.identity, status)

    async def _on_clear_cache(self, payload: v201.ClearCacheRequest) -> Reply:
        if not self.device_model.bool_value("AuthCacheCtrlr", "Enabled"):
            return Reply({"status": "Rejected"})  # C11
        self.auth_cache.clear()
        return Reply({"status": "Accepted"})

    async def _on_data_transfer(self, payload: v201.DataTransferRequest) -> Reply:
        return Reply({"status": "UnknownVendorId"})

    # -- the CSMS's calls: security (A02, A03, A05, M03-M05) ------------------------------------

    def csr_organization(self) -> str:
        return self.device_model.value("SecurityCtrlr", "OrganizationName")

    def sign_certificate_request(self, csr: str) -> v201.SignCertificateRequest:
        return {"csr": csr, "certificateType": "ChargingStationCertificate"}

    async def _on_certificate_signed(self, payload: v201.CertificateSignedRequest) -> Reply:
        if payload.get("certificateType", "ChargingStationCertificate") != (
            "ChargingStationCertificate"
        ):
            return Reply({"status": "Rejected"})  # no ISO 15118 (V2G) here
        return self._certificate_signed(payload["certificateChain"])

    async def _on_install_certificate(self, payload: v201.InstallCertificateRequest) -> Reply:
        status = self._install_root(payload["certificateType"], payload["certificate"])
        return Reply({"status": status})

    async def _on_get_installed_certificate_ids(
        self, payload: v201.GetInstalledCertificateIdsRequest
    ) -> Reply:
        types = payload.get("certificateType")
        installed = self._installed(list(types) if types else list(_ROOT_TYPES))
        if not installed:
            return Reply({"status": "NotFound"})  # M03
        chain: list[v201.CertificateHashDataChainType] = [
            {
                "certificateType": cast("v201.GetCertificateIdUseEnumType", kind),
                "certificateHashData": cast("v201.CertificateHashDataType", data.to_json()),
            }
            for kind, data in installed
        ]
        return Reply({"status": "Accepted", "certificateHashDataChain": chain})

    async def _on_delete_certificate(self, payload: v201.DeleteCertificateRequest) -> Reply:
        return Reply({"status": self._delete_certificate(payload["certificateHashData"])})

    async def _on_set_network_profile(self, payload: v201.SetNetworkProfileRequest) -> Reply:
        """A05: keep the profile in its slot (used after a Reset once it comes first in
        NetworkConfigurationPriority). Rejected: not OCPP 2.0 over JSON, a lower security
        profile than now, profile 2/3 without a wss:// URL, profile 3 without a client
        certificate."""
        data = payload["connectionData"]
        slot = payload["configurationSlot"]
        profile = data["securityProfile"]
        url = data["ocppCsmsUrl"]
        problem = None
        if data["ocppVersion"] != "OCPP20" or data["ocppTransport"] != "JSON":
            problem = "only OCPP 2.0 over JSON"
        elif profile not in (1, 2, 3) or profile < self.security_profile:
            problem = f"security profile {profile} (now {self.security_profile}; no downgrade)"
        elif profile >= 2 and not url.startswith("wss://"):
            problem = f"security profile {profile} needs a wss:// URL"
        elif profile == 3 and not self.certificates.has_client_certificate():
            problem = "security profile 3 needs a client certificate"
        elif slot < 0:
            problem = "no such configuration slot"
        if problem is not None:
            self.log.info("%s: SetNetworkProfile rejected: %s", self.identity, problem)
            return Reply({"status": "Rejected"})
        self.network_profiles[slot] = data
        return Reply({"status": "Accepted"})
