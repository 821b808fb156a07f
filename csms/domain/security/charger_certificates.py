"""Certificates installed on a charger: their types, the PEM an operator installs, and
finding an installed certificate by its serial number.

OCPP names the types as 2.0.1 does (2.0.1 InstallCertificateUseEnumType,
GetCertificateIdUseEnumType); the 1.6 security extension has only the two root types,
``CentralSystemRootCertificate`` (here ``CSMSRootCertificate``) and
``ManufacturerRootCertificate`` (OCPP 1.6 Security Whitepaper, use cases M03-M05). An
installed certificate is named by its hash data: issuer name hash, issuer key hash and
serial number (1.6 and 2.0.1 CertificateHashDataType); operators name it by the serial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from csms.domain.errors import InvalidRequest, NotFound

__all__ = [
    "CERTIFICATE_TYPES",
    "INSTALLABLE_TYPES",
    "MAX_CERTIFICATE_LENGTH",
    "V16_CERTIFICATE_TYPES",
    "certificate_type",
    "checked_certificate",
    "find_by_serial",
    "normalize_serial",
]

#: Types a root certificate can be installed as (2.0.1 InstallCertificateUseEnumType).
INSTALLABLE_TYPES = (
    "CSMSRootCertificate",
    "ManufacturerRootCertificate",
    "V2GRootCertificate",
    "MORootCertificate",
)
#: Types a charger lists installed certificates of (2.0.1 GetCertificateIdUseEnumType).
CERTIFICATE_TYPES = (*INSTALLABLE_TYPES, "V2GCertificateChain")
#: The types an OCPP 1.6 charger has.
V16_CERTIFICATE_TYPES = ("CSMSRootCertificate", "ManufacturerRootCertificate")
# The 1.6 name of the CSMS root (1.6 CertificateUseEnumType) is accepted as input too.
_ALIASES = {"centralsystemrootcertificate": "CSMSRootCertificate"}

#: InstallCertificate.req certificate: string(5500) in 1.6 and 2.0.1.
MAX_CERTIFICATE_LENGTH = 5500


def certificate_type(text: str, *, installable: bool = False) -> str:
    """``text`` (any case; the 1.6 name ``CentralSystemRootCertificate`` too) as the type
    name csms uses; raises InvalidRequest listing the valid names."""
    choices = INSTALLABLE_TYPES if installable else CERTIFICATE_TYPES
    wanted = text.strip().lower()
    wanted = _ALIASES.get(wanted, wanted).lower()
    for name in choices:
        if name.lower() == wanted:
            return name
    raise InvalidRequest(f"unknown certificate type {text!r}: use one of {', '.join(choices)}")


def _subject(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def checked_certificate(pem: str, *, now: datetime) -> str:
    """``pem`` when it is one X.509 CA certificate in PEM form, valid at ``now`` and short
    enough for InstallCertificate; otherwise InvalidRequest saying what is wrong (nothing
    is sent to the charger). Only the certificate, without text around it, is returned."""
    text = pem.strip()
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise InvalidRequest(
            "not a PEM certificate: give the file that holds one X.509 certificate between "
            "-----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- (convert a DER file "
            "with `openssl x509 -inform der -in FILE -out FILE.pem`)"
        )
    try:
        certificates = x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise InvalidRequest(
            "the PEM certificate cannot be read: check that the file is a complete, "
            "unmodified X.509 certificate"
        ) from None
    if len(certificates) != 1:
        raise InvalidRequest(
            f"the file holds {len(certificates)} certificates: InstallCertificate installs "
            "one root certificate, give a file with just that one"
        )
    cert = certificates[0]
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = constraints.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise InvalidRequest(
            f"{_subject(cert)!r} is not a CA certificate (no basicConstraints CA:TRUE): a "
            "charger installs root certificates, give the root CA's certificate"
        )
    if cert.not_valid_after_utc <= now:
        raise InvalidRequest(
            f"{_subject(cert)!r} expired on {cert.not_valid_after_utc.isoformat()}: "
            "install a current certificate"
        )
    if cert.not_valid_before_utc > now:
        raise InvalidRequest(
            f"{_subject(cert)!r} is valid only from {cert.not_valid_before_utc.isoformat()}: "
            "install it from then on (or check this machine's clock)"
        )
    normalized = cert.public_bytes(Encoding.PEM).decode("ascii")
    if len(normalized) > MAX_CERTIFICATE_LENGTH:
        raise InvalidRequest(
            f"the certificate is {len(normalized)} characters in PEM form, more than the "
            f"{MAX_CERTIFICATE_LENGTH} OCPP allows in InstallCertificate"
        )
    return normalized


def normalize_serial(text: str) -> str:
    """A hex serial number as OCPP carries it: upper case, no ``0x``, ``:`` or spaces,
    no leading zeros; raises InvalidRequest for text that is not hex."""
    raw = text.strip().replace(":", "").replace(" ", "")
    if raw[:2].lower() == "0x":
        raw = raw[2:]
    try:
        int(raw, 16)
    except ValueError:
        raise InvalidRequest(
            f"{text!r} is not a hex serial number: give it as `csms chargers certificates "
            "ID` lists it (e.g. 1A2B3C)"
        ) from None
    return raw.upper().lstrip("0") or "0"


def find_by_serial(installed: Iterable[Mapping[str, Any]], serial: str) -> Mapping[str, Any]:
    """The installed certificate (an entry of ``installed``: ``serial``, hash data) whose
    serial is ``serial`` (case and leading zeros ignored); NotFound listing the serials the
    charger has. Several matches (the same serial from two issuers) are refused too."""
    wanted = normalize_serial(serial)
    entries: Sequence[Mapping[str, Any]] = list(installed)
    matches = [e for e in entries if _serial_of(e) == wanted]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InvalidRequest(
            f"the charger has {len(matches)} certificates with serial {wanted} (from different "
            "issuers): delete it at the charger"
        )
    have = ", ".join(
        f"{e.get('serial')} ({e.get('certificate_type')})" for e in entries if e.get("serial")
    )
    raise NotFound(
        f"the charger has no certificate with serial {wanted}: "
        + (f"it has {have}" if have else "it reported no installed certificates")
    )


def _serial_of(entry: Mapping[str, Any]) -> str | None:
    serial = entry.get("serial")
    if not isinstance(serial, str):
        return None
    try:
        return normalize_serial(serial)
    except InvalidRequest:
        return serial.strip().upper()
