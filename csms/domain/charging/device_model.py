"""The 2.0.1 device model of a station: what it reports in NotifyReport (B07, B08).

Each reported variable (a component — optionally of an EVSE or connector — and one of its
variables) is stored per station with its attributes (Actual/Target/MinSet/MaxSet: value,
mutability, persistent, constant) and characteristics as the station sent them. The latest
report that names a variable wins. A report comes in parts (seqNo, tbc); its first part
(seqNo 0) replaces what an earlier report with the same requestId stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from storage.ports import UnitOfWork
from storage.records import DeviceReportRecord, DeviceVariableRecord

__all__ = [
    "SUMMARY_VARIABLES",
    "device_model_summary",
    "record_report_part",
    "variable_key",
]

#: Well-known variables shown in ``csms chargers show`` (station-level, no instance).
SUMMARY_VARIABLES = (
    ("OCPPCommCtrlr", "HeartbeatInterval"),
    ("SecurityCtrlr", "SecurityProfile"),
    ("TxCtrlr", "TxStartPoint"),
    ("TxCtrlr", "TxStopPoint"),
    ("SampledDataCtrlr", "TxUpdatedInterval"),
)


def variable_key(component: dict[str, Any], variable: dict[str, Any]) -> str:
    """One string for a variable's identity: component name and instance, EVSE id and
    connector id, variable name and instance (2.0.1 ComponentType, VariableType)."""
    evse = component.get("evse") or {}
    parts = (
        component["name"],
        component.get("instance") or "",
        str(evse.get("id", "")),
        str(evse.get("connectorId", "")),
        variable["name"],
        variable.get("instance") or "",
    )
    return "|".join(parts)


def _variable(
    charger_id: str, request_id: int, generated_at: datetime, data: dict[str, Any]
) -> DeviceVariableRecord:
    component = data["component"]
    variable = data["variable"]
    evse = component.get("evse") or {}
    attributes = list(data.get("variableAttribute") or [])
    # 2.0.1 VariableAttributeType.type defaults to Actual.
    actual = next((a for a in attributes if a.get("type", "Actual") == "Actual"), None)
    return DeviceVariableRecord(
        charger_id=charger_id,
        variable_key=variable_key(component, variable),
        component_name=component["name"],
        component_instance=component.get("instance"),
        evse_id=evse.get("id"),
        evse_connector_id=evse.get("connectorId"),
        variable_name=variable["name"],
        variable_instance=variable.get("instance"),
        actual_value=actual.get("value") if actual is not None else None,
        attributes=attributes,
        characteristics=data.get("variableCharacteristics"),
        request_id=request_id,
        reported_at=generated_at,
    )


def record_report_part(
    uow: UnitOfWork,
    *,
    charger_id: str,
    request_id: int,
    generated_at: datetime,
    seq_no: int,
    tbc: bool,
    report_data: Sequence[dict[str, Any]],
    now: datetime,
) -> DeviceReportRecord:
    """Store one NotifyReportRequest (B07/B08): its variables, and how far the report got.

    The first part (seqNo 0) removes what an earlier report with this requestId stored, so
    a report asked for again replaces the previous one; a part sent twice changes nothing.
    """
    previous = uow.device_model.report(charger_id, request_id)
    first = seq_no == 0 or previous is None
    if seq_no == 0:
        uow.device_model.delete_report_variables(charger_id, request_id)
    # Later rows of one part win over earlier ones with the same identity.
    by_key = {
        v.variable_key: v
        for v in (_variable(charger_id, request_id, generated_at, d) for d in report_data)
    }
    uow.device_model.upsert_variables(list(by_key.values()))
    repeated = previous is not None and not first and seq_no <= previous.last_seq_no
    counted = 0 if first or previous is None else previous.variables
    report = DeviceReportRecord(
        charger_id=charger_id,
        request_id=request_id,
        generated_at=generated_at,
        last_seq_no=seq_no if first else max(seq_no, previous.last_seq_no if previous else 0),
        complete=(not tbc) if not repeated else bool(previous and previous.complete),
        variables=counted if repeated else counted + len(by_key),
        received_at=now,
    )
    uow.device_model.save_report(report)
    return report


def device_model_summary(uow: UnitOfWork, charger_id: str) -> dict[str, Any] | None:
    """A compact view of the stored device model for ``csms chargers show`` (None when the
    station never reported one): counts, a few well-known values, the last report."""
    latest = uow.device_model.latest_report(charger_id)
    components, variables, evses = uow.device_model.counts(charger_id)
    if latest is None and variables == 0:
        return None
    values: dict[str, str | None] = {}
    for component_name, variable_name in SUMMARY_VARIABLES:
        for row in uow.device_model.variables(
            charger_id, component_name=component_name, variable_name=variable_name
        ):
            if row.evse_id is None and row.component_instance is None and not row.variable_instance:
                values[f"{component_name}.{variable_name}"] = row.actual_value
    return {
        "components": components,
        "variables": variables,
        "evses": evses,
        "values": values,
        "last_report_at": latest.received_at if latest else None,
        "last_report_complete": latest.complete if latest else None,
    }
