"""Schema validation: official OCPP schemas, compiled once, failures mapped to OCPP-J codes."""

from __future__ import annotations

import copy
from typing import Any

import fastjsonschema
import pytest

from protocol import ErrorCode, OCPPError, OCPPVersion, SchemaValidator, validator_for
from protocol import validation as validation_module

V16, V201 = OCPPVersion.V16, OCPPVersion.V201


def meter_values_16(**overrides: Any) -> dict[str, Any]:
    """A 1.6 MeterValues.req as real chargers send it: values are strings."""
    payload: dict[str, Any] = {
        "connectorId": 1,
        "transactionId": 1234,
        "meterValue": [
            {
                "timestamp": "2026-11-22T10:00:00Z",
                "sampledValue": [
                    {
                        "value": "12345.6",
                        "context": "Sample.Periodic",
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                    },
                    {"value": "7200", "measurand": "Power.Active.Import", "unit": "W"},
                ],
            }
        ],
    }
    payload.update(overrides)
    return payload


def transaction_event_201() -> dict[str, Any]:
    return {
        "eventType": "Started",
        "timestamp": "2026-11-22T10:00:00.123+02:00",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "tx-1", "chargingState": "Charging"},
        "idToken": {"idToken": "04A2B3C4", "type": "ISO14443"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": "2026-11-22T10:00:00Z",
                "sampledValue": [
                    {
                        "value": 0.0,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    }
                ],
            }
        ],
    }


def request_error(version: OCPPVersion, action: str, payload: dict[str, Any]) -> OCPPError:
    with pytest.raises(OCPPError) as info:
        validator_for(version).validate_request(action, payload)
    return info.value


# --- the schemas -----------------------------------------------------------------------


def test_ocpp16_actions_come_from_the_ocpp_package_schemas() -> None:
    actions = validator_for(V16).actions
    assert {"BootNotification", "MeterValues", "StartTransaction", "RemoteStartTransaction"} <= (
        actions
    )
    assert "SignCertificate" in actions  # 1.6 security extension
    assert "TransactionEvent" not in actions
    assert not any(action.endswith("Response") for action in actions)


def test_ocpp201_actions_are_named_without_the_request_suffix() -> None:
    """The v201 schema files are <Action>Request.json / <Action>Response.json."""
    actions = validator_for(V201).actions
    assert {"BootNotification", "TransactionEvent", "NotifyReport", "GetVariables"} <= actions
    assert "StartTransaction" not in actions
    assert not any(action.endswith(("Request", "Response")) for action in actions)


def test_unknown_action_is_not_implemented() -> None:
    """OCPP-J §4.2.3 NotImplemented: requested action is not known by the receiver."""
    assert not validator_for(V16).knows_action("FlyToTheMoon")
    assert request_error(V16, "FlyToTheMoon", {}).code is ErrorCode.NOT_IMPLEMENTED
    with pytest.raises(OCPPError) as info:
        validator_for(V201).validate_response("StartTransaction", {})
    assert info.value.code is ErrorCode.NOT_IMPLEMENTED


def test_one_validator_per_version_per_process() -> None:
    assert validator_for(V16) is validator_for(V16)
    assert validator_for(V16) is not validator_for(V201)


def test_each_schema_is_compiled_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []
    real_compile = fastjsonschema.compile

    def counting_compile(schema: dict[str, Any], **kwargs: Any) -> Any:
        compiled.append(schema.get("title", "?"))
        return real_compile(schema, **kwargs)

    monkeypatch.setattr(validation_module.fastjsonschema, "compile", counting_compile)
    validator = SchemaValidator(V16)  # a fresh one: nothing compiled yet
    assert compiled == []
    for _ in range(3):
        validator.validate_request("Heartbeat", {})
        validator.validate_response("Heartbeat", {"currentTime": "2026-11-22T10:00:00Z"})
    assert len(compiled) == 2  # Heartbeat request + response, once each


