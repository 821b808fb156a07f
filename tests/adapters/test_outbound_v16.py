"""Operator commands to an OCPP 1.6J charger: the CALL each one becomes and the
version-neutral answer read from the charger's CALLRESULT (csms.adapters.v16.outbound)."""

from __future__ import annotations

from typing import Any

import pytest

from csms.adapters.v16.outbound import answer_from_ocpp, to_ocpp
from csms.domain.charging.remote_commands import (
    ChangeAvailability,
    ChangeConfiguration,
    ClearCache,
    Command,
    GetBaseReport,
    GetConfiguration,
    GetReport,
    GetTransactionStatus,
    RemoteStart,
    RemoteStop,
    Reset,
    TriggerMessage,
    UnlockConnector,
    UnsupportedCommand,
)
from csms.domain.errors import InvalidRequest


@pytest.mark.parametrize(
    ("command", "action", "payload"),
    [
        # 1.6 §6.41
        (Reset(), "Reset", {"type": "Soft"}),
        (Reset(hard=True), "Reset", {"type": "Hard"}),
        # 1.6 §6.51
        (UnlockConnector(connector_id=2), "UnlockConnector", {"connectorId": 2}),
        # 1.6 §6.3: connector 0 is the whole charger
        (
            ChangeAvailability(operative=True),
            "ChangeAvailability",
            {"connectorId": 0, "type": "Operative"},
        ),
        (
            ChangeAvailability(operative=False, connector_id=1),
            "ChangeAvailability",
            {"connectorId": 1, "type": "Inoperative"},
        ),
        # 1.6 §6.29: no key asks for all of them
        (GetConfiguration(), "GetConfiguration", {}),
        (
            GetConfiguration(keys=("HeartbeatInterval", "MeterValueSampleInterval")),
            "GetConfiguration",
            {"key": ["HeartbeatInterval", "MeterValueSampleInterval"]},
        ),
        # 1.6 §6.23
        (
            ChangeConfiguration(key="HeartbeatInterval", value="120"),
            "ChangeConfiguration",
            {"key": "HeartbeatInterval", "value": "120"},
        ),
        # 1.6 §6.49
        (TriggerMessage("Heartbeat"), "TriggerMessage", {"requestedMessage": "Heartbeat"}),
        (
            TriggerMessage("status_notification", connector_id=1),
            "TriggerMessage",
            {"requestedMessage": "StatusNotification", "connectorId": 1},
        ),
        # 1.6 §6.9
        (ClearCache(), "ClearCache", {}),
        # 1.6 §6.33
        (RemoteStart(id_tag="TAG1"), "RemoteStartTransaction", {"idTag": "TAG1"}),
        (
            RemoteStart(id_tag="TAG1", connector_id=2),
            "RemoteStartTransaction",
            {"idTag": "TAG1", "connectorId": 2},
        ),
        # 1.6 §6.35: the CSMS's own integer transaction id
        (
            RemoteStop(transaction_id=17, station_transaction_id="ignored"),
            "RemoteStopTransaction",
            {"transactionId": 17},
        ),
    ],
)
def test_command_becomes_its_16_action_and_payload(
    command: Command, action: str, payload: dict[str, Any]
) -> None:
    assert to_ocpp(command) == (action, payload)


def test_log_status_trigger_is_sent_under_its_16_name() -> None:
    assert to_ocpp(TriggerMessage("LogStatusNotification")) == (
        "TriggerMessage",
        {"requestedMessage": "DiagnosticsStatusNotification"},
    )


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (Reset(evse_id=1), "OCPP 1.6 chargers have no EVSEs"),
        (UnlockConnector(connector_id=1, evse_id=1), "have no EVSEs"),
        (ChangeAvailability(operative=True, evse_id=1), "have no EVSEs"),
        (TriggerMessage("Heartbeat", evse_id=1), "have no EVSEs"),
        (RemoteStart(id_tag="T", evse_id=1), "have no EVSEs"),
        (GetConfiguration(attribute="Target"), "have no Target attribute"),
        (ChangeConfiguration(key="K", value="v", attribute="MaxSet"), "have no MaxSet attribute"),
        (GetConfiguration(keys=("K" * 51,)), "is longer than 50 characters"),  # CiString50
        (ChangeConfiguration(key="K" * 51, value="v"), "key is longer than 50 characters"),
        (ChangeConfiguration(key="K", value="v" * 501), "value is longer than 500 characters"),
        (RemoteStart(id_tag="T" * 21), "id tag is longer than 20 characters"),  # 1.6 §7.28
        (RemoteStart(id_tag="T", token_type="ISO14443"), "id tags have no token type"),
        (TriggerMessage("TransactionEvent"), "cannot trigger TransactionEvent on an OCPP 1.6"),
        (TriggerMessage("Coffee"), "cannot trigger 'Coffee': use one of BootNotification"),
    ],
)
def test_values_16_cannot_carry_are_refused_before_sending(command: Command, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        to_ocpp(command)


@pytest.mark.parametrize(
    ("command", "hint"),
    [
        (GetBaseReport(), "csms chargers config get ID"),
        (GetReport(names=("OCPPCommCtrlr",)), "csms chargers config get ID"),
        (GetTransactionStatus(station_transaction_id="tx"), "csms sessions show ID"),
    ],
)
def test_201_only_commands_are_unsupported_and_say_what_to_use(command: Command, hint: str) -> None:
    with pytest.raises(UnsupportedCommand, match=hint):
        to_ocpp(command)


def test_configuration_answer_lists_keys_and_unknown_keys() -> None:
    # 1.6 §6.30: readonly is required in a KeyValue; a missing one is read as false
    payload = {
        "configurationKey": [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
            {"key": "ChargePointVendor", "readonly": True, "value": "ACME"},
            {"key": "NoValue"},
        ],
        "unknownKey": ["Nope"],
    }
    assert answer_from_ocpp(GetConfiguration(), payload) == {
        "configuration": [
            {"key": "HeartbeatInterval", "value": "300", "readonly": False},
            {"key": "ChargePointVendor", "value": "ACME", "readonly": True},
            {"key": "NoValue", "value": None, "readonly": False},
        ],
        "unknown_keys": ["Nope"],
    }


def test_empty_configuration_answer_has_empty_lists() -> None:
    assert answer_from_ocpp(GetConfiguration(), {}) == {"configuration": [], "unknown_keys": []}


@pytest.mark.parametrize(
    "command",
    [
        Reset(),
        UnlockConnector(connector_id=1),
        ChangeAvailability(operative=True),
        ChangeConfiguration(key="K", value="v"),
        TriggerMessage("Heartbeat"),
        ClearCache(),
        RemoteStart(id_tag="T"),
        RemoteStop(transaction_id=1),
    ],
)
def test_other_answers_are_the_chargers_status(command: Command) -> None:
    assert answer_from_ocpp(command, {"status": "Rejected"}) == {"status": "Rejected"}
    assert answer_from_ocpp(command, {}) == {"status": None}
