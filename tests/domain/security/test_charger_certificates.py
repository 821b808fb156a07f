"""The root certificate an operator installs on a charger is checked before anything is
sent; serial numbers are matched as chargers report them
(csms.domain.security.charger_certificates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.domain.errors import InvalidRequest, NotFound
from csms.domain.security.charger_certificates import (
    certificate_type,
    checked_certificate,
    find_by_serial,
    normalize_serial,
)
from tests.pki import root_certificate_pem

NOW = datetime.now(UTC)


def test_a_root_ca_certificate_is_accepted_as_its_bare_pem() -> None:
    pem = root_certificate_pem()
    assert checked_certificate(f"a comment before\n{pem}\n\n", now=NOW) == pem


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "not a PEM certificate"),
        ("", "not a PEM certificate"),
        (
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            "cannot be read",
        ),
    ],
)
def test_text_that_is_no_certificate_is_refused_saying_what_to_give(
    text: str, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        checked_certificate(text, now=NOW)


def test_two_certificates_in_one_file_are_refused() -> None:
    both = root_certificate_pem("A") + root_certificate_pem("B")
    with pytest.raises(InvalidRequest, match="holds 2 certificates"):
        checked_certificate(both, now=NOW)


def test_a_leaf_certificate_is_refused_as_no_root() -> None:
    with pytest.raises(InvalidRequest, match=r"'cp\.example' is not a CA certificate"):
        checked_certificate(root_certificate_pem("cp.example", ca=False), now=NOW)


def test_an_expired_root_is_refused() -> None:
    old = root_certificate_pem("Old Root", not_before=NOW - timedelta(days=400), days=10)
    with pytest.raises(InvalidRequest, match="'Old Root' expired on"):
        checked_certificate(old, now=NOW)


def test_a_root_valid_only_later_is_refused() -> None:
    later = root_certificate_pem("Later Root", not_before=NOW + timedelta(days=3))
    with pytest.raises(InvalidRequest, match="valid only from"):
        checked_certificate(later, now=NOW)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("CSMSRootCertificate", "CSMSRootCertificate"),
        ("csmsrootcertificate", "CSMSRootCertificate"),
        # the 1.6 name of the same type (1.6 CertificateUseEnumType)
        ("CentralSystemRootCertificate", "CSMSRootCertificate"),
        ("manufacturerrootcertificate", "ManufacturerRootCertificate"),
        ("V2GRootCertificate", "V2GRootCertificate"),
    ],
)
def test_certificate_types_are_taken_in_any_case_and_under_the_16_name(
    text: str, name: str
) -> None:
    assert certificate_type(text, installable=True) == name


def test_an_unknown_type_lists_the_types() -> None:
    with pytest.raises(InvalidRequest, match="use one of CSMSRootCertificate, Manufacturer"):
        certificate_type("Root", installable=True)
    # A chain is listed by chargers but not installed with InstallCertificate.
    with pytest.raises(InvalidRequest):
        certificate_type("V2GCertificateChain", installable=True)
    assert certificate_type("V2GCertificateChain") == "V2GCertificateChain"


@pytest.mark.parametrize(
    ("typed", "serial"),
    [("1a2b", "1A2B"), ("001A2B", "1A2B"), ("0x1a2b", "1A2B"), ("1a:2b", "1A2B"), ("000", "0")],
)
def test_serials_are_upper_case_hex_without_leading_zeros(typed: str, serial: str) -> None:
    assert normalize_serial(typed) == serial


def test_a_serial_that_is_not_hex_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="not a hex serial number"):
        normalize_serial("xyz")


def test_two_certificates_with_the_same_serial_are_not_guessed_between() -> None:
    installed = [
        {"serial": "0A", "certificate_type": "CSMSRootCertificate", "issuer_name_hash": "1"},
        {"serial": "a", "certificate_type": "ManufacturerRootCertificate", "issuer_name_hash": "2"},
    ]
    with pytest.raises(InvalidRequest, match="2 certificates with serial A"):
        find_by_serial(installed, "A")


def test_no_certificate_installed_says_so() -> None:
    with pytest.raises(NotFound, match="reported no installed certificates"):
        find_by_serial([], "A")
