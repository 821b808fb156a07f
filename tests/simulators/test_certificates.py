"""The simulated charger's certificate store: OCPP hash data, the state directory."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from simulators.certificates import CertificateStore, default_state_dir, hash_data


def _rsa_root() -> x509.Certificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "RSA root")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x00A1B2)
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def test_hash_data_of_an_rsa_root_is_the_ocsp_cert_id_ocpp_asks_for() -> None:
    # 1.6 security extension / 2.0.1 CertificateHashDataType: issuer name DER and issuer
    # public key (for RSA the PKCS#1 RSAPublicKey inside the BIT STRING), serial in hex.
    root = _rsa_root()
    pkcs1 = root.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    data = hash_data(root).to_json()
    assert data == {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(root.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(pkcs1).hexdigest(),
        "serialNumber": "a1b2",
    }
    assert hash_data(root, algorithm="SHA384").issuer_key_hash == hashlib.sha384(pkcs1).hexdigest()


def test_hash_data_matches_whatever_case_and_leading_zeros_the_csms_sends() -> None:
    data = hash_data(_rsa_root())
    wanted = data.to_json() | {
        "issuerNameHash": data.issuer_name_hash.upper(),
        "serialNumber": "00A1B2",
    }
    assert data.matches(wanted)
    assert not data.matches(wanted | {"serialNumber": "a1b3"})
    assert not data.matches(wanted | {"hashAlgorithm": "SHA512"})


def test_the_state_directory_follows_xdg_state_home_else_the_current_directory() -> None:
    assert default_state_dir({"XDG_STATE_HOME": "/var/state"}) == Path("/var/state/csms-sim")
    assert default_state_dir({}) == Path(".csms-sim")


def test_an_identity_becomes_one_safe_directory_name(tmp_path: Path) -> None:
    assert CertificateStore.for_identity(tmp_path, "CP 1/../x").directory == tmp_path / "CP_1_.._x"
    assert CertificateStore.for_identity(tmp_path, "..").directory == tmp_path / "_.."


def test_a_signed_chain_without_a_pending_request_is_not_installed(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path)
    root_pem = _rsa_root().public_bytes(serialization.Encoding.PEM).decode()
    assert store.accept_signed(root_pem) == "no certificate signing request is pending"
    store.new_csr(identity="CP1", organization="csms")
    assert store.accept_signed("not pem") is not None
    assert store.accept_signed(root_pem) == (
        "the certificate is not for the key of the pending request"
    )
    assert not store.has_client_certificate()
