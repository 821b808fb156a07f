"""CSR checks and signing (csms.domain.security.csr): the rules of the 1.6 security
whitepaper (edition 3) section 2.6.1 and A02/A03, and of 2.0.1 part 2 A02/A03."""

from __future__ import annotations

import contextlib
import re
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from csms.domain.security.csr import (
    NOT_BEFORE_SLACK,
    CertificateAuthorityError,
    CsrRejected,
    CsrSigner,
    certificate_fingerprint,
    check_csr,
    load_certificate_authority,
    sign_csr,
)
from tests.pki import (
    ORG,
    Issued,
    client_context,
    csms_ca,
    csr_pem,
    make_leaf,
    rsa_key,
    server_context,
    verify_chain,
    write_ca,
    write_pem,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def rejected(pem: str, *, charger_id: str = "CP1", organization: str = ORG) -> str:
    with pytest.raises(CsrRejected) as caught:
        check_csr(pem, charger_id=charger_id, organization=organization)
    return caught.value.reason


# -- accepted -------------------------------------------------------------------------


def test_a_good_rsa_2048_csr_with_the_chargers_cn_and_the_org_is_accepted() -> None:
    key = rsa_key(2048)
    csr = check_csr(csr_pem(key), charger_id="CP1", organization=ORG)
    assert csr.public_key() == key.public_key()


def test_a_good_ec_p256_csr_is_accepted() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = check_csr(csr_pem(key), charger_id="CP1", organization=ORG)
    assert csr.public_key() == key.public_key()


def test_a_csr_with_the_old_new_certificate_request_label_is_accepted() -> None:
    # Older OpenSSL (`openssl req -new` with some configurations) writes this label.
    pem = csr_pem().replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
    check_csr(pem, charger_id="CP1", organization=ORG)


# -- rejected, each with its reason (1.6 whitepaper / 2.0.1 A02.FR.12: Rejected when csms
# cannot process the request) -----------------------------------------------------------


def test_text_that_is_not_pem_is_rejected_as_not_a_pem_csr() -> None:
    assert "not a PEM CSR" in rejected("hello, please sign me")


def test_a_pem_certificate_instead_of_a_csr_is_rejected_naming_the_block() -> None:
    ca = csms_ca()
    pem = ca.certificate.public_bytes(serialization.Encoding.PEM).decode()
    assert "BEGIN CERTIFICATE-----" in rejected(pem)


def test_garbage_inside_a_csr_pem_block_is_rejected_as_unreadable() -> None:
    pem = "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n"
    assert "not a readable PKCS#10 CSR" in rejected(pem)


def test_a_tampered_csr_whose_self_signature_breaks_is_rejected() -> None:
    # A CSR for CP2 with its CN changed to CP1 after signing: the signature no longer
    # covers what it says (whitepaper A02.FR.03: the CSR proves the charger holds the key).
    good = x509.load_pem_x509_csr(csr_pem(cn="CP2").encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    at = der.find(b"CP2")
    der[at : at + 3] = b"CP1"
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    assert "self-signature does not verify" in rejected(tampered.decode())


def test_a_csr_whose_cn_is_another_charger_is_rejected() -> None:
    # 1.6 whitepaper A00.FR.511: the CN is the charger's own serial number (its identity).
    assert rejected(csr_pem(cn="CP2")) == "CN is 'CP2', expected the charger's identity 'CP1'"


def test_a_csr_without_a_cn_is_rejected() -> None:
    assert "no CN" in rejected(csr_pem(cn=None))


def test_a_csr_with_another_organization_is_rejected() -> None:
    # 1.6 whitepaper A00.FR.509 and A02.FR.13: O is the operator's name (CpoName).
    assert rejected(csr_pem(org="evil corp")) == "O is 'evil corp', expected 'csms'"


def test_a_csr_without_an_organization_is_rejected() -> None:
    assert "no O (organizationName)" in rejected(csr_pem(org=None))


def test_an_rsa_1024_key_is_rejected_as_too_weak() -> None:
    # 1.6 whitepaper A00.FR.502: RSA keys of at least 2048 bits.
    assert rejected(csr_pem(rsa_key(1024))) == (
        "RSA key of 1024 bits is too weak: at least 2048 bits"
    )


def test_an_ec_p192_key_is_rejected() -> None:
    # A00.FR.503 asks 224 bits at least; csms takes P-256 and above (SPEC).
    reason = rejected(csr_pem(ec.generate_private_key(ec.SECP192R1())))
    assert reason.startswith("EC curve secp192r1 (192 bits) is not accepted")


def test_an_ec_p224_key_is_rejected_too() -> None:
    assert "secp224r1" in rejected(csr_pem(ec.generate_private_key(ec.SECP224R1())))


def test_an_ed25519_key_is_rejected_as_a_key_type_not_accepted() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    csr = x509.CertificateSigningRequestBuilder().subject_name(csr_subject()).sign(key, None)
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    assert "key type is not accepted" in rejected(pem)


def test_a_csr_signed_with_a_hash_below_sha256_is_rejected() -> None:
    # 1.6 whitepaper A00.FR.504/A00.FR.506: SHA-256 for hashing, only what BSI recommends.
    # (OpenSSL no longer signs with SHA-1 at all; SHA-224 is below the bar as well.)
    reason = rejected(csr_pem(rsa_key(), algorithm=hashes.SHA224()))
    assert reason == "the CSR is signed with sha224: SHA-256 or stronger is needed"


def test_a_csr_with_a_subject_too_long_to_keep_is_rejected() -> None:
    from cryptography.x509.oid import NameOID

    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, "CP1"),
            *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "U" * 60) for _ in range(6)),
        ]
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .sign(rsa_key(), hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    assert "subject is longer than 300 characters" in rejected(pem)


def test_a_reason_quotes_a_long_cn_shortened() -> None:
    reason = rejected(csr_pem(cn="X" * 64))
    assert "X" * 64 not in reason
    assert "..." in reason


def csr_subject() -> x509.Name:
    from cryptography.x509.oid import NameOID

    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, "CP1"),
        ]
    )


