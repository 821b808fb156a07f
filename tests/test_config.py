"""Configuration: a bad value refuses to start and names the key; defaults per SPEC.md.

Settings are loaded as the process loads them (csms/wiring.py: csms's and notify's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from csms.config import ConfigError
from csms.server import event_loop_factory
from csms.wiring import load_settings
from notify.config import NotifySettings

NO_FILE = Path("/nonexistent/csms.toml")


def _load(**env: str):  # type: ignore[no-untyped-def]
    return load_settings(env, config_file=NO_FILE)


def test_defaults_follow_the_spec() -> None:
    settings = _load()
    assert settings.home == Path("./var")
    assert settings.database.url == "sqlite+aiosqlite:///var/csms.sqlite3"
    assert (settings.ocpp.host, settings.ocpp.port) == ("0.0.0.0", 9000)
    assert (settings.api.host, settings.api.port) == ("127.0.0.1", 8080)
    assert settings.ocpp.unknown_chargers == "reject"
    assert settings.event_loop == "auto"


@pytest.mark.parametrize(
    ("key", "value", "hint"),
    [
        ("CSMS_OCPP_PORT", "70000", "CSMS_OCPP_PORT"),
        ("CSMS_API_PORT", "http", "CSMS_API_PORT"),
        ("CSMS_UNKNOWN_CHARGERS", "maybe", "use reject, pending or accept"),
        ("CSMS_LOG_LEVEL", "LOUD", "use DEBUG, INFO, WARNING or ERROR"),
        ("CSMS_EVENT_LOOP", "trio", "use auto, uvloop or asyncio"),
        ("CSMS_DATABASE_URL", "mysql://x/y", "sqlite+aiosqlite:///PATH"),
        ("CSMS_HEARTBEAT_INTERVAL", "-5", "CSMS_HEARTBEAT_INTERVAL"),
    ],
)
def test_bad_value_is_refused_naming_the_key(key: str, value: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(**{key: value})
    assert caught.value.key == key
    assert hint in str(caught.value)


def test_unknown_key_in_the_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "csms.toml"
    path.write_text("ocpp_prot = 9001\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, config_file=path)
    assert "ocpp_prot" in caught.value.key and "unknown key" in str(caught.value)


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "csms.toml"
    path.write_text('ocpp_port = 9001\nevent_loop = "asyncio"\n')
    settings = load_settings({"CSMS_OCPP_PORT": "9002"}, config_file=path)
    assert settings.ocpp.port == 9002
    assert settings.event_loop == "asyncio"


def test_server_runs_on_uvloop_unless_asyncio_is_asked_for() -> None:
    import uvloop

    assert event_loop_factory(_load()) is uvloop.new_event_loop
    assert event_loop_factory(_load(CSMS_EVENT_LOOP="uvloop")) is uvloop.new_event_loop
    assert event_loop_factory(_load(CSMS_EVENT_LOOP="asyncio")) is None


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"CSMS_SMTP_URL": "smtp://mail.example:587"}, "CSMS_MAIL_FROM"),
        (
            {"CSMS_SMTP_URL": "imap://mail.example", "CSMS_MAIL_FROM": "a@b.example"},
            "CSMS_SMTP_URL",
        ),
        ({"CSMS_SMTP_URL": "smtp://mail.example", "CSMS_MAIL_FROM": "nobody"}, "CSMS_MAIL_FROM"),
        ({"CSMS_SMS_URL": "https://AC1:secret@sms.example"}, "CSMS_SMS_FROM"),
        ({"CSMS_SMS_URL": "https://sms.example", "CSMS_SMS_FROM": "+4930123"}, "CSMS_SMS_URL"),
        ({"CSMS_PAYMENT_URL": "https://api.stripe.com"}, "CSMS_PAYMENT_KEY"),
        ({"CSMS_PAYMENT_URL": "ftp://pay.example", "CSMS_PAYMENT_KEY": "sk_x"}, "CSMS_PAYMENT_URL"),
        ({"CSMS_OUTBOX_MAX_ATTEMPTS": "0"}, "CSMS_OUTBOX_MAX_ATTEMPTS"),
        ({"CSMS_PAYMENT_RETRY_DELAYS": "3600,soon"}, "CSMS_PAYMENT_RETRY_DELAYS"),
    ],
)
def test_a_bad_notification_or_payment_setting_is_refused_naming_its_key(
    env: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(**env)
    assert caught.value.key == key
    assert not str(caught.value).startswith(f"{key}: {key}")  # not "KEY: KEY: ..."


def test_secrets_in_channel_settings_never_appear_in_the_refusal() -> None:
    with pytest.raises(ConfigError) as caught:
        _load(
            CSMS_SMTP_URL="smtp://user:hunter2-secret@mail.example:notaport",
            CSMS_MAIL_FROM="a@b.example",
        )
    assert caught.value.key == "CSMS_SMTP_URL" and "hunter2-secret" not in str(caught.value)


def test_email_sms_and_payments_are_off_unless_configured() -> None:
    settings = _load()
    notify = NotifySettings.of(settings)
    assert (notify.smtp_url, notify.sms_url, notify.payment_url, notify.payment_key) == (
        None,
        None,
        None,
        None,
    )
    assert notify.payment_retry_delays == (3600.0, 86400.0, 259200.0)
    assert notify.outbox_max_attempts == 12


@pytest.mark.parametrize(
    ("env", "key", "hint"),
    [
        ({"CSMS_OCPP_TLS_PORT": "99999"}, "CSMS_OCPP_TLS_PORT", "port number"),
        ({"CSMS_TLS_CERT": "/nonexistent/server.pem"}, "CSMS_TLS_CERT", "no such file"),
        ({"CSMS_TLS_CLIENT_CA": "/nonexistent/ca.pem"}, "CSMS_TLS_CLIENT_CA", "no such file"),
        ({"CSMS_CERT_DAYS": "0"}, "CSMS_CERT_DAYS", "greater than 0"),
        ({"CSMS_CERT_ORG": " "}, "CSMS_CERT_ORG", "must not be empty"),
        ({"CSMS_EVENT_RETENTION_DAYS": "-1"}, "CSMS_EVENT_RETENTION_DAYS", "greater than 0"),
        ({"CSMS_OCPP_PUBLIC_URL": "http://x/ocpp"}, "CSMS_OCPP_PUBLIC_URL", "wss://"),
    ],
)
def test_bad_tls_and_certificate_settings_are_refused_naming_the_key(
    env: dict[str, str], key: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(**env)
    assert caught.value.key == key
    assert hint in str(caught.value)


def test_server_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    cert = tmp_path / "server.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError) as caught:
        _load(CSMS_TLS_CERT=str(cert))
    assert caught.value.key == "CSMS_TLS_KEY"
    assert "go together" in str(caught.value)


def test_tls_defaults_follow_the_spec() -> None:
    tls = _load().tls
    assert (tls.port, tls.cert, tls.key, tls.client_ca) == (9443, None, None, None)
    assert (tls.cert_org, tls.cert_days) == ("csms", 365)
    assert _load().privacy.event_retention_days == 180
