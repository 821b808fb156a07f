"""Running the ``ocpp-rpc`` charger scripts of this directory from pytest."""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from csms.domain.charging.stations import add_charger

__all__ = ["HERE", "NodeCharger", "node_executable", "start_node_charger"]

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


async def start_node_charger(
    server: Any, script: str, *, charger_id: str, card: str
) -> NodeCharger:
    """Provision ``charger_id`` (a fresh password) and card ``card`` on the running
    ``server``, then start ``script`` of this directory as that charger."""
    now = datetime.now(UTC)
    _, password = await server.db.write(
        lambda uow: add_charger(uow, charger_id=charger_id, now=now, password=None)
    )
    await server.db.write(lambda uow: uow.id_tags.add(uid=card, status="active", created_at=now))
    proc = await asyncio.create_subprocess_exec(
        node_executable(),
        str(HERE / script),
        server.ocpp_url,
        charger_id,
        str(password),
        card,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=HERE,
    )
    return NodeCharger(proc)
