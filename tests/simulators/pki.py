"""A test PKI made with ``cryptography``: a CA, a server certificate for 127.0.0.1, and
the signing of chargers' CSRs (what csms's CA does), written as PEM files."""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificateAuthority", "write_pem"]


def _name(common_name: str, organization: str = "csms") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_pem(path: Path, *certificates: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates))
    return path


@dataclass
class CertificateAuthority:
    """A CA in ``directory``: ``ca.pem``, and ``server.pem``/``server.key`` for 127.0.0.1."""

    directory: Path
    name: str = "csms test CA"

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(self.name))
            .issuer_name(_name(self.name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
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
            .sign(self.key, hashes.SHA256())
        )
        self.ca_path = write_pem(self.directory / "ca.pem", self.certificate)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server = self._issue(
            server_key.public_key(),
            _name("127.0.0.1"),
            san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
        )
        self.server_cert_path = write_pem(self.directory / "server.pem", server)
        self.server_key_path = self.directory / "server.key"
        self.server_key_path.write_bytes(_key_pem(server_key))

    def _issue(
        self,
        public_key: CertificatePublicKeyTypes,
        subject: x509.Name,
        *,
        san: list[x509.GeneralName] | None = None,
        usage: x509.ObjectIdentifier = ExtendedKeyUsageOID.CLIENT_AUTH,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> x509.Certificate:
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(minutes=5))
            .not_valid_after(not_after or now + timedelta(days=10))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def sign_csr(self, csr_pem: str) -> str:
        """The PEM chain (leaf, then this CA) for a CSR, as csms's CertificateSigned has it."""
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        assert csr.is_signature_valid
        leaf = self._issue(csr.public_key(), csr.subject)
        return "".join(
            c.public_bytes(serialization.Encoding.PEM).decode() for c in (leaf, self.certificate)
        )

    def client_certificate(
        self, identity: str, *, expired: bool = False, directory: Path | None = None
    ) -> tuple[Path, Path]:
        """A client certificate for ``identity`` (CN) and its key, as PEM files."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        certificate = self._issue(
            key.public_key(),
            _name(identity),
            not_before=now - timedelta(days=3) if expired else None,
            not_after=now - timedelta(days=1) if expired else None,
        )
        where = directory or self.directory
        stem = f"client-{identity}{'-expired' if expired else ''}"
        cert_path = write_pem(where / f"{stem}.pem", certificate, self.certificate)
        key_path = where / f"{stem}.key"
        key_path.write_bytes(_key_pem(key))
        return cert_path, key_path

    def server_context(self, *, client_cert: str = "optional") -> ssl.SSLContext:
        """A TLS 1.2+ server context with the 127.0.0.1 certificate; client certificates
        verified against this CA: ``optional`` (profiles 2 and 3 on one port, as csms),
        ``required`` or ``none``."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert_path, self.server_key_path)
        if client_cert != "none":
            context.verify_mode = (
                ssl.CERT_REQUIRED if client_cert == "required" else ssl.CERT_OPTIONAL
            )
            context.load_verify_locations(cafile=self.ca_path)
        return context
