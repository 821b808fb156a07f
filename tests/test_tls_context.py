"""The wss listener's SSLContext (csms/tls.py): which certificate it serves, what it allows,
and start-up refused, naming the key, for certificate files that do not load."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from csms.config import ConfigError, Settings
from csms.domain.security.ca import ca_files, init_ca
from csms.tls import OCPP_TLS12_CIPHERS, certificate_identity, server_certificate, server_context
from csms.wiring import load_settings
from tests.pki import make_ca, make_leaf

NOW = datetime.now(UTC)


def _settings(home: Path, **env: str) -> Settings:
    return load_settings({"CSMS_HOME": str(home), **env}, config_file=home / "absent.toml")


def _own_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A server certificate and key of another CA, as an operator's CSMS_TLS_CERT/KEY."""
    ca = make_ca("Operator CA")
    leaf = make_leaf(ca, "csms.example.com", usage="server", hostnames=("csms.example.com",))
    return leaf.write(tmp_path / "own", "server", chain=ca.cert_pem())


def test_without_a_server_certificate_there_is_no_tls_context(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert server_certificate(settings) is None
    assert server_context(settings) is None


def test_the_certificate_csms_ca_init_wrote_is_served_and_its_ca_trusted(tmp_path: Path) -> None:
    init_ca(tmp_path, now=NOW)
    settings = _settings(tmp_path)
    chosen = server_certificate(settings)
    assert chosen is not None and chosen.cert == ca_files(tmp_path).server_cert
    context = server_context(settings)
    assert context is not None
    assert context.verify_mode == ssl.CERT_OPTIONAL  # profile 3 certificates verified
    assert context.cert_store_stats()["x509_ca"] == 1


def test_tls_is_1_2_or_newer_with_the_ocpp_cipher_suites_only(tmp_path: Path) -> None:
    """2.0.1 A00.FR.318/319, 1.6 security whitepaper: TLS 1.2+, AES-GCM suites."""
    init_ca(tmp_path, now=NOW)
    context = server_context(_settings(tmp_path))
    assert context is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    tls12 = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == set(OCPP_TLS12_CIPHERS)
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_NO_RENEGOTIATION
    assert not context.options & ssl.OP_NO_TICKET  # resumption on: cheap reconnect storms


def test_csms_tls_cert_wins_over_the_home_certificate(tmp_path: Path) -> None:
    init_ca(tmp_path, now=NOW)
    cert, key = _own_pair(tmp_path)
    settings = _settings(tmp_path, CSMS_TLS_CERT=str(cert), CSMS_TLS_KEY=str(key))
    chosen = server_certificate(settings)
    assert chosen is not None and (chosen.cert, chosen.key) == (cert, key)
    assert server_context(settings) is not None


def test_without_any_client_ca_no_client_certificate_is_asked_for(tmp_path: Path) -> None:
    cert, key = _own_pair(tmp_path)
    context = server_context(_settings(tmp_path, CSMS_TLS_CERT=str(cert), CSMS_TLS_KEY=str(key)))
    assert context is not None and context.verify_mode == ssl.CERT_NONE


def test_csms_tls_client_ca_is_trusted_beside_csms_ca(tmp_path: Path) -> None:
    init_ca(tmp_path, now=NOW)
    bundle = tmp_path / "partners.pem"
    bundle.write_bytes(make_ca("Partner A").cert_pem() + make_ca("Partner B").cert_pem())
    context = server_context(_settings(tmp_path, CSMS_TLS_CLIENT_CA=str(bundle)))
    assert context is not None
    assert context.cert_store_stats()["x509_ca"] == 3


def test_a_certificate_file_that_is_not_pem_refuses_start_naming_csms_tls_cert(
    tmp_path: Path,
) -> None:
    cert, key = _own_pair(tmp_path)
    cert.write_text("garbage")
    with pytest.raises(ConfigError) as caught:
        server_context(_settings(tmp_path, CSMS_TLS_CERT=str(cert), CSMS_TLS_KEY=str(key)))
    assert caught.value.key == "CSMS_TLS_CERT"
    assert "not a PEM certificate" in str(caught.value)


def test_a_key_file_that_is_not_pem_refuses_start_naming_csms_tls_key(tmp_path: Path) -> None:
    cert, key = _own_pair(tmp_path)
    key.write_text("garbage")
    with pytest.raises(ConfigError) as caught:
        server_context(_settings(tmp_path, CSMS_TLS_CERT=str(cert), CSMS_TLS_KEY=str(key)))
    assert caught.value.key == "CSMS_TLS_KEY"
    assert "not a PEM private key" in str(caught.value)


def test_an_encrypted_key_refuses_start_saying_to_decrypt_it(tmp_path: Path) -> None:
    ca = make_ca()
    leaf = make_leaf(ca, "csms.example.com", usage="server")
    cert, key = leaf.write(tmp_path, "server")
    key.write_bytes(
        leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ConfigError) as caught:
        server_context(_settings(tmp_path, CSMS_TLS_CERT=str(cert), CSMS_TLS_KEY=str(key)))
    assert caught.value.key == "CSMS_TLS_KEY"
    assert "encrypted" in str(caught.value)


def test_a_key_of_another_certificate_refuses_start(tmp_path: Path) -> None:
    cert, _ = _own_pair(tmp_path)
    _, other_key = make_leaf(make_ca(), "x", usage="server").write(tmp_path, "other")
    with pytest.raises(ConfigError) as caught:
        server_context(_settings(tmp_path, CSMS_TLS_CERT=str(cert), CSMS_TLS_KEY=str(other_key)))
    assert caught.value.key == "CSMS_TLS_KEY"
    assert "not the key of the first certificate" in str(caught.value)


def test_a_damaged_home_server_certificate_refuses_start_naming_its_path(tmp_path: Path) -> None:
    files = init_ca(tmp_path, now=NOW)
    files.server_cert.write_text("-----BEGIN CERTIFICATE-----\ntruncated")
    with pytest.raises(ConfigError) as caught:
        server_context(_settings(tmp_path))
    assert caught.value.key == str(files.server_cert)


def test_a_client_ca_bundle_without_certificates_refuses_start(tmp_path: Path) -> None:
    init_ca(tmp_path, now=NOW)
    bundle = tmp_path / "empty.pem"
    bundle.write_text("nothing here\n")
    with pytest.raises(ConfigError) as caught:
        server_context(_settings(tmp_path, CSMS_TLS_CLIENT_CA=str(bundle)))
    assert caught.value.key == "CSMS_TLS_CLIENT_CA"


def test_no_tls_session_has_no_certificate_identity() -> None:
    assert certificate_identity(None) is None


def test_a_server_certificate_expiring_soon_is_warned_about_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    init_ca(tmp_path, days=10, now=NOW)
    with caplog.at_level("WARNING", logger="csms.tls"):
        assert server_context(_settings(tmp_path)) is not None
    assert any(
        "expires on" in r.getMessage() and "--server-only" in r.getMessage() for r in caplog.records
    )
