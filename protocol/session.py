"""One OCPP-J connection's RPC state, without I/O and without a clock.

Feed every received WebSocket message to :meth:`OCPPSession.receive` and act on the
events it returns; send the text that :meth:`~OCPPSession.reply`,
:meth:`~OCPPSession.reply_error` and :meth:`~OCPPSession.call` return; call
:meth:`~OCPPSession.expire` at :attr:`~OCPPSession.next_deadline`. Time is whatever
monotonic number the caller passes as ``now`` (seconds). The session never raises on
bad input from the peer; it raises only on misuse by the application.

Rules it enforces (both versions unless noted):

* **One outgoing CALL at a time** (OCPP-J §4.1.1 "synchronicity"): :meth:`call` raises
  :class:`CallInProgress` until the outstanding CALL is answered, or expired by
  :meth:`expire` after ``call_timeout`` seconds (:class:`CallTimedOut`). An answer whose
  id is not the outstanding CALL's (for instance a late one, after the timeout) is
  returned as :class:`UnmatchedMessage`, for the log.
* **Answers are validated**: a CALLRESULT whose payload breaks the action's response
  schema resolves the CALL as :class:`CallErrorReceived` with a synthetic CALLERROR
  (``FormationViolation`` in 1.6, ``FormatViolation`` in 2.0.1; the precise code is in
  its ``error_details["code"]``), so the caller learns the answer was unusable. A broken
  CALLRESULT/CALLERROR frame carrying the outstanding id resolves it the same way; one
  that does not is returned as :class:`MessageIgnored`. Responses are never answered.
* **Incoming CALLs** are delivered as :class:`CallReceived` and remembered until the
  application answers them with :meth:`reply` or :meth:`reply_error`; answering a CALL
  that is not waiting for an answer raises :class:`CallNotOutstanding`.
  A peer SHOULD NOT send a second CALL before the first is answered (OCPP-J §4.1.1),
  but some chargers do; **the session still delivers it** rather than lose a
  transaction message, and the gateway answers CALLs in the order they arrived. A CALL
  that reuses the id of one still waiting for its answer is refused (2.0.1 OCPP-J
  §4.2.3 names this case) with ``RpcFrameworkError`` (1.6: ``ProtocolError``).
* **Answered by the session itself** (returned as :class:`SendFrame`, connection kept):

  ==========================================  ============================  =====================
  incoming message                            2.0.1 CALLERROR               1.6 CALLERROR
  ==========================================  ============================  =====================
  not JSON / not an array / no readable id    ``RpcFrameworkError``, id -1  ``ProtocolError``, id -1
  wrong element count, action not a string    ``RpcFrameworkError``         ``ProtocolError``
  message type id not 2, 3 or 4               ``MessageTypeNotSupported``   ``ProtocolError``
  payload not an object                       ``FormatViolation``           ``FormationViolation``
  unknown action                              ``NotImplemented``            ``NotImplemented``
  payload breaks the request schema           see :mod:`protocol.validation`
  CALL before the boot is accepted (below)    ``SecurityError``             ``SecurityError``
  ==========================================  ============================  =====================

  Id ``"-1"`` is 2.0.1's id for a CALLERROR whose CALL id could not be read; 1.6 has no
  rule for this and gets the same. The description says what is wrong (which field,
  which rule) and never quotes the received text.
* **Boot first** (role ``"csms"`` with ``boot_required``; 2.0.1 B02.FR.09, B03.FR.07,
  1.6 §4.2): until :attr:`~OCPPSession.accepted` is true, every incoming CALL other than
  BootNotification is answered with ``SecurityError``. Exception, as the specification
  allows while Pending: a message the CSMS asked for by sending TriggerMessage (1.6 also
  ExtendedTriggerMessage), or NotifyReport after GetBaseReport/GetReport, is let through
  until the next BootNotification. Replying to a BootNotification sets ``accepted`` to
  whether its status is ``"Accepted"``; the application may also set it directly (a
  charger known to be accepted that reconnects without booting). Role
  ``"charge_point"`` never refuses a CALL for this reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from protocol.errors import ErrorCode, OCPPError, wire_error_code
from protocol.frames import (
    Call,
    CallError,
    CallResult,
    FrameError,
    decode_frame,
    encode_frame,
)
from protocol.validation import validator_for
from protocol.versions import OCPPVersion

__all__ = [
    "CallErrorReceived",
    "CallInProgress",
    "CallNotOutstanding",
    "CallReceived",
    "CallResultReceived",
    "CallTimedOut",
    "Event",
    "MessageIgnored",
    "OCPPSession",
    "Role",
    "SendFrame",
    "SessionStateError",
    "UnmatchedMessage",
]

Role = Literal["csms", "charge_point"]

#: Length limit of a CALLERROR's errorDescription (2.0.1 OCPP-J §4.2.3: string[0..255]).
MAX_ERROR_DESCRIPTION = 255
#: Id of a CALLERROR answering a message whose id could not be read (2.0.1 OCPP-J §4.2.3).
UNREADABLE_ID = "-1"


# --- events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallReceived:
    """A valid incoming CALL for the application to answer with ``reply``/``reply_error``."""

    call: Call


@dataclass(frozen=True, slots=True)
class CallResultReceived:
    """The answer to our outstanding CALL; ``result.payload`` passed the response schema."""

    call: Call
    result: CallResult


@dataclass(frozen=True, slots=True)
class CallErrorReceived:
    """Our outstanding CALL failed: the peer's CALLERROR, or a synthetic one when the
    peer's answer was unusable (``error.error_details["synthetic"]`` is then true)."""

    call: Call
    error: CallError


