"""Certificate commands on both OCPP versions: the CALL each becomes, the answer read back,
the 1.6 list asked per type and merged, and deleting by serial (csms.adapters.v16/v201
outbound, csms.adapters.certificates)."""

from __future__ import annotations

from typing import Any

import pytest

from csms.adapters import outbound
from csms.adapters.certificates import delete_certificate, installed_certificates
from csms.adapters.outbound import send_command
from csms.domain.charging.remote_commands import (
    CertificateHashData,
    Command,
    DeleteCertificate,
    GetInstalledCertificateIds,
    InstallCertificate,
    RenewCertificate,
)
from csms.domain.errors import InvalidRequest, NotFound
from tests.fakes.charger_certificates import ChargerWithCertificates, hash_data
from tests.fakes.router import RecordingRouter

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
HASH = CertificateHashData(
    hash_algorithm="SHA256", issuer_name_hash="aa11", issuer_key_hash="bb22", serial="1A2B"
)
OCPP_HASH = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "aa11",
    "issuerKeyHash": "bb22",
    "serialNumber": "1A2B",
}


@pytest.mark.parametrize(
    ("command", "action", "payload"),
    [
        # 1.6 Security Whitepaper M05: the CSMS root is CentralSystemRootCertificate in 1.6
        (
            InstallCertificate("CSMSRootCertificate", PEM),
            "InstallCertificate",
            {"certificateType": "CentralSystemRootCertificate", "certificate": PEM},
        ),
        (
            InstallCertificate("ManufacturerRootCertificate", PEM),
            "InstallCertificate",
            {"certificateType": "ManufacturerRootCertificate", "certificate": PEM},
        ),
        # M03: one type per request
        (
            GetInstalledCertificateIds(types=("CSMSRootCertificate",)),
            "GetInstalledCertificateIds",
            {"certificateType": "CentralSystemRootCertificate"},
        ),
        # M04
        (DeleteCertificate(HASH), "DeleteCertificate", {"certificateHashData": OCPP_HASH}),
        # A02: ExtendedTriggerMessage SignChargePointCertificate
        (
            RenewCertificate(),
            "ExtendedTriggerMessage",
            {"requestedMessage": "SignChargePointCertificate"},
        ),
    ],
)
def test_certificate_command_is_its_ocpp16_call(
    command: Command, action: str, payload: dict[str, Any]
) -> None:
    assert outbound.to_ocpp(command, "ocpp1.6") == (action, payload)


@pytest.mark.parametrize(
    ("command", "action", "payload"),
    [
        # 2.0.1 M05
        (
            InstallCertificate("CSMSRootCertificate", PEM),
            "InstallCertificate",
            {"certificateType": "CSMSRootCertificate", "certificate": PEM},
        ),
        (
            InstallCertificate("V2GRootCertificate", PEM),
            "InstallCertificate",
            {"certificateType": "V2GRootCertificate", "certificate": PEM},
        ),
        (
            InstallCertificate("MORootCertificate", PEM),
            "InstallCertificate",
            {"certificateType": "MORootCertificate", "certificate": PEM},
        ),
        # 2.0.1 M03: no type asks for all of them, several types in one request
        (GetInstalledCertificateIds(), "GetInstalledCertificateIds", {}),
        (
            GetInstalledCertificateIds(types=("CSMSRootCertificate", "V2GCertificateChain")),
            "GetInstalledCertificateIds",
            {"certificateType": ["CSMSRootCertificate", "V2GCertificateChain"]},
        ),
        # 2.0.1 M04
        (DeleteCertificate(HASH), "DeleteCertificate", {"certificateHashData": OCPP_HASH}),
        # 2.0.1 A02: TriggerMessage SignChargingStationCertificate
        (
            RenewCertificate(),
            "TriggerMessage",
            {"requestedMessage": "SignChargingStationCertificate"},
        ),
    ],
)
def test_certificate_command_is_its_ocpp201_call(
    command: Command, action: str, payload: dict[str, Any]
) -> None:
    assert outbound.to_ocpp(command, "ocpp2.0.1") == (action, payload)


