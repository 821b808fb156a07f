"""The README's TLS walkthrough as a test: ``csms ca init``, then ``csms-sim charge
--profile 3`` against a running csms over wss. Its first run connects with profile 2,
sends a CSR and gets it signed by csms's CA (CertificateSigned), then reconnects with the
certificate: csms lets a charger in on a verified certificate for its identity even while
it requires only profile 2 of it, so the session runs on profile 3; later runs go straight
to profile 3 without a password (1.6 security whitepaper, 2.0.1 A02, A05). Real sockets,
real TLS, the CLI as a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from csms.domain.charging.stations import add_charger
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
CARD = "04CAFE0003"
FAST = ["--speed", "600", "--meter-interval", "60", "--kwh", "0.5", "--power-kw", "22"]


@pytest.fixture
async def tls_csms(tmp_path: Path) -> AsyncIterator[Any]:
    """csms after ``csms ca init``: wss with csms's own CA and server certificate."""
    from csms.server import running_server

    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "csms.cli", "ca", "init", "--hostname", "localhost",
        "--hostname", "127.0.0.1",
        env=env | {"CSMS_HOME": str(home)}, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(60):
        output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()
    async with running_server(make_settings(home, tls_port=0)) as server:
        yield server


async def _provision(server: Any, charger_id: str, *, profile: int) -> str:
    now = datetime.now(UTC)
    _, password = await server.db.write(
        lambda uow: add_charger(
            uow, charger_id=charger_id, now=now, password=None, security_profile=profile
        )
    )
    if await server.db.read(lambda uow: uow.id_tags.by_uid(CARD)) is None:
        await server.db.write(
            lambda uow: uow.id_tags.add(uid=CARD, status="active", created_at=now)
        )
    return str(password)


async def _sim(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simulators.cli", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_profile_3_dance_gets_a_certificate_from_csms_and_charges_with_it(
    tls_csms: Any, tmp_path: Path, protocol: str
) -> None:
    home = Path(tls_csms.settings.home)
    identity = "SIM3" if protocol == "ocpp1.6" else "SIM3-201"
    password = await _provision(tls_csms, identity, profile=2)
    state = tmp_path / "state"
    charge = [
        "charge", "--url", tls_csms.ocpp_tls_url, "--id", identity, "--protocol", protocol,
        "--profile", "3", "--ca", str(home / "ca" / "ca.pem"), "--state-dir", str(state),
        "--id-tag", CARD, "--json", *FAST,
    ]  # fmt: skip

    code, _, err = await _sim(*charge, "--password", password)
    assert code == 0, err
    assert "connected with security profile 3" in err
    leaf_pem = (state / identity / "client.pem").read_bytes()
    leaf = x509.load_pem_x509_certificates(leaf_pem)[0]
    ca = x509.load_pem_x509_certificate((home / "ca" / "ca.pem").read_bytes())
    leaf.verify_directly_issued_by(ca)  # signed by csms's charging-station CA
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == identity

    # The operator raises it (`csms chargers set-profile`, here in the database); later
    # runs: straight to profile 3, no password at all.
    await tls_csms.db.write(lambda uow: uow.chargers.update(identity, security_profile=3))
    code, _, err = await _sim(*charge)
    assert code == 0, err
    assert "sending a CSR" not in err
    assert (state / identity / "client.pem").read_bytes() == leaf_pem


async def test_a_profile_3_charger_is_refused_with_only_a_password(
    tls_csms: Any, tmp_path: Path
) -> None:
    home = Path(tls_csms.settings.home)
    password = await _provision(tls_csms, "SIM3X", profile=3)
    code, _, err = await _sim(
        "charge", "--url", tls_csms.ocpp_tls_url, "--id", "SIM3X", "--profile", "2",
        "--password", password, "--ca", str(home / "ca" / "ca.pem"),
        "--state-dir", str(tmp_path), "--id-tag", CARD, *FAST,
    )  # fmt: skip
    assert code == 3  # the SPEC table: profile 3 needs a client certificate
    assert tls_csms.ocpp_tls_url in err
