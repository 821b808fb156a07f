"""Exceptions of the simulators' Python API."""

from __future__ import annotations

from protocol import CallError

__all__ = [
    "CallErrorResponse",
    "CallTimeout",
    "ConnectionLost",
    "HandshakeFailed",
    "SimulatorError",
    "StationOffline",
]


class SimulatorError(Exception):
    """Base class of the simulators' errors."""


class StationOffline(SimulatorError):
    """The station has no connection to the CSMS right now (the message was not sent)."""


class ConnectionLost(SimulatorError):
    """The connection dropped while a call was waiting for its answer."""


class CallTimeout(SimulatorError):
    """The CSMS did not answer a call in time."""

    def __init__(self, action: str, timeout: float) -> None:
        super().__init__(f"no answer to {action} within {timeout:g} s")
        self.action = action
        self.timeout = timeout


class CallErrorResponse(SimulatorError):
    """The CSMS answered a call with a CALLERROR."""

    def __init__(self, action: str, error: CallError) -> None:
        detail = f": {error.error_description}" if error.error_description else ""
        super().__init__(f"{action} was answered with CALLERROR {error.error_code}{detail}")
        self.action = action
        self.error = error

    @property
    def error_code(self) -> str:
        return self.error.error_code


class HandshakeFailed(SimulatorError):
    """The WebSocket connection could not be opened (refused, HTTP 401/404, no subprotocol)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
