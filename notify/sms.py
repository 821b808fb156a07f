"""Text-message notifications through an HTTP SMS gateway with Twilio's REST API shape
(``CSMS_SMS_URL``, ``CSMS_SMS_FROM``).

``CSMS_SMS_URL`` is ``http(s)://ACCOUNT_SID:AUTH_TOKEN@HOST[:PORT][/BASE]``, for example
``https://AC123:secret@api.twilio.com``; a message is one
``POST {BASE}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json`` with the form fields ``To``,
``From`` and ``Body`` and HTTP Basic authentication ``ACCOUNT_SID:AUTH_TOKEN``.

Idempotency, honestly: every request carries ``Idempotency-Key: <the delivery's key>``, the
same on each redelivery, so a gateway or proxy that deduplicates on it sends the text once.
Twilio's own Messages API ignores that header. Against real Twilio, a redelivery after a
timeout (or after a crash between Twilio's answer and the outbox commit) can send the text
twice: delivery there is at-least-once.

Failure classes (``DeliveryError.permanent``): ``408``, ``429``, ``5xx``, connection errors
and timeouts are transient and retried with backoff; any other ``4xx`` (an invalid number,
rejected credentials) is permanent. A ``2xx`` answer without a message sid is reported as a
permanent failure rather than retried, because the gateway accepted the message and a retry
could send it twice. Error messages carry the gateway's host, the HTTP status and Twilio's
numeric error ``code``; never the phone number, the body, the token, or Twilio's ``message``
text (which quotes the number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from notify.errors import DeliveryError
from notify.urls import UrlRules

__all__ = ["SmsSender", "SmsSettings"]

_URL_KEY = "CSMS_SMS_URL"
_FROM_KEY = "CSMS_SMS_FROM"
_URL_FORM = (
    "http(s)://ACCOUNT_SID:AUTH_TOKEN@HOST[:PORT][/BASE] (for example "
    "https://AC123:secret@api.twilio.com); query option: timeout=SECONDS; percent-encode "
    "special characters in the credentials"
)
_URL = UrlRules(_URL_KEY, _URL_FORM, schemes=("https", "http"))
_DEFAULT_TIMEOUT = 15.0
#: ITU-T E.164: a plus, a country code not starting with 0, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_TRANSIENT_STATUSES = frozenset({408, 429})


@dataclass(frozen=True, repr=False)
class SmsSettings:
    """The gateway, credentials and sender number, parsed from ``CSMS_SMS_URL`` and
    ``CSMS_SMS_FROM``."""

    #: ``scheme://host[:port][/base]``, without credentials and without a trailing slash.
    base_url: str
    account_sid: str
    auth_token: str
    #: The From number, E.164.
    sender: str
    timeout: float

    @property
    def host(self) -> str:
        """The gateway's ``host[:port]``, for messages."""
        return urlsplit(self.base_url).netloc

    @property
    def messages_url(self) -> str:
        account = quote(self.account_sid, safe="")
        return f"{self.base_url}/2010-04-01/Accounts/{account}/Messages.json"

    def __repr__(self) -> str:
        return (
            f"SmsSettings(base_url={self.base_url!r}, account_sid={self.account_sid!r}, "
            f"auth_token='***', sender={self.sender!r}, timeout={self.timeout})"
        )

    @classmethod
    def from_url(cls, url: str, *, sender: str) -> SmsSettings:
        """Parse ``CSMS_SMS_URL``; ``sender`` is ``CSMS_SMS_FROM``.

        Raises ``ValueError`` naming the key and what is allowed; the message never repeats
        the token (nor the URL, which holds it).
        """
        invalid = _URL.invalid
        checked = _URL.split(url)
        parts, port = checked.parts, checked.port
        account_sid = unquote(parts.username or "")
        auth_token = unquote(parts.password or "")
        if not account_sid or not auth_token:
            raise invalid("the URL needs the credentials ACCOUNT_SID:AUTH_TOKEN@")
        if any(not c.isprintable() or c.isspace() for c in account_sid):
            raise invalid("the ACCOUNT_SID has spaces or control characters")
        if parts.fragment:
            raise invalid("the URL takes no #fragment")

        timeout = _DEFAULT_TIMEOUT
        for key, value in _URL.query_options(parts.query):
            if key != "timeout":
                raise invalid(f"unknown query option {key[:40]!r}")
            timeout = _URL.timeout(value)

        sender = sender.strip()
        if not _E164.fullmatch(sender):
            raise ValueError(
                f"{_FROM_KEY}: must be a phone number in E.164 form, like +14155550100"
            )

        host = checked.host
        if ":" in host:
            host = f"[{host}]"
        netloc = host if port is None else f"{host}:{port}"
        base = parts.path.rstrip("/")
        return cls(
            base_url=f"{checked.scheme}://{netloc}{base}",
            account_sid=account_sid,
            auth_token=auth_token,
            sender=sender,
            timeout=timeout,
        )


