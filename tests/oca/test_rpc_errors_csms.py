"""Bad input from a 2.0.1 station gets the 2.0.1 CALLERROR and the connection stays up
(OCPP-J 2.0.1 §4.2.3 and §4.3; issue scope 1)."""

from __future__ import annotations

import json
from typing import Any

from tests.oca.conftest import Station


async def _send(station: Station, text: str) -> list[Any]:
    await station.ws.send(text)
    return list(json.loads(await station.ws.recv()))


async def test_unreadable_json_gets_rpc_framework_error_with_id_minus_one(
    station: Station,
) -> None:
    # The id cannot be read: 2.0.1 answers with message id "-1" and never echoes the input.
    answer = await _send(station, '[2, "a1", "Heartbeat", {')
    assert answer[:3] == [4, "-1", "RpcFrameworkError"]
    assert '"Heartbeat", {' not in json.dumps(answer)
    assert "currentTime" in await station.call("Heartbeat", {})  # still connected


async def test_unknown_message_type_gets_message_type_not_supported(station: Station) -> None:
    answer = await _send(station, '[7, "a2", "Heartbeat", {}]')
    assert answer[:3] == [4, "a2", "MessageTypeNotSupported"]
    assert "currentTime" in await station.call("Heartbeat", {})


async def test_schema_violation_uses_the_2_0_1_spelling(station: Station) -> None:
    # 1.6 says FormationViolation; 2.0.1 FormatViolation / OccurrenceConstraintViolation.
    missing = await station.call_raw("StatusNotification", {"evseId": 1})
    assert missing[0] == 4 and missing[2] == "OccurrenceConstraintViolation"
    wrong_type = await station.call_raw(
        "StatusNotification",
        {
            "timestamp": "2026-11-22T10:00:00Z",
            "connectorStatus": "Available",
            "evseId": "one",
            "connectorId": 1,
        },
    )
    assert wrong_type[0] == 4 and wrong_type[2] == "TypeConstraintViolation"
    not_a_frame = await _send(station, '{"not": "an array"}')
    assert not_a_frame[0] == 4 and not_a_frame[2] in ("FormatViolation", "RpcFrameworkError")
    assert "currentTime" in await station.call("Heartbeat", {})


async def test_unknown_action_is_not_implemented(station: Station) -> None:
    answer = await station.call_raw("FlyToTheMoon", {})
    assert answer[0] == 4 and answer[2] == "NotImplemented"
