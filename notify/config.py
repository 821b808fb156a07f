"""notify's own settings: email, SMS, the payment processor and the outbox worker.

They come from the same places as csms's (environment variables over ``csms.toml``, SPEC
"Configuration"): ``SECTION`` is the ``csms.config.ConfigSection`` that csms/wiring.py hands
to ``csms.config.load_settings``, so a bad value stops start-up (and every CLI command) with
a ``ConfigError`` naming its key, never echoing a secret. ``NotifySettings.of(settings)``
reads them back from the loaded ``Settings``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from csms.config import (
    ConfigError,
    Settings,
    config_error_from,
    parse_delays,
    positive_float,
    positive_int,
)

__all__ = ["NOTIFY_KEYS", "SECTION", "NotifySettings", "load_notify_settings"]

#: The keys notify reads.
NOTIFY_KEYS = (
    "CSMS_SMTP_URL",
    "CSMS_MAIL_FROM",
    "CSMS_SMS_URL",
    "CSMS_SMS_FROM",
    "CSMS_PAYMENT_URL",
    "CSMS_PAYMENT_KEY",
    "CSMS_OUTBOX_MAX_ATTEMPTS",
    "CSMS_OUTBOX_RETRY_BASE",
    "CSMS_OUTBOX_RETRY_MAX",
    "CSMS_OUTBOX_LEASE",
    "CSMS_PAYMENT_RETRY_DELAYS",
)


@dataclass(frozen=True, slots=True)
class NotifySettings:
    #: Email (notify/email.py): None disables it (messages are logged as skipped).
    smtp_url: str | None = None
    mail_from: str | None = None
    #: SMS (notify/sms.py, a Twilio-style gateway): None disables it.
    sms_url: str | None = None
    sms_from: str | None = None
    #: The payment processor (notify/payments.py): None bills sessions and leaves payment
    #: pending.
    payment_url: str | None = None
    payment_key: str | None = None
    #: Outbox deliveries (docs/adr/0008-outbox.md): attempts before ``failed``, and the
    #: backoff between them (doubling from ``outbox_retry_base`` up to
    #: ``outbox_retry_max`` seconds, with jitter).
    outbox_max_attempts: int = 12
    outbox_retry_base: float = 10.0
    outbox_retry_max: float = 3600.0
    #: Seconds a worker holds a delivery it is making; one whose process died is made
    #: again once this has run out (longer than any receiver's timeout).
    outbox_lease: float = 120.0
    #: Seconds after a declined charge before each new attempt (then the invoice fails).
    payment_retry_delays: tuple[float, ...] = (3600.0, 86400.0, 259200.0)

    @classmethod
    def of(cls, settings: Settings) -> NotifySettings:
        """notify's settings as ``settings`` were loaded with them; the defaults (every
        channel off) when they were loaded without notify's section."""
        return settings.section(SECTION.name, cls) or cls()


def _check_smtp(url: str, sender: str) -> None:
    from notify.email import SmtpSettings

    SmtpSettings.from_url(url, sender=sender)


def _check_sms(url: str, sender: str) -> None:
    from notify.sms import SmsSettings

    SmsSettings.from_url(url, sender=sender)


def _text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return None if value is None or str(value) == "" else str(value)


def _check_channels(raw: Mapping[str, Any]) -> None:
    """The email, SMS and payment settings, each checked by the adapter that will use it,
    so that a bad value stops start-up naming its key (and never echoing a secret)."""
    checks: tuple[tuple[str, str, str, Callable[[str, str], None]], ...] = (
        ("CSMS_SMTP_URL", "CSMS_MAIL_FROM", "noreply@...", _check_smtp),
        ("CSMS_SMS_URL", "CSMS_SMS_FROM", "+4930...", _check_sms),
    )
    # Email and SMS: the URL, the sender it requires (an example for the error), the check.
    for url_key, from_key, example, check in checks:
        url, sender = _text(raw, url_key), _text(raw, from_key)
        if url is None:
            continue
        if sender is None:
            raise ConfigError(from_key, f"is required with {url_key} ({example})")
        try:
            check(url, sender)
        except ValueError as exc:
            raise config_error_from(exc, url_key, keys=NOTIFY_KEYS) from None
    payment_url, payment_key = _text(raw, "CSMS_PAYMENT_URL"), _text(raw, "CSMS_PAYMENT_KEY")
    if payment_url is not None or payment_key is not None:
        from notify.payments import StripeGateway

        try:
            StripeGateway.check_settings(payment_url, payment_key)
        except ValueError as exc:
            raise config_error_from(exc, "CSMS_PAYMENT_URL", keys=NOTIFY_KEYS) from None


def load_notify_settings(raw: Mapping[str, Any]) -> NotifySettings:
    """notify's settings from the values of its keys (``NOTIFY_KEYS``) that are set.

    Raises ``ConfigError`` naming the key of a bad one."""
    _check_channels(raw)
    return NotifySettings(
        smtp_url=_text(raw, "CSMS_SMTP_URL"),
        mail_from=_text(raw, "CSMS_MAIL_FROM"),
        sms_url=_text(raw, "CSMS_SMS_URL"),
        sms_from=_text(raw, "CSMS_SMS_FROM"),
        payment_url=_text(raw, "CSMS_PAYMENT_URL"),
        payment_key=_text(raw, "CSMS_PAYMENT_KEY"),
        outbox_max_attempts=positive_int(
            "CSMS_OUTBOX_MAX_ATTEMPTS", raw.get("CSMS_OUTBOX_MAX_ATTEMPTS", 12)
        ),
        outbox_retry_base=positive_float(
            "CSMS_OUTBOX_RETRY_BASE", raw.get("CSMS_OUTBOX_RETRY_BASE", 10)
        ),
        outbox_retry_max=positive_float(
            "CSMS_OUTBOX_RETRY_MAX", raw.get("CSMS_OUTBOX_RETRY_MAX", 3600)
        ),
        outbox_lease=positive_float("CSMS_OUTBOX_LEASE", raw.get("CSMS_OUTBOX_LEASE", 120)),
        payment_retry_delays=parse_delays(
            "CSMS_PAYMENT_RETRY_DELAYS", raw.get("CSMS_PAYMENT_RETRY_DELAYS", "3600,86400,259200")
        ),
    )


@dataclass(frozen=True, slots=True)
class _NotifySection:
    """notify's ``csms.config.ConfigSection``."""

    name: str = "notify"
    keys: tuple[str, ...] = NOTIFY_KEYS

    def parse(self, raw: Mapping[str, Any]) -> NotifySettings:
        return load_notify_settings(raw)


SECTION = _NotifySection()