@dataclass(frozen=True, slots=True)
class SendFrame:
    """The session answered a message by itself: send ``data``, keep the connection.

    ``error`` is the CALLERROR in ``data``, for logging without parsing it again.
    """

    data: str
    error: CallError | None = None


@dataclass(frozen=True, slots=True)
class UnmatchedMessage:
    """A well-formed answer with an id we are not waiting for (late or bogus): log, drop."""

    frame: CallResult | CallError


@dataclass(frozen=True, slots=True)
class MessageIgnored:
    """A broken CALLRESULT/CALLERROR that matches no outstanding CALL: log, drop.

    (Answers are never answered, so there is nothing to send.)
    """

    description: str
    unique_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallTimedOut:
    """Our CALL got no answer before its deadline (returned by ``expire``)."""

    call: Call


Event = (
    CallReceived
    | CallResultReceived
    | CallErrorReceived
    | SendFrame
    | UnmatchedMessage
    | MessageIgnored
)


# --- misuse by the application ----------------------------------------------------------


class SessionStateError(RuntimeError):
    """The application used the session out of order."""


class CallInProgress(SessionStateError):
    """A CALL of ours is still waiting for its answer (OCPP-J §4.1.1)."""

    def __init__(self, call: Call) -> None:
        super().__init__(f"{call.action} {call.unique_id!r} is still waiting for its answer")
        self.call = call


class CallNotOutstanding(SessionStateError):
    """``reply``/``reply_error`` for a CALL that is not waiting for an answer."""

    def __init__(self, call: Call) -> None:
        super().__init__(f"{call.action} {call.unique_id!r} is not waiting for an answer")
        self.call = call


# --- the session ------------------------------------------------------------------------

# TriggerMessage.requestedMessage -> the action the peer will then send. The signing
# triggers (1.6 security extension, 2.0.1) all lead to SignCertificate.
_SIGN_TRIGGER_PREFIX = "Sign"
_TRIGGER_ACTIONS = frozenset({"TriggerMessage", "ExtendedTriggerMessage"})
_REPORT_ACTIONS = frozenset({"GetBaseReport", "GetReport"})


def _default_unique_id() -> str:
    return str(uuid.uuid4())


