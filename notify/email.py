"""Email notifications over SMTP (``CSMS_SMTP_URL``, ``CSMS_MAIL_FROM``).

Choices, and why:

- **TLS by default.** ``smtp://`` means submission with STARTTLS (port 587), and STARTTLS is
  *required*: a server that does not offer it gets nothing (no credentials, no personal data
  in clear text), and the delivery fails permanently with a message saying so, because
  retrying will not make the server offer it. ``smtps://`` is implicit TLS (port 465). A plain
  connection needs an explicit ``?starttls=off`` (a relay on the same host, port 25).
  Certificates are checked against the system trust store, or ``?cafile=PATH``.
- **One connection per message.** Notifications are few (one per finished session); a fresh
  connection keeps the failure handling simple and never reuses a connection a server has
  half-closed.
- **Idempotency through the Message-ID.** SMTP has no idempotency key. The caller derives the
  Message-ID from the delivery's idempotency key, so a redelivery (after a timeout, or after
  a crash between the server's ``250`` and the outbox commit) carries the same Message-ID and
  the receiving side can recognise the duplicate. SMTP delivery itself stays at-least-once.
- **Failure classes.** Anything that may clear up by itself is transient
  (``DeliveryError(permanent=False)``: connection refused or reset, timeouts, TLS handshake
  failures, ``4xx`` replies); a ``5xx`` reply (recipient, sender or message refused, login
  rejected, authentication required) is permanent, as is a configuration the server cannot
  serve (no STARTTLS, no AUTH). A timeout after the message was sent is transient: whether
  the server took it is unknown, and the redelivery carries the same Message-ID.
- **Nothing personal in errors.** Error messages go to logs and to ``csms outbox list``: they
  name the server and the SMTP reply code, never the recipient, the password, the body or the
  server's reply text (servers often quote the recipient address in it).
- ``Auto-Submitted: auto-generated`` (RFC 3834) keeps vacation auto-replies away.
"""

from __future__ import annotations

import asyncio
import email.policy
import os
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError, NonASCIILocalPartDefect
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal
from urllib.parse import unquote

import aiosmtplib

from notify.errors import DeliveryError
from notify.urls import UrlRules

__all__ = ["EmailSender", "OutgoingEmail", "SmtpSecurity", "SmtpSettings"]

#: ``starttls``: plain connect, then STARTTLS (required); ``tls``: implicit TLS from the first
#: byte; ``none``: no TLS at all (``?starttls=off``, a local relay).
SmtpSecurity = Literal["starttls", "tls", "none"]

_URL_KEY = "CSMS_SMTP_URL"
_FROM_KEY = "CSMS_MAIL_FROM"
_URL_FORMS = (
    "smtp://[USER:PASSWORD@]HOST[:PORT] (STARTTLS, port 587), "
    "smtps://[USER:PASSWORD@]HOST[:PORT] (implicit TLS, port 465), "
    "or smtp://HOST[:PORT]?starttls=off (plain, port 25); "
    "query options: cafile=PATH, timeout=SECONDS; percent-encode special characters "
    "in USER and PASSWORD"
)
_URL = UrlRules(_URL_KEY, _URL_FORMS, schemes=("smtp", "smtps"))
_DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class OutgoingEmail:
    """One notification email. ``message_id`` is a full RFC 5322 msg-id (``<left@right>``)
    derived from the delivery's idempotency key, so a redelivery carries the same one."""

    to: str
    subject: str
    text: str
    html: str
    message_id: str

    def __post_init__(self) -> None:
        if not _is_msg_id(self.message_id):
            raise ValueError(
                "message_id must be an RFC 5322 msg-id like <outbox-17.email@csms.example>"
            )


def _is_msg_id(value: str) -> bool:
    if not (value.startswith("<") and value.endswith(">")) or not value.isascii():
        return False
    inner = value[1:-1]
    left, at, right = inner.partition("@")
    return bool(
        at
        and left
        and right
        and all(32 < ord(c) < 127 and c not in '<>@"\\,;:()[]' for c in left + right)
    )


def _parse_mailbox(value: str) -> tuple[str, str] | None:
    """``(header value, addr-spec)`` for exactly one mailbox, or None when it is not one."""
    if not value or "\r" in value or "\n" in value:
        return None
    try:
        header = email.policy.default.header_factory("From", value)
    except (HeaderParseError, ValueError, IndexError):
        return None
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
    if len(addresses) != 1 or defects:
        return None
    address = addresses[0]
    if not address.username or not address.domain:
        return None
    return value, address.addr_spec


