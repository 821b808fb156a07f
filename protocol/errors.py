"""OCPP-J RPC error codes, in one canonical set with per-version wire spellings.

1.6 OCPP-J §4.2.3 and 2.0.1 OCPP-J §4.3 define almost the same codes, but two are
spelled differently on the wire and two exist only in 2.0.1:

* ``FORMAT_VIOLATION``: 1.6 ``FormationViolation``, 2.0.1 ``FormatViolation``;
* ``OCCURRENCE_CONSTRAINT_VIOLATION``: 1.6 ``OccurenceConstraintViolation`` (sic),
  2.0.1 ``OccurrenceConstraintViolation``;
* ``MESSAGE_TYPE_NOT_SUPPORTED`` and ``RPC_FRAMEWORK_ERROR``: 2.0.1 only; 1.6 sends
  ``ProtocolError`` instead.

1.6 has no code for a frame that is not a valid RPC message; ``ProtocolError`` is the
closest one it has, so both 2.0.1-only codes fall back to it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from protocol.versions import OCPPVersion

__all__ = ["ErrorCode", "OCPPError", "parse_error_code", "wire_error_code"]


class ErrorCode(StrEnum):
    """Canonical error codes; the wire spelling depends on the version (:func:`wire_error_code`)."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMAT_VIOLATION = "FormatViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
    RPC_FRAMEWORK_ERROR = "RpcFrameworkError"


_V16_WIRE: dict[ErrorCode, str] = {code: code.value for code in ErrorCode} | {
    ErrorCode.FORMAT_VIOLATION: "FormationViolation",
    ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION: "OccurenceConstraintViolation",  # sic, 1.6 spelling
    ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED: "ProtocolError",
    ErrorCode.RPC_FRAMEWORK_ERROR: "ProtocolError",
}
_V201_WIRE: dict[ErrorCode, str] = {code: code.value for code in ErrorCode}
_WIRE: dict[OCPPVersion, dict[ErrorCode, str]] = {
    OCPPVersion.V16: _V16_WIRE,
    OCPPVersion.V201: _V201_WIRE,
}

# Every spelling seen in the field, whatever the negotiated version: deployed 1.6 stacks
# send both "FormationViolation" and "FormatViolation", and both occurrence spellings.
_PARSE: dict[str, ErrorCode] = {code.value: code for code in ErrorCode} | {
    "FormationViolation": ErrorCode.FORMAT_VIOLATION,
    "OccurenceConstraintViolation": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
}


def wire_error_code(code: ErrorCode, version: OCPPVersion) -> str:
    """The string to put in a CALLERROR for ``code`` under ``version``.

    >>> wire_error_code(ErrorCode.FORMAT_VIOLATION, OCPPVersion.V16)
    'FormationViolation'
    """
    return _WIRE[version][code]


def parse_error_code(wire: str, version: OCPPVersion) -> ErrorCode | None:
    """The canonical code for an error code received on the wire, or ``None`` if unknown.

    Liberal in what it accepts: either version's spelling is understood under both
    versions (``version`` is kept for symmetry with :func:`wire_error_code`).
    """
    del version  # both spellings are accepted under both versions, see the docstring
    return _PARSE.get(wire)


class OCPPError(Exception):
    """An error to report to the peer as a CALLERROR (or raised by validation).

    ``details`` is sent as the CALLERROR's ``errorDetails``: keep it small and never put
    the offending payload (or personal data from it) in it.
    """

    code: ErrorCode
    description: str
    details: dict[str, Any]

    def __init__(
        self,
        code: ErrorCode,
        description: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code, description)
        self.code = code
        self.description = description
        self.details = {} if details is None else details

    def __str__(self) -> str:
        return f"{self.code.value}: {self.description}" if self.description else self.code.value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!s}, {self.description!r}, {self.details!r})"
