"""What a simulated charger keeps of its keys and certificates, in its state directory.

Layout of ``STATE_DIR/IDENTITY/`` (:func:`default_state_dir` for the default STATE_DIR):

- ``client.pem`` / ``client.key``: the charging-station certificate chain the CSMS signed
  (leaf first) and its private key (mode 0600): what the charger presents on profile 3.
- ``pending.key``: the key of the CSR in flight, until its CertificateSigned arrives.
- ``roots/TYPE/SERIAL.pem``: root certificates installed by the CSMS (InstallCertificate),
  by certificate type (``CentralSystemRootCertificate``, ``CSMSRootCertificate``,
  ``ManufacturerRootCertificate``, ...).

Keys are EC P-256 (a curve OCPP lists for charger keys, and one csms accepts); a CSR has
CN = the identity and O = the organization (1.6 ``CpoName``, 2.0.1
``SecurityCtrlr.OrganizationName``), as the 1.6 security whitepaper and 2.0.1 A02
require. Certificates are identified as OCPP does, by the hash data of an OCSP CertID:
SHA-256 of the issuer's DER name and of the issuer's public key, and the serial number
in hexadecimal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from simulators.errors import SimulatorError

__all__ = [
    "CertificateStore",
    "HashData",
    "InstalledRoot",
    "StoreError",
    "default_state_dir",
    "hash_data",
    "load_pem_chain",
]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}


class StoreError(SimulatorError):
    """The state directory cannot be used (not writable, a file is not what it should be)."""


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/csms-sim`` when XDG_STATE_HOME is set, else ``./.csms-sim``."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_STATE_HOME")
    if xdg:
        return Path(xdg) / "csms-sim"
    return Path(".csms-sim")


@dataclass(frozen=True, slots=True)
class HashData:
    """OCPP ``CertificateHashDataType`` (1.6 security extension, 2.0.1 2.6)."""

    hash_algorithm: str
    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str

    def to_json(self) -> dict[str, str]:
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    def matches(self, wanted: Mapping[str, Any]) -> bool:
        """Whether ``wanted`` (a CertificateHashDataType payload) names this certificate;
        hex compared case-insensitively, the serial without leading zeros."""
        return (
            str(wanted.get("hashAlgorithm")) == self.hash_algorithm
            and str(wanted.get("issuerNameHash", "")).lower() == self.issuer_name_hash
            and str(wanted.get("issuerKeyHash", "")).lower() == self.issuer_key_hash
            and _serial_text(str(wanted.get("serialNumber", ""))) == self.serial_number
        )


def _serial_text(text: str) -> str:
    stripped = text.lower().removeprefix("0x").lstrip("0")
    return stripped or "0"


def hash_data(
    certificate: x509.Certificate,
    issuer: x509.Certificate | None = None,
    *,
    algorithm: str = "SHA256",
) -> HashData:
    """The hash data of ``certificate`` issued by ``issuer`` (None: self-signed, a root).

    As an OCSP CertID (RFC 6960 4.1.1), which is what OCPP's hash data is: the hash of the
    DER-encoded issuer name and of the issuer's public key (the BIT STRING's value), and
    the serial number as lowercase hex without leading zeros.
    """
    from cryptography.x509 import ocsp

    chosen = _HASHES.get(algorithm)
    if chosen is None:
        raise ValueError(f"unknown hash algorithm {algorithm!r}; use one of {sorted(_HASHES)}")
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, issuer or certificate, chosen())
        .build()
    )
    return HashData(
        hash_algorithm=algorithm,
        issuer_name_hash=request.issuer_name_hash.hex(),
        issuer_key_hash=request.issuer_key_hash.hex(),
        serial_number=format(certificate.serial_number, "x"),
    )


def load_pem_chain(text: str) -> list[x509.Certificate]:
    """Every certificate of a PEM text, in order; ValueError when there is none."""
    certificates = x509.load_pem_x509_certificates(text.encode())
    if not certificates:
        raise ValueError("no certificate in the PEM text")
    return certificates


@dataclass(frozen=True, slots=True)
class InstalledRoot:
    """A root certificate the CSMS installed, with its type."""

    certificate_type: str
    path: Path
    certificate: x509.Certificate

    def hash_data(self, algorithm: str = "SHA256") -> HashData:
        return hash_data(self.certificate, algorithm=algorithm)


def _write_private(path: Path, data: bytes) -> None:
    """Write a secret: created 0600 (never world-readable, not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class CertificateStore:
    """One charger's keys and certificates under ``directory`` (see the module doc).

    ``directory`` None: a private temporary directory, removed when the store goes away
    (the Python API's default; the ``csms-sim`` CLI always names one).
    """

    def __init__(self, directory: Path | None = None) -> None:
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="csms-sim-"))
            weakref.finalize(self, shutil.rmtree, directory, True)
        self.directory = directory

    @classmethod
    def for_identity(cls, state_dir: Path, identity: str) -> CertificateStore:
        """The store of ``identity`` under ``state_dir`` (the identity made path-safe)."""
        safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in identity) or "_"
        if safe in (".", ".."):
            safe = "_" + safe
        return cls(state_dir / safe)

    # -- the charging-station certificate ----------------------------------------------------

    @property
    def cert_path(self) -> Path:
        return self.directory / "client.pem"

    @property
    def key_path(self) -> Path:
        return self.directory / "client.key"

    @property
    def _pending_key_path(self) -> Path:
        return self.directory / "pending.key"

    def has_client_certificate(self, *, now: datetime | None = None) -> bool:
        """A signed certificate and its key are there and the certificate is valid now."""
        if not (self.cert_path.is_file() and self.key_path.is_file()):
            return False
        try:
            leaf = load_pem_chain(self.cert_path.read_text())[0]
        except (OSError, ValueError):
            return False
        moment = now or datetime.now(UTC)
        return leaf.not_valid_before_utc <= moment <= leaf.not_valid_after_utc

    def client_certificate(self) -> x509.Certificate | None:
        try:
            return load_pem_chain(self.cert_path.read_text())[0]
        except (OSError, ValueError):
            return None

    @property
    def csr_pending(self) -> bool:
        return self._pending_key_path.is_file()

    def new_csr(self, *, identity: str, organization: str) -> str:
        """A new EC P-256 key (kept as the pending key) and its CSR in PEM: CN = identity,
        O = organization (1.6 security whitepaper; 2.0.1 A02)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, identity),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            ]
        )
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
        )
        try:
            _write_private(
                self._pending_key_path,
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
        except OSError as exc:
            raise StoreError(f"{self.directory}: cannot store the new key ({exc})") from None
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def accept_signed(self, chain_pem: str, *, now: datetime | None = None) -> str | None:
        """Install the chain of a CertificateSigned if it fits the pending key; returns
        None when installed, else why not (the answer is then Rejected)."""
        if not self.csr_pending:
            return "no certificate signing request is pending"
        try:
            chain = load_pem_chain(chain_pem)
        except ValueError as exc:
            return f"the certificate chain is not PEM ({exc})"
        try:
            key = serialization.load_pem_private_key(
                self._pending_key_path.read_bytes(), password=None
            )
        except (OSError, ValueError) as exc:
            return f"the pending key cannot be read ({exc})"
        leaf = chain[0]
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        der = serialization.Encoding.DER
        if leaf.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
            return "the certificate is not for the key of the pending request"
        moment = now or datetime.now(UTC)
        if not leaf.not_valid_before_utc <= moment <= leaf.not_valid_after_utc:
            return "the certificate is not valid now"
        try:
            _write_public(self.cert_path, chain_pem.encode())
            self._pending_key_path.replace(self.key_path)
        except OSError as exc:
            return f"the certificate cannot be stored ({exc})"
        return None

    # -- installed root certificates -----------------------------------------------------------

    def _roots_dir(self) -> Path:
        return self.directory / "roots"

    def roots(self, types: Iterable[str] | None = None) -> list[InstalledRoot]:
        """Installed root certificates (of ``types``; None: all), by type then serial."""
        wanted = None if types is None else set(types)
        found: list[InstalledRoot] = []
        base = self._roots_dir()
        if not base.is_dir():
            return found
        for type_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            if wanted is not None and type_dir.name not in wanted:
                continue
            for path in sorted(type_dir.glob("*.pem")):
                try:
                    certificate = load_pem_chain(path.read_text())[0]
                except (OSError, ValueError):
                    continue
                found.append(InstalledRoot(type_dir.name, path, certificate))
        return found

    def install_root(self, certificate_type: str, pem: str) -> str | None:
        """InstallCertificate: keep a CA certificate of ``certificate_type``; None when
        installed, else why it is Rejected (not PEM, not a CA, expired)."""
        try:
            certificate = load_pem_chain(pem)[0]
        except ValueError as exc:
            return f"not a PEM certificate ({exc})"
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
            is_ca = constraints.value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            return "not a CA certificate (basicConstraints CA:TRUE is missing)"
        now = datetime.now(UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            return "the certificate is not valid now"
        path = self._roots_dir() / certificate_type / f"{certificate.serial_number:x}.pem"
        try:
            _write_public(path, certificate.public_bytes(serialization.Encoding.PEM))
        except OSError as exc:
            raise StoreError(f"{self.directory}: cannot store the certificate ({exc})") from None
        return None

    def delete_root(self, wanted: Mapping[str, Any]) -> InstalledRoot | None:
        """DeleteCertificate: remove the root ``wanted`` names; the removed one, or None."""
        algorithm = str(wanted.get("hashAlgorithm", "SHA256"))
        if algorithm not in _HASHES:
            return None
        for root in self.roots():
            if root.hash_data(algorithm).matches(wanted):
                root.path.unlink()
                return root
        return None

    def names_client_certificate(self, wanted: Mapping[str, Any]) -> bool:
        """Whether ``wanted`` is the charger's own certificate, which must not be deleted
        (2.0.1 M04); the CA certificates after it in the chain are not installed roots."""
        algorithm = str(wanted.get("hashAlgorithm", "SHA256"))
        if algorithm not in _HASHES:
            return False
        try:
            chain = load_pem_chain(self.cert_path.read_text())
        except (OSError, ValueError):
            return False
        issuer = chain[1] if len(chain) > 1 else None
        if issuer is None and chain[0].issuer != chain[0].subject:
            return False  # its issuer is not in the chain: its hash data cannot be made
        return hash_data(chain[0], issuer, algorithm=algorithm).matches(wanted)
