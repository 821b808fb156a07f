"""csms's charging-station CA and the wss listener's server certificate, as files.

``csms ca init`` makes, under ``$CSMS_HOME``:

- ``ca/ca.pem`` and ``ca/ca.key``: the CA that signs chargers' CSRs (1.6 security
  whitepaper 3.3 / 2.0.1 A02, A03: ``csms.domain.security.csr`` loads both) and that
  profile 3 client certificates chain to. An operator installs ``ca.pem`` on the chargers
  as their *CSMS root certificate* (1.6 ``InstallCertificate`` CentralSystemRootCertificate,
  2.0.1 CSMSRootCertificate), since the server certificate is signed by it too;
- ``tls/server.pem`` (the server certificate, then the CA: chain first, as TLS sends it)
  and ``tls/server.key``: what the wss listener serves unless CSMS_TLS_CERT says otherwise.

Keys are EC P-256 (ECDHE-ECDSA suites: the cheapest handshake the OCPP security specs
list), written unencrypted as PKCS#8 PEM; certificates are X.509 PEM. Every file is mode
0600, the directories 0700, each written atomically. The CA is valid ``CA_DAYS``; the
server certificate names the hostnames (DNS names, and IP addresses) in its subject
alternative names and the first one as its CN (the OCPP test cases want the server's
FQDN in the CN), with the serverAuth extended key usage.

Pure functions over files: no database, no server needed (the server reads the files at
start, so it must be restarted to serve a new certificate).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from csms.domain.errors import AlreadyExists, InvalidRequest, NotFound
from storage.files import secure_directory

__all__ = [
    "CA_DAYS",
    "DEFAULT_HOSTNAMES",
    "SERVER_DAYS",
    "CaFiles",
    "CertificateFile",
    "CertificateUnreadable",
    "ca_files",
    "describe",
    "fingerprint",
    "init_ca",
    "issue_server_certificate",
    "parse_hostname",
]

#: Days csms's CA is valid: chargers keep it as their CSMS root certificate, and replacing
#: it means installing the new one on every charger.
CA_DAYS = 3650
#: Days a server certificate is valid unless ``--days`` says otherwise.
SERVER_DAYS = 825
#: The names a server certificate is for when none are given.
DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1")
#: A certificate's not-before is this much before ``now``: a charger whose clock is a
#: little behind still accepts it.
BACKDATE = timedelta(hours=1)

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class CertificateUnreadable(InvalidRequest):
    """A certificate file that is not an X.509 PEM certificate."""


@dataclass(frozen=True, slots=True)
class CaFiles:
    """Where csms keeps its CA and its server certificate under ``$CSMS_HOME``."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    @property
    def ca_exists(self) -> bool:
        return self.ca_cert.exists() or self.ca_key.exists()

    @property
    def server_exists(self) -> bool:
        return self.server_cert.is_file() and self.server_key.is_file()


def ca_files(home: Path) -> CaFiles:
    """The CA and server certificate paths of ``home`` (they need not exist)."""
    return CaFiles(
        ca_cert=home / "ca" / "ca.pem",
        ca_key=home / "ca" / "ca.key",
        server_cert=home / "tls" / "server.pem",
        server_key=home / "tls" / "server.key",
    )


@dataclass(frozen=True, slots=True)
class CertificateFile:
    """What ``csms ca show`` says of one certificate file (its first certificate)."""

    #: ``ca``, ``server`` (``$CSMS_HOME/tls/server.pem``) or ``configured`` (CSMS_TLS_CERT).
    role: str
    path: Path
    subject: str
    issuer: str
    serial: str
    #: SHA-256 of the DER certificate, colon-separated hex (what chargers and browsers show).
    fingerprint: str
    not_before: datetime
    not_after: datetime
    #: Subject alternative names (DNS names and IP addresses).
    names: tuple[str, ...]


def parse_hostname(text: str) -> x509.GeneralName:
    """``text`` as a subject alternative name: an IP address, or a DNS name (a leading
    ``*.`` allowed); InvalidRequest saying what is accepted otherwise."""
    name = text.strip()
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        pass
    labels = name[2:].split(".") if name.startswith("*.") else name.split(".")
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidRequest(
            f"hostname {text!r}: give a DNS name (letters, digits, '-' and '.', like "
            "csms.example.com) or an IP address"
        )
    return x509.DNSName(name.lower())


