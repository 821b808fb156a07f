"""What the fakes' failure injection is made of: a queue of what the next requests get (a
failure, a delay), and a hold that keeps one request's answer back until the test lets it
go. Both are safe to use from the test's thread and the server's."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import Generic, TypeVar

__all__ = ["Hold", "Upcoming"]

T = TypeVar("T")


class Upcoming(Generic[T]):
    """Items for the next requests, one a request, first in first out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[T] = deque()

    def add(self, item: T, *, times: int = 1) -> None:
        """``item`` for each of the next ``times`` requests (after those queued already)."""
        with self._lock:
            self._items.extend([item] * times)

    def take(self) -> T | None:
        """The item for this request, None when none is queued."""
        with self._lock:
            return self._items.popleft() if self._items else None


class Hold:
    """Holds back the answer to the next request after ``arm()``: the server calls
    ``pause()`` once it has taken the request in, and ``pause()`` returns once the test
    calls ``release()`` (or after ``max_hold`` seconds, if given)."""

    def __init__(self, *, max_hold: float | None = None) -> None:
        self.max_hold = max_hold
        self._lock = threading.Lock()
        self._armed = False
        self._held = threading.Event()
        self._released = threading.Event()
        self._answered = threading.Event()

    def arm(self) -> None:
        """Hold the next request that reaches ``pause()``."""
        with self._lock:
            self._armed = True
            self._held.clear()
            self._released.clear()
            self._answered.clear()

    def disarm(self) -> bool:
        """Hold no further request; True when one is being held already."""
        with self._lock:
            self._armed = False
            return self._held.is_set()

    def wait_held(self, timeout: float) -> bool:
        """Block until a request is being held (True), or ``timeout`` seconds have passed."""
        return self._held.wait(timeout)

    def release(self) -> None:
        """Let the held request go (and one that arrives held later on)."""
        self._released.set()

    def answered(self) -> None:
        """Called by the server once a held request has been answered."""
        self._answered.set()

    def wait_answered(self, timeout: float) -> bool:
        return self._answered.wait(timeout)

    async def pause(self) -> bool:
        """Called by the server: when armed, hold this request until released. True when it
        was held."""
        with self._lock:
            if not self._armed:
                return False
            self._armed = False
            self._held.set()
        await asyncio.to_thread(self._released.wait, self.max_hold)
        return True
