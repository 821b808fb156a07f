"""TLS for the simulated chargers: ``wss://``, the CA they trust, the client certificate
they present (security profile 3) and TLS session resumption on reconnect.

OCPP security profiles (1.6 security whitepaper edition 3, 2.0.1 part 2 section A):
profile 2 is TLS with the CSMS's server certificate and HTTP Basic auth, profile 3 is TLS
with a client certificate as well (and no password). :class:`TlsClient` builds the
``ssl.SSLContext`` a station connects with and keeps the session of its last connection, so
that a reconnect resumes it (an abbreviated handshake) instead of a full one, as charger
firmware does. :func:`explain_tls_failure` turns what ``ssl`` raises into a sentence that
names the URL and says what to do.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulators.errors import SimulatorError

__all__ = ["TlsClient", "TlsSetupError", "explain_tls_failure", "tls_cause"]


class TlsSetupError(SimulatorError):
    """A CA file, client certificate or key cannot be used (missing, not PEM, mismatched)."""


class _ResumingContext(ssl.SSLContext):
    """An ``SSLContext`` that offers ``resume_session`` in every client handshake.

    asyncio's TLS layer calls :meth:`wrap_bio` without a ``session``; this is the one place
    where a saved session can be handed to it.
    """

    resume_session: ssl.SSLSession | None = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return super().wrap_bio(
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
            session=session if session is not None else self.resume_session,
        )


def _readable(path: Path, option: str) -> None:
    if not path.is_file():
        raise TlsSetupError(f"{option} {path}: no such file")
    try:
        path.read_bytes()
    except OSError as exc:
        raise TlsSetupError(f"{option} {path}: cannot read it ({exc.strerror})") from None


class TlsClient:
    """How a station opens ``wss://`` connections.

    Args:
        ca_file: PEM bundle of the CAs trusted for the CSMS's server certificate; None:
            the system's trust store.
        cert_file, key_file: the client certificate (PEM, leaf first, then its chain) and
            its private key, presented in the handshake (profile 3); None: none.
        extra_roots: further trusted CA certificates (the CSMS root certificates installed
            with InstallCertificate).
        resume: offer the previous connection's TLS session on reconnect.
    """

    def __init__(
        self,
        *,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        extra_roots: Sequence[Path] = (),
        resume: bool = True,
    ) -> None:
        if (cert_file is None) != (key_file is None):
            raise TlsSetupError("a client certificate needs both --cert FILE and --key FILE")
        self.ca_file = ca_file
        self.cert_file = cert_file
        self.key_file = key_file
        self.extra_roots = list(extra_roots)
        self.resume = resume
        #: Connections whose TLS session was resumed (an abbreviated handshake).
        self.resumed = 0
        self._context: _ResumingContext | None = None
        self.context()  # fail now, with the option's name, not at the first connect

    @property
    def has_client_certificate(self) -> bool:
        return self.cert_file is not None

    def set_client_certificate(self, cert_file: Path, key_file: Path) -> None:
        """Present this certificate from the next connection on (a new one was installed);
        the saved session, made with the old one, is dropped."""
        self.cert_file, self.key_file = cert_file, key_file
        self._context = None

    def set_extra_roots(self, roots: Sequence[Path]) -> None:
        """Trust these CA certificates too (from the next connection on)."""
        self.extra_roots = list(roots)
        self._context = None

    def context(self) -> ssl.SSLContext:
        """The context for the next connection (built once, rebuilt after a change)."""
        if self._context is None:
            self._context = self._build()
        return self._context

    def _build(self) -> _ResumingContext:
        context = _ResumingContext(ssl.PROTOCOL_TLS_CLIENT)
        # OCPP security: TLS 1.2 at least (1.6 security whitepaper, 2.0.1 part 2 A00).
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        if self.ca_file is None:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        else:
            self._load_trust(context, self.ca_file, "--ca")
        for root in self.extra_roots:
            self._load_trust(context, root, "installed root certificate")
        if self.cert_file is not None and self.key_file is not None:
            _readable(self.cert_file, "--cert")
            _readable(self.key_file, "--key")
            try:
                context.load_cert_chain(self.cert_file, self.key_file)
            except ssl.SSLError as exc:
                raise TlsSetupError(
                    f"--cert {self.cert_file} / --key {self.key_file}: not a PEM certificate "
                    f"and its private key ({exc.reason or exc})"
                ) from None
        return context

    @staticmethod
    def _load_trust(context: ssl.SSLContext, path: Path, option: str) -> None:
        _readable(path, option)
        try:
            context.load_verify_locations(cafile=path)
        except ssl.SSLError as exc:
            raise TlsSetupError(
                f"{option} {path}: not a PEM file of CA certificates ({exc.reason or exc})"
            ) from None

    def remember(self, transport: Any) -> None:
        """After a handshake: keep its session for the next connection, count a resume."""
        if transport is None:
            return
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        if ssl_object.session_reused:
            self.resumed += 1
        if self.resume and self._context is not None:
            self._context.resume_session = ssl_object.session

    def forget_session(self) -> None:
        if self._context is not None:
            self._context.resume_session = None


def tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl.SSLError`` behind a failed connect, if there is one (websockets wraps it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


#: Alerts a TLS server sends when it refuses the client's certificate (or the lack of one).
_CLIENT_CERT_ALERTS = (
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_REVOKED",
    "CERTIFICATE_UNKNOWN",
    "UNSUPPORTED_CERTIFICATE",
    "ACCESS_DENIED",
    "HANDSHAKE_FAILURE",
    "DECRYPT_ERROR",
)


def explain_tls_failure(
    exc: BaseException, *, endpoint: str, client_certificate: bool
) -> str | None:
    """A sentence for a TLS failure of ``endpoint`` (None: it was not a TLS failure)."""
    cause = tls_cause(exc)
    if cause is None:
        return None
    if isinstance(cause, ssl.SSLCertVerificationError):
        detail = cause.verify_message or cause.reason or str(cause)
        if cause.verify_code == 62:  # X509_V_ERR_HOSTNAME_MISMATCH
            return (
                f"{endpoint}: the server's certificate does not name this host ({detail}): "
                "connect with the name or address it was issued for"
            )
        return (
            f"{endpoint}: the server's certificate is not trusted ({detail}): pass the CA "
            "that signed it with --ca FILE"
        )
    reason = (cause.reason or "").upper()
    if any(alert in reason for alert in _CLIENT_CERT_ALERTS):
        if client_certificate:
            return (
                f"{endpoint}: the server refused the client certificate ({cause.reason}): "
                "is it signed by a CA the server trusts, still valid, and is its CN the "
                "charger identity?"
            )
        return (
            f"{endpoint}: the server wants a client certificate ({cause.reason}): "
            "pass --cert FILE --key FILE, or use --profile 3 to get one signed"
        )
    if "VERSION" in reason or "PROTOCOL" in reason:
        return f"{endpoint}: no TLS version in common with the server ({cause.reason})"
    return f"{endpoint}: TLS handshake failed ({cause.reason or cause})"