@pytest.mark.parametrize("kind", ["V2GRootCertificate", "MORootCertificate"])
def test_iso15118_roots_are_refused_for_16_chargers_saying_which_types_they_have(
    kind: str,
) -> None:
    with pytest.raises(InvalidRequest, match="CSMSRootCertificate or ManufacturerRootCertificate"):
        outbound.to_ocpp(InstallCertificate(kind, PEM), "ocpp1.6")
    with pytest.raises(InvalidRequest, match="no " + kind):
        outbound.to_ocpp(GetInstalledCertificateIds(types=(kind,)), "ocpp1.6")


def test_a_16_list_of_several_types_in_one_call_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="one type per"):
        outbound.to_ocpp(GetInstalledCertificateIds(), "ocpp1.6")


def test_an_unknown_type_is_refused_for_201_stations() -> None:
    with pytest.raises(InvalidRequest, match="unknown certificate type"):
        outbound.to_ocpp(InstallCertificate("V2GCertificateChain", PEM), "ocpp2.0.1")


def test_16_installed_certificates_answer_is_of_the_type_asked() -> None:
    answer = outbound.answer_from_ocpp(
        GetInstalledCertificateIds(types=("CSMSRootCertificate",)),
        "ocpp1.6",
        {"status": "Accepted", "certificateHashData": [hash_data("0A")]},
    )
    assert answer == {
        "status": "Accepted",
        "certificates": [
            {
                "certificate_type": "CSMSRootCertificate",
                "serial": "0A",
                "hash_algorithm": "SHA256",
                "issuer_name_hash": "aa11",
                "issuer_key_hash": "bb22",
                "child_of": None,
            }
        ],
    }


def test_201_hash_data_chains_are_flattened_children_naming_their_chain() -> None:
    # 2.0.1 M03: a V2GCertificateChain reports its sub-CA certificates as children.
    answer = outbound.answer_from_ocpp(
        GetInstalledCertificateIds(),
        "ocpp2.0.1",
        {
            "status": "Accepted",
            "certificateHashDataChain": [
                {"certificateType": "CSMSRootCertificate", "certificateHashData": hash_data("01")},
                {
                    "certificateType": "V2GCertificateChain",
                    "certificateHashData": hash_data("02"),
                    "childCertificateHashData": [hash_data("03"), hash_data("04")],
                },
            ],
        },
    )
    assert answer["status"] == "Accepted"
    assert [
        (c["certificate_type"], c["serial"], c["child_of"]) for c in answer["certificates"]
    ] == [
        ("CSMSRootCertificate", "01", None),
        ("V2GCertificateChain", "02", None),
        ("V2GCertificateChain", "03", "02"),
        ("V2GCertificateChain", "04", "02"),
    ]


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
@pytest.mark.parametrize("status", ["Accepted", "Rejected", "Failed", "NotFound", "NotImplemented"])
def test_the_chargers_status_is_passed_through(version: str, status: str) -> None:
    for command in (InstallCertificate("CSMSRootCertificate", PEM), DeleteCertificate(HASH)):
        assert outbound.answer_from_ocpp(command, version, {"status": status})["status"] == status
    renewed = outbound.answer_from_ocpp(RenewCertificate(), version, {"status": status})
    assert renewed["status"] == status


def test_201_status_info_is_given_as_the_reason() -> None:
    answer = outbound.answer_from_ocpp(
        InstallCertificate("CSMSRootCertificate", PEM),
        "ocpp2.0.1",
        {"status": "Rejected", "statusInfo": {"reasonCode": "InvalidCertificate"}},
    )
    assert answer == {"status": "Rejected", "reason": "InvalidCertificate"}


# -- over the command router: the 1.6 list per type, delete by serial ---------------------


def _sender(router: RecordingRouter) -> Any:
    async def send(command: Command) -> dict[str, Any]:
        return await send_command(router, "CP1", command)

    return send