def init_ca(
    home: Path,
    *,
    hostnames: Sequence[str] = DEFAULT_HOSTNAMES,
    days: int = SERVER_DAYS,
    force: bool = False,
    now: datetime,
    organization: str = "csms",
    ca_days: int = CA_DAYS,
) -> CaFiles:
    """Create csms's CA and a server certificate for ``hostnames`` signed by it.

    Refuses (AlreadyExists) when the CA exists, unless ``force``: a new CA means that
    the certificates the old one signed (chargers' profile 3 certificates, the server
    certificate chargers trust) no longer verify."""
    secure_directory(home)  # $CSMS_HOME is 0700, as the server makes it
    files = ca_files(home)
    if files.ca_exists and not force:
        raise AlreadyExists(
            f"a CA already exists in {files.ca_cert.parent}: `csms ca init --force` replaces "
            "it, after which the charger certificates it signed no longer verify and every "
            "charger needs the new ca.pem; `csms ca init --server-only` issues a new server "
            "certificate from the existing CA instead"
        )
    names = _names(hostnames)
    _check_days(days, ca_days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{organization} charging-station CA"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=ca_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key, server_cert = _server_certificate(
        ca_cert, ca_key, names, days=days, now=now, organization=organization
    )
    _write(files.ca_key, _key_pem(ca_key))
    _write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_server(files, server_key, server_cert, ca_cert)
    return files


def issue_server_certificate(
    home: Path,
    *,
    hostnames: Sequence[str] = DEFAULT_HOSTNAMES,
    days: int = SERVER_DAYS,
    now: datetime,
    organization: str = "csms",
) -> CaFiles:
    """A new server certificate (and key) from the existing CA: for new hostnames, or
    before the old one expires. Chargers trusting ``ca.pem`` trust it at once."""
    secure_directory(home)
    files = ca_files(home)
    if not (files.ca_cert.is_file() and files.ca_key.is_file()):
        raise NotFound(f"no CA in {files.ca_cert.parent}: create one with `csms ca init`")
    ca_cert = _load_certificate(files.ca_cert)
    try:
        ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateUnreadable(f"{files.ca_key}: not an unencrypted PEM key ({exc})") from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertificateUnreadable(f"{files.ca_key}: not an EC key (csms's CA keys are P-256)")
    names = _names(hostnames)
    left = ca_cert.not_valid_after_utc - now
    if days > left.days:
        raise InvalidRequest(
            f"--days {days}: the CA expires in {left.days} days, a certificate it signs "
            "cannot outlive it"
        )
    _check_days(days, None)
    server_key, server_cert = _server_certificate(
        ca_cert, ca_key, names, days=days, now=now, organization=organization
    )
    _write_server(files, server_key, server_cert, ca_cert)
    return files


def describe(home: Path, *, tls_cert: Path | None = None) -> list[CertificateFile]:
    """The CA's and the server certificates' subject, fingerprint and validity: those
    under ``home`` that exist, then ``tls_cert`` (CSMS_TLS_CERT) when given."""
    files = ca_files(home)
    found = [
        _describe(role, path)
        for role, path in (("ca", files.ca_cert), ("server", files.server_cert))
        if path.is_file()
    ]
    if tls_cert is not None:
        found.append(_describe("configured", tls_cert))
    return found


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate as colon-separated upper-case hex."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


# -- internals ------------------------------------------------------------------------


def _names(hostnames: Sequence[str]) -> list[x509.GeneralName]:
    if not hostnames:
        raise InvalidRequest("give at least one hostname (--hostname NAME)")
    return list(dict.fromkeys(parse_hostname(h) for h in hostnames))


def _check_days(days: int, ca_days: int | None) -> None:
    if days < 1:
        raise InvalidRequest(f"--days {days}: give a number of days above 0")
    if ca_days is not None and days > ca_days:
        raise InvalidRequest(
            f"--days {days}: the server certificate cannot outlive the CA ({ca_days} days)"
        )


def _server_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: list[x509.GeneralName],
    *,
    days: int,
    now: datetime,
    organization: str,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    first = names[0]
    common_name = str(first.value)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                    x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def _write_server(
    files: CaFiles,
    key: ec.EllipticCurvePrivateKey,
    certificate: x509.Certificate,
    ca_cert: x509.Certificate,
) -> None:
    pem = serialization.Encoding.PEM
    _write(files.server_key, _key_pem(key))
    _write(files.server_cert, certificate.public_bytes(pem) + ca_cert.public_bytes(pem))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` mode 0600 atomically; its directory made 0700."""
    directory = path.parent
    if not directory.exists():
        directory.mkdir(parents=True, mode=_DIR_MODE)
    with contextlib.suppress(OSError):  # (the umask may have masked the mode)
        directory.chmod(_DIR_MODE)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), _FILE_MODE)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _load_certificate(path: Path) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CertificateUnreadable(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        return x509.load_pem_x509_certificates(data)[0]
    except ValueError:
        raise CertificateUnreadable(f"{path}: not a PEM certificate") from None


def _describe(role: str, path: Path) -> CertificateFile:
    certificate = _load_certificate(path)
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(name.value) for name in san)
    except x509.ExtensionNotFound:
        names = ()
    return CertificateFile(
        role=role,
        path=path,
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        serial=format(certificate.serial_number, "X"),
        fingerprint=fingerprint(certificate),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        names=names,
    )
