"""Certificates for the tests, made with ``cryptography``: CAs, leaf certificates, CSRs,
PEM files, TLS contexts and the checks of a signed chain.

Building blocks (every certificate is EC P-256 unless a key is given, signed with SHA-256)::

    ca = make_ca("Other CA")                            # a self-signed CA, valid now
    leaf = make_leaf(ca, "CP1")                         # a client certificate (clientAuth)
    web = make_leaf(ca, "csms.example.com", usage="server", hostnames=("csms.example.com",))
    old = make_leaf(ca, "CP1", not_after=ago(days=1))   # expired
    cert, key = leaf.write(tmp_path, "cp1")             # cp1.pem, cp1.key
    ctx = client_context(trust=ca_pem_path, certificate=leaf, directory=tmp_path)

csms's own CA and chargers' CSRs (the CSR signing tests)::

    ca = csms_ca(now=NOW)                               # as ``csms ca init`` makes it
    write_ca(home, ca)                                  # home/ca/ca.pem and ca.key
    pem = csr_pem(cn="CP1")                             # a charger's CSR (RSA-2048, O=csms)
    leaf = verify_chain(chain_pem, ca.certificate)      # leaf then CA, signed by it, valid

A root certificate to install on a charger::

    pem = root_certificate_pem("Operator Root")

A whole PKI in a directory (a CA, a server certificate for 127.0.0.1, client certificates,
the signing of CSRs and a server ``SSLContext``)::

    pki = PkiDirectory(tmp_path / "pki")
    server = pki.server_context(client_cert="required")
    cert, key = pki.client_certificate("CP1")
"""

from __future__ import annotations

import ipaddress
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from csms.domain.security.csr import CA_CERT_FILE, CA_DIR, CA_KEY_FILE, CertificateAuthority

__all__ = [
    "ORG",
    "Issued",
    "PkiDirectory",
    "ago",
    "client_context",
    "csms_ca",
    "csr_pem",
    "from_now",
    "issue",
    "load_issued",
    "make_ca",
    "make_leaf",
    "name",
    "root_certificate_pem",
    "rsa_key",
    "server_context",
    "to_pem",
    "verify_chain",
    "write_ca",
    "write_pem",
]

#: The organization the test settings expect in a CSR (the CSMS_CERT_ORG default).
ORG = "csms"

Usage = Literal["client", "server"]
ClientCert = Literal["optional", "required", "none"]


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def from_now(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def name(common_name: str | None, organization: str | None = None) -> x509.Name:
    """A subject ``O=organization, CN=common_name`` (either left out when None)."""
    attributes = []
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def to_pem(value: x509.Certificate | CertificateIssuerPrivateKeyTypes) -> bytes:
    """A certificate as X.509 PEM, a key as unencrypted PKCS#8 PEM."""
    if isinstance(value, x509.Certificate):
        return value.public_bytes(serialization.Encoding.PEM)
    return value.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_pem(path: Path, *certificates: x509.Certificate) -> Path:
    """``certificates`` one after the other as PEM in ``path``."""
    path.write_bytes(b"".join(to_pem(c) for c in certificates))
    return path


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes

    def cert_pem(self) -> bytes:
        return to_pem(self.certificate)

    def key_pem(self) -> bytes:
        return to_pem(self.key)

    def write(self, directory: Path, stem: str, *, chain: bytes = b"") -> tuple[Path, Path]:
        """``stem.pem`` (the certificate, then ``chain``) and ``stem.key`` in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert.write_bytes(self.cert_pem() + chain)
        key.write_bytes(self.key_pem())
        return cert, key

    @property
    def authority(self) -> CertificateAuthority:
        """This CA as csms's CSR signing takes it."""
        return CertificateAuthority(certificate=self.certificate, private_key=self.key)


def load_issued(cert: Path, key: Path) -> Issued:
    """A certificate and key from PEM files (e.g. csms's ca.pem and ca.key)."""
    certificate = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return Issued(certificate, private)


_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def make_ca(
    common_name: str = "Test CA",
    *,
    organization: str | None = None,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    ca: bool = True,
    serial: int | None = None,
) -> Issued:
    """A self-signed CA (a fresh EC P-256 key unless ``key`` is given), valid from a day ago
    for a year unless told otherwise; with ``ca=False`` its BasicConstraints say it is not
    one."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = name(common_name, organization)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before or ago(days=1))
        .not_valid_after(not_after or from_now(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def csms_ca(
    *,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    now: datetime | None = None,
    days: int = 3650,
    ca: bool = True,
) -> Issued:
    """A CA like the one ``csms ca init`` makes (O=csms, for ``days`` from ``now``)."""
    now = now or datetime.now(UTC)
    return make_ca(
        "csms charging-station CA",
        organization=ORG,
        key=key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=days),
        ca=ca,
    )


def root_certificate_pem(
    common_name: str = "Test Root CA",
    *,
    ca: bool = True,
    not_before: datetime | None = None,
    days: int = 365,
    serial: int | None = None,
) -> str:
    """A self-signed root certificate in PEM form, valid for ``days`` from ``not_before`` (a
    day ago by default); not a CA when ``ca`` is False."""
    start = not_before or ago(days=1)
    root = make_ca(
        common_name, not_before=start, not_after=start + timedelta(days=days), ca=ca, serial=serial
    )
    return root.cert_pem().decode("ascii")


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def issue(
    ca: Issued,
    public_key: CertificatePublicKeyTypes,
    subject: x509.Name,
    *,
    usage: Usage = "client",
    hostnames: Sequence[str] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    """A certificate for ``public_key`` and ``subject`` signed by ``ca``: ``usage``
    ``client`` (clientAuth, as a profile 3 charger has) or ``server`` (serverAuth), with
    ``hostnames`` (DNS names or IP addresses) as subject alternative names; valid from a day
    ago for 30 days unless told otherwise."""
    eku = ExtendedKeyUsageOID.CLIENT_AUTH if usage == "client" else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or ago(days=1))
        .not_valid_after(not_after or from_now(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    )
    if hostnames:
        names = [_general_name(host) for host in hostnames]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def make_leaf(
    ca: Issued,
    cn: str,
    *,
    organization: str | None = None,
    usage: Usage = "client",
    hostnames: Sequence[str] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Issued:
    """A certificate for ``cn`` (and ``organization``) with a fresh EC P-256 key, signed by
    ``ca`` (see :func:`issue`)."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = issue(
        ca,
        key.public_key(),
        name(cn, organization),
        usage=usage,
        hostnames=hostnames,
        not_before=not_before,
        not_after=not_after,
    )
    return Issued(certificate, key)


