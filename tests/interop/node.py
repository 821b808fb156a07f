"""Running the ``ocpp-rpc`` charger scripts of this directory from pytest."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

__all__ = ["HERE", "NodeCharger", "node_executable"]

HERE = Path(__file__).resolve().parent


def node_executable() -> str:
    """The node executable; fails (never skips) when node or ocpp-rpc is not installed."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "node is not installed: install Node.js >= 18, then run `npm install` in tests/interop",
            pytrace=False,
        )
    if not (HERE / "node_modules" / "ocpp-rpc" / "package.json").is_file():
        pytest.fail(
            "tests/interop/node_modules/ocpp-rpc is missing: run `npm install` in tests/interop",
            pytrace=False,
        )
    return node


class NodeCharger:
    """A running charger script: its JSON lines as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[dict[str, Any]] = []

    async def next_line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await self.proc.stdout.readline()
        assert raw, f"the charger script ended early; its output so far: {self.lines}"
        line = json.loads(raw)
        self.lines.append(line)
        return dict(line)

    async def wait_for(self, step: str) -> dict[str, Any]:
        while (line := await self.next_line())["step"] != step:
            pass
        return line

    async def finish(self) -> tuple[int, str]:
        """Tell it to disconnect; its exit status and standard error."""
        rest, stderr = await self.proc.communicate(b"close\n")
        self.lines.extend(json.loads(raw) for raw in rest.splitlines() if raw.strip())
        return await self.proc.wait(), stderr.decode()

    def step(self, name: str) -> dict[str, Any]:
        found = [line for line in self.lines if line["step"] == name]
        assert len(found) == 1, f"step {name!r}: {found}; all lines: {self.lines}"
        return found[0]

    def failures(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("ok") is False]

    async def send_line(self, text: str) -> None:
        """A command line on the script's standard input (e.g. ``end``)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()
