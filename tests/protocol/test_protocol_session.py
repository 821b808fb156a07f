"""The sans-I/O OCPP-J session: incoming CALLs, outgoing CALLs, errors and timeouts."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import pytest

from protocol import (
    Call,
    CallError,
    CallErrorReceived,
    CallInProgress,
    CallNotOutstanding,
    CallReceived,
    CallResult,
    CallResultReceived,
    CallTimedOut,
    ErrorCode,
    MessageIgnored,
    OCPPError,
    OCPPSession,
    OCPPVersion,
    SendFrame,
    UnmatchedMessage,
)

V16, V201 = OCPPVersion.V16, OCPPVersion.V201
BOTH = pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"])

BOOT: dict[OCPPVersion, dict[str, Any]] = {
    V16: {"chargePointVendor": "VendorX", "chargePointModel": "SingleSocketCharger"},
    V201: {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "VendorX"}},
}
BOOT_ACCEPTED = {"currentTime": "2026-11-22T10:00:00Z", "interval": 300, "status": "Accepted"}
BOOT_PENDING = {**BOOT_ACCEPTED, "status": "Pending"}
BOOT_REJECTED = {**BOOT_ACCEPTED, "status": "Rejected"}
STATUS: dict[OCPPVersion, dict[str, Any]] = {
    V16: {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
    V201: {
        "timestamp": "2026-11-22T10:00:00Z",
        "connectorStatus": "Available",
        "evseId": 1,
        "connectorId": 1,
    },
}
RESET: dict[OCPPVersion, dict[str, Any]] = {V16: {"type": "Soft"}, V201: {"type": "Immediate"}}
RESET_ACCEPTED = {"status": "Accepted"}


def csms(version: OCPPVersion, **options: Any) -> OCPPSession:
    counter = itertools.count(1)
    options.setdefault("new_unique_id", lambda: f"csms-{next(counter)}")
    return OCPPSession(version=version, role="csms", **options)


def call_text(unique_id: str, action: str, payload: dict[str, Any]) -> str:
    return json.dumps([2, unique_id, action, payload])


def only(events: list[Any]) -> Any:
    assert len(events) == 1, events
    return events[0]


def received_call(
    session: OCPPSession, unique_id: str, action: str, payload: dict[str, Any]
) -> Call:
    event = only(session.receive(call_text(unique_id, action, payload), now=0.0))
    assert isinstance(event, CallReceived), event
    return event.call


def sent_error(events: list[Any]) -> list[Any]:
    """The CALLERROR the session answered with by itself, as the decoded JSON array."""
    event = only(events)
    assert isinstance(event, SendFrame), event
    message = json.loads(event.data)
    assert message[0] == 4
    assert event.error is not None and event.error.error_code == message[2]
    return message


# --- incoming CALLs ---------------------------------------------------------------------


@BOTH
def test_valid_call_is_delivered_and_answered_with_its_id(version: OCPPVersion) -> None:
    """OCPP-J §4.2.2: the CALLRESULT carries the CALL's message id."""
    session = csms(version)
    call = received_call(session, "boot-1", "BootNotification", BOOT[version])
    assert call == Call("boot-1", "BootNotification", BOOT[version])
    assert session.unanswered_calls == (call,)
    assert json.loads(session.reply(call, BOOT_ACCEPTED)) == [3, "boot-1", BOOT_ACCEPTED]
    assert session.unanswered_calls == ()


@BOTH
def test_call_before_accepted_boot_is_answered_with_security_error(version: OCPPVersion) -> None:
    """2.0.1 B02.FR.09 / B03.FR.07, 1.6 §4.2: nothing but BootNotification until accepted."""
    session = csms(version)
    message = sent_error(session.receive(call_text("hb-1", "Heartbeat", {}), now=0.0))
    assert message[:3] == [4, "hb-1", "SecurityError"]
    assert session.unanswered_calls == ()


@BOTH
def test_boot_notification_is_allowed_before_accept(version: OCPPVersion) -> None:
    session = csms(version)
    received_call(session, "boot-1", "BootNotification", BOOT[version])


@BOTH
def test_accepting_a_boot_opens_the_session_for_other_calls(version: OCPPVersion) -> None:
    session = csms(version)
    boot = received_call(session, "boot-1", "BootNotification", BOOT[version])
    session.reply(boot, BOOT_ACCEPTED)
    assert session.accepted
    received_call(session, "hb-1", "Heartbeat", {})


