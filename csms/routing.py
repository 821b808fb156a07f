"""Operator commands to live chargers, routed to the connection that holds the charger.

``CommandRouter`` is the one interface commands go through
(:func:`csms.adapters.outbound.send_command` sends them, the API asks it which chargers
are online); :class:`csms.gateway.Gateway` implements it for the chargers connected to
this process. A multi-node deployment implements the same interface by forwarding to the
node holding the charger's connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ChargerNotConnected",
    "CommandError",
    "CommandResult",
    "CommandRouter",
    "CommandTimeout",
]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The charger's CALLRESULT payload for a command."""

    charger_id: str
    action: str
    payload: dict[str, Any]


class CommandError(Exception):
    """The charger answered with a CALLERROR (or the command could not be sent)."""

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


class ChargerNotConnected(CommandError):
    """The charger has no open connection (or lost it before answering)."""


class CommandTimeout(CommandError):
    """The charger did not answer in time."""


class CommandRouter(Protocol):
    """Where a charger's connection is, and sending a CALL over it."""

    def is_connected(self, charger_id: str) -> bool: ...

    def ocpp_version(self, charger_id: str) -> str | None:
        """The connection's subprotocol (``ocpp1.6``, ``ocpp2.0.1``); None when offline."""
        ...

    async def send(
        self, charger_id: str, action: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> CommandResult:
        """Send ``action`` and return the answer; raises ChargerNotConnected, CommandTimeout,
        CommandError (CALLERROR from the charger or a request our schema check refused)."""
        ...
