"""OCPP-J frames: encoding, decoding and every way a received message can be broken."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from protocol import (
    Call,
    CallError,
    CallResult,
    ErrorCode,
    FrameError,
    MessageTypeId,
    OCPPVersion,
    _json,
    decode_frame,
    encode_frame,
    frames,
    wire_error_code,
)


@pytest.fixture(params=sorted(_json.BACKENDS), autouse=True)
def json_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run every test on each installed JSON backend (stdlib json, orjson if present)."""
    loads, dumps = _json.BACKENDS[request.param]
    monkeypatch.setattr(frames, "_loads", loads)
    monkeypatch.setattr(frames, "_dumps", dumps)
    yield request.param


def decode_error(data: str | bytes) -> FrameError:
    with pytest.raises(FrameError) as info:
        decode_frame(data)
    return info.value


# --- round trips ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        Call("19223201", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}),
        Call("a", "Heartbeat", {}),
        CallResult("19223201", {"status": "Accepted", "interval": 300}),
        CallError("19223201", "NotImplemented", "unknown action", {"cause": "x"}),
        CallError("19223201", "GenericError"),
    ],
)
def test_encoded_frame_decodes_to_an_equal_frame(frame: Any) -> None:
    assert decode_frame(encode_frame(frame)) == frame


def test_call_is_encoded_as_compact_four_element_array() -> None:
    """1.6/2.0.1 OCPP-J §4.2.1: [2, "<uniqueId>", "<action>", {payload}]."""
    assert encode_frame(Call("id", "Heartbeat", {})) == '[2,"id","Heartbeat",{}]'


def test_call_result_and_call_error_are_encoded_compactly() -> None:
    """OCPP-J §4.2.2/§4.2.3: [3, id, {payload}] and [4, id, code, description, {details}]."""
    assert encode_frame(CallResult("id", {"a": 1})) == '[3,"id",{"a":1}]'
    assert encode_frame(CallError("id", "InternalError", "boom")) == (
        '[4,"id","InternalError","boom",{}]'
    )


def test_non_ascii_text_is_encoded_as_utf8_characters_not_escapes() -> None:
    text = encode_frame(CallResult("id", {"idTagInfo": {"status": "Accepted"}, "note": "Zürich"}))
    assert "Zürich" in text
    assert "\\u" not in text


def test_encoding_a_value_that_is_not_json_raises_type_error() -> None:
    from datetime import UTC, datetime

    with pytest.raises(TypeError):
        encode_frame(CallResult("id", {"currentTime": datetime.now(UTC)}))


def test_encoding_something_that_is_not_a_frame_raises_type_error() -> None:
    with pytest.raises(TypeError):
        encode_frame([2, "id", "Heartbeat", {}])  # type: ignore[arg-type]


def test_bytes_input_is_decoded_as_utf8() -> None:
    frame = decode_frame('[2,"id","DataTransfer",{"vendorId":"Zürich"}]'.encode())
    assert frame == Call("id", "DataTransfer", {"vendorId": "Zürich"})


def test_call_error_without_details_element_is_accepted_with_empty_details() -> None:
    """Leniency: some stacks omit errorDetails; the error itself still gets through."""
    assert decode_frame('[4,"id","GenericError","oops"]') == CallError("id", "GenericError", "oops")


def test_message_type_ids_match_the_specification() -> None:
    """OCPP-J §4.1.3: CALL 2, CALLRESULT 3, CALLERROR 4."""
    assert (MessageTypeId.CALL, MessageTypeId.CALL_RESULT, MessageTypeId.CALL_ERROR) == (2, 3, 4)


# --- broken messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        "",
        "not json",
        '[2,"id","Heartbeat",{}',
        '[2,"id","Heartbeat",{"x":NaN}]',
        '[2,"id","Heartbeat",{"x":Infinity}]',
        '[2,"id","Heartbeat",{"x":1e999}]',
        b"\xff\xfe[2]",
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["empty", "text", "truncated", "nan", "infinity", "overflow", "bad-utf8", "deeply-nested"],
)
def test_non_json_is_a_frame_error_without_readable_id(data: str | bytes) -> None:
    """2.0.1 OCPP-J §4.3 RpcFrameworkError: the message id could not be read."""
    error = decode_error(data)
    assert error.code is ErrorCode.RPC_FRAMEWORK_ERROR
    assert error.unique_id is None
    assert error.message_type_id is None


def test_frame_error_description_never_quotes_the_received_text() -> None:
    error = decode_error('{"secret-idTag": "04A2B3C4D5E6F7"}')
    assert "04A2B3C4D5E6F7" not in error.description
    assert "secret" not in str(error)


@pytest.mark.parametrize("data", ['{"a":1}', '"text"', "42", "null", "[]"])
def test_json_that_is_not_a_non_empty_array_is_a_frame_error(data: str) -> None:
    error = decode_error(data)
    assert error.unique_id is None
    assert error.code in (ErrorCode.RPC_FRAMEWORK_ERROR, ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED)


