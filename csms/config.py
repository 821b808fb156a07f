"""Configuration: environment variables, an optional ``csms.toml``, then command-line flags.

A bad value stops start-up with a ``ConfigError`` that names the key and says what is allowed.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from csms.ratelimit import Rate, parse_rate

if TYPE_CHECKING:
    from storage.crypto import KeyRing

__all__ = ["ConfigError", "EventLoopChoice", "Settings", "UnknownChargerPolicy", "load_settings"]

UnknownChargerPolicy = Literal["reject", "pending", "accept"]
#: ``auto``: uvloop where it is installed (a dependency on Linux and macOS), else asyncio's.
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]


_TEN_A_MINUTE = Rate(10, 60.0)
_SIXTY_A_MINUTE = Rate(60, 60.0)


class ConfigError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    ocpp_host: str = "0.0.0.0"
    ocpp_port: int = 9000
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_url: str = "http://127.0.0.1:8080"
    api_token: str | None = None
    unknown_chargers: UnknownChargerPolicy = "reject"
    heartbeat_interval: int = 300
    call_timeout: float = 30.0
    ping_interval: float | None = 60.0
    max_frame_bytes: int = 256 * 1024
    log_level: str = "INFO"
    event_loop: EventLoopChoice = "auto"
    #: CSMS_DATA_KEYS as given (None: the keys in ``$CSMS_HOME/data.keys``, made on first use).
    data_keys: str | None = None
    #: Completed sessions are unlinked from their customer after this many years.
    retention_years: int = 7
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
    #: Where people reach the customer API (the links in the marketing export); None: the
    #: address the export was asked for at.
    public_url: str | None = None
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
    #: Seconds a stopping server waits for the CALLs being handled to be answered before
    #: it closes the connections anyway (CSMS_SHUTDOWN_GRACE).
    shutdown_grace: float = 10.0
    #: Seconds a charger has to complete its opening handshake, from TCP connect to the
    #: 101 (CSMS_HANDSHAKE_TIMEOUT): a handshake that drags on is dropped.
    handshake_timeout: float = 10.0
    #: Billing's plausibility check (csms.domain.plausibility): the power, in kW, a
    #: session's energy is checked against when csms does not know its charger's own;
    #: None (``off``): energy is not checked against power at all.
    max_charger_kw: Decimal | None = Decimal(350)
    #: Who sells the charging, printed on receipts and invoices (None: left out).
    seller_name: str | None = None
    seller_address: str | None = None
    seller_vat_id: str | None = None
    #: Seconds a write (a transaction message above all) is held while the database is
    #: unreachable, its commit retried, before the charger is answered with an error;
    #: below chargers' call timeouts. 0: no hold.
    db_outage_hold: float = 20.0
    #: Largest HTTP API request body in bytes (a route may set its own: csms/api/body_limit.py).
    api_max_body: int = 1024 * 1024
    #: Throttling guesses (csms/ratelimit.py); None: off. Failed API logins (customer
    #: logins and bearer tokens) per source address and per account; wrong charger
    #: passwords per source address and per identity; Authorize requests per charger.
    rate_limit_login: Rate | None = _TEN_A_MINUTE
    rate_limit_charger_auth: Rate | None = _TEN_A_MINUTE
    rate_limit_authorize: Rate | None = _SIXTY_A_MINUTE

    @property
    def admin_token_path(self) -> Path:
        return self.home / "admin.token"

    def key_ring(self) -> KeyRing:
        """The personal-data keys: CSMS_DATA_KEYS, else ``$CSMS_HOME/data.keys`` (created
        with a new key the first time)."""
        from storage.crypto import load_key_ring

        return load_key_ring(env_value=self.data_keys, home=self.home)

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_KEYS = {
    "CSMS_HOME": "home",
    "CSMS_DATABASE_URL": "database_url",
    "CSMS_OCPP_HOST": "ocpp_host",
    "CSMS_OCPP_PORT": "ocpp_port",
    "CSMS_API_HOST": "api_host",
    "CSMS_API_PORT": "api_port",
    "CSMS_API_URL": "api_url",
    "CSMS_API_TOKEN": "api_token",
    "CSMS_UNKNOWN_CHARGERS": "unknown_chargers",
    "CSMS_HEARTBEAT_INTERVAL": "heartbeat_interval",
    "CSMS_CALL_TIMEOUT": "call_timeout",
    "CSMS_PING_INTERVAL": "ping_interval",
    "CSMS_MAX_FRAME_BYTES": "max_frame_bytes",
    "CSMS_LOG_LEVEL": "log_level",
    "CSMS_EVENT_LOOP": "event_loop",
    "CSMS_DATA_KEYS": "data_keys",
    "CSMS_RETENTION_YEARS": "retention_years",
    "CSMS_SMTP_URL": "smtp_url",
    "CSMS_MAIL_FROM": "mail_from",
    "CSMS_SMS_URL": "sms_url",
    "CSMS_SMS_FROM": "sms_from",
    "CSMS_PAYMENT_URL": "payment_url",
    "CSMS_PAYMENT_KEY": "payment_key",
    "CSMS_PUBLIC_URL": "public_url",
    "CSMS_OUTBOX_MAX_ATTEMPTS": "outbox_max_attempts",
    "CSMS_OUTBOX_RETRY_BASE": "outbox_retry_base",
    "CSMS_OUTBOX_RETRY_MAX": "outbox_retry_max",
    "CSMS_OUTBOX_LEASE": "outbox_lease",
    "CSMS_PAYMENT_RETRY_DELAYS": "payment_retry_delays",
    "CSMS_SHUTDOWN_GRACE": "shutdown_grace",
    "CSMS_HANDSHAKE_TIMEOUT": "handshake_timeout",
    "CSMS_MAX_CHARGER_KW": "max_charger_kw",
    "CSMS_SELLER_NAME": "seller_name",
    "CSMS_SELLER_ADDRESS": "seller_address",
    "CSMS_SELLER_VAT_ID": "seller_vat_id",
    "CSMS_DB_OUTAGE_HOLD": "db_outage_hold",
    "CSMS_API_MAX_BODY": "api_max_body",
    "CSMS_RATE_LIMIT_LOGIN": "rate_limit_login",
    "CSMS_RATE_LIMIT_CHARGER_AUTH": "rate_limit_charger_auth",
    "CSMS_RATE_LIMIT_AUTHORIZE": "rate_limit_authorize",
}


def _port(key: str, raw: Any) -> int:
    try:
        port = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(key, f"{raw!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65535:
        raise ConfigError(key, f"{port} is not a port number (0-65535)")
    return port


def _positive(key: str, raw: Any, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(key, f"{raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(key, f"{raw!r} must be greater than 0")
    return value


_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _duration_seconds(key: str, raw: Any, *, allow_zero: bool = False) -> float:
    """A duration: seconds (``10``, ``2.5``) or a number with a unit (``90s``, ``10m``,
    ``24h``, ``7d``)."""
    text = str(raw).strip().lower()
    scale = 1.0
    if text and text[-1] in _DURATION_UNITS:
        scale = _DURATION_UNITS[text[-1]]
        text = text[:-1].strip()
    try:
        value = float(text) * scale
    except ValueError:
        raise ConfigError(
            key, f"{raw!r} is not a duration (seconds, or a number with s, m, h or d: 20s)"
        ) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(key, f"{raw!r} is not a duration")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(key, f"{raw!r} must be greater than 0")
    return value


def _delays(key: str, raw: Any) -> tuple[float, ...]:
    """Comma-separated seconds (``3600,86400``); empty: no retries."""
    text = ",".join(str(v) for v in raw) if isinstance(raw, list | tuple) else str(raw)
    delays: list[float] = []
    for part in text.split(","):
        if part.strip():
            delays.append(_positive(key, part.strip(), float))
    return tuple(delays)


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024}
_SIZE_UNITS |= {"m": 1024**2, "mb": 1024**2, "mib": 1024**2}


def _size(key: str, raw: Any) -> int:
    """Bytes: a number, or a number with ``kB``/``MB`` (1024-based): ``1MB``, ``512kB``."""
    text = str(raw).strip().lower().replace(" ", "")
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = _SIZE_UNITS.get(text[len(digits) :])
    try:
        value = float(digits) * unit if unit is not None else -1.0
    except ValueError:
        value = -1.0
    if value < 1 or value != int(value):
        raise ConfigError(key, f"{raw!r} is not a size: use bytes or a unit, e.g. 1MB or 512kB")
    return int(value)


def _rate(key: str, raw: Any, default: str) -> Rate | None:
    try:
        return parse_rate(str(raw if raw is not None else default))
    except ValueError as exc:
        raise ConfigError(key, str(exc)) from None


def _limits(raw: dict[str, Any]) -> dict[str, Any]:
    """The request body limit and the rate limits (throttling guesses)."""
    return {
        "api_max_body": _size("CSMS_API_MAX_BODY", raw.get("CSMS_API_MAX_BODY", "1MB")),
        "rate_limit_login": _rate(
            "CSMS_RATE_LIMIT_LOGIN", raw.get("CSMS_RATE_LIMIT_LOGIN"), "10/min"
        ),
        "rate_limit_charger_auth": _rate(
            "CSMS_RATE_LIMIT_CHARGER_AUTH", raw.get("CSMS_RATE_LIMIT_CHARGER_AUTH"), "10/min"
        ),
        "rate_limit_authorize": _rate(
            "CSMS_RATE_LIMIT_AUTHORIZE", raw.get("CSMS_RATE_LIMIT_AUTHORIZE"), "60/min"
        ),
    }


def _check_smtp(url: str, sender: str) -> None:
    from notify.email import SmtpSettings

    SmtpSettings.from_url(url, sender=sender)


def _check_sms(url: str, sender: str) -> None:
    from notify.sms import SmsSettings

    SmsSettings.from_url(url, sender=sender)


def _channels(raw: dict[str, Any]) -> dict[str, Any]:
    """The email, SMS and payment settings, each checked by the adapter that will use it,
    so that a bad value stops start-up naming its key (and never echoing a secret)."""
    values: dict[str, Any] = {}
    for name, key in (
        ("smtp_url", "CSMS_SMTP_URL"),
        ("mail_from", "CSMS_MAIL_FROM"),
        ("sms_url", "CSMS_SMS_URL"),
        ("sms_from", "CSMS_SMS_FROM"),
        ("payment_url", "CSMS_PAYMENT_URL"),
        ("payment_key", "CSMS_PAYMENT_KEY"),
    ):
        value = raw.get(key)
        values[name] = None if value is None or str(value) == "" else str(value)
    # Email and SMS: the URL, the sender it requires (an example for the error), the check.
    for url_key, from_key, example, check in (
        ("CSMS_SMTP_URL", "CSMS_MAIL_FROM", "noreply@...", _check_smtp),
        ("CSMS_SMS_URL", "CSMS_SMS_FROM", "+4930...", _check_sms),
    ):
        url, sender = values[_KEYS[url_key]], values[_KEYS[from_key]]
        if url is None:
            continue
        if sender is None:
            raise ConfigError(from_key, f"is required with {url_key} ({example})")
        try:
            check(url, sender)
        except ValueError as exc:
            raise _config_error(exc, url_key) from None
    if values["payment_url"] is not None or values["payment_key"] is not None:
        from notify.payments import StripeGateway

        try:
            StripeGateway.check_settings(values["payment_url"], values["payment_key"])
        except ValueError as exc:
            raise _config_error(exc, "CSMS_PAYMENT_URL") from None
    return values


def _billing(raw: dict[str, Any]) -> dict[str, Any]:
    """The plausibility ceiling and the seller printed on receipts and invoices."""
    text = str(raw.get("CSMS_MAX_CHARGER_KW", "350")).strip()
    ceiling: Decimal | None = None
    try:
        if text.lower() not in ("off", "none"):
            ceiling = Decimal(text.removesuffix("kW").removesuffix("kw").strip())
    except InvalidOperation:
        raise ConfigError(
            "CSMS_MAX_CHARGER_KW", f"{text!r} is not a number of kW (350), nor off"
        ) from None
    if ceiling is not None and (not ceiling.is_finite() or not 0 < ceiling <= 10_000):
        raise ConfigError(
            "CSMS_MAX_CHARGER_KW", f"{text!r}: use a power from 0 to 10000 kW, or off"
        )
    values: dict[str, Any] = {"max_charger_kw": ceiling}
    for key, limit in (
        ("CSMS_SELLER_NAME", 200),
        ("CSMS_SELLER_ADDRESS", 500),
        ("CSMS_SELLER_VAT_ID", 40),
    ):
        given = str(raw.get(key) or "").strip()
        if len(given) > limit:
            raise ConfigError(key, f"is at most {limit} characters")
        if any(ch in given for ch in "\x00\r"):
            raise ConfigError(key, "must not contain control characters")
        values[_KEYS[key]] = given or None
    return values


def _config_error(exc: ValueError, default: str) -> ConfigError:
    """A ConfigError for an adapter's error, under the key its message names (the first
    one it mentions), the key said once."""
    text = str(exc)
    named = [(text.find(key), key) for key in _KEYS if key in text]
    key = min(named)[1] if named else default
    if text.startswith(key):
        text = text[len(key) :].lstrip(": ")
    return ConfigError(key, text)


def load_settings(
    env: Mapping[str, str] | None = None, *, config_file: Path | None = None
) -> Settings:
    """Settings from ``env`` (default ``os.environ``) over ``csms.toml`` (if present)."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    path = config_file or Path(env.get("CSMS_CONFIG") or "csms.toml")
    if config_file is None and env.get("CSMS_CONFIG") and not path.exists():
        # An explicitly named file that is not there is a mistake, never "no settings".
        where = "" if path.is_absolute() else f" (looked in {Path.cwd()})"
        raise ConfigError(
            "CSMS_CONFIG", f"{path} does not exist{where}: fix the path or unset CSMS_CONFIG"
        )
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(str(path), f"cannot read configuration file: {exc}") from None
        for key, value in data.items():
            name = key.upper() if key.upper().startswith("CSMS_") else f"CSMS_{key.upper()}"
            if name not in _KEYS:
                raise ConfigError(f"{path}:{key}", f"unknown key; known: {', '.join(_KEYS)}")
            raw[name] = value
    for name in _KEYS:
        if name in env and env[name] != "":
            raw[name] = env[name]

    home = Path(raw.get("CSMS_HOME", "./var"))
    database_url = str(raw.get("CSMS_DATABASE_URL", f"sqlite+aiosqlite:///{home}/csms.sqlite3"))
    if not database_url.startswith(("sqlite", "postgresql")):
        raise ConfigError(
            "CSMS_DATABASE_URL",
            "must be sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER:PASS@HOST/DB",
        )
    policy = str(raw.get("CSMS_UNKNOWN_CHARGERS", "reject"))
    if policy not in ("reject", "pending", "accept"):
        raise ConfigError("CSMS_UNKNOWN_CHARGERS", f"{policy!r}: use reject, pending or accept")
    api_port = _port("CSMS_API_PORT", raw.get("CSMS_API_PORT", 8080))
    ping = raw.get("CSMS_PING_INTERVAL", 60)
    ping_interval = (
        None if str(ping) in ("0", "off", "none") else _positive("CSMS_PING_INTERVAL", ping, float)
    )
    level = str(raw.get("CSMS_LOG_LEVEL", "INFO")).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("CSMS_LOG_LEVEL", f"{level!r}: use DEBUG, INFO, WARNING or ERROR")
    event_loop = str(raw.get("CSMS_EVENT_LOOP", "auto")).lower()
    if event_loop not in ("auto", "uvloop", "asyncio"):
        raise ConfigError("CSMS_EVENT_LOOP", f"{event_loop!r}: use auto, uvloop or asyncio")
    if event_loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ConfigError(
            "CSMS_EVENT_LOOP", "uvloop is not installed: `pip install uvloop`, or use auto"
        )
    data_keys = raw.get("CSMS_DATA_KEYS")
    if data_keys is not None:
        from storage.crypto import KeyRing, KeyRingError

        try:
            KeyRing.parse(str(data_keys))
        except KeyRingError as exc:
            raise ConfigError("CSMS_DATA_KEYS", str(exc)) from None
    return Settings(
        home=home,
        database_url=database_url,
        ocpp_host=str(raw.get("CSMS_OCPP_HOST", "0.0.0.0")),
        ocpp_port=_port("CSMS_OCPP_PORT", raw.get("CSMS_OCPP_PORT", 9000)),
        api_host=str(raw.get("CSMS_API_HOST", "127.0.0.1")),
        api_port=api_port,
        api_url=str(raw.get("CSMS_API_URL", f"http://127.0.0.1:{api_port}")).rstrip("/"),
        api_token=raw.get("CSMS_API_TOKEN"),
        unknown_chargers=policy,  # type: ignore[arg-type]
        heartbeat_interval=_positive(
            "CSMS_HEARTBEAT_INTERVAL", raw.get("CSMS_HEARTBEAT_INTERVAL", 300), int
        ),
        call_timeout=_positive("CSMS_CALL_TIMEOUT", raw.get("CSMS_CALL_TIMEOUT", 30), float),
        ping_interval=ping_interval,
        max_frame_bytes=_positive(
            "CSMS_MAX_FRAME_BYTES", raw.get("CSMS_MAX_FRAME_BYTES", 256 * 1024), int
        ),
        log_level=level,
        event_loop=event_loop,  # type: ignore[arg-type]
        data_keys=None if data_keys is None else str(data_keys),
        retention_years=_positive("CSMS_RETENTION_YEARS", raw.get("CSMS_RETENTION_YEARS", 7), int),
        public_url=str(raw["CSMS_PUBLIC_URL"]).rstrip("/") if raw.get("CSMS_PUBLIC_URL") else None,
        outbox_max_attempts=_positive(
            "CSMS_OUTBOX_MAX_ATTEMPTS", raw.get("CSMS_OUTBOX_MAX_ATTEMPTS", 12), int
        ),
        outbox_retry_base=_positive(
            "CSMS_OUTBOX_RETRY_BASE", raw.get("CSMS_OUTBOX_RETRY_BASE", 10), float
        ),
        outbox_retry_max=_positive(
            "CSMS_OUTBOX_RETRY_MAX", raw.get("CSMS_OUTBOX_RETRY_MAX", 3600), float
        ),
        outbox_lease=_positive("CSMS_OUTBOX_LEASE", raw.get("CSMS_OUTBOX_LEASE", 120), float),
        payment_retry_delays=_delays(
            "CSMS_PAYMENT_RETRY_DELAYS", raw.get("CSMS_PAYMENT_RETRY_DELAYS", "3600,86400,259200")
        ),
        shutdown_grace=_duration_seconds(
            "CSMS_SHUTDOWN_GRACE", raw.get("CSMS_SHUTDOWN_GRACE", 10), allow_zero=True
        ),
        handshake_timeout=_duration_seconds(
            "CSMS_HANDSHAKE_TIMEOUT", raw.get("CSMS_HANDSHAKE_TIMEOUT", 10)
        ),
        db_outage_hold=_duration_seconds(
            "CSMS_DB_OUTAGE_HOLD", raw.get("CSMS_DB_OUTAGE_HOLD", "20s"), allow_zero=True
        ),
        **_channels(raw),
        **_billing(raw),
        **_limits(raw),
    )
