"""The 2.0.1 device model (NotifyReport) per station, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from csms.domain.charging.device_model import device_model_summary, record_report_part
from csms.domain.charging.stations import add_charger
from storage.database import Database

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _data(
    component: str, variable: str, value: str, *, evse: int | None = None, **attribute: Any
) -> dict[str, Any]:
    comp: dict[str, Any] = {"name": component}
    if evse is not None:
        comp["evse"] = {"id": evse}
    return {
        "component": comp,
        "variable": {"name": variable},
        "variableAttribute": [{"value": value, **attribute}],
        "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False},
    }


async def _part(
    db: Database, request_id: int, seq_no: int, tbc: bool, *data: dict[str, Any]
) -> None:
    await db.write(
        lambda uow: record_report_part(
            uow,
            charger_id="CS1",
            request_id=request_id,
            generated_at=T0 + timedelta(seconds=seq_no),
            seq_no=seq_no,
            tbc=tbc,
            report_data=list(data),
            now=T0,
        )
    )


async def test_report_in_parts_is_stored_with_attributes_and_summarised(db: Database) -> None:
    """B07/B08: parts (seqNo, tbc) of one report; attributes and characteristics kept."""
    await db.write(lambda uow: add_charger(uow, charger_id="CS1", now=T0, password="pw-12345678"))
    assert await db.read(lambda uow: device_model_summary(uow, "CS1")) is None
    await _part(
        db,
        7,
        0,
        True,
        _data("OCPPCommCtrlr", "HeartbeatInterval", "300", mutability="ReadWrite"),
        _data("SecurityCtrlr", "SecurityProfile", "1", mutability="ReadOnly"),
    )
    await _part(
        db,
        7,
        1,
        False,
        _data("EVSE", "Power", "22000", evse=1),
        _data("EVSE", "Power", "11000", evse=2),
    )
    summary = await db.read(lambda uow: device_model_summary(uow, "CS1"))
    assert summary is not None
    assert (summary["components"], summary["variables"], summary["evses"]) == (4, 4, 2)
    assert summary["values"]["OCPPCommCtrlr.HeartbeatInterval"] == "300"
    assert summary["values"]["SecurityCtrlr.SecurityProfile"] == "1"
    assert summary["last_report_complete"] is True
    (row,) = await db.read(
        lambda uow: uow.device_model.variables("CS1", component_name="SecurityCtrlr")
    )
    assert row.attributes == [{"value": "1", "mutability": "ReadOnly"}]
    assert row.characteristics == {"dataType": "integer", "supportsMonitoring": False}


async def test_report_asked_again_with_the_same_request_id_replaces_the_previous_one(
    db: Database,
) -> None:
    await db.write(lambda uow: add_charger(uow, charger_id="CS1", now=T0, password="pw-12345678"))
    await _part(db, 1, 0, False, _data("A", "x", "1"), _data("B", "y", "2"))
    await _part(db, 2, 0, False, _data("C", "z", "3"))
    await _part(db, 1, 0, False, _data("A", "x", "10"))
    rows = await db.read(lambda uow: uow.device_model.variables("CS1"))
    assert [(r.component_name, r.actual_value) for r in rows] == [("A", "10"), ("C", "3")]


async def test_later_report_of_another_request_updates_the_variables_it_names(
    db: Database,
) -> None:
    await db.write(lambda uow: add_charger(uow, charger_id="CS1", now=T0, password="pw-12345678"))
    await _part(db, 1, 0, False, _data("OCPPCommCtrlr", "HeartbeatInterval", "300"))
    await _part(db, 2, 0, False, _data("OCPPCommCtrlr", "HeartbeatInterval", "60"))
    summary = await db.read(lambda uow: device_model_summary(uow, "CS1"))
    assert summary is not None
    assert summary["variables"] == 1
    assert summary["values"]["OCPPCommCtrlr.HeartbeatInterval"] == "60"