@BOTH
def test_pending_boot_keeps_refusing_other_calls(version: OCPPVersion) -> None:
    """2.0.1 B02.FR.09: while Pending, untriggered CALLs get SecurityError."""
    session = csms(version)
    session.reply(received_call(session, "b", "BootNotification", BOOT[version]), BOOT_PENDING)
    assert not session.accepted
    assert sent_error(session.receive(call_text("hb", "Heartbeat", {}), now=0.0))[2] == (
        "SecurityError"
    )


@BOTH
def test_rejected_reboot_closes_a_previously_accepted_session(version: OCPPVersion) -> None:
    """2.0.1 B03.FR.07: a Rejected charging station may only send BootNotification."""
    session = csms(version, accepted=True)
    session.reply(received_call(session, "b", "BootNotification", BOOT[version]), BOOT_REJECTED)
    assert sent_error(session.receive(call_text("hb", "Heartbeat", {}), now=0.0))[2] == (
        "SecurityError"
    )


@BOTH
def test_application_can_mark_a_known_charger_accepted(version: OCPPVersion) -> None:
    """A charger accepted before may reconnect without booting again."""
    session = csms(version)
    session.accepted = True
    received_call(session, "hb-1", "Heartbeat", {})


@BOTH
def test_boot_not_required_never_refuses_calls(version: OCPPVersion) -> None:
    received_call(csms(version, boot_required=False), "hb-1", "Heartbeat", {})


@BOTH
def test_charge_point_role_never_refuses_calls_for_a_missing_boot(version: OCPPVersion) -> None:
    session = OCPPSession(version=version, role="charge_point")
    received_call(session, "r-1", "Reset", RESET[version])


@BOTH
def test_message_requested_by_trigger_message_is_let_through_while_pending(
    version: OCPPVersion,
) -> None:
    """2.0.1 B02 (Pending): a message triggered by TriggerMessageRequest is allowed."""
    session = csms(version)
    session.reply(received_call(session, "b", "BootNotification", BOOT[version]), BOOT_PENDING)
    trigger = {"requestedMessage": "StatusNotification"}
    call, _ = session.call("TriggerMessage", trigger, now=0.0)
    only(session.receive(json.dumps([3, call.unique_id, {"status": "Accepted"}]), now=1.0))
    received_call(session, "s-1", "StatusNotification", STATUS[version])
    # ...but not anything else:
    assert sent_error(session.receive(call_text("hb", "Heartbeat", {}), now=2.0))[2] == (
        "SecurityError"
    )


