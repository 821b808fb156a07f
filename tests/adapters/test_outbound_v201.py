"""Operator commands to an OCPP 2.0.1 station: the CALL each one becomes and the
version-neutral answer read from the station's CALLRESULT (csms.adapters.v201.outbound)."""

from __future__ import annotations

from typing import Any

import pytest

from csms.adapters.v201.outbound import answer_from_ocpp, to_ocpp
from csms.domain.charging.remote_commands import (
    ChangeAvailability,
    ChangeConfiguration,
    ClearCache,
    Command,
    GetBaseReport,
    GetConfiguration,
    GetReport,
    GetTransactionStatus,
    NoStationTransactionId,
    RemoteStart,
    RemoteStop,
    Reset,
    TriggerMessage,
    UnlockConnector,
)
from csms.domain.errors import InvalidRequest

_HEARTBEAT = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}


@pytest.mark.parametrize(
    ("command", "action", "payload"),
    [
        # B11 (station), B12 (EVSE): soft → OnIdle, hard → Immediate
        (Reset(), "Reset", {"type": "OnIdle"}),
        (Reset(hard=True, evse_id=2), "Reset", {"type": "Immediate", "evseId": 2}),
        # F05: a connector alone is connector 1 of that EVSE
        (UnlockConnector(connector_id=2), "UnlockConnector", {"evseId": 2, "connectorId": 1}),
        (
            UnlockConnector(connector_id=2, evse_id=1),
            "UnlockConnector",
            {"evseId": 1, "connectorId": 2},
        ),
        # G03 (station), G04 (EVSE, connector of an EVSE)
        (
            ChangeAvailability(operative=False),
            "ChangeAvailability",
            {"operationalStatus": "Inoperative"},
        ),
        (
            ChangeAvailability(operative=True, connector_id=3),
            "ChangeAvailability",
            {"operationalStatus": "Operative", "evse": {"id": 3}},
        ),
        (
            ChangeAvailability(operative=True, connector_id=2, evse_id=1),
            "ChangeAvailability",
            {"operationalStatus": "Operative", "evse": {"id": 1, "connectorId": 2}},
        ),
        # B06
        (
            GetConfiguration(keys=("OCPPCommCtrlr.HeartbeatInterval",)),
            "GetVariables",
            {"getVariableData": [{"attributeType": "Actual", **_HEARTBEAT}]},
        ),
        (
            GetConfiguration(keys=("Connector[x]@1:2.AvailabilityState[y]",), attribute="Target"),
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "attributeType": "Target",
                        "component": {
                            "name": "Connector",
                            "instance": "x",
                            "evse": {"id": 1, "connectorId": 2},
                        },
                        "variable": {"name": "AvailabilityState", "instance": "y"},
                    }
                ]
            },
        ),
        # B05
        (
            ChangeConfiguration(key="OCPPCommCtrlr.HeartbeatInterval", value="120"),
            "SetVariables",
            {
                "setVariableData": [
                    {"attributeType": "Actual", "attributeValue": "120", **_HEARTBEAT}
                ]
            },
        ),
        # F06
        (TriggerMessage("heartbeat"), "TriggerMessage", {"requestedMessage": "Heartbeat"}),
        (
            TriggerMessage("StatusNotification", connector_id=1),
            "TriggerMessage",
            {"requestedMessage": "StatusNotification", "evse": {"id": 1}},
        ),
        (
            TriggerMessage("DiagnosticsStatusNotification"),
            "TriggerMessage",
            {"requestedMessage": "LogStatusNotification"},
        ),
        # C11
        (ClearCache(), "ClearCache", {}),
        # F01/F02: an idToken of a type, a remoteStartId, an EVSE (not a connector)
        (
            RemoteStart(id_tag="TAG1", remote_start_id=7),
            "RequestStartTransaction",
            {"idToken": {"idToken": "TAG1", "type": "Central"}, "remoteStartId": 7},
        ),
        (
            RemoteStart(id_tag="04A2", connector_id=2, token_type="ISO14443", remote_start_id=8),
            "RequestStartTransaction",
            {"idToken": {"idToken": "04A2", "type": "ISO14443"}, "remoteStartId": 8, "evseId": 2},
        ),
        (
            RemoteStart(id_tag="T", evse_id=3, remote_start_id=9),
            "RequestStartTransaction",
            {"idToken": {"idToken": "T", "type": "Central"}, "remoteStartId": 9, "evseId": 3},
        ),
        # F03: the station's own transaction id
        (
            RemoteStop(transaction_id=17, station_transaction_id="tx-1"),
            "RequestStopTransaction",
            {"transactionId": "tx-1"},
        ),
        # B07/B08
        (
            GetBaseReport(report="config", request_id=5),
            "GetBaseReport",
            {"requestId": 5, "reportBase": "ConfigurationInventory"},
        ),
        (
            GetReport(
                names=("EVSE", "OCPPCommCtrlr.HeartbeatInterval"),
                criteria=("problem", "active", "problem"),
                request_id=6,
            ),
            "GetReport",
            {
                "requestId": 6,
                "componentVariable": [{"component": {"name": "EVSE"}}, _HEARTBEAT],
                "componentCriteria": ["Problem", "Active"],
            },
        ),
        (GetReport(request_id=6), "GetReport", {"requestId": 6}),
        # E14
        (
            GetTransactionStatus(station_transaction_id="tx-1", of_session=True),
            "GetTransactionStatus",
            {"transactionId": "tx-1"},
        ),
        (GetTransactionStatus(), "GetTransactionStatus", {}),
    ],
)
def test_command_becomes_its_201_action_and_payload(
    command: Command, action: str, payload: dict[str, Any]
) -> None:
    assert to_ocpp(command) == (action, payload)


