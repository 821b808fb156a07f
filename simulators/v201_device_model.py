"""The device model of the simulated 2.0.1 charging station (OCPP 2.0.1 Part 2, §B and
Appendix 3 "Standardized Components and Variables").

A small but real one: the controller components a Core station must have
(``OCPPCommCtrlr``, ``SecurityCtrlr``, ``TxCtrlr``, ``SampledDataCtrlr``,
``AlignedDataCtrlr``, ``AuthCtrlr``, ``AuthCacheCtrlr``, ``DeviceDataCtrlr``,
``ClockCtrlr``) plus ``ChargingStation``, one ``EVSE`` and one ``Connector`` per EVSE.
Only the ``Actual`` attribute is kept. It answers GetVariables (B06), SetVariables (B05)
and builds the ``reportData`` of NotifyReport for GetBaseReport (B07) and GetReport (B08).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from protocol.messages import v201

__all__ = [
    "MEASURANDS",
    "REPORT_BASES",
    "ComponentKey",
    "DeviceModel201",
    "Variable",
]

#: Measurands the simulated meter can sample.
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage")
_TX_POINTS = "ParkingBayOccupancy,EVConnected,Authorized,DataSigned,PowerPathClosed,EnergyTransfer"
_STATES = "Available,Occupied,Reserved,Unavailable,Faulted"
REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")
#: The component criteria of GetReport and the variable each one looks at (B08).
_CRITERIA = {
    "Active": "Active",
    "Available": "Available",
    "Enabled": "Enabled",
    "Problem": "Problem",
}


@dataclass(frozen=True, slots=True)
class ComponentKey:
    """A component as OCPP addresses it: name, instance and EVSE/connector."""

    name: str
    instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None

    @classmethod
    def of(cls, component: v201.ComponentType) -> ComponentKey:
        evse = component.get("evse")
        return cls(
            name=component["name"],
            instance=component.get("instance"),
            evse_id=evse.get("id") if evse else None,
            connector_id=evse.get("connectorId") if evse else None,
        )

    def to_json(self) -> v201.ComponentType:
        data: v201.ComponentType = {"name": self.name}
        if self.instance is not None:
            data["instance"] = self.instance
        if self.evse_id is not None:
            evse: v201.EVSEType = {"id": self.evse_id}
            if self.connector_id is not None:
                evse["connectorId"] = self.connector_id
            data["evse"] = evse
        return data


@dataclass(slots=True)
class Variable:
    """One variable with its Actual attribute and characteristics."""

    component: ComponentKey
    name: str
    value: str
    mutability: v201.MutabilityEnumType = "ReadWrite"
    data_type: v201.DataEnumType = "string"
    instance: str | None = None
    unit: str | None = None
    values_list: str | None = None
    min_limit: float | None = None
    max_limit: float | None = None
    #: Part of the SummaryInventory report (availability and problems).
    summary: bool = False
    #: Computes the value when read (e.g. the clock) instead of ``value``.
    provider: Callable[[], str] | None = None

    def read(self) -> str:
        return self.provider() if self.provider is not None else self.value

    def accepts(self, value: str) -> bool:
        """Whether ``value`` is valid for the variable's data type and limits."""
        allowed = None if self.values_list is None else self.values_list.split(",")
        if self.data_type in ("integer", "decimal"):
            try:
                number = int(value) if self.data_type == "integer" else float(value)
            except ValueError:
                return False
            if self.min_limit is not None and number < self.min_limit:
                return False
            return self.max_limit is None or number <= self.max_limit
        if self.data_type == "boolean":
            return value in ("true", "false")
        if self.data_type == "OptionList":
            return allowed is None or value in allowed
        if self.data_type in ("MemberList", "SequenceList"):
            items = [item.strip() for item in value.split(",") if item.strip()]
            return allowed is None or all(item in allowed for item in items)
        return True

    def report_data(self) -> v201.ReportDataType:
        """One ``reportData`` entry of NotifyReport."""
        characteristics: v201.VariableCharacteristicsType = {
            "dataType": self.data_type,
            "supportsMonitoring": False,
        }
        if self.unit is not None:
            characteristics["unit"] = self.unit
        if self.values_list is not None:
            characteristics["valuesList"] = self.values_list
        if self.min_limit is not None:
            characteristics["minLimit"] = self.min_limit
        if self.max_limit is not None:
            characteristics["maxLimit"] = self.max_limit
        attribute: v201.VariableAttributeType = {
            "type": "Actual",
            "mutability": self.mutability,
            "persistent": True,
            "constant": self.mutability == "ReadOnly" and self.provider is None,
        }
        if self.mutability != "WriteOnly":
            attribute["value"] = self.read()
        return {
            "component": self.component.to_json(),
            "variable": self._variable_json(),
            "variableAttribute": [attribute],
            "variableCharacteristics": characteristics,
        }

    def _variable_json(self) -> v201.VariableType:
        data: v201.VariableType = {"name": self.name}
        if self.instance is not None:
            data["instance"] = self.instance
        return data


