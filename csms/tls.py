"""The wss listener's TLS: the server ``SSLContext`` and the client certificate's identity.

Security profiles 2 and 3 (1.6 security whitepaper edition 3; 2.0.1 part 2 A00) need
TLS 1.2 or newer. The context:

- allows TLS 1.2 and 1.3 only; for TLS 1.2 the cipher suites the OCPP security specs
  list (ECDHE-ECDSA and RSA with AES-GCM: 2.0.1 A00.FR.318/319 and the 1.6 whitepaper;
  the OCPP test case TC_086_CSMS checks them) plus their ECDHE-RSA variants, nothing
  without AEAD; TLS 1.3 keeps OpenSSL's suites;
- turns compression (CRIME) and renegotiation off; session tickets and the session cache
  stay on, so a reconnect storm resumes sessions instead of paying full handshakes;
- asks for a client certificate without requiring one (profile 1 and 2 chargers have
  none) and verifies any that is presented against csms's CA (``$CSMS_HOME/ca/ca.pem``)
  and the CAs of CSMS_TLS_CLIENT_CA: an expired, not yet valid or untrusted certificate
  ends the TLS handshake. Whether the certificate names the charger (profile 3: its
  subject CN is the identity in the URL) is the gateway's check, at the WebSocket
  handshake (:func:`certificate_identity`).

The server certificate is CSMS_TLS_CERT / CSMS_TLS_KEY, else the one ``csms ca init``
wrote under ``$CSMS_HOME/tls/``; without either there is no wss listener. A file that does
not load stops start-up with a :class:`~csms.config.ConfigError` naming its key.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from csms.config import ConfigError, Settings
from csms.domain.security.ca import ca_files

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "OCPP_TLS12_CIPHERS",
    "ServerCertificate",
    "certificate_identity",
    "server_certificate",
    "server_context",
]

log = logging.getLogger(__name__)

#: TLS 1.2 suites, in OpenSSL's names: the four the OCPP security specs require
#: (TLS_ECDHE_ECDSA_WITH_AES_{128,256}_GCM_SHA{256,384}, TLS_RSA_WITH_AES_{128,256}_GCM_
#: SHA{256,384}) and the ECDHE-RSA ones for RSA server certificates (forward secrecy).
OCPP_TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
)


#: A server certificate expiring within this many days is warned about at start.
EXPIRY_WARNING_DAYS = 30


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """The certificate chain and key the wss listener serves, and the keys naming them
    in errors (``CSMS_TLS_CERT``, or the path of ``$CSMS_HOME/tls/server.pem``)."""

    cert: Path
    key: Path
    cert_key: str
    key_key: str


def server_certificate(settings: Settings) -> ServerCertificate | None:
    """CSMS_TLS_CERT / CSMS_TLS_KEY, else ``$CSMS_HOME/tls/server.{pem,key}`` when both
    exist, else None (no wss listener)."""
    tls = settings.tls
    if tls.cert is not None and tls.key is not None:
        return ServerCertificate(tls.cert, tls.key, "CSMS_TLS_CERT", "CSMS_TLS_KEY")
    files = ca_files(settings.home)
    if files.server_exists:
        return ServerCertificate(
            files.server_cert, files.server_key, str(files.server_cert), str(files.server_key)
        )
    return None


def server_context(settings: Settings, *, now: datetime | None = None) -> ssl.SSLContext | None:
    """The wss listener's context (see the module docstring); None when no server
    certificate is configured. Raises ConfigError for a file that does not load."""
    chosen = server_certificate(settings)
    if chosen is None:
        return None
    _check_pair(chosen, now or datetime.now(UTC))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(OCPP_TLS12_CIPHERS))
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(chosen.cert, chosen.key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            chosen.cert_key,
            f"{_at(chosen.cert_key, chosen.cert)}the certificate and key do not load: {exc}",
        ) from None
    trusted = _load_client_cas(context, settings)
    if trusted:
        context.verify_mode = ssl.CERT_OPTIONAL
    else:
        log.info(
            "no CA for client certificates (run `csms ca init` or set CSMS_TLS_CLIENT_CA): "
            "security profile 3 chargers cannot connect"
        )
    return context


def certificate_identity(ssl_object: Any) -> str | None:
    """The subject CN of the client certificate of a TLS connection (``ssl_object``: its
    ``ssl.SSLObject``); None without TLS or without a certificate. The certificate has
    been verified in the TLS handshake (CERT_OPTIONAL: one that does not verify never
    gets this far)."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
            NameOID.COMMON_NAME
        )
    except ValueError:
        return None
    if len(names) != 1:
        return None  # no CN, or several: names no one charger
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


