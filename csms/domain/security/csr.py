"""Charging-station certificates: checking a charger's CSR and signing it with csms's CA.

A charger asks for its certificate with ``SignCertificate`` (1.6 security whitepaper
edition 3, use cases A02/A03; 2.0.1 A02/A03), sending a PKCS#10 CSR (RFC 2986) in PEM.
csms answers Accepted only when it can process the request (1.6 whitepaper A02.FR.11 /
A03.FR.11, 2.0.1 A02.FR.11 / A03.FR.11), Rejected otherwise (A02.FR.12 / A03.FR.12), and
then sends the chain its CA signed in ``CertificateSigned``. The checks follow the
certificate properties both specifications require of a Charging Station certificate
(1.6 whitepaper section 2.6.1, 2.0.1 part 2 "Certificate Properties"):

- the CSR is PEM and its self-signature verifies (the charger holds the private key);
- its subject CN is the charger's identity (1.6 whitepaper A00.FR.511: the CN is the
  charger's serial number, which is its identity in the connection URL) and its O is the
  operator's name, ``CSMS_CERT_ORG`` (A00.FR.509; A02.FR.13: the charger puts its
  ``CpoName`` there);
- its key gives at least 112 bits of security (A00.FR.501–A00.FR.503) and is one TLS
  stacks take: RSA of 2048 bits or more, or EC on NIST P-256, P-384 or P-521;
- it is signed with SHA-256 or stronger (A00.FR.504, A00.FR.506).

The certificate csms issues takes only the CSR's subject and public key: extensions a
CSR asks for (a subjectAltName, which A00.FR.511 says should not be used, a CA flag) are
never copied. It is a TLS client certificate (security profile 3 uses it, A00.FR.402)
with key usage restricted to what TLS needs (A00.FR.512), a random 128-bit serial
(A00.FR.508) and validity ``CSMS_CERT_DAYS``, but never beyond the CA's own.

Everything here is pure except :func:`load_certificate_authority`, which reads
``$CSMS_HOME/ca/ca.pem`` and ``ca.key`` (written by ``csms ca init``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "ACCEPTED_CURVES",
    "CA_CERT_FILE",
    "CA_DIR",
    "CA_KEY_FILE",
    "CHARGING_STATION_CERTIFICATE",
    "MAX_SUBJECT_LENGTH",
    "MIN_RSA_BITS",
    "NOT_BEFORE_SLACK",
    "CertificateAuthority",
    "CertificateAuthorityError",
    "CsrRejected",
    "CsrSigner",
    "IssuedCertificate",
    "certificate_fingerprint",
    "check_csr",
    "load_certificate_authority",
    "serial_hex",
    "sign_csr",
]

#: Where ``csms ca init`` keeps csms's charging-station CA, under ``$CSMS_HOME``.
CA_DIR = "ca"
CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca.key"

#: The certificate type csms's CA signs (2.0.1 CertificateSigningUseEnumType; a 1.6
#: charger's CSR is always for this one).
CHARGING_STATION_CERTIFICATE = "ChargingStationCertificate"

#: RSA keys below this are refused (A00.FR.502).
MIN_RSA_BITS = 2048
#: The smallest RSA public exponent taken (FIPS 186-4 B.3.1: above 2**16).
_MIN_RSA_EXPONENT = 65537
#: EC curves taken, by name: 128 bits of security and more, and supported by the TLS
#: stacks chargers and csms use (A00.FR.503 asks at least 224 bits).
ACCEPTED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
#: Signature hashes taken in a CSR (SHA-1 and MD5 are broken, SHA-224 below BSI's bar).
_ACCEPTED_HASHES = frozenset({"sha256", "sha384", "sha512", "sha3-256", "sha3-384", "sha3-512"})

#: An issued certificate is valid from this long before it was signed, so that a charger
#: whose clock is a little behind does not see it as not yet valid (A02.FR.08).
NOT_BEFORE_SLACK = timedelta(minutes=5)

_CSR_LABELS = ("-----BEGIN CERTIFICATE REQUEST-----", "-----BEGIN NEW CERTIFICATE REQUEST-----")
#: The longest subject (RFC 4514 string) taken: what ``issued_certificates.subject`` holds.
MAX_SUBJECT_LENGTH = 300
#: The longest value of a charger's CSR quoted in a reason (reasons go to logs, events
#: and back to the charger in statusInfo.additionalInfo, at most 512 characters).
_QUOTE_LIMIT = 50


class CsrRejected(ValueError):
    """A CSR csms does not sign; ``reason`` says why in words an operator can act on.

    The reason never quotes key material: only the CSR's names and key sizes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CertificateAuthorityError(ValueError):
    """csms's CA files are there but cannot be used; the message names the file."""


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """csms's charging-station CA: its certificate and private key."""

    certificate: x509.Certificate
    private_key: CertificateIssuerPrivateKeyTypes

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate csms's CA signed: the chain to send and what is kept of it."""

    certificate: x509.Certificate
    #: The leaf alone, PEM.
    pem: str
    #: Leaf then CA certificate, PEM: CertificateSigned ``certificateChain``.
    chain_pem: str
    #: Upper-case hex, no separators (as ``issued_certificates.serial``).
    serial: str
    #: SHA-256 of the DER certificate, upper-case hex.
    fingerprint: str
    #: RFC 4514 string of the subject (``O=csms,CN=CP1``).
    subject: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True, slots=True)
