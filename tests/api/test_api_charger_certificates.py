"""``/api/chargers/{id}/certificates``: list, install, delete by serial, renew, on OCPP 1.6
and 2.0.1 chargers, with the recording router playing the charger."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, add_charger_for
from tests.fakes.charger_certificates import ChargerWithCertificates, hash_data
from tests.pki import root_certificate_pem


@pytest.fixture
def fake_router() -> ChargerWithCertificates:
    return ChargerWithCertificates(
        "ocpp1.6",
        {
            "CentralSystemRootCertificate": [hash_data("1A")],
            "ManufacturerRootCertificate": [hash_data("02B", name_hash="cc33")],
        },
    )


@pytest.fixture
async def online(api: Api) -> Api:
    await add_charger_for(api.db, "CP1")
    return api


async def test_list_merges_the_16_answers_of_each_type(online: Api) -> None:
    response = await online.operator.get("/api/chargers/CP1/certificates")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "Accepted" and body["ocpp_version"] == "1.6"
    assert [(c["certificate_type"], c["serial"]) for c in body["certificates"]] == [
        ("CSMSRootCertificate", "1A"),
        ("ManufacturerRootCertificate", "02B"),
    ]
    assert [payload for _, _, payload in online.router.sent] == [
        {"certificateType": "CentralSystemRootCertificate"},
        {"certificateType": "ManufacturerRootCertificate"},
    ]


async def test_list_of_one_type_asks_only_for_it(online: Api) -> None:
    response = await online.operator.get(
        "/api/chargers/CP1/certificates", params={"type": "centralsystemrootcertificate"}
    )
    assert response.status_code == 200, response.text
    assert [payload for _, _, payload in online.router.sent] == [
        {"certificateType": "CentralSystemRootCertificate"}
    ]


async def test_list_on_a_201_station_is_one_call_for_the_types_asked(online: Api) -> None:
    online.router.connected["CP1"] = "ocpp2.0.1"
    online.router.answers["GetInstalledCertificateIds"] = {"status": "NotFound"}
    response = await online.operator.get(
        "/api/chargers/CP1/certificates",
        params=[("type", "V2GRootCertificate"), ("type", "MORootCertificate")],
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "NotFound"
    assert response.json()["certificates"] == []
    assert online.router.sent == [
        (
            "CP1",
            "GetInstalledCertificateIds",
            {"certificateType": ["V2GRootCertificate", "MORootCertificate"]},
        )
    ]


async def test_install_sends_the_checked_pem(online: Api) -> None:
    pem = root_certificate_pem("Operator Root")
    response = await online.operator.post(
        "/api/chargers/CP1/certificates",
        json={"type": "CSMSRootCertificate", "pem": f"# our root\n{pem}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Accepted"
    # 1.6 Security Whitepaper M05: the 1.6 name of the type, the bare PEM
    assert online.router.sent == [
        (
            "CP1",
            "InstallCertificate",
            {"certificateType": "CentralSystemRootCertificate", "certificate": pem},
        )
    ]


async def test_install_of_a_v2g_root_on_a_201_station_is_sent(online: Api) -> None:
    # 2.0.1 M05: the ISO 15118 roots are installed like the CSMS root
    online.router.connected["CP1"] = "ocpp2.0.1"
    pem = root_certificate_pem("V2G Root")
    response = await online.operator.post(
        "/api/chargers/CP1/certificates", json={"type": "v2grootcertificate", "pem": pem}
    )
    assert response.status_code == 200, response.text
    assert online.router.sent == [
        ("CP1", "InstallCertificate", {"certificateType": "V2GRootCertificate", "certificate": pem})
    ]


async def test_install_of_text_that_is_no_certificate_is_400_and_sends_nothing(
    online: Api,
) -> None:
    response = await online.operator.post(
        "/api/chargers/CP1/certificates", json={"type": "CSMSRootCertificate", "pem": "nope"}
    )
    assert response.status_code == 400
    assert "not a PEM certificate" in response.json()["error"]
    assert online.router.sent == []


async def test_install_of_a_v2g_root_on_a_16_charger_is_400_and_sends_nothing(
    online: Api,
) -> None:
    response = await online.operator.post(
        "/api/chargers/CP1/certificates",
        json={"type": "V2GRootCertificate", "pem": root_certificate_pem()},
    )
    assert response.status_code == 400
    assert "OCPP 1.6 chargers have no V2GRootCertificate" in response.json()["error"]
    assert online.router.sent == []


async def test_install_of_an_unknown_type_lists_the_types(online: Api) -> None:
    response = await online.operator.post(
        "/api/chargers/CP1/certificates", json={"type": "Root", "pem": root_certificate_pem()}
    )
    assert response.status_code == 400
    assert "use one of CSMSRootCertificate" in response.json()["error"]


async def test_a_rejected_install_gives_the_chargers_status(online: Api) -> None:
    online.router.answers["InstallCertificate"] = {"status": "Rejected"}
    response = await online.operator.post(
        "/api/chargers/CP1/certificates",
        json={"type": "ManufacturerRootCertificate", "pem": root_certificate_pem()},
    )
    assert response.status_code == 200
    assert response.json()["status"] == "Rejected"


async def test_delete_by_serial_sends_the_hash_data_the_charger_reported(online: Api) -> None:
    response = await online.operator.delete("/api/chargers/CP1/certificates/2b")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["action"] == "DeleteCertificate" and body["status"] == "Accepted"
    assert body["certificate"]["serial"] == "02B"
    assert online.router.sent[-1] == (
        "CP1",
        "DeleteCertificate",
        {"certificateHashData": hash_data("02B", name_hash="cc33")},
    )


async def test_delete_of_a_serial_the_charger_has_not_is_404_listing_its_serials(
    online: Api,
) -> None:
    response = await online.operator.delete("/api/chargers/CP1/certificates/FF")
    assert response.status_code == 404
    error = response.json()["error"]
    assert "no certificate with serial FF" in error
    assert "1A (CSMSRootCertificate), 02B (ManufacturerRootCertificate)" in error
    assert "DeleteCertificate" not in [action for _, action, _ in online.router.sent]


async def test_delete_of_a_serial_that_is_not_hex_is_400(online: Api) -> None:
    response = await online.operator.delete("/api/chargers/CP1/certificates/zz")
    assert response.status_code == 400
    assert "not a hex serial number" in response.json()["error"]


@pytest.mark.parametrize(
    ("version", "action", "payload"),
    [
        ("ocpp1.6", "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}),
        ("ocpp2.0.1", "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}),
    ],
)
async def test_renew_asks_the_charger_for_a_csr(
    online: Api, version: str, action: str, payload: dict[str, str]
) -> None:
    online.router.connected["CP1"] = version
    response = await online.operator.post("/api/chargers/CP1/certificates/renew")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Accepted"
    assert online.router.sent == [("CP1", action, payload)]


async def test_certificates_of_an_unknown_charger_are_404_and_nothing_is_sent(api: Api) -> None:
    for response in (
        await api.operator.get("/api/chargers/NOPE/certificates"),
        await api.operator.post("/api/chargers/NOPE/certificates/renew"),
        await api.operator.delete("/api/chargers/NOPE/certificates/1A"),
    ):
        assert response.status_code == 404
        assert "charger NOPE not found" in response.json()["error"]
    assert api.router.sent == []


async def test_certificates_of_a_disconnected_charger_are_503(online: Api) -> None:
    del online.router.connected["CP1"]
    response = await online.operator.get("/api/chargers/CP1/certificates")
    assert response.status_code == 503
    assert "not connected" in response.json()["error"]


async def test_an_owner_token_cannot_change_certificates(online: Api) -> None:
    response = await online.owner.post("/api/chargers/CP1/certificates/renew")
    assert response.status_code == 403
    assert online.router.sent == []
