"""Interoperability over TLS: the npm package ``ocpp-rpc`` (strict mode, node's TLS through
the ``ws`` package) as a foreign charger on csms's wss listener, with security profile 2
(HTTP Basic auth over TLS) and profile 3 (a client certificate), in 1.6J and 2.0.1.

The server certificate and the charging-station CA are made here with ``cryptography``
(CSMS_TLS_CERT / CSMS_TLS_KEY, and CSMS_TLS_CLIENT_CA for the client certificates); the
charger is ``charger_tls.mjs``. Needs ``node`` and ``npm install`` in ``tests/interop``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from csms.config import Settings
from csms.domain.charging.stations import add_charger
from tests.interop.node import HERE, node_executable
from tests.pki import PkiDirectory

RUN_TIMEOUT = 30.0


@pytest.fixture
async def tls_server(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> AsyncIterator[tuple[Any, PkiDirectory]]:
    """csms with its wss listener on an ephemeral port and a test PKI."""
    from csms.server import running_server

    ca = PkiDirectory(tmp_path / "pki")
    settings = settings_factory(
        tls_port=0,
        tls_cert=ca.server_cert_path,
        tls_key=ca.server_key_path,
        tls_client_ca=ca.ca_path,
    )
    async with running_server(settings) as server:
        yield server, ca


async def _provision(server: Any, charger_id: str, *, profile: int) -> str:
    now = datetime.now(UTC)
    _, password = await server.db.write(
        lambda uow: add_charger(
            uow, charger_id=charger_id, now=now, password=None, security_profile=profile
        )
    )
    return str(password)


async def _run(url: str, identity: str, ca: PkiDirectory, **env: str) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        node_executable(),
        str(HERE / "charger_tls.mjs"),
        env=dict(os.environ, OCPP_URL=url, OCPP_IDENTITY=identity, OCPP_CA=str(ca.ca_path), **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=HERE,
    )
    try:
        async with asyncio.timeout(RUN_TIMEOUT):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert lines, f"charger_tls.mjs printed nothing; stderr: {err.decode()}"
    return lines


def _step(lines: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [found] = [line for line in lines if line["step"] == name]
    return found


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_ocpp_rpc_boots_over_wss_with_basic_auth_on_profile_2(
    tls_server: tuple[Any, PkiDirectory], protocol: str
) -> None:
    server, ca = tls_server
    password = await _provision(server, "RPCTLS2", profile=2)
    lines = await _run(
        server.ocpp_tls_url, "RPCTLS2", ca, OCPP_PROTOCOL=protocol, OCPP_PASSWORD=password
    )
    connect = _step(lines, "connect")
    assert connect["ok"], lines
    assert connect["protocol"] == protocol
    assert connect["tls"] in ("TLSv1.2", "TLSv1.3")  # 1.6 security whitepaper: TLS 1.2+
    assert _step(lines, "boot")["answer"]["status"] == "Accepted"
    assert _step(lines, "heartbeat")["ok"] and _step(lines, "status")["ok"]
    assert _step(lines, "done")["ok"], lines


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_ocpp_rpc_with_a_client_certificate_boots_on_profile_3(
    tls_server: tuple[Any, PkiDirectory], tmp_path: Path, protocol: str
) -> None:
    server, ca = tls_server
    await _provision(server, "RPCTLS3", profile=3)
    cert, key = ca.client_certificate("RPCTLS3", directory=tmp_path)
    lines = await _run(
        server.ocpp_tls_url, "RPCTLS3", ca,
        OCPP_PROTOCOL=protocol, OCPP_CERT=str(cert), OCPP_KEY=str(key),
    )  # fmt: skip
    assert _step(lines, "connect")["ok"], lines
    assert _step(lines, "boot")["answer"]["status"] == "Accepted"
    assert _step(lines, "done")["ok"], lines


async def test_ocpp_rpc_profile_3_charger_with_another_chargers_certificate_is_refused(
    tls_server: tuple[Any, PkiDirectory], tmp_path: Path
) -> None:
    server, ca = tls_server
    await _provision(server, "RPCTLS4", profile=3)
    cert, key = ca.client_certificate("SOMEONE-ELSE", directory=tmp_path)
    lines = await _run(server.ocpp_tls_url, "RPCTLS4", ca, OCPP_CERT=str(cert), OCPP_KEY=str(key))
    assert _step(lines, "connect")["ok"] is False  # the CN must be the identity
    assert not any(line["step"] == "boot" for line in lines)


async def test_ocpp_rpc_profile_2_charger_on_plain_ws_is_refused(
    tls_server: tuple[Any, PkiDirectory],
) -> None:
    server, ca = tls_server
    password = await _provision(server, "RPCTLS5", profile=2)
    lines = await _run(server.ocpp_url, "RPCTLS5", ca, OCPP_PASSWORD=password)
    connect = _step(lines, "connect")
    assert connect["ok"] is False  # the downgrade guard: HTTP 401, no OCPP
    assert "401" in connect["error"] or "Unauthorized" in connect["error"]