def test_new_remote_starts_and_reports_get_fresh_positive_ids() -> None:
    starts = {to_ocpp(RemoteStart(id_tag="T"))[1]["remoteStartId"] for _ in range(20)}
    reports = {to_ocpp(GetBaseReport())[1]["requestId"] for _ in range(20)}
    assert len(starts) > 1 and len(reports) > 1
    assert all(0 < n < 2**31 for n in starts | reports)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (GetConfiguration(), "reads variables by name"),
        (GetConfiguration(keys=("HeartbeatInterval",)), "name it OCPPCommCtrlr.HeartbeatInterval"),
        (GetConfiguration(keys=("A.B",), attribute="Minimum"), "unknown attribute 'Minimum'"),
        (ChangeConfiguration(key="HeartbeatInterval", value="1"), "is not a 2.0.1 variable name"),
        (ChangeConfiguration(key="A.B", value="v" * 1001), "longer than 1000 characters"),
        (ChangeConfiguration(key="A" * 51 + ".B", value="v"), "at most 50 characters"),
        (RemoteStart(id_tag="T" * 37), "longer than 36 characters"),
        (RemoteStart(id_tag="T", token_type="Badge"), "unknown token type 'Badge'"),
        (RemoteStart(id_tag="T", evse_id=1, connector_id=1), "names an EVSE, not a connector"),
        (GetReport(criteria=("broken",)), "unknown criterion 'broken'"),
        (GetBaseReport(report="everything"), "unknown report 'everything'"),  # type: ignore[arg-type]
        (TriggerMessage("Coffee"), "cannot trigger 'Coffee'"),
    ],
)
def test_values_201_cannot_carry_are_refused_before_sending(command: Command, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        to_ocpp(command)


@pytest.mark.parametrize(
    "command",
    [
        RemoteStop(transaction_id=17),
        GetTransactionStatus(of_session=True),
    ],
)
def test_session_without_the_stations_transaction_id_cannot_be_addressed(
    command: Command,
) -> None:
    with pytest.raises(NoStationTransactionId, match="no transaction id from the station"):
        to_ocpp(command)


def test_variables_answer_sorts_values_unknown_and_rejected_variables() -> None:
    # B06: one GetVariableResult per requested variable
    payload = {
        "getVariableResult": [
            {"attributeStatus": "Accepted", "attributeValue": "300", **_HEARTBEAT},
            {
                "attributeStatus": "UnknownVariable",
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Nope"},
            },
            {
                "attributeStatus": "Rejected",
                "attributeStatusInfo": {"reasonCode": "ReadOnly", "additionalInfo": "by design"},
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            },
        ]
    }
    assert answer_from_ocpp(GetConfiguration(keys=("x",)), payload) == {
        "configuration": [
            {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "300", "readonly": None}
        ],
        "unknown_keys": ["EVSE@1.Nope"],
        "rejected_keys": [
            {
                "key": "SecurityCtrlr.BasicAuthPassword",
                "status": "Rejected",
                "reason": "ReadOnly: by design",
            }
        ],
    }


def test_set_variables_answer_is_the_one_results_status_and_reason() -> None:
    # B05
    payload = {
        "setVariableResult": [
            {
                "attributeStatus": "RebootRequired",
                "attributeStatusInfo": {"reasonCode": "Pending"},
                **_HEARTBEAT,
            }
        ]
    }
    command = ChangeConfiguration(key="OCPPCommCtrlr.HeartbeatInterval", value="1")
    assert answer_from_ocpp(command, payload) == {"status": "RebootRequired", "reason": "Pending"}
    assert answer_from_ocpp(command, {}) == {"status": None, "reason": None}


def test_transaction_status_answer_says_ongoing_and_queued() -> None:
    # E14
    payload = {"ongoingIndicator": True, "messagesInQueue": False}
    assert answer_from_ocpp(GetTransactionStatus(), payload) == {
        "ongoing": True,
        "messages_in_queue": False,
    }


def test_remote_start_answer_carries_the_remote_start_id_and_a_running_transaction() -> None:
    # F01: a station that already runs a transaction on the EVSE gives its id
    command = RemoteStart(id_tag="T", remote_start_id=42)
    assert answer_from_ocpp(command, {"status": "Accepted"}) == {
        "status": "Accepted",
        "remote_start_id": 42,
    }
    assert answer_from_ocpp(command, {"status": "Accepted", "transactionId": "tx-9"}) == {
        "status": "Accepted",
        "remote_start_id": 42,
        "station_transaction_id": "tx-9",
    }


@pytest.mark.parametrize("command", [GetBaseReport(request_id=5), GetReport(request_id=5)])
def test_report_answer_carries_the_request_id(command: Command) -> None:
    assert answer_from_ocpp(command, {"status": "Accepted"}) == {
        "status": "Accepted",
        "request_id": 5,
    }


def test_status_info_is_given_back_as_reason() -> None:
    payload = {
        "status": "Rejected",
        "statusInfo": {"reasonCode": "TxInProgress", "additionalInfo": "EVSE 1 charging"},
    }
    assert answer_from_ocpp(Reset(), payload) == {
        "status": "Rejected",
        "reason": "TxInProgress: EVSE 1 charging",
    }
    assert answer_from_ocpp(ClearCache(), {"status": "Accepted"}) == {"status": "Accepted"}
