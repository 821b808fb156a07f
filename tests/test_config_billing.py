"""The billing settings of issue 18: the plausibility ceiling (CSMS_MAX_CHARGER_KW) and
the seller printed on receipts and invoices (CSMS_SELLER_NAME/ADDRESS/VAT_ID), from the
environment or csms.toml; a bad value stops start-up naming the variable."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from csms.config import ConfigError
from csms.wiring import load_settings

NO_FILE = Path("/nonexistent/csms.toml")


def test_the_ceiling_defaults_to_350_kw_and_no_seller_is_printed() -> None:
    settings = load_settings({}, config_file=NO_FILE)
    assert settings.billing.max_charger_kw == Decimal(350)
    assert (
        settings.billing.seller_name,
        settings.billing.seller_address,
        settings.billing.seller_vat_id,
    ) == (
        None,
        None,
        None,
    )


def test_the_seller_and_ceiling_come_from_the_environment() -> None:
    settings = load_settings(
        {
            "CSMS_MAX_CHARGER_KW": "150kW",
            "CSMS_SELLER_NAME": " Stadtwerke Beispiel GmbH ",
            "CSMS_SELLER_ADDRESS": "Hauptstraße 1\n12345 Beispielstadt",
            "CSMS_SELLER_VAT_ID": "DE123456789",
        },
        config_file=NO_FILE,
    )
    assert settings.billing.max_charger_kw == Decimal(150)
    assert settings.billing.seller_name == "Stadtwerke Beispiel GmbH"
    assert settings.billing.seller_address == "Hauptstraße 1\n12345 Beispielstadt"
    assert settings.billing.seller_vat_id == "DE123456789"


def test_the_seller_comes_from_csms_toml_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "csms.toml"
    path.write_text(
        'seller_name = "From File AG"\n'
        'seller_address = """Line 1\nLine 2"""\n'
        'seller_vat_id = "ATU12345678"\n'
        "max_charger_kw = 50\n"
    )
    settings = load_settings({"CSMS_SELLER_NAME": "From Env AG"}, config_file=path)
    assert settings.billing.seller_name == "From Env AG"
    assert settings.billing.seller_address == "Line 1\nLine 2"
    assert settings.billing.seller_vat_id == "ATU12345678"
    assert settings.billing.max_charger_kw == Decimal(50)


def test_the_power_check_can_be_turned_off_for_time_compressed_test_benches() -> None:
    settings = load_settings({"CSMS_MAX_CHARGER_KW": "off"}, config_file=NO_FILE)
    assert settings.billing.max_charger_kw is None


@pytest.mark.parametrize(
    ("key", "value", "hint"),
    [
        ("CSMS_MAX_CHARGER_KW", "fast", "is not a number of kW"),
        ("CSMS_MAX_CHARGER_KW", " ", "is not a number of kW"),
        ("CSMS_MAX_CHARGER_KW", "0", "use a power from 0 to 10000 kW"),
        ("CSMS_MAX_CHARGER_KW", "-22", "use a power from 0 to 10000 kW"),
        ("CSMS_MAX_CHARGER_KW", "inf", "use a power from 0 to 10000 kW"),
        ("CSMS_SELLER_VAT_ID", "X" * 41, "at most 40 characters"),
        ("CSMS_SELLER_NAME", "Evil\rHeader", "control characters"),
    ],
)
def test_a_bad_billing_setting_stops_start_up_naming_the_variable(
    key: str, value: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({key: value}, config_file=NO_FILE)
    assert error.value.key == key and hint in str(error.value)