class CsrSigner:
    """What a connection needs to answer SignCertificate: where the CA is, which
    organization a CSR must name (CSMS_CERT_ORG) and how long certificates last
    (CSMS_CERT_DAYS).

    The CA is read when a CSR comes in, not once at start: ``csms ca init`` on a running
    server takes effect at the next request."""

    home: Path
    organization: str
    days: int

    def authority(self) -> CertificateAuthority | None:
        """csms's CA; None when ``csms ca init`` has not been run. Raises
        :class:`CertificateAuthorityError` when its files are broken."""
        return load_certificate_authority(self.home)


def _quote(value: str) -> str:
    text = value if len(value) <= _QUOTE_LIMIT else value[: _QUOTE_LIMIT - 3] + "..."
    return repr(text)


def _one_name(subject: x509.Name, oid: x509.ObjectIdentifier, what: str) -> str:
    values = subject.get_attributes_for_oid(oid)
    if not values:
        raise CsrRejected(f"the CSR's subject has no {what}")
    if len(values) > 1:
        raise CsrRejected(f"the CSR's subject has {len(values)} {what} entries, expected one")
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _check_key(csr: x509.CertificateSigningRequest) -> None:
    try:
        key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise CsrRejected("the CSR's public key is of a type csms cannot read") from None
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise CsrRejected(
                f"RSA key of {key.key_size} bits is too weak: at least {MIN_RSA_BITS} bits"
            )
        if key.public_numbers().e < _MIN_RSA_EXPONENT:
            raise CsrRejected(
                f"RSA public exponent {key.public_numbers().e} is too small: use 65537"
            )
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ACCEPTED_CURVES:
            raise CsrRejected(
                f"EC curve {key.curve.name} ({key.curve.key_size} bits) is not accepted: "
                "use P-256, P-384 or P-521"
            )
        return
    kind = type(key).__name__.removeprefix("_").replace("PublicKey", "")
    raise CsrRejected(
        f"{kind or 'this'} key type is not accepted: use RSA of 2048 bits or more, or EC "
        "P-256, P-384 or P-521"
    )


