"""Certificates for the tests of CSR signing, made with ``cryptography``: a CA written
where ``csms ca init`` writes it, and chargers' CSRs (good ones and each kind of bad one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from csms.domain.security.csr import CA_CERT_FILE, CA_DIR, CA_KEY_FILE, CertificateAuthority

__all__ = ["ORG", "SigningCa", "csr_pem", "make_ca", "rsa_key", "verify_chain", "write_ca"]

#: The organization the test settings expect in a CSR (the CSMS_CERT_ORG default).
ORG = "csms"


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass(frozen=True)
class SigningCa:
    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    @property
    def authority(self) -> CertificateAuthority:
        return CertificateAuthority(certificate=self.certificate, private_key=self.key)


def make_ca(
    *,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    now: datetime | None = None,
    days: int = 3650,
    ca: bool = True,
) -> SigningCa:
    """A self-signed CA (EC P-256 unless ``key`` is given)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = now or datetime.now(UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, "csms charging-station CA"),
        ]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return SigningCa(certificate, key)


def write_ca(home: Path, ca: SigningCa) -> Path:
    """Write ``ca`` as ``csms ca init`` does: ``home/ca/ca.pem`` and ``ca.key`` (PKCS#8)."""
    directory = home / CA_DIR
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CA_CERT_FILE).write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    key_file = directory / CA_KEY_FILE
    key_file.write_bytes(
        ca.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return directory


def csr_pem(
    key: CertificateIssuerPrivateKeyTypes | None = None,
    *,
    cn: str | None = "CP1",
    org: str | None = ORG,
    algorithm: hashes.HashAlgorithm | None = None,
) -> str:
    """A PEM CSR for ``key`` (a fresh RSA-2048 key by default) with subject CN and O."""
    key = key or rsa_key()
    attributes = []
    if org is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if cn is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .sign(key, algorithm or hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def verify_chain(
    chain_pem: str, ca: x509.Certificate, *, at: datetime | None = None
) -> x509.Certificate:
    """The leaf of ``chain_pem`` after checking that the chain is the leaf then ``ca``, that
    ``ca`` signed the leaf and that the leaf is valid ``at`` (raises when not)."""
    chain = x509.load_pem_x509_certificates(chain_pem.encode())
    assert len(chain) == 2, f"expected leaf and CA, got {len(chain)} certificates"
    leaf, issuer = chain
    assert issuer == ca
    leaf.verify_directly_issued_by(ca)  # issuer name, signature algorithm and signature
    moment = at or datetime.now(UTC)
    assert leaf.not_valid_before_utc <= moment <= leaf.not_valid_after_utc
    return leaf