def _controllers(
    *,
    identity: str,
    heartbeat_interval: int,
    tx_updated_interval: int,
    now: Callable[[], str],
) -> list[Variable]:
    def var(component: str, name: str, value: str, **kw: Any) -> Variable:
        instance = kw.pop("component_instance", None)
        return Variable(ComponentKey(component, instance), name, value, **kw)

    sampled = "Energy.Active.Import.Register,Power.Active.Import"
    register = "Energy.Active.Import.Register"
    measurands = ",".join(MEASURANDS)
    ro: v201.MutabilityEnumType = "ReadOnly"
    return [
        var("AlignedDataCtrlr", "Enabled", "true", data_type="boolean"),
        var("AlignedDataCtrlr", "Interval", "0", data_type="integer", unit="s", min_limit=0),
        var(
            "AlignedDataCtrlr",
            "Measurands",
            register,
            data_type="MemberList",
            values_list=measurands,
        ),
        var("AlignedDataCtrlr", "TxEndedInterval", "0", data_type="integer", unit="s", min_limit=0),
        var(
            "AlignedDataCtrlr",
            "TxEndedMeasurands",
            register,
            data_type="MemberList",
            values_list=measurands,
        ),
        var("AuthCacheCtrlr", "Available", "true", mutability=ro, data_type="boolean"),
        var("AuthCacheCtrlr", "Enabled", "true", data_type="boolean"),
        var("AuthCacheCtrlr", "LifeTime", "86400", data_type="integer", unit="s", min_limit=0),
        var("AuthCtrlr", "AuthorizeRemoteStart", "false", data_type="boolean"),
        var("AuthCtrlr", "Enabled", "true", data_type="boolean"),
        var("AuthCtrlr", "LocalAuthorizeOffline", "true", data_type="boolean"),
        var("AuthCtrlr", "LocalPreAuthorize", "false", data_type="boolean"),
        var("AuthCtrlr", "OfflineTxForUnknownIdEnabled", "false", data_type="boolean"),
        var("ClockCtrlr", "DateTime", "", mutability=ro, data_type="dateTime", provider=now),
        var(
            "ClockCtrlr",
            "TimeSource",
            "Heartbeat",
            data_type="SequenceList",
            values_list="Heartbeat,NTP,GPS,RealTimeClock,MobileNetwork,RadioTimeTransmitter",
        ),
        *[
            var(
                "DeviceDataCtrlr",
                name,
                value,
                mutability=ro,
                data_type="integer",
                instance=instance,
            )
            for name, value in (("BytesPerMessage", "65000"), ("ItemsPerMessage", "20"))
            for instance in ("GetReport", "GetVariables", "SetVariables")
        ],
        var(
            "OCPPCommCtrlr",
            "FileTransferProtocols",
            "HTTPS",
            mutability=ro,
            data_type="MemberList",
            values_list="FTP,FTPS,HTTP,HTTPS,SFTP",
        ),
        var(
            "OCPPCommCtrlr",
            "HeartbeatInterval",
            str(heartbeat_interval),
            data_type="integer",
            unit="s",
            min_limit=1,
        ),
        var(
            "OCPPCommCtrlr",
            "MessageAttemptInterval",
            "60",
            data_type="integer",
            unit="s",
            instance="TransactionEvent",
            min_limit=0,
        ),
        var(
            "OCPPCommCtrlr",
            "MessageAttempts",
            "3",
            data_type="integer",
            instance="TransactionEvent",
            min_limit=1,
        ),
        var(
            "OCPPCommCtrlr",
            "MessageTimeout",
            "30",
            data_type="integer",
            unit="s",
            instance="Default",
            min_limit=1,
        ),
        var("OCPPCommCtrlr", "NetworkConfigurationPriority", "0", data_type="SequenceList"),
        var(
            "OCPPCommCtrlr",
            "NetworkProfileConnectionAttempts",
            "3",
            data_type="integer",
            min_limit=1,
        ),
        var("OCPPCommCtrlr", "OfflineThreshold", "60", data_type="integer", unit="s", min_limit=0),
        var("OCPPCommCtrlr", "ResetRetries", "2", data_type="integer", min_limit=0),
        var("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", "true", data_type="boolean"),
        var(
            "OCPPCommCtrlr",
            "WebSocketPingInterval",
            "30",
            data_type="integer",
            unit="s",
            min_limit=0,
        ),
        var("SampledDataCtrlr", "Enabled", "true", data_type="boolean"),
        var("SampledDataCtrlr", "TxEndedInterval", "0", data_type="integer", unit="s", min_limit=0),
        var(
            "SampledDataCtrlr",
            "TxEndedMeasurands",
            register,
            data_type="MemberList",
            values_list=measurands,
        ),
        var(
            "SampledDataCtrlr",
            "TxStartedMeasurands",
            register,
            data_type="MemberList",
            values_list=measurands,
        ),
        var(
            "SampledDataCtrlr",
            "TxUpdatedInterval",
            str(tx_updated_interval),
            data_type="integer",
            unit="s",
            min_limit=0,
        ),
        var(
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            sampled,
            data_type="MemberList",
            values_list=measurands,
        ),
        var("SecurityCtrlr", "CertificateEntries", "0", mutability=ro, data_type="integer"),
        var("SecurityCtrlr", "Identity", identity, mutability=ro),
        var("SecurityCtrlr", "OrganizationName", "csms-sim"),
        var(
            "SecurityCtrlr",
            "SecurityProfile",
            "1",
            mutability=ro,
            data_type="integer",
            min_limit=0,
            max_limit=3,
        ),
        var("TxCtrlr", "EVConnectionTimeOut", "120", data_type="integer", unit="s", min_limit=0),
        var("TxCtrlr", "MaxEnergyOnInvalidId", "0", data_type="integer", unit="Wh", min_limit=0),
        var("TxCtrlr", "StopTxOnEVSideDisconnect", "true", data_type="boolean"),
        var("TxCtrlr", "StopTxOnInvalidId", "true", data_type="boolean"),
        var(
            "TxCtrlr",
            "TxStartPoint",
            "PowerPathClosed",
            data_type="MemberList",
            values_list=_TX_POINTS,
        ),
        var(
            "TxCtrlr",
            "TxStopPoint",
            "EVConnected,Authorized",
            data_type="MemberList",
            values_list=_TX_POINTS,
        ),
    ]


