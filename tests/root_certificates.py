"""X.509 certificates for the tests, made with ``cryptography``: a root CA certificate to
install on a charger, and certificates that are not one (a leaf, an expired root)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

__all__ = ["make_certificate_pem"]


def make_certificate_pem(
    common_name: str = "Test Root CA",
    *,
    ca: bool = True,
    not_before: datetime | None = None,
    days: int = 365,
    serial: int | None = None,
) -> str:
    """A self-signed certificate (EC P-256) in PEM form; a CA one unless ``ca`` is False."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(Encoding.PEM).decode("ascii")
