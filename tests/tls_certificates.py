"""Certificates for tests, made with ``cryptography``: CAs, leaf certificates (client or
server), PEM files, and client ``SSLContext``s that use them.

    ca = make_ca("Other CA")
    leaf = make_leaf(ca, "CP1")                       # a client certificate, valid now
    old = make_leaf(ca, "CP1", not_after=ago(days=1))  # expired
    cert, key = leaf.write(tmp_path, "cp1")            # cp1.pem, cp1.key
    ctx = client_context(trust=ca_pem_path, certificate=leaf)
"""

from __future__ import annotations

import ipaddress
import ssl
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "Issued",
    "ago",
    "client_context",
    "from_now",
    "load_issued",
    "make_ca",
    "make_leaf",
    "to_pem",
]


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def from_now(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return to_pem(self.certificate)

    def key_pem(self) -> bytes:
        return to_pem(self.key)

    def write(self, directory: Path, name: str, *, chain: bytes = b"") -> tuple[Path, Path]:
        """``name.pem`` (the certificate, then ``chain``) and ``name.key`` in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{name}.pem", directory / f"{name}.key"
        cert.write_bytes(self.cert_pem() + chain)
        key.write_bytes(self.key_pem())
        return cert, key


def to_pem(value: x509.Certificate | ec.EllipticCurvePrivateKey) -> bytes:
    """A certificate as X.509 PEM, a key as unencrypted PKCS#8 PEM."""
    if isinstance(value, x509.Certificate):
        return value.public_bytes(serialization.Encoding.PEM)
    return value.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_issued(cert: Path, key: Path) -> Issued:
    """A certificate and key from PEM files (e.g. csms's ca.pem and ca.key)."""
    certificate = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return Issued(certificate, private)


def make_ca(
    name: str = "Test CA",
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A self-signed CA (EC P-256), valid from a day ago for a year unless told otherwise."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or ago(days=1))
        .not_valid_after(not_after or from_now(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
    return Issued(certificate, key)


def make_leaf(
    ca: Issued,
    cn: str,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    usage: str = "client",
    hostnames: tuple[str, ...] = (),
    organization: str | None = None,
) -> Issued:
    """A certificate for ``cn`` signed by ``ca``: ``usage`` ``client`` (clientAuth, as a
    profile 3 charger has) or ``server`` (serverAuth, for ``hostnames``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if organization is not None:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    eku = ExtendedKeyUsageOID.CLIENT_AUTH if usage == "client" else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or ago(days=1))
        .not_valid_after(not_after or from_now(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    )
    if hostnames:
        names: list[x509.GeneralName] = []
        for host in hostnames:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def client_context(
    *,
    trust: Path,
    certificate: Issued | None = None,
    directory: Path | None = None,
    maximum_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A client context trusting the CA file ``trust``, presenting ``certificate`` (its
    PEM files written to ``directory``) when given."""
    context = ssl.create_default_context(cafile=str(trust))
    if certificate is not None:
        assert directory is not None, "a client certificate needs a directory for its files"
        name = f"client-{certificate.certificate.serial_number:x}"
        cert, key = certificate.write(directory, name)
        context.load_cert_chain(cert, key)
    if maximum_version is not None:
        with warnings.catch_warnings():  # (TLS 1.0 and 1.1 are deprecated: that is the point)
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = maximum_version
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let OpenSSL 3 offer TLS 1.0/1.1 at all
    return context
