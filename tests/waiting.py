"""Waiting in async tests for something that happens elsewhere (another task, thread or
process)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["eventually"]


async def eventually(
    check: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll ``check`` (sync or async) every ``interval`` seconds until it returns something
    truthy, and return that; ``TimeoutError`` after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(interval)