# -- signing -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_the_signed_leaf_chains_to_the_ca_and_holds_the_csrs_key(kind: str) -> None:
    ca = csms_ca(now=NOW)
    key = rsa_key() if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    csr = check_csr(csr_pem(key), charger_id="CP1", organization=ORG)
    issued = sign_csr(ca.authority, csr, days=365, now=NOW)
    leaf = verify_chain(issued.chain_pem, ca.certificate, at=NOW)
    assert leaf.public_key() == key.public_key()
    assert leaf.subject == csr.subject
    assert issued.subject == "CN=CP1,O=csms"
    assert leaf.issuer == ca.certificate.subject
    assert issued.not_before == NOW - NOT_BEFORE_SLACK
    assert issued.not_after == NOW + timedelta(days=365)
    # The chain is the leaf then the CA certificate, as CertificateSigned carries it.
    chain = x509.load_pem_x509_certificates(issued.chain_pem.encode())
    assert chain == [leaf, ca.certificate]
    assert issued.pem == leaf.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_the_leaf_is_a_tls_client_certificate_restricted_to_what_tls_needs(kind: str) -> None:
    # 1.6 whitepaper A00.FR.402 (client certificate), A00.FR.512 (key usage restricted).
    ca = csms_ca(now=NOW)
    key = rsa_key() if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    csr = check_csr(csr_pem(key), charger_id="CP1", organization=ORG)
    leaf = sign_csr(ca.authority, csr, days=30, now=NOW).certificate
    extensions = leaf.extensions
    assert extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_encipherment is (kind == "rsa")
    assert usage.value.key_agreement is (kind == "ec")
    assert not usage.value.key_cert_sign
    eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ski = extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest


def test_extensions_the_csr_asks_for_are_not_copied() -> None:
    # A CSR asking to be a CA, with a DNS name (A00.FR.511: no dnsName in charger certs).
    key = rsa_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(csr_subject())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("csms.example")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    checked = check_csr(
        csr.public_bytes(serialization.Encoding.PEM).decode(), charger_id="CP1", organization=ORG
    )
    leaf = sign_csr(csms_ca(now=NOW).authority, checked, days=30, now=NOW).certificate
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_serial_is_random_128_bit_upper_case_hex_and_fingerprint_is_sha256_hex() -> None:
    ca = csms_ca(now=NOW)
    csr = check_csr(csr_pem(), charger_id="CP1", organization=ORG)
    first = sign_csr(ca.authority, csr, days=30, now=NOW)
    second = sign_csr(ca.authority, csr, days=30, now=NOW)
    for issued in (first, second):
        assert re.fullmatch(r"[0-9A-F]{32}", issued.serial)
        assert int(issued.serial, 16) == issued.certificate.serial_number
        assert issued.certificate.serial_number.bit_length() == 128
        assert re.fullmatch(r"[0-9A-F]{64}", issued.fingerprint)
        assert issued.fingerprint == certificate_fingerprint(issued.certificate)
        der = issued.certificate.public_bytes(serialization.Encoding.DER)
        assert issued.fingerprint == hashes_sha256(der)
    assert first.serial != second.serial


def hashes_sha256(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize().hex().upper()


def test_a_leaf_never_outlives_its_ca() -> None:
    ca = csms_ca(now=NOW, days=10)
    csr = check_csr(csr_pem(), charger_id="CP1", organization=ORG)
    issued = sign_csr(ca.authority, csr, days=365, now=NOW)
    assert issued.not_after == ca.certificate.not_valid_after_utc


def test_an_expired_ca_signs_nothing_and_says_to_make_a_new_one() -> None:
    ca = csms_ca(now=NOW - timedelta(days=30), days=10)
    csr = check_csr(csr_pem(), charger_id="CP1", organization=ORG)
    with pytest.raises(CertificateAuthorityError, match="csms ca init --force"):
        sign_csr(ca.authority, csr, days=365, now=NOW)


def test_an_rsa_ca_signs_with_sha256() -> None:
    ca = csms_ca(key=rsa_key(), now=NOW)
    csr = check_csr(csr_pem(), charger_id="CP1", organization=ORG)
    leaf = sign_csr(ca.authority, csr, days=30, now=NOW).certificate
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)
    assert isinstance(ca.key, rsa.RSAPrivateKey)
    verify_chain(
        leaf.public_bytes(serialization.Encoding.PEM).decode()
        + ca.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        ca.certificate,
        at=NOW,
    )


