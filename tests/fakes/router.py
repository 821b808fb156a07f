"""A command router double for the API and adapter tests (csms.routing.CommandRouter)."""

from __future__ import annotations

from typing import Any

from csms.routing import CommandResult

__all__ = ["RecordingRouter"]


class RecordingRouter:
    """Chargers in ``connected`` (id → subprotocol) are online; ``send`` records the call and
    answers ``answers[action]``, else ``answer``, or raises ``error``."""

    def __init__(self) -> None:
        self.connected: dict[str, str] = {}
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.answers: dict[str, dict[str, Any]] = {}
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
        answer = self.answers.get(action, self.answer)
        return CommandResult(charger_id=charger_id, action=action, payload=answer)
