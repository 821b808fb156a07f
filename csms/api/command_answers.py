"""Operator commands from HTTP routes: the charger's answer, or an HTTP error.

:func:`command_answer` is :func:`csms.adapters.outbound.send_command` with its failures
as :class:`~csms.api.errors.ApiError`, keeping their messages: 503 the charger is not
connected, 504 it did not answer in time, 502 it answered with a CALLERROR, 501 its OCPP
version has no such command. InvalidRequest (a value the charger cannot take) passes
through and is answered 400 like every domain error.
"""

from __future__ import annotations

from typing import Any

from csms.adapters.outbound import send_command
from csms.api.errors import ApiError
from csms.domain.charging.remote_commands import Command, UnsupportedCommand
from csms.routing import ChargerNotConnected, CommandError, CommandRouter, CommandTimeout

__all__ = ["command_answer"]


async def command_answer(
    router: CommandRouter, charger_id: str, command: Command
) -> dict[str, Any]:
    """Send ``command`` to a connected charger; its version-neutral answer (the body of
    :class:`~csms.api.command_bodies.CommandAnswer`)."""
    try:
        return await send_command(router, charger_id, command)
    except UnsupportedCommand as exc:
        raise ApiError(501, str(exc)) from None
    except ChargerNotConnected as exc:
        raise ApiError(503, str(exc)) from None
    except CommandTimeout as exc:
        raise ApiError(504, str(exc)) from None
    except CommandError as exc:
        raise ApiError(502, str(exc)) from None