def test_warm_up_compiles_ahead_of_use(monkeypatch: pytest.MonkeyPatch) -> None:
    validator = SchemaValidator(V201)
    validator.warm_up(["Heartbeat", "BootNotification"])

    def no_more_compiling(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("compiled again")

    monkeypatch.setattr(validation_module.fastjsonschema, "compile", no_more_compiling)
    validator.validate_request("Heartbeat", {})
    validator.validate_response(
        "BootNotification",
        {"currentTime": "2026-11-22T10:00:00Z", "interval": 300, "status": "Accepted"},
    )


def test_every_schema_of_both_versions_compiles() -> None:
    for version in (V16, V201):
        SchemaValidator(version).warm_up()


# --- real-world payloads pass ------------------------------------------------------------


def test_ocpp16_meter_values_with_string_values_pass() -> None:
    validator_for(V16).validate_request("MeterValues", meter_values_16())


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-11-22T10:00:00Z",
        "2026-11-22T10:00:00.123+02:00",
        "2026-11-22T10:00:00.123456Z",
        "2026-11-22T10:00:00-05:30",
        "2028-02-29T00:00:00Z",
        "2026-11-22T10:00:00",
        "2026-11-22T10:00:00.1234567Z",
        "2026-11-22t10:00:00z",
    ],
)
def test_rfc3339_timestamps_pass(timestamp: str) -> None:
    """1.6 §3.1.3 / 2.0.1 §2.1.1: date-time is RFC 3339; a missing offset is tolerated
    (field firmware sends UTC without it, and refusing a transaction message loses it)."""
    payload = meter_values_16()
    payload["meterValue"][0]["timestamp"] = timestamp
    validator_for(V16).validate_request("MeterValues", payload)


def test_ocpp16_charging_schedule_decimal_limits_pass_multiple_of_check() -> None:
    """1.6 schemas say multipleOf 0.1; 21.4 must pass although 21.4/0.1 is not exact in binary."""
    payload: dict[str, Any] = {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 21.4},
                    {"startPeriod": 60, "limit": 16},
                    {"startPeriod": 120, "limit": 6.1},
                ],
            },
        },
    }
    validator_for(V16).validate_request("SetChargingProfile", payload)
    payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 4.11
    error = request_error(V16, "SetChargingProfile", payload)
    assert error.code is ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert error.details["rule"] == "multipleOf"


def test_ocpp201_transaction_event_passes() -> None:
    validator_for(V201).validate_request("TransactionEvent", transaction_event_201())


def test_validation_does_not_fill_in_schema_defaults() -> None:
    """The application gets exactly what the peer sent, although some 2.0.1 schemas have
    defaults (TransactionEvent ``offline``: false, UnitOfMeasure ``unit``: "Wh")."""
    transaction_event = transaction_event_201()
    assert "offline" not in transaction_event
    meter_values = {
        "evseId": 1,
        "meterValue": [
            {
                "timestamp": "2026-11-22T10:00:00Z",
                "sampledValue": [{"value": 1.5, "unitOfMeasure": {}}],
            }
        ],
    }
    before = copy.deepcopy((transaction_event, meter_values))
    validator_for(V201).validate_request("TransactionEvent", transaction_event)
    validator_for(V201).validate_request("MeterValues", meter_values)
    assert (transaction_event, meter_values) == before


# --- failures map to the OCPP-J error table ----------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    ["2026-11-22T10:00:00+25:00", "garbage", "2026-02-30T10:00:00Z", "2026-11-22 10:00:00Z", ""],
)
def test_bad_timestamp_is_property_constraint_violation(timestamp: str) -> None:
    """OCPP-J §4.2.3 PropertyConstraintViolation: a field contains an invalid value."""
    payload = meter_values_16()
    payload["meterValue"][0]["timestamp"] = timestamp
    error = request_error(V16, "MeterValues", payload)
    assert error.code is ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert error.details == {"field": "meterValue[0].timestamp", "rule": "format"}
    assert "meterValue[0].timestamp" in error.description