def check_csr(pem: str, *, charger_id: str, organization: str) -> x509.CertificateSigningRequest:
    """The CSR in ``pem`` when csms may sign it for ``charger_id``; raises
    :class:`CsrRejected` with the reason otherwise (see the module docstring)."""
    text = pem.strip()
    if not text.startswith(_CSR_LABELS):
        label = text.split("\n", 1)[0][:40] if text.startswith("-----BEGIN") else None
        if label is not None:
            raise CsrRejected(
                f"not a CSR: the PEM block is {label!r}, expected a CERTIFICATE REQUEST"
            )
        raise CsrRejected("not a PEM CSR: it must start with -----BEGIN CERTIFICATE REQUEST-----")
    try:
        csr = x509.load_pem_x509_csr(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CsrRejected("the PEM block is not a readable PKCS#10 CSR (RFC 2986)") from None
    _check_key(csr)
    try:
        algorithm = csr.signature_hash_algorithm
        valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        raise CsrRejected("the CSR's signature algorithm is not supported") from None
    if not valid:
        raise CsrRejected(
            "the CSR's self-signature does not verify: it was altered, or not signed with "
            "the key it holds"
        )
    if algorithm is None or algorithm.name not in _ACCEPTED_HASHES:
        name = algorithm.name if algorithm is not None else "none"
        raise CsrRejected(f"the CSR is signed with {name}: SHA-256 or stronger is needed")
    common_name = _one_name(csr.subject, NameOID.COMMON_NAME, "CN (commonName)")
    if common_name != charger_id:
        raise CsrRejected(
            f"CN is {_quote(common_name)}, expected the charger's identity {_quote(charger_id)}"
        )
    org = _one_name(csr.subject, NameOID.ORGANIZATION_NAME, "O (organizationName)")
    if org != organization:
        raise CsrRejected(f"O is {_quote(org)}, expected {_quote(organization)}")
    if len(csr.subject.rfc4514_string()) > MAX_SUBJECT_LENGTH:
        raise CsrRejected(
            f"the CSR's subject is longer than {MAX_SUBJECT_LENGTH} characters: give CN and O"
        )
    return csr


def serial_hex(serial: int) -> str:
    """A certificate serial as csms shows and stores it: upper-case hex, no separators."""
    return format(serial, "X")


def certificate_fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, upper-case hex."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest().upper()


def _signing_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    # Ed25519/Ed448 sign without a separate hash; RSA and ECDSA with SHA-256 (A00.FR.506).
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    return hashes.SHA256()


def sign_csr(
    ca: CertificateAuthority,
    csr: x509.CertificateSigningRequest,
    *,
    days: int,
    now: datetime,
) -> IssuedCertificate:
    """The leaf certificate for a checked ``csr`` (see :func:`check_csr`), valid from
    ``now`` minus :data:`NOT_BEFORE_SLACK` for ``days`` days, never beyond the CA.

    Raises :class:`CertificateAuthorityError` when the CA has expired."""
    if days < 1:
        raise ValueError("days must be 1 or more")
    ca_cert = ca.certificate
    ca_until = ca_cert.not_valid_after_utc
    if ca_until <= now:
        raise CertificateAuthorityError(
            f"csms's CA expired on {ca_until:%Y-%m-%d}: create a new one with "
            "`csms ca init --force` (chargers then need the new CA certificate)"
        )
    not_before = now - NOT_BEFORE_SLACK
    not_after = min(now + timedelta(days=days), ca_until)
    public_key = csr.public_key()
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    # A positive 128-bit serial with its top bit set: always 32 hex digits, 127 random bits
    # (RFC 5280 4.1.2.2: at most 20 octets; CA/B forum: at least 64 random bits).
    serial = secrets.randbits(127) | (1 << 127)
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        authority_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            ca.private_key.public_key()
        )
    builder = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=is_rsa,
                data_encipherment=False,
                key_agreement=not is_rsa,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # The Charging Station certificate is the TLS client certificate of profile 3.
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(authority_key_id, critical=False)
    )
    certificate = builder.sign(ca.private_key, _signing_hash(ca.private_key))
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return IssuedCertificate(
        certificate=certificate,
        pem=pem,
        chain_pem=pem + ca.pem,
        serial=serial_hex(serial),
        fingerprint=certificate_fingerprint(certificate),
        subject=certificate.subject.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )


def load_certificate_authority(home: Path) -> CertificateAuthority | None:
    """csms's CA from ``home/ca/ca.pem`` and ``ca.key`` (PEM; the key PKCS#8, unencrypted);
    None when neither file exists. Raises :class:`CertificateAuthorityError` naming the
    file when one is missing, unreadable or does not fit the other."""
    directory = home / CA_DIR
    cert_path, key_path = directory / CA_CERT_FILE, directory / CA_KEY_FILE
    if not cert_path.exists() and not key_path.exists():
        return None
    redo = "recreate it with `csms ca init --force`"
    for path in (cert_path, key_path):
        if not path.exists():
            raise CertificateAuthorityError(f"{path} is missing: {redo}")
    try:
        cert_data, key_data = cert_path.read_bytes(), key_path.read_bytes()
    except OSError as exc:
        raise CertificateAuthorityError(
            f"cannot read csms's CA ({exc.filename}): {exc.strerror}"
        ) from None
    try:
        certificate = x509.load_pem_x509_certificate(cert_data)
    except ValueError:
        raise CertificateAuthorityError(f"{cert_path} is not a PEM certificate: {redo}") from None
    try:
        key = serialization.load_pem_private_key(key_data, password=None)
    except TypeError:
        raise CertificateAuthorityError(
            f"{key_path} is encrypted: csms needs it unencrypted (PKCS#8 PEM, mode 0600)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateAuthorityError(f"{key_path} is not a PEM private key: {redo}") from None
    if not isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        raise CertificateAuthorityError(f"{key_path} holds a key that cannot sign certificates")
    if key.public_key() != certificate.public_key():
        raise CertificateAuthorityError(f"{key_path} is not the key of {cert_path}: {redo}")
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CertificateAuthorityError(f"{cert_path} is not a CA certificate: {redo}")
    return CertificateAuthority(certificate=certificate, private_key=key)
