"""csms's CA and server certificate files (``csms ca init``): what they hold, their modes,
refusing to replace a CA, re-issuing the server certificate, ``describe``."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from csms.domain.errors import AlreadyExists, InvalidRequest, NotFound
from csms.domain.security.ca import (
    CA_DAYS,
    CertificateUnreadable,
    ca_files,
    describe,
    fingerprint,
    init_ca,
    issue_server_certificate,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def _chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_a_ca_and_a_server_certificate_signed_by_it(tmp_path: Path) -> None:
    files = init_ca(tmp_path / "home", hostnames=["csms.example.com", "10.1.2.3"], days=90, now=NOW)
    (ca,) = _chain(files.ca_cert)
    leaf, chained_ca = _chain(files.server_cert)
    assert chained_ca == ca  # chain first: the leaf, then the CA
    leaf.verify_directly_issued_by(ca)
    ca.verify_directly_issued_by(ca)
    assert leaf.not_valid_after_utc == NOW + timedelta(days=90)
    assert ca.not_valid_after_utc == NOW + timedelta(days=CA_DAYS)
    assert leaf.not_valid_before_utc < NOW  # a charger whose clock lags still accepts it


def test_ca_is_a_ca_limited_to_signing_end_entities(tmp_path: Path) -> None:
    (ca,) = _chain(init_ca(tmp_path, now=NOW).ca_cert)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature


def test_server_certificate_names_the_hostnames_with_ips_as_ip_addresses(tmp_path: Path) -> None:
    files = init_ca(tmp_path, hostnames=["csms.example.com", "10.1.2.3", "::1"], now=NOW)
    leaf = _chain(files.server_cert)[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["csms.example.com"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.1.2.3"),
        ipaddress.ip_address("::1"),
    ]
    # The OCPP test cases (TC_086_CSMS) want the server's name as the CN.
    cn = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "csms.example.com"
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_default_hostnames_are_localhost_and_127_0_0_1(tmp_path: Path) -> None:
    leaf = _chain(init_ca(tmp_path, now=NOW).server_cert)[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_keys_are_unencrypted_pkcs8_ec_p256_matching_their_certificates(tmp_path: Path) -> None:
    files = init_ca(tmp_path, now=NOW)
    for cert, key in ((files.ca_cert, files.ca_key), (files.server_cert, files.server_key)):
        text = key.read_bytes()
        assert text.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, not "EC PRIVATE KEY"
        private = serialization.load_pem_private_key(text, password=None)
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        assert private.curve.name == "secp256r1"
        assert _chain(cert)[0].public_key() == private.public_key()


def test_files_are_mode_0600_and_their_directories_0700(tmp_path: Path) -> None:
    home = tmp_path / "home"
    files = init_ca(home, now=NOW)
    for path in (files.ca_cert, files.ca_key, files.server_cert, files.server_key):
        assert _mode(path) == 0o600, path
    for directory in (home, files.ca_cert.parent, files.server_cert.parent):
        assert _mode(directory) == 0o700, directory


def test_an_existing_ca_is_not_replaced_without_force(tmp_path: Path) -> None:
    files = init_ca(tmp_path, now=NOW)
    before = files.ca_cert.read_bytes(), files.ca_key.read_bytes()
    with pytest.raises(AlreadyExists) as caught:
        init_ca(tmp_path, now=NOW)
    message = str(caught.value)
    assert "--force" in message and "no longer verify" in message
    assert (files.ca_cert.read_bytes(), files.ca_key.read_bytes()) == before


def test_force_replaces_the_ca(tmp_path: Path) -> None:
    old = _chain(init_ca(tmp_path, now=NOW).ca_cert)[0]
    files = init_ca(tmp_path, now=NOW, force=True)
    new = _chain(files.ca_cert)[0]
    assert fingerprint(new) != fingerprint(old)
    _chain(files.server_cert)[0].verify_directly_issued_by(new)


def test_server_certificate_is_reissued_from_the_existing_ca(tmp_path: Path) -> None:
    files = init_ca(tmp_path, now=NOW)
    ca_before = files.ca_cert.read_bytes()
    old_leaf = _chain(files.server_cert)[0]
    issue_server_certificate(tmp_path, hostnames=["new.example.com"], days=30, now=NOW)
    assert files.ca_cert.read_bytes() == ca_before
    leaf = _chain(files.server_cert)[0]
    assert leaf.serial_number != old_leaf.serial_number
    leaf.verify_directly_issued_by(_chain(files.ca_cert)[0])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["new.example.com"]


def test_reissuing_without_a_ca_says_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="csms ca init"):
        issue_server_certificate(tmp_path, now=NOW)


def test_a_server_certificate_cannot_outlive_the_ca(tmp_path: Path) -> None:
    init_ca(tmp_path, now=NOW)
    with pytest.raises(InvalidRequest, match="cannot outlive"):
        issue_server_certificate(tmp_path, days=CA_DAYS + 1, now=NOW)
    with pytest.raises(InvalidRequest, match="cannot outlive"):
        init_ca(tmp_path / "other", days=CA_DAYS + 1, now=NOW)


@pytest.mark.parametrize("bad", ["", "bad name", "-lead.example.com", "a" * 64 + ".com", "x_y"])
def test_a_bad_hostname_is_refused_before_anything_is_written(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidRequest, match="DNS name"):
        init_ca(tmp_path, hostnames=[bad], now=NOW)
    assert not ca_files(tmp_path).ca_cert.exists()


def test_describe_gives_subject_fingerprint_and_expiry_of_each_file(tmp_path: Path) -> None:
    files = init_ca(tmp_path, hostnames=["csms.example.com"], days=10, now=NOW)
    other = tmp_path / "elsewhere.pem"
    other.write_bytes(files.server_cert.read_bytes())
    ca, server, configured = describe(tmp_path, tls_cert=other)
    assert (ca.role, server.role, configured.role) == ("ca", "server", "configured")
    assert ca.subject == "CN=csms charging-station CA,O=csms"
    assert server.subject == "CN=csms.example.com,O=csms"
    assert server.not_after == NOW + timedelta(days=10)
    assert server.names == ("csms.example.com",)
    assert ca.fingerprint == fingerprint(_chain(files.ca_cert)[0])
    assert len(ca.fingerprint.split(":")) == 32


def test_describe_of_an_empty_home_is_empty_and_of_garbage_names_the_file(tmp_path: Path) -> None:
    assert describe(tmp_path) == []
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(CertificateUnreadable, match=r"garbage\.pem: not a PEM certificate"):
        describe(tmp_path, tls_cert=garbage)
