"""Configuration: environment variables, an optional ``csms.toml``, then command-line flags.

A bad value stops start-up with a ``ConfigError`` that names the key and says what is allowed.
"""

from __future__ import annotations

import importlib.util
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from storage.crypto import KeyRing

__all__ = ["ConfigError", "EventLoopChoice", "Settings", "UnknownChargerPolicy", "load_settings"]

UnknownChargerPolicy = Literal["reject", "pending", "accept"]
#: ``auto``: uvloop where it is installed (a dependency on Linux and macOS), else asyncio's.
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]


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


def load_settings(
    env: Mapping[str, str] | None = None, *, config_file: Path | None = None
) -> Settings:
    """Settings from ``env`` (default ``os.environ``) over ``csms.toml`` (if present)."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    path = config_file or Path(env.get("CSMS_CONFIG", "csms.toml"))
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
    )
