"""``csms-sim`` over wss as a user runs it: a subprocess against the fake CSMS with a test
CA, the profile 3 dance on a first run, and the messages for bad security options."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.pki import PkiDirectory
from tests.simulators.fake_csms import FakeCSMS
from tests.simulators.test_cli import FAST, ROOT, _run, _sessions

PASSWORD = "a-long-enough-password"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> PkiDirectory:
    return PkiDirectory(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tls_csms(ca: PkiDirectory) -> AsyncIterator[FakeCSMS]:
    async with FakeCSMS(ssl=ca.server_context(), signer=ca.sign_csr) as server:
        yield server


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_profile_3_first_run_gets_a_certificate_then_later_runs_use_it_directly(
    tls_csms: FakeCSMS, ca: PkiDirectory, tmp_path: Path, protocol: str
) -> None:
    state = tmp_path / "state"
    options = [
        "charge", "--url", tls_csms.url, "--id", "CP3", "--protocol", protocol,
        "--profile", "3", "--ca", str(ca.ca_path), "--state-dir", str(state),
        "--id-tag", "CARD", "--json", *FAST,
    ]  # fmt: skip
    code, out, err = await _run(*options, "--password", PASSWORD)
    assert code == 0, err
    assert _sessions(out)[0]["ok"] is True
    assert "sending a CSR" in err and "security profile 3" in err
    # First connection profile 2 (Basic auth, no certificate), then profile 3 (the signed
    # certificate, no password): 1.6 security whitepaper / 2.0.1 A02.
    assert tls_csms.client_cns == [None, "CP3"]
    assert tls_csms.auth_headers[0] is not None and tls_csms.auth_headers[1] is None
    assert tls_csms.certificate_signed_answers == [{"status": "Accepted"}]
    assert (state / "CP3" / "client.pem").is_file()
    sessions_after_dance = len(tls_csms.of("SignCertificate"))

    code, _, err = await _run(*options)  # no --password: the stored certificate suffices
    assert code == 0, err
    assert tls_csms.client_cns[2:] == ["CP3"]
    assert tls_csms.auth_headers[2] is None
    assert len(tls_csms.of("SignCertificate")) == sessions_after_dance


async def test_profile_2_charges_over_wss_with_the_ca_and_basic_auth(
    tls_csms: FakeCSMS, ca: PkiDirectory
) -> None:
    code, out, err = await _run(
        "charge", "--url", tls_csms.url, "--id", "CP2", "--profile", "2", "--password",
        PASSWORD, "--ca", str(ca.ca_path), "--id-tag", "CARD", "--json", *FAST,
    )  # fmt: skip
    assert code == 0, err
    assert _sessions(out)[0]["ok"] is True
    assert tls_csms.client_cns == [None]
    assert tls_csms.auth_headers[0] is not None


async def test_an_untrusted_server_exits_3_naming_the_url_and_ca(tls_csms: FakeCSMS) -> None:
    code, _, err = await _run(
        "charge", "--url", tls_csms.url, "--id", "CPX", "--password", PASSWORD,
        "--id-tag", "CARD", *FAST,
    )  # fmt: skip
    assert code == 3
    assert f"{tls_csms.url}/CPX" in err and "--ca FILE" in err


async def test_a_bad_ca_file_exits_2_with_a_message(tls_csms: FakeCSMS, tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("hello\n")
    code, _, err = await _run(
        "charge", "--url", tls_csms.url, "--id", "CPX", "--ca", str(junk), "--id-tag", "C", *FAST
    )
    assert code == 2
    assert f"--ca {junk}: not a PEM file of CA certificates" in err
    assert tls_csms.connects == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--url", "ws://127.0.0.1:9/ocpp", "--profile", "2", "--password", "x"],
         "--profile 2 needs a wss:// --url"),
        (["--url", "wss://127.0.0.1:9/ocpp", "--profile", "2"], "--profile 2 needs --password"),
        (["--url", "wss://127.0.0.1:9/ocpp", "--profile", "3"], "give --password too"),
        (["--url", "wss://127.0.0.1:9/ocpp", "--cert", "c.pem"], "both --cert FILE and --key"),
    ],
)  # fmt: skip
def test_security_option_mistakes_are_usage_errors(
    options: list[str], message: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulators.cli", "charge", "--id", "CP1", "--id-tag", "C",
         "--state-dir", str(tmp_path), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr


def test_help_documents_the_profiles_and_the_state_directory() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulators.cli", "charge", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    for text in ("--profile 3", "--ca FILE", "--state-dir", "XDG_STATE_HOME", "SignCertificate"):
        assert text in result.stdout