async def test_16_list_asks_for_each_type_and_merges_the_answers() -> None:
    # 1.6 Security Whitepaper M03: GetInstalledCertificateIds.req has one certificateType.
    router = ChargerWithCertificates(
        "ocpp1.6",
        {
            "CentralSystemRootCertificate": [hash_data("1A")],
            "ManufacturerRootCertificate": [hash_data("2B"), hash_data("3C")],
        },
    )
    listed = await installed_certificates(_sender(router), ocpp_version="ocpp1.6")
    assert [payload for _, _, payload in router.sent] == [
        {"certificateType": "CentralSystemRootCertificate"},
        {"certificateType": "ManufacturerRootCertificate"},
    ]
    assert listed["status"] == "Accepted"
    assert [(c["certificate_type"], c["serial"]) for c in listed["certificates"]] == [
        ("CSMSRootCertificate", "1A"),
        ("ManufacturerRootCertificate", "2B"),
        ("ManufacturerRootCertificate", "3C"),
    ]
    assert len(listed["responses"]) == 2


async def test_16_list_with_nothing_installed_is_not_found() -> None:
    router = ChargerWithCertificates("ocpp1.6", {})
    listed = await installed_certificates(_sender(router), ocpp_version="ocpp1.6")
    assert listed["status"] == "NotFound"
    assert listed["certificates"] == []


async def test_16_list_of_an_iso15118_type_is_refused_before_anything_is_sent() -> None:
    router = ChargerWithCertificates("ocpp1.6", {})
    with pytest.raises(InvalidRequest, match="V2GRootCertificate"):
        await installed_certificates(
            _sender(router), ocpp_version="ocpp1.6", types=("V2GRootCertificate",)
        )
    assert router.sent == []


async def test_201_list_is_one_call() -> None:
    router = ChargerWithCertificates("ocpp2.0.1", {})
    router.answers["GetInstalledCertificateIds"] = {
        "status": "Accepted",
        "certificateHashDataChain": [
            {"certificateType": "CSMSRootCertificate", "certificateHashData": hash_data("0F")}
        ],
    }
    listed = await installed_certificates(_sender(router), ocpp_version="ocpp2.0.1")
    assert [action for _, action, _ in router.sent] == ["GetInstalledCertificateIds"]
    assert [c["serial"] for c in listed["certificates"]] == ["0F"]
    assert listed["responses"] == [router.answers["GetInstalledCertificateIds"]]


@pytest.mark.parametrize("typed", ["3c", "003C", "0x3c", " 3C "])
async def test_delete_finds_the_hash_data_by_serial_whatever_its_case_or_leading_zeros(
    typed: str,
) -> None:
    router = ChargerWithCertificates(
        "ocpp1.6",
        {
            "CentralSystemRootCertificate": [hash_data("1A")],
            "ManufacturerRootCertificate": [hash_data("3C", name_hash="cc33")],
        },
    )
    answer = await delete_certificate(_sender(router), ocpp_version="ocpp1.6", serial=typed)
    action, payload = router.sent[-1][1:]
    # M04: the hash data exactly as the charger reported it.
    assert action == "DeleteCertificate"
    assert payload == {"certificateHashData": hash_data("3C", name_hash="cc33")}
    assert answer["status"] == "Accepted"
    assert answer["certificate"]["certificate_type"] == "ManufacturerRootCertificate"


async def test_delete_of_an_unknown_serial_lists_the_serials_and_sends_no_delete() -> None:
    router = ChargerWithCertificates(
        "ocpp1.6",
        {
            "CentralSystemRootCertificate": [hash_data("1A")],
            "ManufacturerRootCertificate": [hash_data("2B")],
        },
    )
    with pytest.raises(NotFound, match=r"1A \(CSMSRootCertificate\), 2B"):
        await delete_certificate(_sender(router), ocpp_version="ocpp1.6", serial="99")
    assert "DeleteCertificate" not in [action for _, action, _ in router.sent]


async def test_delete_on_a_201_station_can_take_a_child_certificate() -> None:
    router = ChargerWithCertificates("ocpp2.0.1", {})
    router.answers["GetInstalledCertificateIds"] = {
        "status": "Accepted",
        "certificateHashDataChain": [
            {
                "certificateType": "V2GCertificateChain",
                "certificateHashData": hash_data("10"),
                "childCertificateHashData": [hash_data("11")],
            }
        ],
    }
    answer = await delete_certificate(_sender(router), ocpp_version="ocpp2.0.1", serial="11")
    assert router.sent[-1][1:] == ("DeleteCertificate", {"certificateHashData": hash_data("11")})
    assert answer["certificate"]["child_of"] == "10"