def test_wrong_json_type_is_type_constraint_violation() -> None:
    """OCPP-J §4.2.3 TypeConstraintViolation, e.g. "somestring": 12."""
    error = request_error(V16, "MeterValues", meter_values_16(connectorId="1"))
    assert error.code is ErrorCode.TYPE_CONSTRAINT_VIOLATION
    assert error.details == {"field": "connectorId", "rule": "type"}
    assert error.description == "MeterValues request: connectorId must be integer"


@pytest.mark.parametrize("value", [1.0, True])
def test_float_or_boolean_for_an_integer_is_type_constraint_violation(value: object) -> None:
    """1.0 would reach the application as a float (and break integer columns)."""
    assert request_error(V16, "MeterValues", meter_values_16(connectorId=value)).code is (
        ErrorCode.TYPE_CONSTRAINT_VIOLATION
    )
    payload = {
        "evseId": value,
        "meterValue": [{"timestamp": "2026-11-22T10:00:00Z", "sampledValue": [{"value": 1}]}],
    }
    assert request_error(V201, "MeterValues", payload).code is ErrorCode.TYPE_CONSTRAINT_VIOLATION


def test_missing_required_field_is_occurrence_violation_naming_the_field() -> None:
    """OCPP-J §4.2.3 OccurenceConstraintViolation (1.6 spelling)."""
    payload = meter_values_16()
    del payload["connectorId"]
    error = request_error(V16, "MeterValues", payload)
    assert error.code is ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    assert error.details == {"field": "connectorId", "rule": "required"}
    assert "connectorId" in error.description
    assert "meterValue" not in error.description  # only the missing one is named


def test_missing_nested_field_is_reported_with_its_full_path() -> None:
    payload = meter_values_16()
    del payload["meterValue"][0]["sampledValue"][1]["value"]
    error = request_error(V16, "MeterValues", payload)
    assert error.code is ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    assert error.details["field"] == "meterValue[0].sampledValue[1].value"


def test_empty_list_where_one_item_is_required_is_occurrence_violation() -> None:
    """A 1..* element that occurs zero times breaks its occurrence constraint."""
    error = request_error(V16, "MeterValues", meter_values_16(meterValue=[]))
    assert error.code is ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    assert error.details == {"field": "meterValue", "rule": "minItems"}


def test_value_outside_enum_is_property_constraint_violation() -> None:
    payload = meter_values_16()
    payload["meterValue"][0]["sampledValue"][0]["unit"] = "parsec"
    error = request_error(V16, "MeterValues", payload)
    assert error.code is ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert error.details == {"field": "meterValue[0].sampledValue[0].unit", "rule": "enum"}


def test_too_long_string_is_property_constraint_violation_without_echoing_it() -> None:
    """An idTag is personal data: the description names the field, never the value."""
    id_tag = "04A2B3C4D5E6F7A8B9C0D1"  # 22 > CiString20
    error = request_error(V16, "Authorize", {"idTag": id_tag})
    assert error.code is ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert error.details == {"field": "idTag", "rule": "maxLength"}
    assert id_tag not in error.description
    assert id_tag not in str(error.details)


def test_unknown_property_is_format_violation() -> None:
    """OCPP-J §4.2.3 FormationViolation: not conform the PDU structure for the action."""
    error = request_error(V16, "MeterValues", meter_values_16(colour="blue"))
    assert error.code is ErrorCode.FORMAT_VIOLATION
    assert error.details == {"field": "", "rule": "additionalProperties"}


def test_ocpp201_nested_failure_is_mapped_the_same_way() -> None:
    payload = transaction_event_201()
    payload["idToken"]["type"] = "Passport"
    error = request_error(V201, "TransactionEvent", payload)
    assert error.code is ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    assert error.details == {"field": "idToken.type", "rule": "enum"}
    del payload["seqNo"]
    assert request_error(V201, "TransactionEvent", payload).code is (
        ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    )


def test_invalid_response_payload_is_reported_as_response() -> None:
    with pytest.raises(OCPPError) as info:
        validator_for(V16).validate_response(
            "BootNotification", {"status": "Accepted", "currentTime": "2026-11-22T10:00:00Z"}
        )
    assert info.value.code is ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    assert info.value.description.startswith("BootNotification response:")
    assert info.value.details["field"] == "interval"
