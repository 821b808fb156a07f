"""Error codes: one canonical set, spelled per version on the wire."""

from __future__ import annotations

import pytest

from protocol import ErrorCode, OCPPError, OCPPVersion, parse_error_code, wire_error_code

V16, V201 = OCPPVersion.V16, OCPPVersion.V201


def test_format_violation_is_spelled_formation_violation_in_ocpp16() -> None:
    """1.6 OCPP-J §4.2.3 error table: FormationViolation."""
    assert wire_error_code(ErrorCode.FORMAT_VIOLATION, V16) == "FormationViolation"
    assert wire_error_code(ErrorCode.FORMAT_VIOLATION, V201) == "FormatViolation"


def test_occurrence_violation_keeps_the_ocpp16_misspelling() -> None:
    """1.6 OCPP-J §4.2.3 spells it OccurenceConstraintViolation (one r); 2.0.1 fixed it."""
    assert wire_error_code(ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION, V16) == (
        "OccurenceConstraintViolation"
    )
    assert wire_error_code(ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION, V201) == (
        "OccurrenceConstraintViolation"
    )


@pytest.mark.parametrize(
    "code", [ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED, ErrorCode.RPC_FRAMEWORK_ERROR]
)
def test_codes_that_only_exist_in_ocpp201_fall_back_to_protocol_error_in_ocpp16(
    code: ErrorCode,
) -> None:
    assert wire_error_code(code, V16) == "ProtocolError"
    assert wire_error_code(code, V201) == code.value


@pytest.mark.parametrize(
    "code",
    [
        ErrorCode.NOT_IMPLEMENTED,
        ErrorCode.NOT_SUPPORTED,
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.PROTOCOL_ERROR,
        ErrorCode.SECURITY_ERROR,
        ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
        ErrorCode.TYPE_CONSTRAINT_VIOLATION,
        ErrorCode.GENERIC_ERROR,
    ],
)
def test_codes_shared_by_both_versions_are_spelled_the_same(code: ErrorCode) -> None:
    assert wire_error_code(code, V16) == wire_error_code(code, V201) == code.value


@pytest.mark.parametrize("version", [V16, V201])
def test_every_wire_spelling_parses_back_to_its_code(version: OCPPVersion) -> None:
    for code in ErrorCode:
        wire = wire_error_code(code, version)
        parsed = parse_error_code(wire, version)
        expected = ErrorCode.PROTOCOL_ERROR if wire == "ProtocolError" else code
        assert parsed is expected


@pytest.mark.parametrize("version", [V16, V201])
def test_either_spelling_is_understood_whatever_the_version(version: OCPPVersion) -> None:
    """Deployed 1.6 stacks send both FormationViolation and FormatViolation."""
    assert parse_error_code("FormationViolation", version) is ErrorCode.FORMAT_VIOLATION
    assert parse_error_code("FormatViolation", version) is ErrorCode.FORMAT_VIOLATION
    assert parse_error_code("OccurenceConstraintViolation", version) is (
        ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION
    )


def test_unknown_wire_code_parses_to_none() -> None:
    assert parse_error_code("TeapotError", V201) is None


def test_ocpp_error_carries_code_description_and_details() -> None:
    error = OCPPError(ErrorCode.INTERNAL_ERROR, "database down", {"retry": True})
    assert (error.code, error.description, error.details) == (
        ErrorCode.INTERNAL_ERROR,
        "database down",
        {"retry": True},
    )
    assert str(error) == "InternalError: database down"
    assert OCPPError(ErrorCode.GENERIC_ERROR).details == {}
