"""Numbers beyond what storage holds are bad input, not a crash (issue 18, item 7).

A connectorId, meterStart or transactionId of 2^63 used to reach the database (SQLite:
OverflowError; PostgreSQL: out of range) and come back as InternalError with a traceback
in the log, as did a 2.0.1 meter value of 1e308. They are refused at the edge now: 1.6
``FormationViolation``, 2.0.1 ``PropertyConstraintViolation`` (2.0.1 OCPP-J §4.3: a
field holds a value it may not have), and nothing is logged at ERROR.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect

from csms.adapters.v16 import inbound as v16
from csms.adapters.v201 import inbound as v201
from csms.config import Settings
from csms.domain.charging.stations import add_charger
from csms.gateway import Gateway
from protocol import OCPPVersion
from storage.database import Database
from tests.gateway.conftest import NOW, PASSWORD, RawCharger, basic_auth

T0 = "2026-11-22T10:00:00Z"
HUGE = 2**63


@pytest.fixture
async def gateway(
    db: Database, settings_factory: Callable[..., Settings]
) -> AsyncIterator[Gateway]:
    await db.write(lambda uow: add_charger(uow, charger_id="CP1", now=NOW, password=PASSWORD))
    await db.write(lambda uow: uow.id_tags.add(uid="CARD1", status="active", created_at=NOW))
    gw = Gateway(
        db=db,
        settings=settings_factory(),
        handlers={OCPPVersion.V16: v16.HANDLERS, OCPPVersion.V201: v201.HANDLERS},
    )
    await gw.start()
    yield gw
    await gw.stop()


async def _charger(gateway: Gateway, version: str) -> AsyncIterator[RawCharger]:
    async with connect(
        f"ws://127.0.0.1:{gateway.port}/ocpp/CP1",
        subprotocols=[version],  # type: ignore[list-item]
        additional_headers=basic_auth("CP1", PASSWORD),
    ) as ws:
        charger = RawCharger(ws)
        if version == "ocpp1.6":
            await charger.boot()
        else:
            await charger.call(
                "BootNotification",
                {
                    "reason": "PowerUp",
                    "chargingStation": {"vendorName": "Acme", "model": "Wallbox 2"},
                },
            )
        yield charger


def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


V16_OVERFLOWS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "connectorId",
        "StartTransaction",
        {"connectorId": HUGE, "idTag": "CARD1", "meterStart": 0, "timestamp": T0},
    ),
    (
        "meterStart",
        "StartTransaction",
        {"connectorId": 1, "idTag": "CARD1", "meterStart": HUGE, "timestamp": T0},
    ),
    ("transactionId", "StopTransaction", {"transactionId": HUGE, "meterStop": 10, "timestamp": T0}),
    ("meterStop", "StopTransaction", {"transactionId": 1, "meterStop": -HUGE, "timestamp": T0}),
    (
        "connectorId",
        "MeterValues",
        {"connectorId": 2**31, "meterValue": [{"timestamp": T0, "sampledValue": [{"value": "1"}]}]},
    ),
    (
        "connectorId",
        "StatusNotification",
        {"connectorId": HUGE, "errorCode": "NoError", "status": "Available"},
    ),
]


async def _refused(
    gateway: Gateway,
    caplog: pytest.LogCaptureFixture,
    protocol: str,
    code: str,
    action: str,
    payload: dict[str, Any],
    field: str,
) -> None:
    """``action`` with ``payload`` is answered CALLERROR ``code`` naming ``field``, the
    connection goes on (a Heartbeat after it is answered), and nothing is logged as an
    error."""
    caplog.set_level(logging.INFO)
    async for charger in _charger(gateway, protocol):
        answer = await charger.call(action, payload)
        assert answer[0] == 4, answer
        assert answer[2] == code
        assert answer[4]["field"] == field
        assert (await charger.call("Heartbeat", {}))[0] == 3
    _no_errors_logged(caplog)


@pytest.mark.parametrize(
    ("field", "action", "payload"), V16_OVERFLOWS, ids=[f"{a}.{f}" for f, a, _ in V16_OVERFLOWS]
)
async def test_a_16_integer_beyond_storage_is_a_formation_violation(
    gateway: Gateway,
    caplog: pytest.LogCaptureFixture,
    field: str,
    action: str,
    payload: dict[str, Any],
) -> None:
    # 1.6 §4.2.3: FormationViolation, the payload is not what the message can hold.
    await _refused(gateway, caplog, "ocpp1.6", "FormationViolation", action, payload, field)


def _meter_201(value: Any) -> dict[str, Any]:
    return {"timestamp": T0, "sampledValue": [{"value": value}]}


V201_OVERFLOWS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "meterValue[0].sampledValue[0].value",
        "MeterValues",
        {"evseId": 1, "meterValue": [_meter_201(1e308)]},
    ),
    ("evseId", "MeterValues", {"evseId": HUGE, "meterValue": [_meter_201(1)]}),
    (
        "seqNo",
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": T0,
            "triggerReason": "Authorized",
            "seqNo": HUGE,
            "transactionInfo": {"transactionId": "tx-1"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [_meter_201(0)],
        },
    ),
    (
        "meterValue[0].sampledValue[0].value",
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": T0,
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "tx-2"},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [_meter_201(-1e308)],
        },
    ),
]


@pytest.mark.parametrize(
    ("field", "action", "payload"), V201_OVERFLOWS, ids=[f"{a}.{f}" for f, a, _ in V201_OVERFLOWS]
)
async def test_a_201_number_beyond_storage_is_a_property_constraint_violation(
    gateway: Gateway,
    caplog: pytest.LogCaptureFixture,
    field: str,
    action: str,
    payload: dict[str, Any],
) -> None:
    await _refused(
        gateway, caplog, "ocpp2.0.1", "PropertyConstraintViolation", action, payload, field
    )


async def test_numbers_within_range_are_still_stored(gateway: Gateway, db: Database) -> None:
    top = 2**31 - 1
    async for charger in _charger(gateway, "ocpp1.6"):
        started = await charger.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "CARD1", "meterStart": 0, "timestamp": T0},
        )
        assert started[0] == 3, started
        stopped = await charger.call(
            "StopTransaction",
            {
                "transactionId": started[2]["transactionId"],
                "meterStop": top,
                "timestamp": "2026-11-22T11:00:00Z",
            },
        )
        assert stopped[0] == 3, stopped
    tx_id = started[2]["transactionId"]
    tx = await db.read(lambda uow: uow.transactions.by_transaction_id(tx_id))
    assert tx is not None and tx.meter_stop_wh == top
    assert json.dumps(top)  # (kept as sent)
