"""A simulated OCPP 1.6J charge point (Core and RemoteTrigger profiles, and the security
extension's certificate messages: SignCertificate, CertificateSigned, ExtendedTriggerMessage,
InstallCertificate, GetInstalledCertificateIds, DeleteCertificate).

The Python API the end-to-end tests use::

    async with ChargePoint16(url="ws://127.0.0.1:9000/ocpp", identity="CP1") as cp:
        await cp.boot()                                  # + StatusNotification per connector
        tx = await cp.start_transaction(id_tag="CARD1")  # Authorize first if you like
        cp.deliver_energy(1, 500)                        # the EV took 500 Wh
        await cp.send_meter_values(1)
        await cp.stop_transaction(tx)

or the scripted session: ``await cp.charge(id_tag="CARD1", plan=ChargingPlan(...))``.
The CSMS's calls are answered as a real 1.6 charger would (see the ``_on_*`` handlers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from protocol import OCPPError, OCPPVersion
from simulators.charge_point import (
    UNITS,
    ChargePoint,
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
from simulators.txqueue import PayloadResolver
from simulators.v16_config import SUPPORTED_MEASURANDS, Configuration16

if TYPE_CHECKING:
    from protocol.messages import v16

__all__ = ["ChargePoint16", "Connector16"]

#: Stop reasons after which the charger reboots: no Finishing/Available before it.
_REBOOT_REASONS = frozenset({"SoftReset", "HardReset", "Reboot", "PowerLoss"})


@dataclass(eq=False)
class Connector16:
    """A connector (id 0 is the charge point as a whole) and its energy meter."""

    connector_id: int
    status: v16.StatusNotificationStatus = "Available"
    error_code: v16.ErrorCode = "NoError"
    #: The last status the CSMS acknowledged (None: never reported).
    reported: tuple[v16.StatusNotificationStatus, v16.ErrorCode] | None = None
    operative: bool = True
    #: Availability change waiting for the running transaction to end.
    scheduled_operative: bool | None = None
    #: The energy register in Wh: persists across the transactions of a run.
    energy_wh: float = 0.0
    power_w: float = 0.0
    transaction: Transaction | None = None
    #: A RemoteStartTransaction was accepted and its transaction is being set up.
    remote_start_pending: bool = False
    history: list[str] = field(default_factory=list)

    @property
    def free(self) -> bool:
        return (
            self.connector_id > 0
            and self.transaction is None
            and not self.remote_start_pending
            and self.operative
            and self.status in ("Available", "Preparing")
        )


class ChargePoint16(ChargePoint[Transaction]):
    """A 1.6J charge point. Keyword arguments beyond these go to :class:`Station`.

    Args:
        connectors: number of connectors (1..n).
        vendor, model, serial_number, firmware_version: BootNotification fields.
        heartbeat_interval: HeartbeatInterval until the CSMS sets one at boot (s).
        meter_interval: MeterValueSampleInterval (simulated seconds, 0: no samples).
        energy_wh: initial reading of every connector's energy register.
        charging_plan: what the EV takes in sessions the CSMS starts remotely.
        report_status_on_boot: send StatusNotification for connector 0 and each
            connector after every accepted boot, as firmware does.
    """

    version = OCPPVersion.V16
    csms_root_types = frozenset({"CentralSystemRootCertificate"})
    invalid_certificate_event = "InvalidChargePointCertificate"
    #: The message that starts a transaction and answers for its idTag.
    start_action = "StartTransaction"
    token_label = "idTag"

    def __init__(
        self,
        *,
        url: str,
        identity: str,
        connectors: int = 1,
        vendor: str = "csms-sim",
        model: str = "SimCharger-16",
        serial_number: str | None = None,
        firmware_version: str = "1.0.0",
        heartbeat_interval: int = 300,
        meter_interval: int = 60,
        energy_wh: float = 0.0,
        charging_plan: ChargingPlan | None = None,
        report_status_on_boot: bool = True,
        **station_options: Any,
    ) -> None:
        super().__init__(url=url, identity=identity, charging_plan=charging_plan, **station_options)
        if connectors < 1:
            raise ValueError("a charge point needs at least one connector")
        self.vendor = vendor
        self.model = model
        self.serial_number = serial_number
        self.firmware_version = firmware_version
        self.report_status_on_boot = report_status_on_boot
        self.configuration = Configuration16(
            connectors=connectors,
            heartbeat_interval=heartbeat_interval,
            meter_interval=meter_interval,
            security_profile=self.security_profile,
            cpo_name=self.organization,
        )
        self.heartbeat_interval = 0.0  # starts with the first accepted boot
        self.connectors: dict[int, Connector16] = {
            number: Connector16(number, energy_wh=energy_wh if number else 0.0)
            for number in range(connectors + 1)
        }
        #: Authorization cache: idTag → idTagInfo.
        self.auth_cache: dict[str, v16.IdTagInfo] = {}
        handlers: dict[str, Handler] = {
            "RemoteStartTransaction": self._on_remote_start,
            "RemoteStopTransaction": self._on_remote_stop,
            "Reset": self._on_reset,
            "UnlockConnector": self._on_unlock_connector,
            "ChangeAvailability": self._on_change_availability,
            "GetConfiguration": self._on_get_configuration,
            "ChangeConfiguration": self._on_change_configuration,
            "TriggerMessage": self._on_trigger_message,
            "ClearCache": self._on_clear_cache,
            "DataTransfer": self._on_data_transfer,
            "CertificateSigned": self._on_certificate_signed,
            "DeleteCertificate": self._on_delete_certificate,
            "ExtendedTriggerMessage": self._on_extended_trigger_message,
            "GetInstalledCertificateIds": self._on_get_installed_certificate_ids,
            "InstallCertificate": self._on_install_certificate,
        }
        for action, handler in handlers.items():
            self.on(action, handler)

    # -- Station hooks ---------------------------------------------------------------------

    def boot_request(self) -> v16.BootNotificationRequest:
        payload: v16.BootNotificationRequest = {
            "chargePointVendor": self.vendor[:20],
            "chargePointModel": self.model[:20],
            "firmwareVersion": self.firmware_version[:50],
        }
        if self.serial_number:
            payload["chargePointSerialNumber"] = self.serial_number[:25]
        return payload

    async def on_boot_accepted(self) -> None:
        if self.heartbeat_interval <= 0:  # the CSMS gave none: keep the configured one
            self.set_heartbeat_interval(float(self.configuration.int_value("HeartbeatInterval")))
        if self.report_status_on_boot:
            await self.report_all_statuses()

    async def on_reconnected(self) -> None:
        # Replay the queued transaction messages first, then report the statuses that
        # changed while offline (1.6 §4.9: only the latest status matters).
        await self.wait_queue_empty(timeout=self.call_timeout * 2)
        for connector in self.connectors.values():
            if connector.reported != (connector.status, connector.error_code):
                await self._report_status(connector)

    def on_heartbeat_interval(self, interval: float) -> None:
        self.configuration.set("HeartbeatInterval", str(int(interval)))

    def on_security_profile(self, profile: int) -> None:
        self.configuration.set("SecurityProfile", str(profile))

    async def before_reboot(self, reason: str) -> None:
        await self._stop_transactions(reason)
        for connector in self.connectors.values():
            apply_scheduled_availability(connector)
            connector.power_w = 0.0
            connector.status = "Available" if connector.operative else "Unavailable"

    # -- state -----------------------------------------------------------------------------

    def connector(self, connector_id: int) -> Connector16:
        try:
            return self.connectors[connector_id]
        except KeyError:
            raise SimulatorError(f"{self.identity} has no connector {connector_id}") from None

    def active_transaction(self, connector_id: int = 1) -> Transaction | None:
        return self.connector(connector_id).transaction

    def meter_interval(self) -> float:
        return float(self.configuration.int_value("MeterValueSampleInterval"))

    def deliver_energy(self, connector_id: int, energy_wh: float, power_w: float = 0.0) -> None:
        """Advance a connector's energy register (and set the power it draws now)."""
        connector = self.connector(connector_id)
        connector.energy_wh += energy_wh
        connector.power_w = power_w

    # -- messages to the CSMS --------------------------------------------------------------

    async def set_status(
        self,
        connector_id: int,
        status: v16.StatusNotificationStatus,
        *,
        error_code: v16.ErrorCode = "NoError",
        info: str | None = None,
    ) -> None:
        """Change a connector's status and send StatusNotification (later, if offline)."""
        connector = self.connector(connector_id)
        connector.status = status
        connector.error_code = error_code
        connector.history.append(status)
        await self._report_status(connector, info=info)

    async def report_all_statuses(self) -> None:
        """StatusNotification for connector 0 and every connector (as after a boot)."""
        for connector in self.connectors.values():
            await self._report_status(connector)

    async def _report_status(self, connector: Connector16, *, info: str | None = None) -> None:
        if not self.ready:
            return  # reported when the connection is back (on_reconnected)
        state = (connector.status, connector.error_code)
        payload: v16.StatusNotificationRequest = {
            "connectorId": connector.connector_id,
            "errorCode": connector.error_code,
            "status": connector.status,
            "timestamp": iso_utc(),
        }
        if info:
            payload["info"] = info[:50]
        try:
            await self.call("StatusNotification", payload)
        except SimulatorError as exc:
            self.log.info("StatusNotification not delivered: %s", exc)
            return
        connector.reported = state

    async def authorize(self, id_tag: str) -> v16.IdTagInfo:
        """Authorize; returns the idTagInfo. Offline, the authorization cache answers
        (LocalAuthorizeOffline), or AllowOfflineTxForUnknownId; else StationOffline."""
        config = self.configuration
        if self.ready:
            request: v16.AuthorizeRequest = {"idTag": id_tag}
            response: v16.AuthorizeResponse = await self.call("Authorize", request)
            info = response["idTagInfo"]
            self._cache(id_tag, info)
            return info
        cached = self.auth_cache.get(id_tag)
        if config.bool_value("LocalAuthorizeOffline") and cached is not None:
            return cached
        if config.bool_value("AllowOfflineTxForUnknownId"):
            return {"status": "Accepted"}
        raise StationOffline(f"{self.identity} is offline and {id_tag!r} is not in its cache")

    def _cache(self, id_tag: str, info: v16.IdTagInfo) -> None:
        if self.configuration.bool_value("AuthorizationCacheEnabled"):
            self.auth_cache[id_tag] = info

    async def start_transaction(
        self,
        *,
        id_tag: str,
        connector_id: int = 1,
        meter_start: int | None = None,
        remote: bool = False,
        wait: bool = True,
        driven: bool = False,
    ) -> Transaction:
        """StartTransaction (a queued transaction message).

        With ``wait`` and the station online, returns once the CSMS has answered
        (``tx.transaction_id``, ``tx.id_tag_status``); offline, returns at once with only
        ``tx.local_id``: later messages are remapped when the answer comes.
        """
        connector = self.connector(connector_id)
        if connector_id == 0:
            raise SimulatorError("transactions run on connectors 1..n")
        if connector.transaction is not None:
            raise SimulatorError(f"connector {connector_id} already has a transaction")
        transaction = Transaction(
            local_id=next(self._local_ids),
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start_wh=round(connector.energy_wh) if meter_start is None else meter_start,
            started_at=utc_now(),
            remote=remote,
            driven=driven,
        )
        connector.transaction = transaction
        self.transactions.append(transaction)
        payload: v16.StartTransactionRequest = {
            "connectorId": connector_id,
            "idTag": id_tag,
            "meterStart": transaction.meter_start_wh,
            "timestamp": iso_utc(transaction.started_at),
        }
        message = self.enqueue(
            "StartTransaction",
            payload,
            on_result=lambda result: self._on_start_answered(transaction, result),
        )
        if wait:
            try:
                await self.await_delivery(message)
            except (SimulatorError, OCPPError) as exc:
                # Given up after TransactionMessageAttempts: the charger carries on, but
                # the messages of this transaction will be dropped (no CSMS id).
                self.log.warning("StartTransaction failed: %s", exc)
        return transaction

    def _on_start_answered(
        self, transaction: Transaction, result: v16.StartTransactionResponse
    ) -> None:
        info: v16.IdTagInfo | None = result.get("idTagInfo")
        transaction.confirm(int(result["transactionId"]), info)
        if info is not None:
            self._cache(transaction.id_tag, info)
        if (
            not transaction.accepted
            and transaction.active
            and self.configuration.bool_value("StopTransactionOnInvalidId")
        ):
            transaction.request_stop("DeAuthorized")

    def _resolver(self, transaction: Transaction) -> PayloadResolver:
        def resolve(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
            if transaction.transaction_id is None:
                return None  # its StartTransaction never got an answer
            if payload.get("transactionId") == transaction.transaction_id:
                return payload
            return {**payload, "transactionId": transaction.transaction_id}

        return resolve

    def _sampled_value(
        self, connector: Connector16, measurand: str, context: v16.Context
    ) -> v16.MeterValueSampledValue:
        value = reading(measurand, energy_wh=connector.energy_wh, power_w=connector.power_w)
        # 1.6 readings are strings: registers and power whole, current and voltage to 0.1.
        text = str(value) if isinstance(value, int) else f"{value:.1f}"
        return {
            "value": text,
            "context": context,
            "measurand": cast("v16.Measurand", measurand),
            "location": "Outlet",
            "unit": cast("v16.MeterValueSampledValueUnit", UNITS[measurand]),
        }

    def _meter_value(
        self, connector: Connector16, context: v16.Context, measurands: list[str]
    ) -> v16.MeterValue:
        chosen = [m for m in measurands if m in SUPPORTED_MEASURANDS] or [
            "Energy.Active.Import.Register"
        ]
        return {
            "timestamp": iso_utc(),
            "sampledValue": [self._sampled_value(connector, m, context) for m in chosen],
        }

    async def send_meter_values(
        self,
        connector_id: int = 1,
        *,
        context: v16.Context = "Sample.Periodic",
        wait: bool = True,
    ) -> v16.MeterValuesResponse | None:
        """MeterValues with the measurands of MeterValuesSampledData.

        With a transaction on the connector it is a queued transaction message carrying
        the transactionId; without one it is sent only when online.
        """
        connector = self.connector(connector_id)
        transaction = connector.transaction
        meter_value = self._meter_value(
            connector, context, self.configuration.list_value("MeterValuesSampledData")
        )
        payload: v16.MeterValuesRequest = {"connectorId": connector_id, "meterValue": [meter_value]}
        if transaction is None:
            if not self.ready:
                return None
            response: v16.MeterValuesResponse = await self.call("MeterValues", payload)
            return response
        # Before the CSMS's answer to StartTransaction the local (negative) id: replaced
        # by the CSMS's when sent (see _resolver).
        payload["transactionId"] = cast(int, transaction.wire_id)
        transaction.meter_values += 1
        message = self.enqueue("MeterValues", payload, resolve=self._resolver(transaction))
        return await self.await_delivery(message) if wait else None

    async def stop_transaction(
        self,
        transaction: Transaction,
        *,
        reason: str = "Local",
        id_tag: str | None = None,
        meter_stop: int | None = None,
        wait: bool = True,
    ) -> v16.StopTransactionResponse | None:
        """StopTransaction with a Transaction.End sample (a queued transaction message).

        Statuses are left to the caller (see :meth:`end_session` for the full sequence).
        """
        if not transaction.active:
            raise SimulatorError(f"transaction {transaction.wire_id} is already stopped")
        connector = self.connector(transaction.connector_id)
        stop_wh = round(connector.energy_wh) if meter_stop is None else meter_stop
        end = self._meter_value(
            connector,
            "Transaction.End",
            self.configuration.list_value("StopTxnSampledData"),
        )
        transaction.mark_stopped(reason=reason, meter_stop_wh=stop_wh, at=utc_now())
        if connector.transaction is transaction:
            connector.transaction = None
        connector.power_w = 0.0
        payload: v16.StopTransactionRequest = {
            "transactionId": cast(int, transaction.wire_id),  # as in send_meter_values
            "meterStop": stop_wh,
            "timestamp": iso_utc(transaction.stopped_at),
            "reason": cast("v16.Reason", reason),
            # A MeterValue: the schema's unit list for transactionData lacks only Hertz.
            "transactionData": [cast("v16.TransactionData", end)],
        }
        if id_tag is not None:
            payload["idTag"] = id_tag
        message = self.enqueue("StopTransaction", payload, resolve=self._resolver(transaction))
        return await self.await_delivery(message) if wait else None

    async def end_session(self, transaction: Transaction, reason: str) -> None:
        """StopTransaction, then Finishing and Available (or Unavailable when an
        availability change was scheduled); after a reset reason, statuses come with the
        reboot instead."""
        await self.stop_transaction(transaction, reason=reason)
        if reason in _REBOOT_REASONS:
            return
        connector = self.connector(transaction.connector_id)
        await self.set_status(connector.connector_id, "Finishing")
        apply_scheduled_availability(connector)
        await self.set_status(
            connector.connector_id, "Available" if connector.operative else "Unavailable"
        )

    # -- ChargingStation protocol (used by simulators.charging.charge) ----------------------

    async def session_authorize(self, id_tag: str) -> str:
        info = await self.authorize(id_tag)
        return str(info.get("status"))

    async def session_begin(self, *, id_tag: str, connector_id: int, remote: bool) -> Transaction:
        await self.set_status(connector_id, "Preparing")
        transaction = await self.start_transaction(
            id_tag=id_tag, connector_id=connector_id, remote=remote, driven=True
        )
        if not transaction.confirmed or transaction.accepted:
            self.connector(connector_id).power_w = self.charging_plan.power_w
            await self.set_status(connector_id, "Charging")
        return transaction

    async def session_sample(self, transaction: Transaction) -> None:
        await self.send_meter_values(transaction.connector_id, wait=False)

    async def session_suspend_ev(self, transaction: Transaction) -> None:
        self.connector(transaction.connector_id).power_w = 0.0
        await self.set_status(transaction.connector_id, "SuspendedEV")

    async def session_end(self, transaction: Transaction, reason: str) -> None:
        await self.end_session(transaction, reason)

    # -- the CSMS's calls --------------------------------------------------------------------

    async def _on_remote_start(self, payload: v16.RemoteStartTransactionRequest) -> Reply:
        connector = free_target(self.connectors, payload.get("connectorId"))
        if connector is None:
            return Reply({"status": "Rejected"})
        return self._remote_session(
            connector,
            id_tag=payload["idTag"],
            connector_id=connector.connector_id,
            authorize=lambda: self.configuration.bool_value("AuthorizeRemoteTxRequests"),
        )

    async def _on_remote_stop(self, payload: v16.RemoteStopTransactionRequest) -> Reply:
        transaction = self._find_transaction(payload["transactionId"])
        if transaction is None:
            return Reply({"status": "Rejected"})
        return self._stop_soon(transaction, "Remote")

    async def _on_reset(self, payload: v16.ResetRequest) -> Reply:
        reason = "HardReset" if payload["type"] == "Hard" else "SoftReset"

        async def reset() -> None:
            await self.reboot(reason)

        return Reply({"status": "Accepted"}, then=reset)

    async def _on_unlock_connector(self, payload: v16.UnlockConnectorRequest) -> Reply:
        connector = self.connectors.get(payload["connectorId"])
        if connector is None or connector.connector_id == 0:
            return Reply({"status": "NotSupported"})
        transaction = connector.transaction
        if transaction is not None:
            # 1.6 §5.17: a running transaction is stopped first (reason UnlockCommand).
            stop = self._stop_soon(transaction, "UnlockCommand")
            return Reply({"status": "Unlocked"}, then=stop.then)
        return Reply({"status": "Unlocked"})

    async def _on_change_availability(self, payload: v16.ChangeAvailabilityRequest) -> Reply:
        connector_id = payload["connectorId"]
        operative = payload["type"] == "Operative"
        if connector_id == 0:
            targets = list(self.connectors.values())
        elif connector_id in self.connectors:
            targets = [self.connectors[connector_id]]
        else:
            return Reply({"status": "Rejected"})

        async def report(connector: Connector16, status: str) -> None:
            await self.set_status(
                connector.connector_id, cast("v16.StatusNotificationStatus", status)
            )

        return change_availability(targets, operative=operative, report=report)

    async def _on_get_configuration(self, payload: v16.GetConfigurationRequest) -> Reply:
        return Reply(self.configuration.get_configuration(payload.get("key")))

    async def _on_change_configuration(self, payload: v16.ChangeConfigurationRequest) -> Reply:
        key, value = payload["key"], payload["value"]
        if key == "AuthorizationKey":
            return self._change_authorization_key(value)
        if key == "SecurityProfile":
            return self._change_security_profile(value)
        status = self.configuration.change(key, value)
        if status == "Accepted" and key == "HeartbeatInterval":
            self.set_heartbeat_interval(float(value))
        if status == "Accepted" and key == "CpoName":
            self.organization = value  # the O of the next CSR
        return Reply({"status": status})

    def _change_security_profile(self, value: str) -> Reply:
        """1.6 security whitepaper: a charger never lowers its SecurityProfile, and refuses
        one it has no credentials for (profile 3: a client certificate; 2 and 3: a wss://
        URL to the Central System); once Accepted it reconnects with the new profile (also
        when it is the one in use: the Central System waits for that connection)."""
        try:
            profile = int(value)
        except ValueError:
            return Reply({"status": "Rejected"})
        current = self.security_profile
        if profile not in (1, 2, 3) or profile < current:
            return Reply({"status": "Rejected"})
        if profile >= 2 and not self.url.startswith("wss://"):
            self.log.info("%s: SecurityProfile %d refused: no wss:// URL", self.identity, profile)
            return Reply({"status": "Rejected"})
        if profile == 3 and not self.certificates.has_client_certificate():
            self.log.info("%s: SecurityProfile 3 refused: no client certificate", self.identity)
            return Reply({"status": "Rejected"})
        if profile >= 2 and profile != 3 and self.password is None:
            return Reply({"status": "Rejected"})

        async def reconnect() -> None:
            self.log.info("%s: reconnecting with security profile %d", self.identity, profile)
            await self.reconnect_with(security_profile=profile)

        return Reply({"status": "Accepted"}, then=reconnect)

    def _change_authorization_key(self, value: str) -> Reply:
        """1.6 security whitepaper: AuthorizationKey is write-only, the hexadecimal form
        of a 16 to 20 byte password; the charger reconnects using the decoded bytes."""
        if not self.accept_password_change:
            return Reply({"status": "Rejected"})
        try:
            password = bytes.fromhex(value).decode()
        except (ValueError, UnicodeDecodeError):
            return Reply({"status": "Rejected"})
        if not 16 <= len(password.encode()) <= 20:
            return Reply({"status": "Rejected"})
        return Reply({"status": "Accepted"}, then=self.password_changed(password))

    async def _on_trigger_message(self, payload: v16.TriggerMessageRequest) -> Reply:
        requested = payload["requestedMessage"]
        connector_id = payload.get("connectorId")
        if connector_id is not None and connector_id not in self.connectors:
            return Reply({"status": "Rejected"})
        selected = (
            list(self.connectors.values())
            if connector_id is None
            else [self.connectors[connector_id]]
        )

        async def send() -> None:
            if requested == "BootNotification":
                await self.send_boot_notification()
            elif requested == "Heartbeat":
                await self.heartbeat()
            elif requested == "StatusNotification":
                for connector in selected:
                    await self._report_status(connector)
            elif requested == "MeterValues":
                for connector in selected:
                    if connector.connector_id > 0:
                        await self.send_meter_values(connector.connector_id, context="Trigger")
            elif requested == "DiagnosticsStatusNotification":
                diagnostics: v16.DiagnosticsStatusNotificationRequest = {"status": "Idle"}
                await self.call("DiagnosticsStatusNotification", diagnostics)
            elif requested == "FirmwareStatusNotification":
                firmware: v16.FirmwareStatusNotificationRequest = {"status": "Idle"}
                await self.call("FirmwareStatusNotification", firmware)

        return Reply({"status": "Accepted"}, then=send)

    async def _on_clear_cache(self, payload: v16.ClearCacheRequest) -> Reply:
        self.auth_cache.clear()
        return Reply({"status": "Accepted"})

    async def _on_data_transfer(self, payload: v16.DataTransferRequest) -> Reply:
        return Reply({"status": "UnknownVendorId"})

    # -- the Central System's calls: security extension (certificates) ------------------------

    def sign_certificate_request(self, csr: str) -> v16.SignCertificateRequest:
        return {"csr": csr}

    async def _on_certificate_signed(self, payload: v16.CertificateSignedRequest) -> Reply:
        return self._certificate_signed(payload["certificateChain"])

    async def _on_extended_trigger_message(
        self, payload: v16.ExtendedTriggerMessageRequest
    ) -> Reply:
        """ExtendedTriggerMessage: SignChargePointCertificate makes a new key and CSR;
        LogStatusNotification reports Idle; the rest as TriggerMessage."""
        requested = payload["requestedMessage"]
        if requested == "SignChargePointCertificate":
            return self._send_new_csr()
        if requested == "LogStatusNotification":

            async def send_log_status() -> None:
                log: v16.LogStatusNotificationRequest = {"status": "Idle"}
                await self.call("LogStatusNotification", log)

            return Reply({"status": "Accepted"}, then=send_log_status)
        trigger: v16.TriggerMessageRequest = {
            "requestedMessage": cast("v16.RequestedMessage", requested)
        }
        if "connectorId" in payload:
            trigger["connectorId"] = payload["connectorId"]
        return await self._on_trigger_message(trigger)

    async def _on_install_certificate(self, payload: v16.InstallCertificateRequest) -> Reply:
        status = self._install_root(payload["certificateType"], payload["certificate"])
        return Reply({"status": status})

    async def _on_get_installed_certificate_ids(
        self, payload: v16.GetInstalledCertificateIdsRequest
    ) -> Reply:
        installed = self._installed([payload["certificateType"]])
        if not installed:
            return Reply({"status": "NotFound"})
        return Reply(
            {
                "status": "Accepted",
                "certificateHashData": [data.to_json() for _, data in installed],
            }
        )

    async def _on_delete_certificate(self, payload: v16.DeleteCertificateRequest) -> Reply:
        return Reply({"status": self._delete_certificate(payload["certificateHashData"])})