def _truncate(text: str, limit: int = MAX_ERROR_DESCRIPTION) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OCPPSession:
    """The RPC state of one connection: see the module docstring for the rules."""

    version: OCPPVersion
    role: Role
    validate: bool
    call_timeout: float
    boot_required: bool
    accepted: bool

    def __init__(
        self,
        *,
        version: OCPPVersion,
        role: Role,
        validate: bool = True,
        call_timeout: float = 30.0,
        boot_required: bool = True,
        accepted: bool = False,
        new_unique_id: Callable[[], str] | None = None,
    ) -> None:
        if role not in ("csms", "charge_point"):
            raise ValueError(f"role must be 'csms' or 'charge_point', not {role!r}")
        self.version = OCPPVersion(version)
        self.role = role
        self.validate = validate
        self.call_timeout = call_timeout
        self.boot_required = boot_required
        self.accepted = accepted
        self._new_unique_id = new_unique_id or _default_unique_id
        self._validator = validator_for(self.version)
        self._gate_boot = role == "csms"
        self._outstanding: Call | None = None
        self._deadline: float | None = None
        self._unanswered: dict[str, Call] = {}
        self._triggered: set[str] = set()
        self._last_received: float | None = None

    # -- state -------------------------------------------------------------------------

    @property
    def outstanding_call(self) -> Call | None:
        """Our CALL waiting for its answer, if any."""
        return self._outstanding

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`expire` should next be called (``None``: nothing to expire)."""
        return self._deadline

    @property
    def unanswered_calls(self) -> tuple[Call, ...]:
        """The peer's CALLs delivered but not yet answered, oldest first."""
        return tuple(self._unanswered.values())

    @property
    def last_received(self) -> float | None:
        """The ``now`` of the last :meth:`receive` (``None`` before the first message)."""
        return self._last_received

    # -- input -------------------------------------------------------------------------

    def receive(self, data: str | bytes, *, now: float) -> list[Event]:
        """Process one received WebSocket message; returns what happened."""
        self._last_received = now
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            return self._on_frame_error(exc)
        if type(frame) is Call:
            return self._on_call(frame)
        if type(frame) is CallResult:
            return self._on_call_result(frame)
        assert type(frame) is CallError
        return self._on_call_error(frame)

    def _on_call(self, call: Call) -> list[Event]:
        unique_id = call.unique_id
        if unique_id in self._unanswered:
            return self._refuse(
                unique_id,
                OCPPError(
                    ErrorCode.RPC_FRAMEWORK_ERROR,
                    "a CALL with this message id is still waiting for its answer",
                ),
            )
        action = call.action
        if (
            self._gate_boot
            and not self.accepted
            and self.boot_required
            and action != "BootNotification"
            and action not in self._triggered
        ):
            # 2.0.1 B02.FR.09 (Pending), B03.FR.07 (Rejected); 1.6 §4.2
            return self._refuse(
                unique_id,
                OCPPError(
                    ErrorCode.SECURITY_ERROR,
                    f"{action} refused: BootNotification not accepted yet",
                ),
            )
        if not self._validator.knows_action(action):
            return self._refuse(
                unique_id,
                OCPPError(ErrorCode.NOT_IMPLEMENTED, "requested action is not known"),
            )
        if self.validate:
            try:
                self._validator.validate_request(action, call.payload)
            except OCPPError as exc:
                return self._refuse(unique_id, exc)
        self._unanswered[unique_id] = call
        return [CallReceived(call)]

    def _on_call_result(self, result: CallResult) -> list[Event]:
        call = self._outstanding
        if call is None or call.unique_id != result.unique_id:
            return [UnmatchedMessage(result)]
        self._outstanding = self._deadline = None
        if self.validate:
            try:
                self._validator.validate_response(call.action, result.payload)
            except OCPPError as exc:
                return [self._synthetic_error(call, "invalid CALLRESULT payload", exc)]
        return [CallResultReceived(call, result)]

    def _on_call_error(self, error: CallError) -> list[Event]:
        call = self._outstanding
        if call is None or call.unique_id != error.unique_id:
            return [UnmatchedMessage(error)]
        self._outstanding = self._deadline = None
        return [CallErrorReceived(call, error)]

    def _on_frame_error(self, exc: FrameError) -> list[Event]:
        if exc.message_type_id in (3, 4):
            # A broken answer: never answered back (1.6/2.0.1 OCPP-J §4.2.3: a CALLERROR
            # answers a CALL). Resolve our CALL if it is the one being answered.
            call = self._outstanding
            if call is not None and exc.unique_id == call.unique_id:
                self._outstanding = self._deadline = None
                kind = "CALLRESULT" if exc.message_type_id == 3 else "CALLERROR"
                return [self._synthetic_error(call, f"invalid {kind}", exc)]
            return [MessageIgnored(exc.description, exc.unique_id)]
        return self._refuse(exc.unique_id or UNREADABLE_ID, exc)

    def _synthetic_error(self, call: Call, what: str, exc: OCPPError) -> CallErrorReceived:
        details: dict[str, Any] = {
            "synthetic": True,
            "code": wire_error_code(exc.code, self.version),
        }
        details.update(exc.details)
        error = CallError(
            call.unique_id,
            wire_error_code(ErrorCode.FORMAT_VIOLATION, self.version),
            _truncate(f"{what}: {exc.description}"),
            details,
        )
        return CallErrorReceived(call, error)

    def _error_frame(self, unique_id: str, error: OCPPError) -> CallError:
        return CallError(
            unique_id,
            wire_error_code(error.code, self.version),
            _truncate(error.description),
            error.details,
        )

    def _refuse(self, unique_id: str, error: OCPPError) -> list[Event]:
        frame = self._error_frame(unique_id, error)
        return [SendFrame(encode_frame(frame), frame)]

    # -- answering the peer --------------------------------------------------------------

    def _take(self, call: Call) -> Call:
        pending = self._unanswered.get(call.unique_id)
        if pending is None or pending.action != call.action:
            raise CallNotOutstanding(call)
        return pending

    def reply(self, call: Call, payload: dict[str, Any]) -> str:
        """The CALLRESULT text answering ``call``.

        Raises :class:`CallNotOutstanding` if ``call`` is not waiting for an answer, and
        :class:`OCPPError` with code ``INTERNAL_ERROR`` if ``payload`` breaks the response
        schema: that is a bug on our side, not the peer's, so the error is ready to be
        passed to :meth:`reply_error` (the schema's own code, field and rule are in its
        ``details``). The CALL stays unanswered until then.
        """
        self._take(call)
        if self.validate:
            try:
                self._validator.validate_response(call.action, payload)
            except OCPPError as exc:
                details: dict[str, Any] = {"code": wire_error_code(exc.code, self.version)}
                details.update(exc.details)
                raise OCPPError(
                    ErrorCode.INTERNAL_ERROR, f"invalid answer: {exc.description}", details
                ) from None
        text = encode_frame(CallResult(call.unique_id, payload))
        del self._unanswered[call.unique_id]
        if call.action == "BootNotification" and self._gate_boot:
            self.accepted = payload.get("status") == "Accepted"
            self._triggered.clear()
        return text

    def reply_error(self, call: Call, error: OCPPError) -> str:
        """The CALLERROR text answering ``call`` with ``error`` (wire spelling of the version).

        Raises :class:`CallNotOutstanding` if ``call`` is not waiting for an answer.
        """
        self._take(call)
        text = encode_frame(self._error_frame(call.unique_id, error))
        del self._unanswered[call.unique_id]
        return text

    # -- calling the peer ----------------------------------------------------------------

    def call(self, action: str, payload: dict[str, Any], *, now: float) -> tuple[Call, str]:
        """Start a CALL: returns it and the text to send; its answer comes from ``receive``.

        Raises :class:`CallInProgress` while another CALL of ours is outstanding, and
        :class:`OCPPError` if ``payload`` breaks the request schema (nothing is recorded).
        """
        if self._outstanding is not None:
            raise CallInProgress(self._outstanding)
        if self.validate:
            self._validator.validate_request(action, payload)
        call = Call(self._new_unique_id(), action, payload)
        text = encode_frame(call)
        self._outstanding = call
        self._deadline = now + self.call_timeout
        if self._gate_boot:
            self._note_trigger(call)
        return call, text

    def _note_trigger(self, call: Call) -> None:
        """Let the message a Pending charger was asked for through the boot gate."""
        if call.action in _TRIGGER_ACTIONS:
            requested = call.payload.get("requestedMessage")
            if isinstance(requested, str):
                if requested.startswith(_SIGN_TRIGGER_PREFIX):
                    requested = "SignCertificate"
                self._triggered.add(requested)
        elif call.action in _REPORT_ACTIONS:
            self._triggered.add("NotifyReport")

    def expire(self, *, now: float) -> list[CallTimedOut]:
        """Give up on our outstanding CALL if its deadline has passed."""
        call = self._outstanding
        if call is None or self._deadline is None or now < self._deadline:
            return []
        self._outstanding = self._deadline = None
        return [CallTimedOut(call)]