def _hardware(
    *, evses: int, vendor: str, model: str, serial_number: str | None, firmware: str
) -> list[Variable]:
    ro: v201.MutabilityEnumType = "ReadOnly"
    station = ComponentKey("ChargingStation")
    found = [
        Variable(
            station,
            "AvailabilityState",
            "Available",
            mutability=ro,
            data_type="OptionList",
            values_list=_STATES,
            summary=True,
        ),
        Variable(station, "Available", "true", mutability=ro, data_type="boolean", summary=True),
        Variable(station, "Model", model, mutability=ro),
        Variable(station, "Problem", "false", mutability=ro, data_type="boolean", summary=True),
        Variable(station, "VendorName", vendor, mutability=ro),
        Variable(ComponentKey("Controller"), "FirmwareVersion", firmware, mutability=ro),
    ]
    if serial_number:
        found.append(Variable(station, "SerialNumber", serial_number, mutability=ro))
    for evse_id in range(1, evses + 1):
        evse = ComponentKey("EVSE", evse_id=evse_id)
        connector = ComponentKey("Connector", evse_id=evse_id, connector_id=1)
        found += [
            Variable(
                evse,
                "AvailabilityState",
                "Available",
                mutability=ro,
                data_type="OptionList",
                values_list=_STATES,
                summary=True,
            ),
            Variable(evse, "Available", "true", mutability=ro, data_type="boolean", summary=True),
            Variable(
                evse,
                "Power",
                "22000",
                mutability=ro,
                data_type="decimal",
                unit="W",
                min_limit=0,
                max_limit=22000,
            ),
            Variable(
                connector,
                "AvailabilityState",
                "Available",
                mutability=ro,
                data_type="OptionList",
                values_list=_STATES,
                summary=True,
            ),
            Variable(
                connector, "Available", "true", mutability=ro, data_type="boolean", summary=True
            ),
            Variable(connector, "ConnectorType", "cType2", mutability=ro),
        ]
    return found


