"""The device-model side of the simulated 2.0.1 charging station.

:class:`DeviceModelStation` is the layer of :class:`simulators.v201.ChargePoint201` that
keeps the station to what its device model and its registration allow: the boot gate
(before the CSMS accepts the boot only BootNotification and what the CSMS asked for go
out, B02/B03), GetVariables and SetVariables (B05, B06; a new BasicAuthPassword, A01) and
GetBaseReport/GetReport answered with NotifyReport in parts (B07, B08).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol import ErrorCode, OCPPError
from simulators.charge_point import ChargePoint
from simulators.charging import ChargingPlan, TxT
from simulators.clock import iso_utc
from simulators.errors import StationOffline
from simulators.station import AfterReply, Handler, Payload, Reply
from simulators.v201_device_model import REPORT_BASES, DeviceModel201

if TYPE_CHECKING:
    from protocol.messages import v201

__all__ = ["DeviceModelStation", "NotAccepted"]


class NotAccepted(StationOffline):
    """The CSMS has not accepted the station's BootNotification: only BootNotification
    (and what the CSMS asked for) may be sent (B02, B03)."""


class DeviceModelStation(ChargePoint[TxT]):
    """A 2.0.1 station as its device model sees it; the subclass sets ``device_model``."""

    device_model: DeviceModel201

    def __init__(
        self,
        *,
        url: str,
        identity: str,
        charging_plan: ChargingPlan | None = None,
        **station_options: Any,
    ) -> None:
        super().__init__(url=url, identity=identity, charging_plan=charging_plan, **station_options)
        #: NotifyReport requestIds answered so far, with the number of parts sent.
        self.reports_sent: dict[int, int] = {}
        #: Actions the CSMS asked for while the boot is not accepted (TriggerMessage,
        #: GetBaseReport → NotifyReport): allowed through the boot gate.
        self._asked_for: set[str] = set()
        handlers: dict[str, Handler] = {
            "GetBaseReport": self._on_get_base_report,
            "GetReport": self._on_get_report,
            "GetVariables": self._on_get_variables,
            "SetVariables": self._on_set_variables,
        }
        for action, handler in handlers.items():
            self.on(action, handler)

    async def call(self, action: str, payload: Payload, *, timeout: float | None = None) -> Any:
        """As :meth:`Station.call`; before the boot is accepted only BootNotification and
        what the CSMS asked for go out (B02, B03): else :class:`NotAccepted`."""
        if action != "BootNotification" and not self.accepted and action not in self._asked_for:
            raise NotAccepted(
                f"{self.identity}: {action} not sent, the CSMS has not accepted the boot "
                f"(registration status {self.registration_status})"
            )
        return await super().call(action, payload, timeout=timeout)

    # -- the CSMS's calls: device model (B05-B08) ----------------------------------------------

    def _check_items(self, items: list[Any], instance: str) -> None:
        limit = self.device_model.int_value("DeviceDataCtrlr", "ItemsPerMessage", instance=instance)
        if len(items) > limit:
            raise OCPPError(
                ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
                f"at most {limit} items per {instance} request (DeviceDataCtrlr.ItemsPerMessage)",
            )

    async def _on_get_variables(self, payload: v201.GetVariablesRequest) -> Reply:
        items = payload["getVariableData"]
        self._check_items(items, "GetVariables")
        return Reply(
            {"getVariableResult": [self.device_model.get_variable(item) for item in items]}
        )

    async def _on_set_variables(self, payload: v201.SetVariablesRequest) -> Reply:
        items = payload["setVariableData"]
        self._check_items(items, "SetVariables")
        results = []
        then: AfterReply | None = None
        for item in items:
            if (item["component"].get("name"), item["variable"].get("name")) == (
                "SecurityCtrlr",
                "BasicAuthPassword",
            ):
                result, then = self._set_basic_auth_password(item)
                results.append(result)
                continue
            result, changed = self.device_model.set_variable(item)
            results.append(result)
            if changed is not None and (changed.component.name, changed.name) == (
                "OCPPCommCtrlr",
                "HeartbeatInterval",
            ):
                self.heartbeat_interval = float(changed.value)
                self._heartbeat_changed.set()
        return Reply({"setVariableResult": results}, then=then)

    def _set_basic_auth_password(
        self, item: v201.SetVariableDataType
    ) -> tuple[v201.SetVariableResultType, AfterReply | None]:
        """2.0.1 A01: BasicAuthPassword is write-only (16 to 40 characters); once Accepted
        the station reconnects with it."""
        result: v201.SetVariableResultType = {
            "attributeStatus": "Accepted",
            "component": item["component"],
            "variable": item["variable"],
        }
        if "attributeType" in item:
            result["attributeType"] = item["attributeType"]
        password = str(item["attributeValue"])
        if not self.accept_password_change or not 16 <= len(password) <= 40:
            result["attributeStatus"] = "Rejected"
            return result, None
        return result, self.password_changed(password)

    def _report_reply(self, request_id: int, report: list[v201.ReportDataType]) -> Reply:
        if not report:
            return Reply({"status": "EmptyResultSet"})
        self._asked_for.add("NotifyReport")  # allowed while Pending (B02 / B07)

        async def send() -> None:
            await self._send_report(request_id, report)

        return Reply({"status": "Accepted"}, then=send)

    async def _send_report(self, request_id: int, report: list[v201.ReportDataType]) -> None:
        """NotifyReport in parts of ItemsPerMessage.GetReport: seqNo 0, 1, …, tbc on all
        but the last (B07)."""
        size = max(
            1,
            self.device_model.int_value("DeviceDataCtrlr", "ItemsPerMessage", instance="GetReport"),
        )
        parts = [report[i : i + size] for i in range(0, len(report), size)]
        generated_at = iso_utc()
        try:
            for seq_no, part in enumerate(parts):
                payload: v201.NotifyReportRequest = {
                    "requestId": request_id,
                    "generatedAt": generated_at,
                    "seqNo": seq_no,
                    "reportData": part,
                }
                if seq_no < len(parts) - 1:
                    payload["tbc"] = True
                await self.call("NotifyReport", payload)
                self.reports_sent[request_id] = seq_no + 1
        finally:
            if not self.accepted:
                self._asked_for.discard("NotifyReport")

    async def _on_get_base_report(self, payload: v201.GetBaseReportRequest) -> Reply:
        base = payload["reportBase"]
        if base not in REPORT_BASES:
            return Reply({"status": "NotSupported"})
        return self._report_reply(payload["requestId"], self.device_model.base_report(base))

    async def _on_get_report(self, payload: v201.GetReportRequest) -> Reply:
        report = self.device_model.custom_report(
            component_variables=payload.get("componentVariable"),
            criteria=payload.get("componentCriteria"),
        )
        return self._report_reply(payload["requestId"], report)