# -- internals ------------------------------------------------------------------------


def _at(key: str, path: Path) -> str:
    """``path: `` unless the error's key is the path already."""
    return "" if key == str(path) else f"{path}: "


def _check_pair(chosen: ServerCertificate, now: datetime) -> None:
    """Load the chain and key with ``cryptography`` first: its errors say which file is
    wrong and how (OpenSSL's "PEM lib" does not)."""
    try:
        chain = x509.load_pem_x509_certificates(chosen.cert.read_bytes())
    except OSError as exc:
        raise ConfigError(
            chosen.cert_key, f"{_at(chosen.cert_key, chosen.cert)}cannot read it ({exc.strerror})"
        ) from None
    except ValueError:
        raise ConfigError(
            chosen.cert_key,
            f"{_at(chosen.cert_key, chosen.cert)}not a PEM certificate chain "
            "(-----BEGIN CERTIFICATE-----, "
            "the server certificate first)",
        ) from None
    try:
        key = serialization.load_pem_private_key(chosen.key.read_bytes(), password=None)
    except OSError as exc:
        raise ConfigError(
            chosen.key_key, f"{_at(chosen.key_key, chosen.key)}cannot read it ({exc.strerror})"
        ) from None
    except TypeError:
        raise ConfigError(
            chosen.key_key,
            f"{_at(chosen.key_key, chosen.key)}the key is encrypted; give it unencrypted "
            "(PKCS#8 PEM)",
        ) from None
    except ValueError:
        raise ConfigError(
            chosen.key_key,
            f"{_at(chosen.key_key, chosen.key)}not a PEM private key (-----BEGIN PRIVATE KEY-----)",
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ConfigError(
            chosen.key_key, f"{_at(chosen.key_key, chosen.key)}use an EC (P-256) or RSA key"
        )
    leaf = chain[0]
    if leaf.public_key() != key.public_key():
        raise ConfigError(
            chosen.key_key,
            f"{chosen.key} is not the key of the first certificate in {chosen.cert} "
            "(the server certificate must come first, its chain after it)",
        )
    if now < leaf.not_valid_after_utc < now + timedelta(days=EXPIRY_WARNING_DAYS):
        log.warning(
            "the server certificate %s expires on %s: renew it before then "
            "(`csms ca init --server-only` for csms's own), then restart",
            chosen.cert,
            leaf.not_valid_after_utc.date(),
        )
    if leaf.not_valid_after_utc <= now:
        log.error(
            "the server certificate %s expired on %s: chargers refuse it; renew it "
            "(`csms ca init --server-only` for csms's own)",
            chosen.cert,
            leaf.not_valid_after_utc.date(),
        )


def _load_client_cas(context: ssl.SSLContext, settings: Settings) -> bool:
    """Trust csms's CA and CSMS_TLS_CLIENT_CA for client certificates; whether any is."""
    trusted = False
    own = ca_files(settings.home).ca_cert
    if own.is_file():
        try:
            context.load_verify_locations(cafile=own)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(str(own), f"csms's CA certificate does not load: {exc}") from None
        trusted = True
    extra = settings.tls.client_ca
    if extra is not None:
        try:
            if not x509.load_pem_x509_certificates(extra.read_bytes()):
                raise ValueError
            context.load_verify_locations(cafile=extra)
        except (ValueError, ssl.SSLError, OSError):
            raise ConfigError(
                "CSMS_TLS_CLIENT_CA",
                f"{extra}: not a PEM bundle of CA certificates (-----BEGIN CERTIFICATE-----)",
            ) from None
        trusted = True
    return trusted
