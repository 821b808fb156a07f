"""``csms-sim serve`` tells the person who started it that it works: connected, booted."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.simulators.fake_csms import FakeCSMS

ROOT = Path(__file__).resolve().parents[2]


async def _lines_until(stream: asyncio.StreamReader, last: str) -> list[str]:
    lines: list[str] = []
    async with asyncio.timeout(20):
        while not lines or last not in lines[-1]:
            line = await stream.readline()
            assert line, f"output ended before {last!r}: {lines}"
            lines.append(line.decode().rstrip("\n"))
    return lines


async def _serve(csms: FakeCSMS, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators.cli", "serve", "--url", csms.url, *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            async with asyncio.timeout(10):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def test_serve_prints_when_it_is_connected_and_when_it_is_booted(csms: FakeCSMS) -> None:
    process = await _serve(csms, "--id", "CP7")
    try:
        assert process.stdout is not None
        lines = await _lines_until(process.stdout, "booted")
    finally:
        await _stop(process)
    assert lines == [
        f"CP7: connected to {csms.url}/CP7 (ocpp1.6)",
        "CP7: booted (BootNotification Accepted); waiting for the CSMS, Ctrl-C to stop",
    ]


async def test_serve_with_json_keeps_stdout_for_json_and_tells_on_stderr(
    csms: FakeCSMS,
) -> None:
    process = await _serve(csms, "--id", "CS7", "--protocol", "ocpp2.0.1", "--json")
    try:
        assert process.stderr is not None
        lines = await _lines_until(process.stderr, "booted")
    finally:
        await _stop(process)
        assert process.stdout is not None
        out = await process.stdout.read()
    assert lines[0] == f"CS7: connected to {csms.url}/CS7 (ocpp2.0.1)"
    assert "CS7: booted (BootNotification Accepted)" in lines[-1]
    assert out == b""
