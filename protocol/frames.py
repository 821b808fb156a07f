"""OCPP-J RPC frames: the three message types, their JSON encoding and decoding.

A frame is a JSON array (1.6 OCPP-J §4.2, 2.0.1 OCPP-J §4.2)::

    [2, "<uniqueId>", "<action>", {payload}]                          CALL
    [3, "<uniqueId>", {payload}]                                      CALLRESULT
    [4, "<uniqueId>", "<errorCode>", "<errorDescription>", {details}] CALLERROR

:func:`decode_frame` raises :class:`FrameError` for anything else. Its ``code`` is
canonical and version-neutral; :func:`protocol.errors.wire_error_code` gives the
spelling for the version, which is how one decoder serves both versions:

* not JSON, not an array, id missing or not a string, wrong number of elements, action
  or error code not a string: ``RPC_FRAMEWORK_ERROR`` (1.6 wire: ``ProtocolError``);
* message type id other than 2, 3 or 4: ``MESSAGE_TYPE_NOT_SUPPORTED`` (1.6 wire:
  ``ProtocolError``);
* payload (or error details) not a JSON object: ``FORMAT_VIOLATION`` (1.6 wire:
  ``FormationViolation``).

``RpcFrameworkError`` is 2.0.1's code for "content of the call is not a valid RPC
request, e.g. the message id could not be read"; 1.6 has no such code and
``ProtocolError`` is its closest. ``FormationViolation``/``FormatViolation`` means the
payload is syntactically wrong for the action.

Leniency, on purpose: unique ids longer than the 36 characters the specification
allows are accepted (and echoed back unchanged) rather than failing a charger's
transaction messages over it; a CALLERROR may omit its ``errorDetails`` element.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from protocol._json import dumps as _dumps
from protocol._json import loads as _loads
from protocol.errors import ErrorCode, OCPPError

__all__ = [
    "Call",
    "CallError",
    "CallResult",
    "Frame",
    "FrameError",
    "MessageTypeId",
    "decode_frame",
    "encode_frame",
]


class MessageTypeId(IntEnum):
    """The first element of every frame (1.6 OCPP-J §4.1.3, 2.0.1 OCPP-J §4.1.3)."""

    CALL = 2
    CALL_RESULT = 3
    CALL_ERROR = 4


@dataclass(frozen=True, slots=True)
class Call:
    """A request: ``[2, unique_id, action, payload]``."""

    unique_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    """A successful answer: ``[3, unique_id, payload]``."""

    unique_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    """An error answer. ``error_code`` is the string as sent on the wire (version spelling)."""

    unique_id: str
    error_code: str
    error_description: str = ""
    error_details: dict[str, Any] = field(default_factory=dict)


Frame = Call | CallResult | CallError


class FrameError(OCPPError):
    """A message that is not a valid OCPP-J frame.

    ``unique_id`` is the message id when it could be read (``None`` otherwise: 2.0.1
    answers those with id ``"-1"``). ``message_type_id`` is 2, 3 or 4 when the frame
    said which type it was (so a broken CALLRESULT is not answered like a broken CALL),
    ``None`` otherwise.
    """

    unique_id: str | None
    message_type_id: int | None

    def __init__(
        self,
        code: ErrorCode,
        description: str,
        *,
        unique_id: str | None = None,
        message_type_id: int | None = None,
    ) -> None:
        super().__init__(code, description)
        self.unique_id = unique_id
        self.message_type_id = message_type_id


def encode_frame(frame: Frame) -> str:
    """Compact JSON text for ``frame``, e.g. ``'[2,"id","Heartbeat",{}]'``.

    Raises :class:`TypeError` if a payload holds a value that is not JSON
    (``datetime``, ``Decimal``, ...): convert those to strings/numbers first.
    """
    if type(frame) is Call:
        return _dumps([2, frame.unique_id, frame.action, frame.payload])
    if type(frame) is CallResult:
        return _dumps([3, frame.unique_id, frame.payload])
    if type(frame) is CallError:
        return _dumps(
            [4, frame.unique_id, frame.error_code, frame.error_description, frame.error_details]
        )
    raise TypeError(f"not an OCPP-J frame: {type(frame).__name__}")


_RPC = ErrorCode.RPC_FRAMEWORK_ERROR


def _readable_id(value: object) -> str | None:
    if type(value) is not str:
        return None
    if not value.isascii():
        # A lone surrogate ("\ud800") parses but cannot be sent back as UTF-8.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return value


def _without_nul(value: Any) -> Any:
    """``value`` with every NUL character in its strings replaced by U+FFFD.

    JSON allows ``\\u0000`` in a string; no OCPP field means it, and PostgreSQL cannot
    store it in text. Refusing the message would make a charger retry a transaction
    message until it drops it, so the character is replaced and the message kept.
    """
    if type(value) is str:
        return value.replace("\x00", "\ufffd")
    if type(value) is list:
        return [_without_nul(item) for item in value]
    if type(value) is dict:
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def decode_frame(data: str | bytes) -> Frame:
    """Parse one WebSocket message into a frame.

    Raises :class:`FrameError` (never anything else) when ``data`` is not JSON, not an
    array, has a bad or unknown message type id, an unreadable id, the wrong number of
    elements, or a payload that is not an object. The error description never quotes
    ``data``.
    """
    try:
        message = _loads(data)
    except ValueError:
        raise FrameError(_RPC, "message is not valid JSON") from None
    if b"\\u0000" in data if isinstance(data, bytes) else "\\u0000" in data:
        message = _without_nul(message)
    if type(message) is not list:
        raise FrameError(_RPC, "message is not a JSON array")
    length = len(message)
    unique_id = _readable_id(message[1]) if length > 1 else None
    type_id = message[0] if length else None
    if type(type_id) is not int or not 2 <= type_id <= 4:
        raise FrameError(
            ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED,
            "message type id must be 2 (CALL), 3 (CALLRESULT) or 4 (CALLERROR)",
            unique_id=unique_id,
        )
    if unique_id is None:
        raise FrameError(_RPC, "message id is missing or not a string", message_type_id=type_id)
    if type_id == 2:
        if length != 4:
            raise FrameError(_RPC, "a CALL has 4 elements", unique_id=unique_id, message_type_id=2)
        action = message[2]
        if type(action) is not str:
            raise FrameError(
                _RPC, "CALL action is not a string", unique_id=unique_id, message_type_id=2
            )
        payload = message[3]
        if type(payload) is not dict:
            raise FrameError(
                ErrorCode.FORMAT_VIOLATION,
                "CALL payload is not a JSON object",
                unique_id=unique_id,
                message_type_id=2,
            )
        return Call(unique_id, action, payload)
    if type_id == 3:
        if length != 3:
            raise FrameError(
                _RPC, "a CALLRESULT has 3 elements", unique_id=unique_id, message_type_id=3
            )
        payload = message[2]
        if type(payload) is not dict:
            raise FrameError(
                ErrorCode.FORMAT_VIOLATION,
                "CALLRESULT payload is not a JSON object",
                unique_id=unique_id,
                message_type_id=3,
            )
        return CallResult(unique_id, payload)
    if length != 5 and length != 4:
        raise FrameError(_RPC, "a CALLERROR has 5 elements", unique_id=unique_id, message_type_id=4)
    error_code = message[2]
    description = message[3]
    if type(error_code) is not str or type(description) is not str:
        raise FrameError(
            _RPC,
            "CALLERROR error code and description must be strings",
            unique_id=unique_id,
            message_type_id=4,
        )
    details = message[4] if length == 5 else {}
    if type(details) is not dict:
        raise FrameError(
            ErrorCode.FORMAT_VIOLATION,
            "CALLERROR details are not a JSON object",
            unique_id=unique_id,
            message_type_id=4,
        )
    return CallError(unique_id, error_code, description, details)
