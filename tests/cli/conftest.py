"""Running the real ``csms`` CLI against a running server."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from csms.cli import main

CSMS = Path(sys.executable).with_name("csms")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


async def run_cli(env: dict[str, str], *args: str) -> Result:
    """``csms ARGS`` in a worker thread (the server keeps running in this event loop)."""
    out, err = io.StringIO(), io.StringIO()
    code = await asyncio.to_thread(main, list(args), stdout=out, stderr=err, env=env)
    return Result(code, out.getvalue(), err.getvalue())


async def answer_one_call(ws: Any, answer: dict[str, Any]) -> list[Any]:
    """As a charger on ``ws``: receive the server's CALL, answer it, return the CALL."""
    call = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
    await ws.send(json.dumps([3, call[1], answer]))
    return list(call)


async def run_csms_process(env: dict[str, str], *args: str) -> Result:
    """The installed ``csms`` executable in a subprocess."""
    process = await asyncio.create_subprocess_exec(
        str(CSMS),
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@pytest.fixture
def cli_env(csms_server: Any) -> dict[str, str]:
    """Environment for the CLI: the server's home (admin.token) and API URL."""
    return {
        "CSMS_HOME": str(csms_server.settings.home),
        "CSMS_API_URL": csms_server.api_url,
        "CSMS_DATABASE_URL": csms_server.settings.database.url,
    }