class SmsSender:
    """Sends text messages through the gateway; one HTTP connection pool per sender
    (``aclose()`` when done, or use ``async with``)."""

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings
        self._client = httpx.AsyncClient(
            auth=httpx.BasicAuth(settings.account_sid, settings.auth_token),
            timeout=httpx.Timeout(settings.timeout),
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "csms"},
        )

    def __repr__(self) -> str:
        return f"SmsSender({self.settings!r})"

    async def __aenter__(self) -> SmsSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, *, to: str, body: str, idempotency_key: str) -> str:
        """Send ``body`` to ``to``; returns the gateway's message sid (``SM…``).

        ``idempotency_key`` goes out as the ``Idempotency-Key`` header (the same key on
        every redelivery of one notification). Raises :class:`DeliveryError`.
        """
        if not idempotency_key or not all(32 < ord(c) < 127 for c in idempotency_key):
            raise ValueError("idempotency_key must be non-empty printable ASCII, no spaces")
        host = self.settings.host
        if not to.strip():
            raise DeliveryError("the recipient has no phone number", permanent=True)
        try:
            response = await self._client.post(
                self.settings.messages_url,
                data={"To": to.strip(), "From": self.settings.sender, "Body": body},
                headers={"Idempotency-Key": idempotency_key},
            )
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            raise DeliveryError(f"SMS gateway {host} did not answer in time (connect)") from None
        except httpx.TimeoutException:
            raise DeliveryError(
                f"SMS gateway {host} did not answer in time; whether it took the message is "
                "unknown (a redelivery carries the same Idempotency-Key)"
            ) from None
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"SMS gateway {host} could not be reached ({type(exc).__name__})"
            ) from None
        return _outcome(response, host=host)


def _outcome(response: httpx.Response, *, host: str) -> str:
    status = response.status_code
    payload = _json_object(response)
    if 200 <= status < 300:
        sid = payload.get("sid") if payload is not None else None
        if isinstance(sid, str) and sid:
            return sid
        raise DeliveryError(
            f"SMS gateway {host} accepted the message ({status}) but its answer has no "
            "message sid; not retried, as a retry could send the text twice",
            permanent=True,
        )
    code = payload.get("code") if payload is not None else None
    detail = f"{status}, Twilio error {code}" if _is_code(code) else str(status)
    if status == 401:
        raise DeliveryError(
            f"SMS gateway {host} rejected the credentials ({detail}); check ACCOUNT_SID and "
            f"AUTH_TOKEN in {_URL_KEY}",
            permanent=True,
        )
    if status in _TRANSIENT_STATUSES or status >= 500:
        raise DeliveryError(f"SMS gateway {host} could not take the message now ({detail})")
    raise DeliveryError(f"SMS gateway {host} refused the message ({detail})", permanent=True)


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = response.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _is_code(code: object) -> bool:
    """Only a number goes into messages, never other text from the answer."""
    return (isinstance(code, int) and not isinstance(code, bool)) or (
        isinstance(code, str) and code.isdigit() and len(code) <= 10
    )