@dataclass(frozen=True, repr=False)
class SmtpSettings:
    """Where and how to submit mail, parsed from ``CSMS_SMTP_URL`` and ``CSMS_MAIL_FROM``."""

    host: str
    port: int
    security: SmtpSecurity
    username: str | None
    password: str | None
    cafile: str | None
    timeout: float
    #: The From header, as configured (``csms <noreply@example.com>``).
    sender: str
    #: The envelope sender (MAIL FROM): the address part of ``sender``.
    envelope_sender: str

    @property
    def server(self) -> str:
        """``host:port`` for messages (never credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __repr__(self) -> str:
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"username={self.username!r}, password={'***' if self.password else None}, "
            f"cafile={self.cafile!r}, timeout={self.timeout}, sender={self.sender!r})"
        )

    @classmethod
    def from_url(cls, url: str, *, sender: str) -> SmtpSettings:
        """Parse ``CSMS_SMTP_URL``; ``sender`` is ``CSMS_MAIL_FROM``.

        Raises ``ValueError`` naming the key and what is allowed; the message never repeats
        the password (nor the URL, which holds it).
        """
        invalid = _URL.invalid
        checked = _URL.split(url)
        parts, scheme, explicit_port = checked.parts, checked.scheme, checked.port
        if parts.path not in ("", "/"):
            raise invalid("the URL takes no path")
        if parts.fragment:
            raise invalid("the URL takes no #fragment")

        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        if password is not None and not username:
            raise invalid("a password needs a user name (USER:PASSWORD@HOST)")
        if username and password is None:
            raise invalid("a user name needs a password (USER:PASSWORD@HOST)")
        if not username:
            username = password = None

        security: SmtpSecurity = "tls" if scheme == "smtps" else "starttls"
        cafile: str | None = None
        timeout = _DEFAULT_TIMEOUT
        for key, value in _URL.query_options(parts.query):
            if key == "starttls":
                if scheme != "smtp":
                    raise invalid("starttls= applies to smtp:// only (smtps:// is always TLS)")
                if value == "off":
                    security = "none"
                elif value not in ("on", "required"):
                    raise invalid("starttls must be 'off' (or 'on', the default)")
            elif key == "cafile":
                if not value:
                    raise invalid("cafile needs a path to a PEM CA bundle")
                if not os.path.isfile(value):
                    raise invalid(f"cafile {value!r} is not a readable file")
                cafile = value
            elif key == "timeout":
                timeout = _URL.timeout(value)
            else:
                raise invalid(f"unknown query option {key[:40]!r}")
        if security == "none" and cafile is not None:
            raise invalid("cafile needs TLS; it cannot go with starttls=off")

        port = explicit_port or {"starttls": 587, "tls": 465, "none": 25}[security]

        mailbox = _parse_mailbox(sender.strip())
        if mailbox is None:
            raise ValueError(
                f"{_FROM_KEY}: must be one mailbox, like 'csms <noreply@example.com>' "
                "or noreply@example.com"
            )
        header, envelope_sender = mailbox
        return cls(
            host=checked.host,
            port=port,
            security=security,
            username=username,
            password=password,
            cafile=cafile,
            timeout=timeout,
            sender=header,
            envelope_sender=envelope_sender,
        )


class EmailSender:
    """Submits :class:`OutgoingEmail` messages to the configured SMTP server, one connection
    per message. ``send`` raises :class:`DeliveryError` on failure (see the module docs)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._tls_context: ssl.SSLContext | None = None
        if settings.security != "none":
            try:
                self._tls_context = ssl.create_default_context(cafile=settings.cafile)
            except (OSError, ssl.SSLError):
                raise ValueError(
                    f"{_URL_KEY}: cafile could not be read as a PEM CA bundle"
                ) from None
        self._local_hostname: str | None = None

    def __repr__(self) -> str:
        return f"EmailSender({self.settings!r})"

    def build_message(self, message: OutgoingEmail) -> EmailMessage:
        """The MIME message ``send`` submits: text/plain with a text/html alternative."""
        to = _parse_mailbox(message.to.strip())
        if to is None:
            raise DeliveryError("the recipient is not a valid email address", permanent=True)
        mime = EmailMessage()
        try:
            mime["From"] = self.settings.sender
            mime["To"] = to[0]
            mime["Subject"] = message.subject
        except (ValueError, HeaderParseError):
            raise DeliveryError(
                "the message's Subject is not a valid header (line breaks?)", permanent=True
            ) from None
        mime["Date"] = format_datetime(datetime.now(UTC))
        mime["Message-ID"] = message.message_id
        mime["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5
        mime.set_content(message.text, subtype="plain", charset="utf-8", cte=_cte(message.text))
        mime.add_alternative(message.html, subtype="html", charset="utf-8", cte=_cte(message.html))
        return mime

    async def send(self, message: OutgoingEmail) -> None:
        mime = self.build_message(message)
        recipient = _parse_mailbox(message.to.strip())
        assert recipient is not None  # build_message checked it
        settings = self.settings
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            use_tls=settings.security == "tls",
            start_tls=False,  # done explicitly below, so that it is never skipped
            tls_context=self._tls_context,
            timeout=settings.timeout,
            local_hostname=self._local_hostname,
        )
        stage = "connect"
        delivered = False
        try:
            await client.connect()
            if settings.security == "starttls":
                stage = "EHLO"
                await client.ehlo()
                if not client.supports_extension("starttls"):
                    raise DeliveryError(
                        f"SMTP server {settings.server} does not offer STARTTLS, which "
                        f"{_URL_KEY} smtp:// requires (use smtps:// for implicit TLS, or "
                        "?starttls=off for a plain local relay)",
                        permanent=True,
                    )
                stage = "STARTTLS"
                await client.starttls()
            if settings.username is not None:
                stage = "AUTH"
                await client.ehlo()
                if not client.supports_extension("auth"):
                    raise DeliveryError(
                        f"SMTP server {settings.server} does not offer AUTH, but {_URL_KEY} "
                        "has a user and password",
                        permanent=True,
                    )
                await client.login(settings.username, settings.password or "")
            stage = "MAIL"
            await client.send_message(
                mime, sender=settings.envelope_sender, recipients=[recipient[1]]
            )
            delivered = True
        except DeliveryError:
            raise
        except Exception as exc:
            raise _classify(exc, server=settings.server, stage=stage) from None
        finally:
            if delivered:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()  # the message is accepted; a failed QUIT changes nothing
            else:
                client.close()