def write_ca(home: Path, ca: Issued) -> Path:
    """Write ``ca`` as ``csms ca init`` does: ``home/ca/ca.pem`` and ``ca.key`` (PKCS#8)."""
    directory = home / CA_DIR
    directory.mkdir(parents=True, exist_ok=True)
    write_pem(directory / CA_CERT_FILE, ca.certificate)
    key_file = directory / CA_KEY_FILE
    key_file.write_bytes(ca.key_pem())
    key_file.chmod(0o600)
    return directory


def csr_pem(
    key: CertificateIssuerPrivateKeyTypes | None = None,
    *,
    cn: str | None = "CP1",
    org: str | None = ORG,
    algorithm: hashes.HashAlgorithm | None = None,
) -> str:
    """A PEM CSR for ``key`` (a fresh RSA-2048 key by default) with subject O and CN."""
    key = key or rsa_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name(cn, org))
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


def client_context(
    *,
    trust: Path,
    certificate: Issued | None = None,
    directory: Path | None = None,
    maximum_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A client context trusting the CA file ``trust``, presenting ``certificate`` (its
    PEM files written to ``directory``) when given; ``maximum_version`` lets it speak an
    old TLS version (to be refused)."""
    context = ssl.create_default_context(cafile=str(trust))
    if certificate is not None:
        assert directory is not None, "a client certificate needs a directory for its files"
        stem = f"client-{certificate.certificate.serial_number:x}"
        cert, key = certificate.write(directory, stem)
        context.load_cert_chain(cert, key)
    if maximum_version is not None:
        with warnings.catch_warnings():  # (TLS 1.0 and 1.1 are deprecated: that is the point)
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = maximum_version
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let OpenSSL 3 offer TLS 1.0/1.1 at all
    return context


def server_context(
    cert: Path,
    key: Path,
    *,
    client_ca: Path | None = None,
    client_cert: ClientCert = "optional",
    minimum_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A server context with the certificate (chain) file ``cert`` and its ``key``; with
    ``client_ca``, client certificates are verified against it: ``optional`` (profiles 2
    and 3 on one port, as csms), ``required`` or ``none``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if minimum_version is not None:
        context.minimum_version = minimum_version
    context.load_cert_chain(cert, key)
    if client_ca is not None and client_cert != "none":
        context.verify_mode = ssl.CERT_REQUIRED if client_cert == "required" else ssl.CERT_OPTIONAL
        context.load_verify_locations(cafile=client_ca)
    return context


@dataclass
class PkiDirectory:
    """A CA in ``directory``: ``ca.pem``, and ``server.pem``/``server.key`` for
    ``hostnames`` (the first one is its CN), all PEM; it signs chargers' CSRs and issues
    client certificates as csms's CA does."""

    directory: Path
    common_name: str = "csms test CA"
    hostnames: tuple[str, ...] = ("127.0.0.1", "localhost")
    ca: Issued = field(init=False)
    server: Issued = field(init=False)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = make_ca(self.common_name, organization=ORG)
        self.server = make_leaf(
            self.ca, self.hostnames[0], organization=ORG, usage="server", hostnames=self.hostnames
        )
        self.ca_path = write_pem(self.directory / "ca.pem", self.ca.certificate)
        self.server_cert_path, self.server_key_path = self.server.write(self.directory, "server")

    @property
    def certificate(self) -> x509.Certificate:
        """The CA certificate."""
        return self.ca.certificate

    def sign_csr(self, csr: str) -> str:
        """The PEM chain (leaf, then this CA) for a CSR, as csms's CertificateSigned has it."""
        request = x509.load_pem_x509_csr(csr.encode())
        assert request.is_signature_valid
        leaf = issue(self.ca, request.public_key(), request.subject)
        return (to_pem(leaf) + self.ca.cert_pem()).decode()

    def client_certificate(
        self, identity: str, *, expired: bool = False, directory: Path | None = None
    ) -> tuple[Path, Path]:
        """A client certificate for ``identity`` (CN), then this CA, and its key, as PEM
        files in ``directory`` (this PKI's own by default)."""
        leaf = make_leaf(
            self.ca,
            identity,
            organization=ORG,
            not_before=ago(days=3) if expired else None,
            not_after=ago(days=1) if expired else None,
        )
        stem = f"client-{identity}{'-expired' if expired else ''}"
        return leaf.write(directory or self.directory, stem, chain=self.ca.cert_pem())

    def server_context(self, *, client_cert: ClientCert = "optional") -> ssl.SSLContext:
        """A TLS 1.2+ server context with the server certificate; client certificates
        verified against this CA as ``client_cert`` says (see :func:`server_context`)."""
        return server_context(
            self.server_cert_path,
            self.server_key_path,
            client_ca=self.ca_path,
            client_cert=client_cert,
            minimum_version=ssl.TLSVersion.TLSv1_2,
        )
