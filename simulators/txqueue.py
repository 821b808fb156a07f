"""The offline queue of transaction-related messages (OCPP 1.6 §4.1/§3.5.x, 2.0.1 E04).

Transaction messages (1.6: StartTransaction, MeterValues of a transaction, StopTransaction;
2.0.1: TransactionEvent) are never sent around the queue: they go in here in the order the
charger produced them and a single worker sends them one at a time, strictly in order,
whenever the station is connected and accepted. A message leaves the queue only when the
CSMS has answered it (or after the configured number of failed attempts).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PayloadResolver", "QueuedMessage", "TransactionQueue"]

#: Turns the stored payload into the one to send (e.g. a local transaction id into the
#: CSMS's one); returning None drops the message (its transaction never got an id).
PayloadResolver = Callable[[Mapping[str, Any]], Mapping[str, Any] | None]


@dataclass(eq=False, slots=True)
class QueuedMessage:
    """One transaction message waiting for its turn."""

    action: str
    payload: Mapping[str, Any]
    resolve: PayloadResolver | None = None
    #: Called with the CSMS's answer (typed as the action's response TypedDict).
    on_result: Callable[[Any], None] | None = None
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    attempts: int = 0

    def payload_to_send(self) -> Mapping[str, Any] | None:
        return self.payload if self.resolve is None else self.resolve(self.payload)


class TransactionQueue:
    """FIFO of :class:`QueuedMessage`; the station's worker drains it."""

    def __init__(self) -> None:
        self._items: deque[QueuedMessage] = deque()
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: QueuedMessage) -> QueuedMessage:
        self._items.append(message)
        self._notify()
        return message

    def head(self) -> QueuedMessage | None:
        return self._items[0] if self._items else None

    def pop(self, message: QueuedMessage) -> None:
        """Remove ``message``, which must be the head."""
        if not self._items or self._items[0] is not message:
            raise RuntimeError("only the head of the transaction queue can leave it")
        self._items.popleft()
        self._notify()

    def pending(self) -> list[tuple[str, Mapping[str, Any]]]:
        """(action, stored payload) of every waiting message, oldest first."""
        return [(item.action, item.payload) for item in self._items]

    async def wait_nonempty(self) -> None:
        while not self._items:
            await self._wait_change()

    async def wait_empty(self) -> None:
        while self._items:
            await self._wait_change()

    async def _wait_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
