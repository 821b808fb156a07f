"""Request bodies over the limit are refused with 413 before they are read (issue 18,
item 5): a declared Content-Length at once, a chunked body as soon as it passes the limit.

Over real HTTP: the server in the test's loop for the answers, and a ``csms serve``
process for memory (its peak RSS, from /proc, while 30 MB bodies are sent to it).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import select
import socket
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import Request

from bench.processes import free_port, run_checked, start_process
from csms.api import create_app
from csms.api.body_limit import max_body
from csms.config import Settings
from csms.server import running_server
from storage.database import Database
from tests.fakes.router import RecordingRouter

CSMS = str(Path(sys.executable).with_name("csms"))
MB = 1024 * 1024
LOGIN = "/api/app/login"


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return status, headers, body


def _post_blocking(
    url: str, path: str, *, size: int, chunked: bool, piece: int = 16 * 1024
) -> tuple[int, dict[str, str], bytes, int]:
    """POST ``size`` bytes to ``path``, writing them while watching for the answer; stop
    writing as soon as the server answers or hangs up. Returns (status, headers, body,
    bytes of body written). A plain socket: a refused write must not lose the answer."""
    parts = urlsplit(url)
    framing = b"Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}".encode()
    block = b'{"login": "' + b"a" * piece
    received = b""
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(
            b"POST " + path.encode() + b" HTTP/1.1\r\nHost: csms\r\n"
            b"Content-Type: application/json\r\n" + framing + b"\r\n\r\n"
        )
        sending = True
        while True:
            readable, writable, _ = select.select([sock], [sock] if sending else [], [], 60)
            if not readable and not writable:
                raise TimeoutError("no answer within 60 s")
            if readable:
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                received += data
                if not data or _complete(received):
                    break
                continue
            if sent >= size:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
                sending = False
                continue
            data = block[: min(piece, size - sent)]
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            except OSError:  # the server answered and closed: what it should do
                sending = False
            else:
                sent += len(data)
    status, headers, body = _parse(received)
    return status, headers, body, sent


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    return len(body) >= _parse_head(head)[1].get("content-length", 0)


def _parse_head(head: bytes) -> tuple[int, dict[str, Any]]:
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, Any] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        headers["content-length"] = int(headers["content-length"])
    return int(lines[0].split()[1]), headers


def _parse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status, headers = _parse_head(head)
    return status, headers, body


_senders = ThreadPoolExecutor(max_workers=8, thread_name_prefix="big-body")


async def post_streaming(
    url: str, path: str, *, size: int, chunked: bool
) -> tuple[int, dict[str, str], bytes, int]:
    """:func:`_post_blocking` in a thread of its own (several run at once)."""
    return await asyncio.get_running_loop().run_in_executor(
        _senders, functools.partial(_post_blocking, url, path, size=size, chunked=chunked)
    )


async def test_a_declared_body_over_the_limit_is_refused_without_being_read(
    settings_factory: Callable[..., Settings],
) -> None:
    # Only the head is sent: the answer cannot wait for the 30 MB.
    async with running_server(settings_factory()) as server:
        parts = urlsplit(server.api_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(
            b"POST /api/app/login HTTP/1.1\r\nHost: csms\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (30 * MB)
        )
        try:
            async with asyncio.timeout(5):
                status, headers, body = await _read_response(reader)
                assert await reader.read() == b""  # and the connection is closed
        finally:
            writer.close()
    assert status == 413
    assert headers["connection"] == "close"
    assert "at most 1 MB" in json.loads(body)["error"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_30_mb_login_body_gets_413(
    settings_factory: Callable[..., Settings], chunked: bool
) -> None:
    async with running_server(settings_factory()) as server:
        status, _, body, sent = await post_streaming(
            server.api_url, LOGIN, size=30 * MB, chunked=chunked
        )
    assert status == 413
    assert json.loads(body)["error"].startswith("request body too large")
    # Cut at the limit, not read to the end (the socket buffers hold a few MB more).
    assert sent < 12 * MB


async def test_a_body_under_the_limit_is_served_as_before(
    settings_factory: Callable[..., Settings],
) -> None:
    async with (
        running_server(settings_factory()) as server,
        httpx.AsyncClient(base_url=server.api_url) as client,
    ):
        answer = await client.post(
            LOGIN, json={"login": "nobody@example.com", "password": "x" * 100}
        )
        chunked = await client.post(
            LOGIN,
            content=_parts(b'{"login": "nobody@example.com", ', b'"password": "wrong"}'),
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 401
    assert chunked.status_code == 401


async def _parts(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:  # an async iterable: httpx sends it chunked
        yield part


async def test_the_limit_is_set_by_csms_api_max_body(
    settings_factory: Callable[..., Settings],
) -> None:
    async with (
        running_server(settings_factory(api_max_body=1024)) as server,
        httpx.AsyncClient(base_url=server.api_url) as client,
    ):
        small = await client.post(LOGIN, json={"login": "a@example.com", "password": "p"})
        large = await client.post(LOGIN, json={"login": "a" * 2000, "password": "p"})
    assert small.status_code == 401
    assert large.status_code == 413
    assert "at most 1 kB" in large.json()["error"]


async def test_a_route_can_take_larger_bodies_than_the_default(
    sqlite_db: Database, settings_factory: Callable[..., Settings]
) -> None:
    app = create_app(
        db=sqlite_db, router=RecordingRouter(), settings=settings_factory(api_max_body=1024)
    )

    @app.put("/api/test-upload")
    @max_body(8 * 1024)
    async def upload(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://csms") as client:
        fits = await client.put("/api/test-upload", content=b"x" * 4096)
        too_large = await client.put("/api/test-upload", content=b"x" * 9000)
        elsewhere = await client.post(LOGIN, content=b"x" * 4096)
    assert fits.status_code == 200, fits.text
    assert fits.json() == {"received": 4096}
    assert too_large.status_code == 413
    assert elsewhere.status_code == 413


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
async def test_concurrent_30_mb_bodies_do_not_grow_the_server_memory(tmp_path: Path) -> None:
    api_port, ocpp_port = free_port(), free_port()
    env = {
        **os.environ,
        "CSMS_HOME": str(tmp_path / "home"),
        "CSMS_OCPP_HOST": "127.0.0.1",
        "CSMS_OCPP_PORT": str(ocpp_port),
        "CSMS_API_PORT": str(api_port),
        "CSMS_PING_INTERVAL": "0",
    }
    url = f"http://127.0.0.1:{api_port}"
    await run_checked([CSMS, "db", "upgrade"], env=env, log_path=tmp_path / "upgrade.log")
    log_path = tmp_path / "serve.log"
    async with start_process(
        "csms", [CSMS, "serve"], port=api_port, env=env, log_path=log_path
    ) as server:
        server_pid = server.pid
        async with httpx.AsyncClient(base_url=url) as client:  # warm up the login route
            assert (await client.post(LOGIN, json={"login": "x@y.z", "password": "p"})).status_code
        before = _peak_rss_kib(server_pid)
        answers = await asyncio.gather(
            *(
                post_streaming(url, LOGIN, size=30 * MB, chunked=chunked)
                for chunked in (False, True) * 4
            )
        )
        after = _peak_rss_kib(server_pid)
    # Eight bodies of 30 MB read in full would be 240 MB; refused, they cost next to nothing.
    assert after - before < 30 * 1024, f"peak RSS grew from {before} to {after} KiB"
    assert [status for status, *_ in answers] == [413] * 8
    assert "Traceback" not in log_path.read_text()
