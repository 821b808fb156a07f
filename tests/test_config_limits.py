"""Settings of issue 18's limits: body size and rate limits, with their defaults, units,
``off``, and a bad value that names its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from csms.config import ConfigError
from csms.ratelimit import Rate
from csms.wiring import load_settings


def _load(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings(env, config_file=tmp_path / "absent.toml")


def test_defaults_bound_bodies_and_throttle_guesses(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    assert settings.api.max_body == 1024 * 1024
    assert settings.api.rate_limit_login == Rate(10, 60.0)
    assert settings.ocpp.rate_limit_charger_auth == Rate(10, 60.0)
    assert settings.ocpp.rate_limit_authorize == Rate(60, 60.0)


def test_sizes_and_rates_take_units_and_off(tmp_path: Path) -> None:
    settings = _load(
        tmp_path,
        CSMS_API_MAX_BODY="512kB",
        CSMS_RATE_LIMIT_LOGIN="5/10m",
        CSMS_RATE_LIMIT_CHARGER_AUTH="off",
        CSMS_RATE_LIMIT_AUTHORIZE="0",
    )
    assert settings.api.max_body == 512 * 1024
    assert settings.api.rate_limit_login == Rate(5, 600.0)
    assert settings.ocpp.rate_limit_charger_auth is None
    assert settings.ocpp.rate_limit_authorize is None


def test_the_toml_file_sets_them_too(tmp_path: Path) -> None:
    config = tmp_path / "csms.toml"
    config.write_text('api_max_body = "2MB"\nrate_limit_login = "20/min"\n')
    settings = load_settings({}, config_file=config)
    assert settings.api.max_body == 2 * 1024 * 1024
    assert settings.api.rate_limit_login == Rate(20, 60.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CSMS_API_MAX_BODY", "lots"),
        ("CSMS_API_MAX_BODY", "0"),
        ("CSMS_RATE_LIMIT_LOGIN", "ten a minute"),
        ("CSMS_RATE_LIMIT_CHARGER_AUTH", "10/fortnight"),
        ("CSMS_RATE_LIMIT_AUTHORIZE", "0/min"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(
    tmp_path: Path, key: str, value: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, **{key: value})
    assert raised.value.key == key
    assert str(raised.value).startswith(key)
