"""Doubles for the adapter tests: a command router that records what it is asked to send."""

from __future__ import annotations

from typing import Any

import pytest

from csms.routing import CommandResult


class RecordingRouter:
    """A CommandRouter double: chargers in ``connected`` (id → subprotocol) are online;
    ``send`` records the call and answers ``answer`` or raises ``error``."""

    def __init__(self) -> None:
        self.connected: dict[str, str] = {}
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.answer: dict[str, Any] = {"status": "Accepted"}
        self.error: Exception | None = None

    def is_connected(self, charger_id: str) -> bool:
        return charger_id in self.connected

    def ocpp_version(self, charger_id: str) -> str | None:
        return self.connected.get(charger_id)

    async def send(
        self, charger_id: str, action: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> CommandResult:
        self.sent.append((charger_id, action, payload))
        if self.error is not None:
            raise self.error
        return CommandResult(charger_id=charger_id, action=action, payload=self.answer)


@pytest.fixture
def router() -> RecordingRouter:
    return RecordingRouter()