def test_notify_report_after_get_base_report_is_let_through_while_pending() -> None:
    """2.0.1 B02 (Pending): messages caused by GetBaseReportRequest are allowed."""
    session = csms(V201)
    session.reply(received_call(session, "b", "BootNotification", BOOT[V201]), BOOT_PENDING)
    session.call("GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}, now=0.0)
    report = {
        "requestId": 1,
        "generatedAt": "2026-11-22T10:00:00Z",
        "seqNo": 0,
        "tbc": False,
    }
    received_call(session, "r-1", "NotifyReport", report)


def test_signing_trigger_lets_sign_certificate_through_while_pending() -> None:
    """1.6 security whitepaper: ExtendedTriggerMessage SignChargePointCertificate."""
    session = csms(V16)
    session.call(
        "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}, now=0
    )
    received_call(session, "sc-1", "SignCertificate", {"csr": "-----BEGIN CERTIFICATE REQUEST"})


@BOTH
def test_next_boot_notification_withdraws_trigger_permissions(version: OCPPVersion) -> None:
    session = csms(version)
    call, _ = session.call("TriggerMessage", {"requestedMessage": "Heartbeat"}, now=0.0)
    session.receive(json.dumps([3, call.unique_id, {"status": "Accepted"}]), now=0.0)
    session.reply(received_call(session, "b", "BootNotification", BOOT[version]), BOOT_PENDING)
    assert sent_error(session.receive(call_text("hb", "Heartbeat", {}), now=0.0))[2] == (
        "SecurityError"
    )


@BOTH
def test_unknown_action_is_answered_with_not_implemented(version: OCPPVersion) -> None:
    """OCPP-J §4.2.3 NotImplemented: requested action is not known by receiver."""
    session = csms(version, accepted=True)
    message = sent_error(session.receive(call_text("x-1", "BrewCoffee", {}), now=0.0))
    assert message[:3] == [4, "x-1", "NotImplemented"]
    assert session.unanswered_calls == ()


def test_action_of_the_other_version_is_not_implemented() -> None:
    session = csms(V16, accepted=True)
    message = sent_error(session.receive(call_text("t-1", "TransactionEvent", {}), now=0.0))
    assert message[2] == "NotImplemented"


def meter_values(version: OCPPVersion) -> dict[str, Any]:
    if version is V16:
        sampled: dict[str, Any] = {"value": "12.5", "unit": "Wh"}
        return {
            "connectorId": 1,
            "meterValue": [{"timestamp": "2026-11-22T10:00:00Z", "sampledValue": [sampled]}],
        }
    sampled = {"value": 12.5, "unitOfMeasure": {"unit": "Wh"}}
    return {
        "evseId": 1,
        "meterValue": [{"timestamp": "2026-11-22T10:00:00Z", "sampledValue": [sampled]}],
    }


def _drop_id_field(version: OCPPVersion, payload: dict[str, Any]) -> None:
    del payload["connectorId" if version is V16 else "evseId"]


def _stringify_id_field(version: OCPPVersion, payload: dict[str, Any]) -> None:
    key = "connectorId" if version is V16 else "evseId"
    payload[key] = "1"


def _add_unknown_field(version: OCPPVersion, payload: dict[str, Any]) -> None:
    payload["colour"] = "blue"


def _bad_timestamp(version: OCPPVersion, payload: dict[str, Any]) -> None:
    payload["meterValue"][0]["timestamp"] = "yesterday"


@pytest.mark.parametrize(
    ("version", "break_payload", "wire_code", "rule"),
    [
        (V16, _drop_id_field, "OccurenceConstraintViolation", "required"),
        (V201, _drop_id_field, "OccurrenceConstraintViolation", "required"),
        (V16, _stringify_id_field, "TypeConstraintViolation", "type"),
        (V201, _stringify_id_field, "TypeConstraintViolation", "type"),
        (V16, _add_unknown_field, "FormationViolation", "additionalProperties"),
        (V201, _add_unknown_field, "FormatViolation", "additionalProperties"),
        (V16, _bad_timestamp, "PropertyConstraintViolation", "format"),
        (V201, _bad_timestamp, "PropertyConstraintViolation", "format"),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_schema_failure_is_answered_with_the_version_spelling_of_its_code(
    version: OCPPVersion, break_payload: Any, wire_code: str, rule: str
) -> None:
    """1.6 OCPP-J §4.2.3 / 2.0.1 OCPP-J §4.3 error codes, spelled per version."""
    session = csms(version, accepted=True)
    payload = meter_values(version)
    break_payload(version, payload)
    message = sent_error(session.receive(call_text("mv-1", "MeterValues", payload), now=0.0))
    assert message[:3] == [4, "mv-1", wire_code]
    assert message[4]["rule"] == rule
    assert "MeterValues request" in message[3]
    assert session.unanswered_calls == ()


@BOTH
def test_schema_failure_description_never_contains_the_payload(version: OCPPVersion) -> None:
    session = csms(version, accepted=True)
    id_tag = "04A2B3C4D5E6F7A8B9C0D1E2F3"
    payload = {"idTag": id_tag} if version is V16 else {"idToken": {"idToken": id_tag}}
    event = only(session.receive(call_text("a-1", "Authorize", payload), now=0.0))
    assert isinstance(event, SendFrame)
    assert id_tag not in event.data


# --- broken frames -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "wire_code"), [(V16, "ProtocolError"), (V201, "RpcFrameworkError")]
)
@pytest.mark.parametrize(
    "data",
    ["this is not json", '{"not": "an array"}', "[]", '[2,17,"Heartbeat",{}]', b"\xff"],
    ids=["text", "object", "empty-array", "numeric-id", "bad-utf8"],
)
def test_message_without_readable_id_is_answered_with_id_minus_one(
    version: OCPPVersion, wire_code: str, data: str | bytes
) -> None:
    """2.0.1 OCPP-J §4.2.3/§4.3: RpcFrameworkError with message id "-1"; 1.6: ProtocolError."""
    session = csms(version, accepted=True)
    message = sent_error(session.receive(data, now=0.0))
    if data == "[]":
        wire_code = "ProtocolError" if version is V16 else "MessageTypeNotSupported"
    assert message[:3] == [4, "-1", wire_code]


@BOTH
def test_invalid_json_is_never_echoed_back(version: OCPPVersion) -> None:
    session = csms(version, accepted=True)
    event = only(session.receive('[2,"id-1","Authorize",{"idTag":"SECRET-TAG"', now=0.0))
    assert isinstance(event, SendFrame)
    assert "SECRET-TAG" not in event.data


@pytest.mark.parametrize(
    ("version", "wire_code"), [(V16, "ProtocolError"), (V201, "RpcFrameworkError")]
)
@pytest.mark.parametrize("data", ['[2,"id-1","Heartbeat"]', '[2,"id-1",5,{}]'])
def test_call_with_wrong_shape_is_answered_with_its_id(
    version: OCPPVersion, wire_code: str, data: str
) -> None:
    message = sent_error(csms(version, accepted=True).receive(data, now=0.0))
    assert message[:3] == [4, "id-1", wire_code]


@pytest.mark.parametrize(
    ("version", "wire_code"), [(V16, "ProtocolError"), (V201, "MessageTypeNotSupported")]
)
def test_unknown_message_type_is_message_type_not_supported(
    version: OCPPVersion, wire_code: str
) -> None:
    """2.0.1 OCPP-J §4.3 MessageTypeNotSupported; 1.6 has no such code: ProtocolError."""
    message = sent_error(csms(version, accepted=True).receive('[6,"id-1","X",{}]', now=0.0))
    assert message[:3] == [4, "id-1", wire_code]


@pytest.mark.parametrize(
    ("version", "wire_code"), [(V16, "FormationViolation"), (V201, "FormatViolation")]
)
def test_call_payload_that_is_not_an_object_is_format_violation(
    version: OCPPVersion, wire_code: str
) -> None:
    message = sent_error(csms(version, accepted=True).receive('[2,"id-1","Heartbeat",[]]', now=0))
    assert message[:3] == [4, "id-1", wire_code]


GARBAGE: list[str | bytes] = [
    "",
    " ",
    "null",
    "[null]",
    "[2]",
    "[3]",
    "[4]",
    '[3,"x"]',
    '[4,"x"]',
    '[4,"x",1,2,3]',
    "[2,[],[],[]]",
    '[2,"x",{},{}]',
    '[2,"x","Heartbeat",{"a":NaN}]',
    "[" * 50_000,
    "[" * 50_000 + "]" * 50_000,
    b"\x00\x01\x02",
    '[2,"\\ud800","Heartbeat",{}]',
    '[1e999,"x","Heartbeat",{}]',
    "[" + "9" * 5000 + "]",
]


@BOTH
@pytest.mark.parametrize("data", GARBAGE, ids=range(len(GARBAGE)))
def test_session_never_raises_on_bad_input(version: OCPPVersion, data: str | bytes) -> None:
    """The connection stays up: bad input becomes events, never an exception."""
    for session in (csms(version), csms(version, accepted=True)):
        events = session.receive(data, now=0.0)
        assert all(not isinstance(event, CallReceived) for event in events)
        for event in events:
            if isinstance(event, SendFrame):
                json.loads(event.data)  # what we send back is always valid JSON


# --- answering -----------------------------------------------------------------------------


@BOTH
def test_reply_to_a_call_that_was_never_delivered_raises(version: OCPPVersion) -> None:
    session = csms(version, accepted=True)
    with pytest.raises(CallNotOutstanding):
        session.reply(Call("ghost", "Heartbeat", {}), {"currentTime": "2026-11-22T10:00:00Z"})
    with pytest.raises(CallNotOutstanding):
        session.reply_error(Call("ghost", "Heartbeat", {}), OCPPError(ErrorCode.INTERNAL_ERROR))


@BOTH
def test_a_call_can_be_answered_only_once(version: OCPPVersion) -> None:
    session = csms(version, accepted=True)
    call = received_call(session, "hb-1", "Heartbeat", {})
    session.reply(call, {"currentTime": "2026-11-22T10:00:00Z"})
    with pytest.raises(CallNotOutstanding):
        session.reply(call, {"currentTime": "2026-11-22T10:00:00Z"})
    with pytest.raises(CallNotOutstanding):
        session.reply_error(call, OCPPError(ErrorCode.INTERNAL_ERROR))


@BOTH
def test_reply_must_match_the_delivered_action(version: OCPPVersion) -> None:
    session = csms(version, accepted=True)
    received_call(session, "id-1", "Heartbeat", {})
    with pytest.raises(CallNotOutstanding):
        session.reply(Call("id-1", "Authorize", {}), {"idTagInfo": {"status": "Accepted"}})


@pytest.mark.parametrize(
    ("version", "wire_code"), [(V16, "FormationViolation"), (V201, "FormatViolation")]
)
def test_reply_error_uses_the_version_spelling(version: OCPPVersion, wire_code: str) -> None:
    session = csms(version, accepted=True)
    call = received_call(session, "hb-1", "Heartbeat", {})
    text = session.reply_error(call, OCPPError(ErrorCode.FORMAT_VIOLATION, "bad", {"k": 1}))
    assert json.loads(text) == [4, "hb-1", wire_code, "bad", {"k": 1}]
    assert session.unanswered_calls == ()


def test_reply_error_description_is_cut_to_255_characters() -> None:
    """2.0.1 OCPP-J §4.2.3: errorDescription is at most 255 characters."""
    session = csms(V201, accepted=True)
    call = received_call(session, "hb-1", "Heartbeat", {})
    text = session.reply_error(call, OCPPError(ErrorCode.INTERNAL_ERROR, "x" * 1000))
    assert len(json.loads(text)[3]) == 255


@BOTH
def test_invalid_reply_payload_is_our_internal_error_and_the_call_stays_answerable(
    version: OCPPVersion,
) -> None:
    """Our own answer breaking the schema is not the peer's fault: InternalError."""
    session = csms(version, accepted=True)
    call = received_call(session, "hb-1", "Heartbeat", {})
    with pytest.raises(OCPPError) as info:
        session.reply(call, {"currentTime": "not a time"})
    assert info.value.code is ErrorCode.INTERNAL_ERROR
    assert info.value.details == {
        "code": "PropertyConstraintViolation",
        "field": "currentTime",
        "rule": "format",
    }
    assert session.unanswered_calls == (call,)
    text = session.reply_error(call, info.value)
    assert json.loads(text)[:2] == [4, "hb-1"]
    assert json.loads(text)[2] == "InternalError"
    assert session.unanswered_calls == ()


@BOTH
def test_second_call_before_the_first_is_answered_is_still_delivered(version: OCPPVersion) -> None:
    """OCPP-J §4.1.1 says a peer SHOULD NOT do this; losing the message would be worse."""
    session = csms(version, accepted=True)
    first = received_call(session, "hb-1", "Heartbeat", {})
    second = received_call(session, "hb-2", "Heartbeat", {})
    assert session.unanswered_calls == (first, second)
    assert json.loads(session.reply(first, {"currentTime": "2026-11-22T10:00:00Z"}))[1] == "hb-1"
    assert json.loads(session.reply(second, {"currentTime": "2026-11-22T10:00:01Z"}))[1] == "hb-2"


@pytest.mark.parametrize(
    ("version", "wire_code"), [(V16, "ProtocolError"), (V201, "RpcFrameworkError")]
)
def test_call_reusing_the_id_of_an_unanswered_call_is_refused(
    version: OCPPVersion, wire_code: str
) -> None:
    """2.0.1 OCPP-J §4.2.3: a CALL whose id is already being handled gets a CALLERROR."""
    session = csms(version, accepted=True)
    first = received_call(session, "dup", "Heartbeat", {})
    message = sent_error(session.receive(call_text("dup", "Heartbeat", {}), now=0.0))
    assert message[:3] == [4, "dup", wire_code]
    assert session.unanswered_calls == (first,)
    session.reply(first, {"currentTime": "2026-11-22T10:00:00Z"})


@BOTH
def test_validation_can_be_switched_off(version: OCPPVersion) -> None:
    session = csms(version, accepted=True, validate=False)
    call = received_call(session, "mv", "MeterValues", {"nonsense": True})
    session.reply(call, {"also": "nonsense"})
    # unknown actions are still refused: there is nothing to route them to
    assert sent_error(session.receive(call_text("x", "BrewCoffee", {}), now=0.0))[2] == (
        "NotImplemented"
    )


def test_receive_records_the_time_of_the_last_message() -> None:
    session = csms(V16)
    assert session.last_received is None
    session.receive("garbage", now=12.5)
    assert session.last_received == 12.5


# --- outgoing CALLs -----------------------------------------------------------------------------


@BOTH
def test_call_returns_the_frame_to_send_with_a_fresh_id(version: OCPPVersion) -> None:
    session = csms(version, accepted=True)
    call, text = session.call("Reset", RESET[version], now=100.0)
    assert call == Call("csms-1", "Reset", RESET[version])
    assert json.loads(text) == [2, "csms-1", "Reset", RESET[version]]
    assert session.outstanding_call == call


def test_default_unique_ids_are_distinct_uuid4_strings() -> None:
    """OCPP-J §4.1.4: a message id is unique per sender and connection (max 36 chars)."""
    ids = set()
    for _ in range(3):
        session = OCPPSession(version=V201, role="csms", accepted=True)
        call, _ = session.call("Reset", RESET[V201], now=0.0)
        assert uuid.UUID(call.unique_id).version == 4
        assert len(call.unique_id) == 36
        ids.add(call.unique_id)
    assert len(ids) == 3


@BOTH
def test_only_one_outgoing_call_at_a_time(version: OCPPVersion) -> None:
    """OCPP-J §4.1.1: no new CALL until the previous one is answered or timed out."""
    session = csms(version, accepted=True)
    first, _ = session.call("Reset", RESET[version], now=0.0)
    with pytest.raises(CallInProgress) as info:
        session.call("Reset", RESET[version], now=1.0)
    assert info.value.call == first
    session.receive(json.dumps([3, first.unique_id, RESET_ACCEPTED]), now=2.0)
    session.call("Reset", RESET[version], now=3.0)


@BOTH
def test_outgoing_call_payload_is_validated(version: OCPPVersion) -> None:
    session = csms(version, accepted=True)
    with pytest.raises(OCPPError) as info:
        session.call("Reset", {"type": "Sideways"}, now=0.0)
    assert info.value.code is ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
    with pytest.raises(OCPPError) as info:
        session.call("BrewCoffee", {}, now=0.0)
    assert info.value.code is ErrorCode.NOT_IMPLEMENTED
    assert session.outstanding_call is None
    assert session.next_deadline is None


@BOTH
def test_matching_call_result_is_delivered_with_its_call(version: OCPPVersion) -> None:
    """OCPP-J §4.2.2: the CALLRESULT is matched to our CALL by message id."""
    session = csms(version, accepted=True)
    call, _ = session.call("Reset", RESET[version], now=0.0)
    event = only(session.receive(json.dumps([3, call.unique_id, RESET_ACCEPTED]), now=1.0))
    assert event == CallResultReceived(call, CallResult(call.unique_id, RESET_ACCEPTED))
    assert session.outstanding_call is None
    assert session.next_deadline is None


@BOTH
def test_matching_call_error_is_delivered_with_its_call(version: OCPPVersion) -> None:
    session = csms(version, accepted=True)
    call, _ = session.call("Reset", RESET[version], now=0.0)
    data = json.dumps([4, call.unique_id, "NotSupported", "no", {"why": "busy"}])
    event = only(session.receive(data, now=1.0))
    assert event == CallErrorReceived(
        call, CallError(call.unique_id, "NotSupported", "no", {"why": "busy"})
    )
    assert session.outstanding_call is None


@BOTH
@pytest.mark.parametrize(
    "answer",
    [[3, "someone-else", RESET_ACCEPTED], [4, "someone-else", "GenericError", "", {}]],
    ids=["result", "error"],
)
def test_answer_with_an_unknown_id_is_unmatched(version: OCPPVersion, answer: list[Any]) -> None:
    session = csms(version, accepted=True)
    assert isinstance(only(session.receive(json.dumps(answer), now=0.0)), UnmatchedMessage)
    call, _ = session.call("Reset", RESET[version], now=0.0)
    event = only(session.receive(json.dumps(answer), now=1.0))
    assert isinstance(event, UnmatchedMessage)
    assert event.frame.unique_id == "someone-else"
    assert session.outstanding_call == call


@pytest.mark.parametrize(
    ("version", "wire_code"), [(V16, "FormationViolation"), (V201, "FormatViolation")]
)
def test_invalid_call_result_payload_becomes_a_synthetic_call_error(
    version: OCPPVersion, wire_code: str
) -> None:
    """The caller learns the answer was unusable instead of getting bad data."""
    session = csms(version, accepted=True)
    call, _ = session.call("Reset", RESET[version], now=0.0)
    event = only(session.receive(json.dumps([3, call.unique_id, {"status": "Maybe"}]), now=1.0))
    assert isinstance(event, CallErrorReceived)
    assert event.call == call
    assert event.error.unique_id == call.unique_id
    assert event.error.error_code == wire_code
    assert event.error.error_details["synthetic"] is True
    assert event.error.error_details["code"] == "PropertyConstraintViolation"
    assert event.error.error_details["field"] == "status"
    assert session.outstanding_call is None


@BOTH
def test_broken_answer_frame_for_our_call_becomes_a_synthetic_call_error(
    version: OCPPVersion,
) -> None:
    session = csms(version, accepted=True)
    call, _ = session.call("Reset", RESET[version], now=0.0)
    event = only(session.receive(json.dumps([3, call.unique_id, "Accepted"]), now=1.0))
    assert isinstance(event, CallErrorReceived)
    assert event.error.error_details["synthetic"] is True
    assert session.outstanding_call is None


@BOTH
@pytest.mark.parametrize("data", ['[3,"nobody","Accepted"]', "[3,17,{}]", '[4,"nobody"]'])
def test_broken_answer_frame_for_no_call_is_ignored_not_answered(
    version: OCPPVersion, data: str
) -> None:
    """A CALLERROR answers a CALL, never a CALLRESULT (OCPP-J §4.2.3): nothing is sent."""
    session = csms(version, accepted=True)
    call, _ = session.call("Reset", RESET[version], now=0.0)
    event = only(session.receive(data, now=1.0))
    assert isinstance(event, MessageIgnored)
    assert session.outstanding_call == call


@BOTH
def test_outgoing_call_times_out_at_its_deadline(version: OCPPVersion) -> None:
    session = csms(version, accepted=True, call_timeout=30.0)
    assert session.next_deadline is None
    call, _ = session.call("Reset", RESET[version], now=100.0)
    assert session.next_deadline == 130.0
    assert session.expire(now=129.9) == []
    assert session.outstanding_call == call
    assert session.expire(now=130.0) == [CallTimedOut(call)]
    assert session.outstanding_call is None
    assert session.next_deadline is None
    assert session.expire(now=200.0) == []


@BOTH
def test_answer_arriving_after_the_timeout_is_unmatched(version: OCPPVersion) -> None:
    session = csms(version, accepted=True, call_timeout=5.0)
    call, _ = session.call("Reset", RESET[version], now=0.0)
    session.expire(now=10.0)
    event = only(session.receive(json.dumps([3, call.unique_id, RESET_ACCEPTED]), now=11.0))
    assert isinstance(event, UnmatchedMessage)
    session.call("Reset", RESET[version], now=12.0)  # free for the next CALL


@BOTH
def test_answer_arriving_before_expire_is_called_still_counts(version: OCPPVersion) -> None:
    """No clock inside: until expire() runs, a late answer is still the answer."""
    session = csms(version, accepted=True, call_timeout=5.0)
    call, _ = session.call("Reset", RESET[version], now=0.0)
    event = only(session.receive(json.dumps([3, call.unique_id, RESET_ACCEPTED]), now=99.0))
    assert isinstance(event, CallResultReceived)


@BOTH
def test_incoming_and_outgoing_calls_are_independent(version: OCPPVersion) -> None:
    """Each side may have one CALL outstanding at the same time (OCPP-J §4.1.1)."""
    session = csms(version, accepted=True)
    ours, _ = session.call("Reset", RESET[version], now=0.0)
    theirs = received_call(session, "hb-1", "Heartbeat", {})
    session.reply(theirs, {"currentTime": "2026-11-22T10:00:00Z"})
    event = only(session.receive(json.dumps([3, ours.unique_id, RESET_ACCEPTED]), now=1.0))
    assert isinstance(event, CallResultReceived)


def test_role_must_be_csms_or_charge_point() -> None:
    with pytest.raises(ValueError):
        OCPPSession(version=V16, role="proxy")  # type: ignore[arg-type]