# -- loading the CA ----------------------------------------------------------------------


def test_no_ca_files_means_no_ca(tmp_path: Path) -> None:
    assert load_certificate_authority(tmp_path) is None
    assert CsrSigner(home=tmp_path, organization=ORG, days=1).authority() is None


def test_the_ca_csms_ca_init_wrote_is_loaded(tmp_path: Path) -> None:
    ca = csms_ca()
    write_ca(tmp_path, ca)
    loaded = load_certificate_authority(tmp_path)
    assert loaded is not None
    assert loaded.certificate == ca.certificate
    assert loaded.private_key.public_key() == ca.key.public_key()


def test_a_missing_key_file_is_named(tmp_path: Path) -> None:
    directory = write_ca(tmp_path, csms_ca())
    (directory / "ca.key").unlink()
    with pytest.raises(CertificateAuthorityError, match=r"ca\.key is missing"):
        load_certificate_authority(tmp_path)


def test_a_broken_certificate_file_is_named(tmp_path: Path) -> None:
    directory = write_ca(tmp_path, csms_ca())
    (directory / "ca.pem").write_text("not a certificate")
    with pytest.raises(CertificateAuthorityError, match=r"ca\.pem is not a PEM certificate"):
        load_certificate_authority(tmp_path)


def test_a_broken_key_file_is_named(tmp_path: Path) -> None:
    directory = write_ca(tmp_path, csms_ca())
    (directory / "ca.key").write_text(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(CertificateAuthorityError, match=r"ca\.key is not a PEM private key"):
        load_certificate_authority(tmp_path)


def test_an_encrypted_key_file_is_refused_saying_it_must_be_unencrypted(tmp_path: Path) -> None:
    ca = csms_ca()
    directory = write_ca(tmp_path, ca)
    (directory / "ca.key").write_bytes(
        ca.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(CertificateAuthorityError, match="encrypted"):
        load_certificate_authority(tmp_path)


def test_a_key_that_is_not_the_certificates_is_refused(tmp_path: Path) -> None:
    directory = write_ca(tmp_path, csms_ca())
    other = csms_ca()
    write_ca(tmp_path / "other", other)
    (directory / "ca.key").write_bytes((tmp_path / "other" / "ca" / "ca.key").read_bytes())
    with pytest.raises(CertificateAuthorityError, match="is not the key of"):
        load_certificate_authority(tmp_path)


def test_a_certificate_that_is_not_a_ca_is_refused(tmp_path: Path) -> None:
    write_ca(tmp_path, csms_ca(ca=False))
    with pytest.raises(CertificateAuthorityError, match="not a CA certificate"):
        load_certificate_authority(tmp_path)


# -- the leaf as a TLS client certificate (security profile 3) ---------------------------


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_openssl_takes_the_leaf_as_a_client_certificate_chaining_to_the_ca(
    kind: str, tmp_path: Path
) -> None:
    # 1.6 whitepaper A00.FR.401–403 / 2.0.1 profile 3: the charger authenticates with the
    # certificate csms issued; the TLS server verifies its path to csms's CA. A real
    # TLS 1.2+ handshake in memory (ssl.MemoryBIO), no socket.
    ca = csms_ca()
    key = rsa_key() if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    csr = check_csr(csr_pem(key), charger_id="CP1", organization=ORG)
    leaf = sign_csr(ca.authority, csr, days=30, now=datetime.now(UTC)).certificate
    ca_file = write_pem(tmp_path / "ca.pem", ca.certificate)
    server = make_leaf(ca, "csms.test", usage="server", hostnames=("csms.test",))
    server_ctx = server_context(
        *server.write(tmp_path, "server"),
        client_ca=ca_file,
        client_cert="required",
        minimum_version=ssl.TLSVersion.TLSv1_2,
    )
    client_ctx = client_context(trust=ca_file, certificate=Issued(leaf, key), directory=tmp_path)

    pipes = [ssl.MemoryBIO() for _ in range(4)]  # client in/out, server in/out
    client = client_ctx.wrap_bio(pipes[0], pipes[1], server_hostname="csms.test")
    server = server_ctx.wrap_bio(pipes[2], pipes[3], server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end in (("client", client), ("server", server)):
            if done[name]:
                continue
            try:
                end.do_handshake()
                done[name] = True
            except ssl.SSLWantReadError:
                pass
        pipes[2].write(pipes[1].read())
        pipes[0].write(pipes[3].read())
        if all(done.values()):
            break
    assert all(done.values()), done
    # TLS 1.3 sends the client certificate after the client's handshake ends: read once.
    with contextlib.suppress(ssl.SSLWantReadError):
        server.read(1)
    peer = server.getpeercert()
    assert peer is not None
    assert (("commonName", "CP1"),) in peer["subject"]
    assert (("organizationName", ORG),) in peer["subject"]