@pytest.mark.parametrize("type_id", ["5", "6", "2.0", "true", "null", "1", "0", "-2", '"CALL"'])
def test_unknown_message_type_id_is_message_type_not_supported_with_the_id(type_id: str) -> None:
    """2.0.1 OCPP-J §4.3 MessageTypeNotSupported; a float 2.0, a bool or a string is no type id."""
    error = decode_error(f'[{type_id},"abc","Heartbeat",{{}}]')
    assert error.code is ErrorCode.MESSAGE_TYPE_NOT_SUPPORTED
    assert error.unique_id == "abc"


@pytest.mark.parametrize(
    "data",
    [
        '[2,17,"Heartbeat",{}]',
        '[2,null,"Heartbeat",{}]',
        "[2]",
        '[3,["x"],{}]',
        '[2,"\\ud800","H",{}]',
    ],
    ids=["int-id", "null-id", "no-id", "list-id", "lone-surrogate-id"],
)
def test_unreadable_message_id_is_rpc_framework_error_without_id(data: str) -> None:
    """2.0.1 OCPP-J §4.3: RpcFrameworkError when the MessageId cannot be read."""
    error = decode_error(data)
    assert error.code is ErrorCode.RPC_FRAMEWORK_ERROR
    assert error.unique_id is None


def test_unreadable_id_keeps_the_message_type_so_broken_answers_are_not_answered() -> None:
    assert decode_error("[3,17,{}]").message_type_id == 3


@pytest.mark.parametrize(
    ("data", "type_id"),
    [
        ('[2,"abc","Heartbeat"]', 2),
        ('[2,"abc","Heartbeat",{},{}]', 2),
        ('[2,"abc",7,{}]', 2),
        ('[3,"abc"]', 3),
        ('[3,"abc",{},{}]', 3),
        ('[4,"abc","GenericError"]', 4),
        ('[4,"abc","GenericError","",{},1]', 4),
        ('[4,"abc",500,"",{}]', 4),
        ('[4,"abc","GenericError",null,{}]', 4),
    ],
)
def test_wrong_frame_shape_is_rpc_framework_error_with_the_id(data: str, type_id: int) -> None:
    """A frame with the wrong element count or types is not a valid RPC message."""
    error = decode_error(data)
    assert error.code is ErrorCode.RPC_FRAMEWORK_ERROR
    assert error.unique_id == "abc"
    assert error.message_type_id == type_id


@pytest.mark.parametrize(
    ("data", "type_id"),
    [
        ('[2,"abc","Heartbeat",[]]', 2),
        ('[2,"abc","Heartbeat",null]', 2),
        ('[2,"abc","Heartbeat","{}"]', 2),
        ('[3,"abc",[1]]', 3),
        ('[4,"abc","GenericError","",[]]', 4),
    ],
)
def test_payload_that_is_not_an_object_is_format_violation(data: str, type_id: int) -> None:
    """OCPP-J §4.2: the payload is a JSON object; anything else is syntactically wrong."""
    error = decode_error(data)
    assert error.code is ErrorCode.FORMAT_VIOLATION
    assert error.unique_id == "abc"
    assert error.message_type_id == type_id


def test_shape_errors_are_spelled_protocol_error_in_ocpp16() -> None:
    """1.6 OCPP-J §4.2.3 has no RpcFrameworkError/MessageTypeNotSupported: ProtocolError."""
    assert wire_error_code(decode_error("nope").code, OCPPVersion.V16) == "ProtocolError"
    unknown_type = decode_error('[9,"a","Heartbeat",{}]').code
    assert wire_error_code(unknown_type, OCPPVersion.V16) == "ProtocolError"
    assert wire_error_code(unknown_type, OCPPVersion.V201) == "MessageTypeNotSupported"


def test_long_unique_ids_are_accepted_and_kept() -> None:
    """Leniency: OCPP-J limits ids to 36 characters, but a longer one is still answered."""
    unique_id = "x" * 64
    assert decode_frame(json.dumps([2, unique_id, "Heartbeat", {}])).unique_id == unique_id


def test_non_ascii_unique_id_is_readable() -> None:
    assert decode_frame('[3,"ид-1",{}]') == CallResult("ид-1", {})


def test_nul_characters_are_replaced_so_the_message_can_be_stored() -> None:
    """JSON allows \\u0000; PostgreSQL text cannot hold it, and refusing a transaction
    message would make the charger retry it until it drops it: the character becomes
    U+FFFD everywhere in the message (ids, actions, keys, nested values)."""
    frame = decode_frame(
        '[2, "id\\u0000", "TransactionEvent", {"idToken": {"idToken": "AB\\u0000CD"},'
        ' "k\\u0000": ["x\\u0000"]}]'
    )
    assert isinstance(frame, Call)
    assert frame.unique_id == "id\ufffd"
    assert frame.payload == {"idToken": {"idToken": "AB\ufffdCD"}, "k\ufffd": ["x\ufffd"]}
    assert "\x00" not in repr(decode_frame(b'[3, "a", {"v": "\\u0000"}]'))


def test_a_literal_backslash_u0000_text_is_left_alone() -> None:
    frame = decode_frame('[2, "a", "DataTransfer", {"data": "\\\\u0000"}]')
    assert isinstance(frame, Call) and frame.payload == {"data": "\\u0000"}