class DeviceModel201:
    """Variables by (component, variable); answers GetVariables/SetVariables and reports."""

    def __init__(
        self,
        *,
        identity: str,
        evses: int,
        vendor: str,
        model: str,
        serial_number: str | None,
        firmware_version: str,
        heartbeat_interval: int,
        tx_updated_interval: int,
        now: Callable[[], str],
    ) -> None:
        variables = _controllers(
            identity=identity,
            heartbeat_interval=heartbeat_interval,
            tx_updated_interval=tx_updated_interval,
            now=now,
        ) + _hardware(
            evses=evses,
            vendor=vendor,
            model=model,
            serial_number=serial_number,
            firmware=firmware_version,
        )
        self.variables: dict[tuple[ComponentKey, str, str | None], Variable] = {
            (v.component, v.name, v.instance): v for v in variables
        }
        self._components = {v.component for v in variables}

    # -- for the station itself -------------------------------------------------------------

    def find(
        self, component: str, name: str, *, instance: str | None = None, evse_id: int | None = None
    ) -> Variable:
        key = ComponentKey(
            component, evse_id=evse_id, connector_id=1 if component == "Connector" else None
        )
        return self.variables[(key, name, instance)]

    def value(self, component: str, name: str, *, instance: str | None = None) -> str:
        return self.find(component, name, instance=instance).read()

    def int_value(self, component: str, name: str, *, instance: str | None = None) -> int:
        return int(self.value(component, name, instance=instance))

    def bool_value(self, component: str, name: str) -> bool:
        return self.value(component, name) == "true"

    def list_value(self, component: str, name: str) -> list[str]:
        return [item.strip() for item in self.value(component, name).split(",") if item.strip()]

    def set_internal(
        self, component: str, name: str, value: str, *, evse_id: int | None = None
    ) -> None:
        """Set a value from inside the station (read-only variables included)."""
        self.find(component, name, evse_id=evse_id).value = value

    # -- GetVariables / SetVariables ----------------------------------------------------------

    def _lookup(
        self, component: v201.ComponentType, variable: v201.VariableType
    ) -> tuple[Variable | None, Literal["Accepted", "UnknownComponent", "UnknownVariable"]]:
        key = ComponentKey.of(component)
        if key not in self._components:
            return None, "UnknownComponent"
        found = self.variables.get((key, variable["name"], variable.get("instance")))
        return (found, "Accepted") if found is not None else (None, "UnknownVariable")

    def get_variable(self, data: v201.GetVariableDataType) -> v201.GetVariableResultType:
        """One ``getVariableResult`` for one ``getVariableData`` (B06)."""
        found, status = self._lookup(data["component"], data["variable"])
        attribute = data.get("attributeType", "Actual")
        result: v201.GetVariableResultType = {
            "attributeStatus": status,
            "component": data["component"],
            "variable": data["variable"],
        }
        if "attributeType" in data:
            result["attributeType"] = attribute
        if found is None:
            return result
        if attribute != "Actual":
            result["attributeStatus"] = "NotSupportedAttributeType"
        elif found.mutability == "WriteOnly":  # B06
            result["attributeStatus"] = "Rejected"
        else:
            result["attributeValue"] = found.read()[:2500]
        return result

    def set_variable(
        self, data: v201.SetVariableDataType
    ) -> tuple[v201.SetVariableResultType, Variable | None]:
        """One ``setVariableResult`` for one ``setVariableData`` (B05), and the variable
        that changed (None if nothing did)."""
        found, status = self._lookup(data["component"], data["variable"])
        result: v201.SetVariableResultType = {
            "attributeStatus": status,
            "component": data["component"],
            "variable": data["variable"],
        }
        if "attributeType" in data:
            result["attributeType"] = data["attributeType"]
        if found is None:
            return result, None
        value = str(data["attributeValue"])
        if data.get("attributeType", "Actual") != "Actual":
            result["attributeStatus"] = "NotSupportedAttributeType"
        elif found.mutability == "ReadOnly":  # B05
            result["attributeStatus"] = "Rejected"
            result["attributeStatusInfo"] = {"reasonCode": "ReadOnly"}
        elif not found.accepts(value):
            result["attributeStatus"] = "Rejected"
            result["attributeStatusInfo"] = {"reasonCode": "InvalidValue"}
        else:
            found.value = value
            return result, found
        return result, None

    # -- reports ---------------------------------------------------------------------------

    def base_report(self, report_base: str) -> list[v201.ReportDataType]:
        """``reportData`` of GetBaseReport (B07): every variable, the writable ones, or
        the availability and problem summary."""
        chosen: Iterable[Variable] = self.variables.values()
        if report_base == "ConfigurationInventory":
            chosen = (v for v in chosen if v.mutability != "ReadOnly")
        elif report_base == "SummaryInventory":
            chosen = (v for v in chosen if v.summary)
        return [v.report_data() for v in chosen]

    def custom_report(
        self,
        *,
        component_variables: Sequence[v201.ComponentVariableType] | None,
        criteria: Sequence[str] | None,
    ) -> list[v201.ReportDataType]:
        """``reportData`` of GetReport (B08): the variables named (a component without a
        variable means all of its variables) of the components meeting every criterion."""
        chosen = list(self.variables.values())
        if component_variables:
            wanted: list[Variable] = []
            for item in component_variables:
                key = ComponentKey.of(item["component"])
                variable = item.get("variable")
                for candidate in chosen:
                    if candidate.component != key:
                        continue
                    if variable is not None and (
                        candidate.name != variable["name"]
                        or candidate.instance != variable.get("instance")
                    ):
                        continue
                    if candidate not in wanted:
                        wanted.append(candidate)
            chosen = wanted
        if criteria:
            chosen = [v for v in chosen if all(self._meets(v.component, c) for c in criteria)]
        return [v.report_data() for v in chosen]

    def _meets(self, component: ComponentKey, criterion: str) -> bool:
        variable = self.variables.get((component, _CRITERIA[criterion], None))
        return variable is not None and variable.read() == "true"
