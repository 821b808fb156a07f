"""OCPP-J without I/O: frames, error codes, schema validation and the RPC session.

No sockets, no clock, no database: bytes and ``now`` go in, events and text come out,
the way python-websockets keeps its protocol core apart from asyncio. The gateway
(csms) and the simulators (charge-point side) both drive :class:`OCPPSession`.
"""

from protocol.errors import ErrorCode, OCPPError, parse_error_code, wire_error_code
from protocol.frames import (
    Call,
    CallError,
    CallResult,
    Frame,
    FrameError,
    MessageTypeId,
    decode_frame,
    encode_frame,
)
from protocol.session import (
    CallErrorReceived,
    CallInProgress,
    CallNotOutstanding,
    CallReceived,
    CallResultReceived,
    CallTimedOut,
    Event,
    MessageIgnored,
    OCPPSession,
    Role,
    SendFrame,
    SessionStateError,
    UnmatchedMessage,
)
from protocol.validation import SchemaValidator, validator_for
from protocol.versions import ID_TOKEN_TYPES, OCPPVersion

__all__ = [
    "ID_TOKEN_TYPES",
    "Call",
    "CallError",
    "CallErrorReceived",
    "CallInProgress",
    "CallNotOutstanding",
    "CallReceived",
    "CallResult",
    "CallResultReceived",
    "CallTimedOut",
    "ErrorCode",
    "Event",
    "Frame",
    "FrameError",
    "MessageIgnored",
    "MessageTypeId",
    "OCPPError",
    "OCPPSession",
    "OCPPVersion",
    "Role",
    "SchemaValidator",
    "SendFrame",
    "SessionStateError",
    "UnmatchedMessage",
    "decode_frame",
    "encode_frame",
    "parse_error_code",
    "validator_for",
    "wire_error_code",
]
