"""Configuration: environment variables, an optional ``csms.toml``, then command-line flags.

``Settings`` groups csms's own settings by concern: ``ocpp`` (the charger endpoint),
``api`` (the HTTP API and the CLI's way to it), ``database``, ``privacy`` (personal-data
keys, retention), ``billing`` (the plausibility ceiling, the seller) and ``tls`` (the wss
listener and the certificates csms's CA signs). Another package
that reads keys of its own (notify: email, SMS, payments, the outbox) parses them itself,
as a ``ConfigSection`` handed to ``load_settings``; its parsed settings travel in
``Settings.sections`` (csms/wiring.py loads them all).

A bad value stops start-up with a ``ConfigError`` that names the key and says what is allowed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, cast

from csms.ratelimit import Rate, parse_rate

if TYPE_CHECKING:
    from storage.crypto import KeyRing

__all__ = [
    "ApiSettings",
    "BillingSettings",
    "ConfigError",
    "ConfigSection",
    "DatabaseSettings",
    "EventLoopChoice",
    "OcppSettings",
    "PrivacySettings",
    "Settings",
    "TlsSettings",
    "UnknownChargerPolicy",
    "config_error_from",
    "load_settings",
    "parse_delays",
    "positive_float",
    "positive_int",
]

UnknownChargerPolicy = Literal["reject", "pending", "accept"]
#: ``auto``: uvloop where it is installed (a dependency on Linux and macOS), else asyncio's.
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]

_T = TypeVar("_T")
_N = TypeVar("_N", int, float)

_TEN_A_MINUTE = Rate(10, 60.0)
_SIXTY_A_MINUTE = Rate(60, 60.0)


class ConfigError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True, slots=True)
class OcppSettings:
    """The charger endpoint: where it listens, whom it lets in, how it talks to them."""

    host: str = "0.0.0.0"
    port: int = 9000
    unknown_chargers: UnknownChargerPolicy = "reject"
    heartbeat_interval: int = 300
    call_timeout: float = 30.0
    ping_interval: float | None = 60.0
    max_frame_bytes: int = 256 * 1024
    #: Seconds a charger has to complete its opening handshake, from TCP connect to the
    #: 101 (CSMS_HANDSHAKE_TIMEOUT): a handshake that drags on is dropped.
    handshake_timeout: float = 10.0
    #: Seconds a stopping server waits for the CALLs being handled to be answered before
    #: it closes the connections anyway (CSMS_SHUTDOWN_GRACE).
    shutdown_grace: float = 10.0
    #: Throttling guesses (csms/ratelimit.py); None: off. Wrong charger passwords per
    #: source address and per identity; Authorize requests per charger.
    rate_limit_charger_auth: Rate | None = _TEN_A_MINUTE
    rate_limit_authorize: Rate | None = _SIXTY_A_MINUTE
    #: Where chargers reach the OCPP endpoint from outside, e.g.
    #: ``wss://csms.example.com:9443/ocpp`` (CSMS_OCPP_PUBLIC_URL): what a 2.0.1 station is
    #: told in SetNetworkProfile when its security profile is raised; None: not known.
    public_url: str | None = None


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """The wss listener (security profiles 2 and 3) and the certificates csms's CA signs.

    The listener runs whenever a server certificate is configured: ``cert``/``key``
    (CSMS_TLS_CERT / CSMS_TLS_KEY, PEM, chain first), or else the one ``csms ca init``
    wrote under ``$CSMS_HOME/tls/``. ``client_ca`` (CSMS_TLS_CLIENT_CA, a PEM bundle) adds
    CAs trusted for profile 3 client certificates beside csms's own CA.
    """

    port: int = 9443
    cert: Path | None = None
    key: Path | None = None
    client_ca: Path | None = None
    #: The organization (O) a charger's CSR must name (CSMS_CERT_ORG).
    cert_org: str = "csms"
    #: Days a certificate csms's CA signs for a charger is valid (CSMS_CERT_DAYS).
    cert_days: int = 365


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The HTTP API: where it listens, its limits, and how the CLI reaches it."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: What the CLI talks to (CSMS_API_URL) and with which token (CSMS_API_TOKEN).
    url: str = "http://127.0.0.1:8080"
    token: str | None = None
    #: Largest HTTP API request body in bytes (a route may set its own: csms/api/body_limit.py).
    max_body: int = 1024 * 1024
    #: Failed API logins (customer logins and bearer tokens) per source address and per
    #: account (csms/ratelimit.py); None: off.
    rate_limit_login: Rate | None = _TEN_A_MINUTE
    #: Where people reach the customer API (the links in the marketing export); None: the
    #: address the export was asked for at.
    public_url: str | None = None


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """The database (SQLite or PostgreSQL) and how long a write waits out an outage."""

    url: str
    #: Seconds a write (a transaction message above all) is held while the database is
    #: unreachable, its commit retried, before the charger is answered with an error;
    #: below chargers' call timeouts. 0: no hold.
    outage_hold: float = 20.0


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """Personal data: the keys it is encrypted with, how long sessions stay linked."""

    #: CSMS_DATA_KEYS as given (None: the keys in ``$CSMS_HOME/data.keys``, made on first use).
    data_keys: str | None = None
    #: Completed sessions are unlinked from their customer after this many years.
    retention_years: int = 7
    #: Security events, charger events and unreconciled messages are deleted after this
    #: many days (CSMS_EVENT_RETENTION_DAYS).
    event_retention_days: int = 180


@dataclass(frozen=True, slots=True)
class BillingSettings:
    """What invoices are checked against and name (csms.domain.billing.invoices)."""

    #: Billing's plausibility check (csms.domain.billing.plausibility): the power, in kW, a
    #: session's energy is checked against when csms does not know its charger's own;
    #: None (``off``): energy is not checked against power at all.
    max_charger_kw: Decimal | None = Decimal(350)
    #: Who sells the charging, printed on receipts and invoices (None: left out).
    seller_name: str | None = None
    seller_address: str | None = None
    seller_vat_id: str | None = None


class ConfigSection(Protocol):
    """Settings another package reads from keys of its own (notify/config.py).

    ``parse`` gets the values of its ``keys`` that are set (the environment over
    ``csms.toml``, under their ``CSMS_`` names) and raises ``ConfigError`` naming the key of
    a bad one; what it returns is ``Settings.sections[name]``.
    """

    @property
    def name(self) -> str: ...

    @property
    def keys(self) -> Collection[str]: ...

    def parse(self, raw: Mapping[str, Any]) -> object: ...


#: ``with_overrides`` names of the settings before they were grouped (``ocpp_port``, the
#: CLI's flags and the tests use them): the group and the field each one is now.
_FLAT_NAMES: dict[str, tuple[str, str]] = {
    "database_url": ("database", "url"),
    "db_outage_hold": ("database", "outage_hold"),
    "ocpp_host": ("ocpp", "host"),
    "ocpp_port": ("ocpp", "port"),
    "unknown_chargers": ("ocpp", "unknown_chargers"),
    "heartbeat_interval": ("ocpp", "heartbeat_interval"),
    "call_timeout": ("ocpp", "call_timeout"),
    "ping_interval": ("ocpp", "ping_interval"),
    "max_frame_bytes": ("ocpp", "max_frame_bytes"),
    "handshake_timeout": ("ocpp", "handshake_timeout"),
    "shutdown_grace": ("ocpp", "shutdown_grace"),
    "rate_limit_charger_auth": ("ocpp", "rate_limit_charger_auth"),
    "rate_limit_authorize": ("ocpp", "rate_limit_authorize"),
    "api_host": ("api", "host"),
    "api_port": ("api", "port"),
    "api_url": ("api", "url"),
    "api_token": ("api", "token"),
    "api_max_body": ("api", "max_body"),
    "rate_limit_login": ("api", "rate_limit_login"),
    "public_url": ("api", "public_url"),
    "data_keys": ("privacy", "data_keys"),
    "retention_years": ("privacy", "retention_years"),
    "event_retention_days": ("privacy", "event_retention_days"),
    "ocpp_public_url": ("ocpp", "public_url"),
    "tls_port": ("tls", "port"),
    "tls_cert": ("tls", "cert"),
    "tls_key": ("tls", "key"),
    "tls_client_ca": ("tls", "client_ca"),
    "cert_org": ("tls", "cert_org"),
    "cert_days": ("tls", "cert_days"),
    "max_charger_kw": ("billing", "max_charger_kw"),
    "seller_name": ("billing", "seller_name"),
    "seller_address": ("billing", "seller_address"),
    "seller_vat_id": ("billing", "seller_vat_id"),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything csms is configured with: ``home`` (CSMS_HOME), the groups by concern, the
    log level and event loop of the process, and other packages' ``sections``."""

    home: Path
    database: DatabaseSettings
    ocpp: OcppSettings = field(default_factory=OcppSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    billing: BillingSettings = field(default_factory=BillingSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    log_level: str = "INFO"
    event_loop: EventLoopChoice = "auto"
    #: Other packages' settings, by ``ConfigSection.name`` (``section`` reads one).
    sections: Mapping[str, object] = field(default_factory=dict, compare=False)

    @property
    def admin_token_path(self) -> Path:
        return self.home / "admin.token"

    def key_ring(self) -> KeyRing:
        """The personal-data keys: CSMS_DATA_KEYS, else ``$CSMS_HOME/data.keys`` (created
        with a new key the first time)."""
        from storage.crypto import load_key_ring

        return load_key_ring(env_value=self.privacy.data_keys, home=self.home)

    def section(self, name: str, kind: type[_T]) -> _T | None:
        """The settings another package parsed as section ``name`` (None: not loaded)."""
        value = self.sections.get(name)
        if value is None:
            return None
        if not isinstance(value, kind):
            raise TypeError(f"settings section {name!r} is a {type(value).__name__}")
        return value

    def with_overrides(self, **overrides: Any) -> Settings:
        """These settings with the given values, None left out (the CLI's flags that were
        not given). Names are fields (``home``, ``ocpp=OcppSettings(...)``), the names of
        before the grouping (``ocpp_port``, ``database_url``: ``_FLAT_NAMES``), or fields of
        a section's settings (``payment_url``)."""
        top: dict[str, Any] = {}
        groups: dict[str, dict[str, Any]] = {}
        sections = dict(self.sections)
        for name, value in overrides.items():
            if value is None:
                continue
            if name in _FLAT_NAMES:
                group, field_name = _FLAT_NAMES[name]
                groups.setdefault(group, {})[field_name] = value
                continue
            if name in _TOP_FIELDS:
                top[name] = value
                continue
            owner = next(
                (
                    key
                    for key, section in sections.items()
                    if dataclasses.is_dataclass(section)
                    and name in {f.name for f in dataclasses.fields(section)}
                ),
                None,
            )
            if owner is None:
                raise TypeError(f"Settings has no setting {name!r}")
            sections[owner] = replace(cast(Any, sections[owner]), **{name: value})
        for group, values in groups.items():
            top[group] = replace(top.get(group, getattr(self, group)), **values)
        return replace(self, **top, sections=sections)


_TOP_FIELDS = frozenset(f.name for f in dataclasses.fields(Settings)) - {"sections"}

_KEYS = (
    "CSMS_HOME",
    "CSMS_DATABASE_URL",
    "CSMS_OCPP_HOST",
    "CSMS_OCPP_PORT",
    "CSMS_API_HOST",
    "CSMS_API_PORT",
    "CSMS_API_URL",
    "CSMS_API_TOKEN",
    "CSMS_UNKNOWN_CHARGERS",
    "CSMS_HEARTBEAT_INTERVAL",
    "CSMS_CALL_TIMEOUT",
    "CSMS_PING_INTERVAL",
    "CSMS_MAX_FRAME_BYTES",
    "CSMS_LOG_LEVEL",
    "CSMS_EVENT_LOOP",
    "CSMS_DATA_KEYS",
    "CSMS_RETENTION_YEARS",
    "CSMS_PUBLIC_URL",
    "CSMS_SHUTDOWN_GRACE",
    "CSMS_HANDSHAKE_TIMEOUT",
    "CSMS_MAX_CHARGER_KW",
    "CSMS_SELLER_NAME",
    "CSMS_SELLER_ADDRESS",
    "CSMS_SELLER_VAT_ID",
    "CSMS_DB_OUTAGE_HOLD",
    "CSMS_API_MAX_BODY",
    "CSMS_RATE_LIMIT_LOGIN",
    "CSMS_RATE_LIMIT_CHARGER_AUTH",
    "CSMS_RATE_LIMIT_AUTHORIZE",
    "CSMS_OCPP_PUBLIC_URL",
    "CSMS_OCPP_TLS_PORT",
    "CSMS_TLS_CERT",
    "CSMS_TLS_KEY",
    "CSMS_TLS_CLIENT_CA",
    "CSMS_CERT_ORG",
    "CSMS_CERT_DAYS",
    "CSMS_EVENT_RETENTION_DAYS",
)


def _port(key: str, raw: Any) -> int:
    try:
        port = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(key, f"{raw!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65535:
        raise ConfigError(key, f"{port} is not a port number (0-65535)")
    return port


def _positive(key: str, raw: Any, kind: Callable[[Any], _N]) -> _N:
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(key, f"{raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(key, f"{raw!r} must be greater than 0")
    return value


def positive_int(key: str, raw: Any) -> int:
    """``raw`` as a whole number above 0; ``ConfigError`` naming ``key`` otherwise."""
    return _positive(key, raw, int)


def positive_float(key: str, raw: Any) -> float:
    """``raw`` as a number above 0; ``ConfigError`` naming ``key`` otherwise."""
    return _positive(key, raw, float)


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


def parse_delays(key: str, raw: Any) -> tuple[float, ...]:
    """Comma-separated seconds (``3600,86400``); empty: no retries."""
    text = ",".join(str(v) for v in raw) if isinstance(raw, list | tuple) else str(raw)
    delays: list[float] = []
    for part in text.split(","):
        if part.strip():
            delays.append(positive_float(key, part.strip()))
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


def _billing(raw: Mapping[str, Any]) -> BillingSettings:
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
    seller: list[str | None] = []
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
        seller.append(given or None)
    name, address, vat_id = seller
    return BillingSettings(
        max_charger_kw=ceiling, seller_name=name, seller_address=address, seller_vat_id=vat_id
    )


def config_error_from(exc: ValueError, default: str, *, keys: Collection[str]) -> ConfigError:
    """A ConfigError for an adapter's error, under the key of ``keys`` its message names
    (the first one it mentions, else ``default``), the key said once."""
    text = str(exc)
    named = [(text.find(key), key) for key in keys if key in text]
    key = min(named)[1] if named else default
    if text.startswith(key):
        text = text[len(key) :].lstrip(": ")
    return ConfigError(key, text)


def _read(env: Mapping[str, str], config_file: Path | None, known: Sequence[str]) -> dict[str, Any]:
    """The values of the ``known`` keys: the environment over ``csms.toml``."""
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
            if name not in known:
                raise ConfigError(f"{path}:{key}", f"unknown key; known: {', '.join(known)}")
            raw[name] = value
    for name in known:
        if name in env and env[name] != "":
            raw[name] = env[name]
    return raw


def _ocpp(raw: Mapping[str, Any], policy: UnknownChargerPolicy) -> OcppSettings:
    ping = raw.get("CSMS_PING_INTERVAL", 60)
    return OcppSettings(
        host=str(raw.get("CSMS_OCPP_HOST", "0.0.0.0")),
        port=_port("CSMS_OCPP_PORT", raw.get("CSMS_OCPP_PORT", 9000)),
        unknown_chargers=policy,
        heartbeat_interval=positive_int(
            "CSMS_HEARTBEAT_INTERVAL", raw.get("CSMS_HEARTBEAT_INTERVAL", 300)
        ),
        call_timeout=positive_float("CSMS_CALL_TIMEOUT", raw.get("CSMS_CALL_TIMEOUT", 30)),
        ping_interval=(
            None
            if str(ping) in ("0", "off", "none")
            else positive_float("CSMS_PING_INTERVAL", ping)
        ),
        max_frame_bytes=positive_int(
            "CSMS_MAX_FRAME_BYTES", raw.get("CSMS_MAX_FRAME_BYTES", 256 * 1024)
        ),
        handshake_timeout=_duration_seconds(
            "CSMS_HANDSHAKE_TIMEOUT", raw.get("CSMS_HANDSHAKE_TIMEOUT", 10)
        ),
        shutdown_grace=_duration_seconds(
            "CSMS_SHUTDOWN_GRACE", raw.get("CSMS_SHUTDOWN_GRACE", 10), allow_zero=True
        ),
        rate_limit_charger_auth=_rate(
            "CSMS_RATE_LIMIT_CHARGER_AUTH", raw.get("CSMS_RATE_LIMIT_CHARGER_AUTH"), "10/min"
        ),
        rate_limit_authorize=_rate(
            "CSMS_RATE_LIMIT_AUTHORIZE", raw.get("CSMS_RATE_LIMIT_AUTHORIZE"), "60/min"
        ),
        public_url=_ocpp_public_url(raw.get("CSMS_OCPP_PUBLIC_URL")),
    )


def _ocpp_public_url(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    url = str(raw).rstrip("/")
    if not url.startswith(("ws://", "wss://")):
        raise ConfigError(
            "CSMS_OCPP_PUBLIC_URL",
            f"{url!r}: give the address chargers connect to, like wss://csms.example.com:9443/ocpp",
        )
    return url


def _pem_file(key: str, raw: Any) -> Path | None:
    if raw is None or raw == "":
        return None
    path = Path(str(raw))
    if not path.is_file():
        raise ConfigError(key, f"{path}: no such file (a PEM file is expected)")
    return path


def _tls(raw: Mapping[str, Any]) -> TlsSettings:
    cert = _pem_file("CSMS_TLS_CERT", raw.get("CSMS_TLS_CERT"))
    key = _pem_file("CSMS_TLS_KEY", raw.get("CSMS_TLS_KEY"))
    if (cert is None) != (key is None):
        missing = "CSMS_TLS_KEY" if key is None else "CSMS_TLS_CERT"
        raise ConfigError(
            missing, "CSMS_TLS_CERT and CSMS_TLS_KEY go together: set both, or neither"
        )
    org = str(raw.get("CSMS_CERT_ORG", "csms")).strip()
    if not org:
        raise ConfigError("CSMS_CERT_ORG", "must not be empty (the O a charger's CSR names)")
    return TlsSettings(
        port=_port("CSMS_OCPP_TLS_PORT", raw.get("CSMS_OCPP_TLS_PORT", 9443)),
        cert=cert,
        key=key,
        client_ca=_pem_file("CSMS_TLS_CLIENT_CA", raw.get("CSMS_TLS_CLIENT_CA")),
        cert_org=org,
        cert_days=positive_int("CSMS_CERT_DAYS", raw.get("CSMS_CERT_DAYS", 365)),
    )


def _api(raw: Mapping[str, Any]) -> ApiSettings:
    port = _port("CSMS_API_PORT", raw.get("CSMS_API_PORT", 8080))
    token = raw.get("CSMS_API_TOKEN")
    return ApiSettings(
        host=str(raw.get("CSMS_API_HOST", "127.0.0.1")),
        port=port,
        url=str(raw.get("CSMS_API_URL", f"http://127.0.0.1:{port}")).rstrip("/"),
        token=None if token is None else str(token),
        max_body=_size("CSMS_API_MAX_BODY", raw.get("CSMS_API_MAX_BODY", "1MB")),
        rate_limit_login=_rate("CSMS_RATE_LIMIT_LOGIN", raw.get("CSMS_RATE_LIMIT_LOGIN"), "10/min"),
        public_url=str(raw["CSMS_PUBLIC_URL"]).rstrip("/") if raw.get("CSMS_PUBLIC_URL") else None,
    )


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    config_file: Path | None = None,
    sections: Sequence[ConfigSection] = (),
) -> Settings:
    """Settings from ``env`` (default ``os.environ``) over ``csms.toml`` (if present), with
    the ``sections`` of other packages parsed from their own keys (csms/wiring.py names
    them; without them their keys are unknown)."""
    env = os.environ if env is None else env
    known = [*_KEYS, *(key for section in sections for key in section.keys)]
    raw = _read(env, config_file, known)

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
    api = _api(raw)
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
    ocpp = _ocpp(raw, cast(UnknownChargerPolicy, policy))
    privacy = PrivacySettings(
        data_keys=None if data_keys is None else str(data_keys),
        retention_years=positive_int("CSMS_RETENTION_YEARS", raw.get("CSMS_RETENTION_YEARS", 7)),
        event_retention_days=positive_int(
            "CSMS_EVENT_RETENTION_DAYS", raw.get("CSMS_EVENT_RETENTION_DAYS", 180)
        ),
    )
    database = DatabaseSettings(
        url=database_url,
        outage_hold=_duration_seconds(
            "CSMS_DB_OUTAGE_HOLD", raw.get("CSMS_DB_OUTAGE_HOLD", "20s"), allow_zero=True
        ),
    )
    billing = _billing(raw)
    parsed = {
        section.name: section.parse({key: raw[key] for key in section.keys if key in raw})
        for section in sections
    }
    return Settings(
        home=home,
        database=database,
        ocpp=ocpp,
        api=api,
        privacy=privacy,
        billing=billing,
        tls=_tls(raw),
        log_level=level,
        event_loop=cast(EventLoopChoice, event_loop),
        sections=parsed,
    )
