"""A crowd of oversized, unfinished handshakes against ``csms serve`` (issue 18, item 6).

The issue's attack: hundreds of handshakes with about 480 kB of headers each, never
finished, took the server from 229 to 544 MB. Here 200 of them go to a served process:
each is refused with 431 once past 16 KiB, so the process's RSS barely moves; then 200
handshakes that stay under the limit and never finish are dropped by
``CSMS_HANDSHAKE_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from bench.processes import free_port, rss_kib, run_checked, start_process
from tests.gateway.test_handshake_limits import partial_head

CSMS = str(Path(sys.executable).with_name("csms"))
CLIENTS = 200
#: What 200 handshakes may add to the process at most: 200 x 16 KiB is 3.2 MB; the
#: attack took 480 kB each (96 MB for 200) before the limit.
MAX_GROWTH_KIB = 32 * 1024


async def test_oversized_unfinished_handshakes_leave_the_served_process_rss_bounded(
    tmp_path: Path,
) -> None:
    ocpp_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "CSMS_HOME": str(tmp_path / "home"),
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_OCPP_PORT": str(ocpp_port),
        "CSMS_API_PORT": str(api_port),
        "CSMS_API_URL": f"http://127.0.0.1:{api_port}",
        "CSMS_PING_INTERVAL": "0",
        "CSMS_HANDSHAKE_TIMEOUT": "2s",
    }
    log_path = tmp_path / "serve.log"
    await run_checked([CSMS, "db", "upgrade"], env=env, log_path=tmp_path / "upgrade.log")
    async with start_process(
        "csms", [CSMS, "serve"], port=api_port, env=env, log_path=log_path
    ) as server:
        pid = server.pid
        baseline = rss_kib(pid)
        big = partial_head(480 * 1024)
        clients = [await _connect_and_send(ocpp_port, big) for _ in range(CLIENTS)]
        try:
            heads = await asyncio.wait_for(
                asyncio.gather(*(reader.readuntil(b"\r\n\r\n") for reader, _ in clients)), 30
            )
            assert all(head.startswith(b"HTTP/1.1 431 ") for head in heads), heads[0]
            after_big = rss_kib(pid)
        finally:
            for _, writer in clients:
                writer.close()
        small = partial_head(15 * 1024)
        clients = [await _connect_and_send(ocpp_port, small) for _ in range(CLIENTS)]
        try:
            # Each unfinished handshake is dropped by the server after the timeout.
            ends = await asyncio.wait_for(
                asyncio.gather(*(reader.read() for reader, _ in clients)), 30
            )
            assert ends == [b""] * CLIENTS
            after_small = rss_kib(pid)
        finally:
            for _, writer in clients:
                writer.close()
    assert after_big - baseline < MAX_GROWTH_KIB, (baseline, after_big)
    assert after_small - baseline < MAX_GROWTH_KIB, (baseline, after_small)
    assert "Traceback" not in log_path.read_text()


async def _connect_and_send(
    port: int, data: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    return reader, writer