def _cte(text: str) -> str | None:
    """7bit for ASCII; quoted-printable otherwise, so no server needs 8BITMIME."""
    return None if text.isascii() else "quoted-printable"


def _classify(exc: Exception, *, server: str, stage: str) -> DeliveryError:
    """A DeliveryError for what aiosmtplib raised. Server reply texts are left out: they
    often quote the recipient address."""
    prefix = f"SMTP server {server}"
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code == 530:
        return DeliveryError(
            f"{prefix} requires a login (530); give USER:PASSWORD in {_URL_KEY}", permanent=True
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        code = exc.recipients[0].code if exc.recipients else 550
        return _by_code(f"{prefix} {_verb(code)} the recipient ({code})", code)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return _by_code(f"{prefix} {_verb(exc.code)} the recipient ({exc.code})", exc.code)
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return _by_code(
            f"{prefix} {_verb(exc.code)} the sender, {_FROM_KEY} ({exc.code})", exc.code
        )
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return _by_code(f"{prefix} {_verb(exc.code)} the message ({exc.code})", exc.code)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return _by_code(
            f"{prefix} rejected the login ({exc.code}); check the user and password in {_URL_KEY}",
            exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return _by_code(f"{prefix} refused the connection ({exc.code})", exc.code)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(f"{prefix} answered {exc.code} to {stage}", exc.code)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        if stage == "MAIL":
            return DeliveryError(
                f"{prefix} did not answer in time while the message was being sent; whether "
                "it was accepted is unknown (a redelivery carries the same Message-ID)"
            )
        return DeliveryError(f"{prefix} did not answer in time ({stage})")
    tls_error = _tls_error(exc)
    if tls_error is not None:
        return DeliveryError(f"{prefix}: TLS handshake failed ({tls_error})")
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        return DeliveryError(f"{prefix} could not be reached (connection failed)")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | ConnectionError):
        return DeliveryError(f"{prefix} closed the connection ({stage})")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return DeliveryError(
            f"{prefix} does not support SMTPUTF8, which the recipient address needs",
            permanent=True,
        )
    if isinstance(exc, OSError):
        return DeliveryError(f"{prefix}: network error ({type(exc).__name__}, {stage})")
    return DeliveryError(f"{prefix}: {type(exc).__name__} during {stage}")


def _verb(code: int) -> str:
    return "deferred" if 400 <= code < 500 else "refused"


def _by_code(message: str, code: int) -> DeliveryError:
    # RFC 5321 §4.2.1: 4yz transient negative completion, 5yz permanent.
    return DeliveryError(message, permanent=500 <= code < 600)


def _tls_error(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"certificate not trusted: {seen.verify_message}"
        if isinstance(seen, ssl.SSLError):
            return seen.reason or type(seen).__name__
        seen = seen.__cause__ or seen.__context__
    return None
