"""The simulated chargers' security side against the fake CSMS over real TLS: wss with a
trusted CA, client certificates, CSRs signed by a test CA, root certificates installed,
listed and deleted, raised security profiles (1.6 security whitepaper edition 3, 2.0.1
part 2 A and M)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from simulators import ChargePoint16, ChargePoint201, HandshakeFailed
from simulators.certificates import CertificateStore
from simulators.scenario import SessionScript
from simulators.station import Station
from simulators.tls import TlsClient, TlsSetupError
from tests.pki import PkiDirectory
from tests.simulators.conftest import _FAST
from tests.simulators.fake_csms import FakeCSMS

PASSWORD = "a-long-enough-password"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> PkiDirectory:
    return PkiDirectory(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tls_csms(ca: PkiDirectory) -> AsyncIterator[FakeCSMS]:
    """wss, client certificates optional (profiles 2 and 3 on one port), CSRs signed."""
    async with FakeCSMS(ssl=ca.server_context(), signer=ca.sign_csr) as server:
        yield server


@pytest.fixture
async def strict_csms(ca: PkiDirectory) -> AsyncIterator[FakeCSMS]:
    """wss that requires a client certificate from the test CA at the handshake."""
    async with FakeCSMS(ssl=ca.server_context(client_cert="required")) as server:
        yield server


Build = Callable[..., Any]


@pytest.fixture
async def build(tmp_path: Path) -> AsyncIterator[Build]:
    """Build (not connect) chargers; each gets its own store under tmp_path; all closed."""
    created: list[Station] = []

    def make(cls: type[Station], csms: FakeCSMS, identity: str, **options: Any) -> Any:
        options.setdefault("certificates", CertificateStore(tmp_path / identity))
        station = cls(url=csms.url, identity=identity, **(_FAST | options))
        created.append(station)
        return station

    yield make
    for station in created:
        await station.close()


def _basic(identity: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()


# -- wss, trusted CA, client certificates -------------------------------------------------------


@pytest.mark.parametrize("cls", [ChargePoint16, ChargePoint201])
async def test_profile_2_charger_boots_over_wss_trusting_the_ca_with_basic_auth(
    tls_csms: FakeCSMS, ca: PkiDirectory, build: Build, cls: type[Station]
) -> None:
    cp = build(
        cls,
        tls_csms,
        "P2",
        password=PASSWORD,
        security_profile=2,
        tls=TlsClient(ca_file=ca.ca_path),
    )
    await cp.connect()
    await cp.boot()
    assert cp.accepted
    assert tls_csms.auth_headers == [_basic("P2", PASSWORD)]
    assert tls_csms.client_cns == [None]


async def test_profile_3_charger_presents_its_certificate_and_sends_no_password(
    tls_csms: FakeCSMS, ca: PkiDirectory, build: Build, tmp_path: Path
) -> None:
    cert, key = ca.client_certificate("P3", directory=tmp_path)
    tls = TlsClient(ca_file=ca.ca_path, cert_file=cert, key_file=key)
    cp = build(ChargePoint16, tls_csms, "P3", password=PASSWORD, security_profile=3, tls=tls)
    await cp.connect()
    await cp.boot()
    # 2.0.1 A00 / 1.6 whitepaper profile 3: the certificate is the credential.
    assert tls_csms.client_cns == ["P3"]
    assert tls_csms.auth_headers == [None]


async def test_a_reconnect_resumes_the_tls_session(
    tls_csms: FakeCSMS, ca: PkiDirectory, build: Build
) -> None:
    tls = TlsClient(ca_file=ca.ca_path)
    cp = build(ChargePoint16, tls_csms, "RES", password=PASSWORD, security_profile=2, tls=tls)
    await cp.connect()
    await cp.boot()
    await tls_csms.disconnect("RES")
    await tls_csms.wait_until(lambda: len(tls_csms.connects) == 2)
    await cp.wait_ready(timeout=5)
    assert tls.resumed == 1


async def test_an_untrusted_server_certificate_names_the_url_and_says_ca(
    tls_csms: FakeCSMS, build: Build
) -> None:
    cp = build(ChargePoint16, tls_csms, "NOCA", password=PASSWORD, security_profile=2)
    with pytest.raises(HandshakeFailed) as refused:
        await cp.connect()
    message = str(refused.value)
    assert tls_csms.url + "/NOCA" in message
    assert "not trusted" in message and "--ca FILE" in message
    assert tls_csms.connects == []


async def test_a_server_that_requires_a_client_certificate_refuses_a_charger_without_one(
    strict_csms: FakeCSMS, ca: PkiDirectory, build: Build
) -> None:
    tls = TlsClient(ca_file=ca.ca_path)
    cp = build(ChargePoint16, strict_csms, "NOCERT", password=PASSWORD, tls=tls)
    with pytest.raises(HandshakeFailed) as refused:
        await cp.connect()
    assert "client certificate" in str(refused.value)
    assert strict_csms.connects == []


async def test_an_expired_client_certificate_is_refused_with_a_message_saying_so(
    strict_csms: FakeCSMS, ca: PkiDirectory, build: Build, tmp_path: Path
) -> None:
    cert, key = ca.client_certificate("OLD", expired=True, directory=tmp_path)
    tls = TlsClient(ca_file=ca.ca_path, cert_file=cert, key_file=key)
    cp = build(ChargePoint16, strict_csms, "OLD", security_profile=3, tls=tls)
    with pytest.raises(HandshakeFailed) as refused:
        await cp.connect()
    assert re.search("refused? the client certificate", str(refused.value))
    assert strict_csms.connects == []


def test_a_ca_file_that_is_not_pem_or_missing_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(TlsSetupError, match=r"--ca .*junk.pem: not a PEM file of CA"):
        TlsClient(ca_file=junk)
    with pytest.raises(TlsSetupError, match=r"--ca .*absent.pem: no such file"):
        TlsClient(ca_file=tmp_path / "absent.pem")


def test_a_key_that_does_not_fit_the_certificate_is_a_clear_error(
    ca: PkiDirectory, tmp_path: Path
) -> None:
    cert, _ = ca.client_certificate("A", directory=tmp_path)
    _, other_key = ca.client_certificate("B", directory=tmp_path)
    with pytest.raises(TlsSetupError, match=r"--cert .* / --key .*: not a PEM certificate"):
        TlsClient(ca_file=ca.ca_path, cert_file=cert, key_file=other_key)


async def test_profile_2_on_a_plain_ws_url_is_refused_before_connecting(
    csms: FakeCSMS, build: Build
) -> None:
    cp = build(ChargePoint16, csms, "X", password=PASSWORD, security_profile=2)
    # 1.6 security whitepaper / 2.0.1 A00: never the password over plain ws://.
    with pytest.raises(HandshakeFailed, match="security profile 2 needs a wss:// URL"):
        await cp.connect()
    assert csms.connects == [] and csms.auth_headers == []


# -- CSR, CertificateSigned, renewal ------------------------------------------------------------


@pytest.mark.parametrize("cls", [ChargePoint16, ChargePoint201])
async def test_a_csr_is_signed_and_the_certificate_installed_in_the_state_directory(
    tls_csms: FakeCSMS, ca: PkiDirectory, build: Build, cls: type[Station], tmp_path: Path
) -> None:
    tls = TlsClient(ca_file=ca.ca_path)
    cp = build(cls, tls_csms, "CSR1", password=PASSWORD, security_profile=2, tls=tls)
    await cp.connect()
    await cp.boot()
    await cp.obtain_certificate(timeout=5)  # type: ignore[attr-defined]

    [sign] = tls_csms.of("SignCertificate")
    csr = x509.load_pem_x509_csr(sign.payload["csr"].encode())
    assert csr.is_signature_valid
    # 1.6 security whitepaper / 2.0.1 A02: CN = identity, O = the organization.
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CSR1"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "csms"
    if cls is ChargePoint201:
        assert sign.payload["certificateType"] == "ChargingStationCertificate"
    else:
        assert set(sign.payload) == {"csr"}
    await tls_csms.wait_until(lambda: len(tls_csms.certificate_signed_answers) == 1)
    assert tls_csms.certificate_signed_answers == [{"status": "Accepted"}]
    store = tmp_path / "CSR1"
    leaf = x509.load_pem_x509_certificates((store / "client.pem").read_bytes())[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CSR1"
    assert stat.S_IMODE((store / "client.key").stat().st_mode) == 0o600
    assert not (store / "pending.key").exists()
    assert tls.has_client_certificate


async def test_a_certificate_for_another_key_is_rejected_with_a_security_event(
    tls_csms: FakeCSMS, ca: PkiDirectory, build: Build, tmp_path: Path
) -> None:
    cp = build(
        ChargePoint201, tls_csms, "CS9", password=PASSWORD, security_profile=2,
        tls=TlsClient(ca_file=ca.ca_path), organization="csms",
    )  # fmt: skip
    await cp.connect()
    await cp.boot()
    tls_csms.rules["SignCertificate"] = lambda identity, payload: {"status": "Accepted"}
    assert await cp.request_certificate() == "Accepted"
    foreign = CertificateStore(tmp_path / "other").new_csr(identity="CS9", organization="csms")
    answer = await tls_csms.call(
        "CS9", "CertificateSigned", {"certificateChain": ca.sign_csr(foreign)}
    )
    assert answer == {"status": "Rejected"}
    [event] = await tls_csms.wait_for("SecurityEventNotification")
    assert event.payload["type"] == "InvalidChargingStationCertificate"
    assert not (tmp_path / "CS9" / "client.pem").exists()


async def test_a_certificate_signed_without_a_pending_csr_is_rejected(
    tls_csms: FakeCSMS, ca: PkiDirectory, build: Build, tmp_path: Path
) -> None:
    cp = build(ChargePoint16, tls_csms, "CP7", password=PASSWORD, tls=TlsClient(ca_file=ca.ca_path))
    await cp.connect()
    await cp.boot()
    csr = CertificateStore(tmp_path / "x").new_csr(identity="CP7", organization="csms")
    answer = await tls_csms.call("CP7", "CertificateSigned", {"certificateChain": ca.sign_csr(csr)})
    assert answer == {"status": "Rejected"}
    [event] = await tls_csms.wait_for("SecurityEventNotification")
    assert event.payload["type"] == "InvalidChargePointCertificate"


@pytest.mark.parametrize(
    ("cls", "action", "payload"),
    [
        (
            ChargePoint16,
            "ExtendedTriggerMessage",
            {"requestedMessage": "SignChargePointCertificate"},
        ),
        (ChargePoint201, "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}),
    ],
)
async def test_a_trigger_for_a_new_certificate_sends_a_new_csr_and_installs_the_renewal(
    tls_csms: FakeCSMS,
    ca: PkiDirectory,
    build: Build,
    tmp_path: Path,
    cls: type[Station],
    action: str,
    payload: dict[str, Any],
) -> None:
    cp = build(
        cls, tls_csms, "REN", password=PASSWORD, security_profile=2,
        tls=TlsClient(ca_file=ca.ca_path),
    )  # fmt: skip
    await cp.connect()
    await cp.boot()
    await cp.obtain_certificate(timeout=5)  # type: ignore[attr-defined]
    first = (tmp_path / "REN" / "client.pem").read_bytes()

    # 1.6 security whitepaper (ExtendedTriggerMessage), 2.0.1 A03 (renewal by the CSMS).
    assert await tls_csms.call("REN", action, payload) == {"status": "Accepted"}
    await tls_csms.wait_for("SignCertificate", 2)
    await tls_csms.wait_until(lambda: len(tls_csms.certificate_signed_answers) == 2)
    assert tls_csms.certificate_signed_answers == [{"status": "Accepted"}] * 2
    csrs = [
        x509.load_pem_x509_csr(r.payload["csr"].encode()) for r in tls_csms.of("SignCertificate")
    ]
    assert csrs[0].public_key() != csrs[1].public_key()  # a new key each time
    assert (tmp_path / "REN" / "client.pem").read_bytes() != first


def _profile_2_until_raised(identity: str, auth: str | None, cn: str | None) -> int | None:
    """A CSMS that requires profile 2 (Basic auth) of every charger, as csms does of one
    whose profile was not raised yet."""
    return None if auth is not None else 401


async def test_profile_3_dance_stays_on_profile_2_while_the_csms_requires_it_then_moves_up(
    tls_csms: FakeCSMS, ca: PkiDirectory, build: Build
) -> None:
    tls_csms.refuse = _profile_2_until_raised
    cp = build(
        ChargePoint16, tls_csms, "UP3", password=PASSWORD, security_profile=2,
        tls=TlsClient(ca_file=ca.ca_path),
    )  # fmt: skip
    told: list[str] = []
    script = SessionScript(cp, stay=True, get_certificate=True, on_progress=told.append)
    run = asyncio.create_task(script.run())
    try:
        await tls_csms.wait_until(lambda: len(tls_csms.connects) == 2, timeout=10)
        # Refused on profile 3 (certificate, no password): back on profile 2 with it.
        assert tls_csms.refused_handshakes == ["UP3"]
        assert tls_csms.client_cns == [None, "UP3"]
        assert tls_csms.auth_headers == [_basic("UP3", PASSWORD)] * 2
        assert any("still requires security profile 2" in line for line in told)
        await cp.wait_ready(timeout=5)
        # The CSMS raises it (1.6 security whitepaper): it reconnects with profile 3.
        tls_csms.refuse = None
        change = {"key": "SecurityProfile", "value": "3"}
        assert await tls_csms.call("UP3", "ChangeConfiguration", change) == {"status": "Accepted"}
        await tls_csms.wait_until(lambda: len(tls_csms.connects) == 3)
        assert (tls_csms.client_cns[-1], tls_csms.auth_headers[-1]) == ("UP3", None)
        assert cp.configuration["SecurityProfile"] == "3"
    finally:
        script.request_stop()
        outcome = await asyncio.wait_for(run, 10)
    assert outcome.error is None


# -- root certificates: install, list, delete ----------------------------------------------------


def _expected_hash_data(certificate: x509.Certificate) -> dict[str, str]:
    """OCPP hash data computed independently: SHA-256 of the issuer name DER and of the
    issuer's public key bits (a root: its own), serial in hex."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_bits = spki[-65:]  # an EC P-256 point: the BIT STRING's last 65 bytes
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": hashlib.sha256(certificate.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": hashlib.sha256(key_bits).hexdigest(),
        "serialNumber": format(certificate.serial_number, "x"),
    }


@pytest.mark.parametrize(
    ("cls", "root_type", "list_payload"),
    [
        (ChargePoint16, "CentralSystemRootCertificate",
         {"certificateType": "CentralSystemRootCertificate"}),
        (ChargePoint201, "CSMSRootCertificate", {"certificateType": ["CSMSRootCertificate"]}),
    ],
)  # fmt: skip
async def test_root_certificates_are_installed_listed_and_deleted(
    csms: FakeCSMS,
    ca: PkiDirectory,
    build: Build,
    cls: type[Station],
    root_type: str,
    list_payload: dict[str, Any],
) -> None:
    cp = build(cls, csms, "ROOTS")
    await cp.connect()
    await cp.boot()
    pem = ca.certificate.public_bytes(serialization.Encoding.PEM).decode()

    assert await csms.call("ROOTS", "GetInstalledCertificateIds", list_payload) == {
        "status": "NotFound"
    }
    install = {"certificateType": root_type, "certificate": pem}
    assert await csms.call("ROOTS", "InstallCertificate", install) == {"status": "Accepted"}
    listed = await csms.call("ROOTS", "GetInstalledCertificateIds", list_payload)
    expected = _expected_hash_data(ca.certificate)
    assert listed["status"] == "Accepted"
    if cls is ChargePoint16:
        assert listed["certificateHashData"] == [expected]
    else:
        assert listed["certificateHashDataChain"] == [
            {"certificateType": root_type, "certificateHashData": expected}
        ]
    # Trusted for the CSMS's server certificate from the next connection on.
    assert cp.tls is None or [str(p) for p in cp.tls.extra_roots]

    delete = {"certificateHashData": expected | {"serialNumber": expected["serialNumber"].upper()}}
    assert await csms.call("ROOTS", "DeleteCertificate", delete) == {"status": "Accepted"}
    assert await csms.call("ROOTS", "DeleteCertificate", delete) == {"status": "NotFound"}
    assert (await csms.call("ROOTS", "GetInstalledCertificateIds", list_payload))["status"] == (
        "NotFound"
    )


async def test_an_installed_csms_root_is_trusted_for_the_server_certificate(
    csms: FakeCSMS, tls_csms: FakeCSMS, ca: PkiDirectory, build: Build
) -> None:
    cp = build(ChargePoint16, csms, "TRUST", password=PASSWORD)  # ws://, no --ca at all
    await cp.connect()
    await cp.boot()
    pem = ca.certificate.public_bytes(serialization.Encoding.PEM).decode()
    install = {"certificateType": "CentralSystemRootCertificate", "certificate": pem}
    assert await csms.call("TRUST", "InstallCertificate", install) == {"status": "Accepted"}
    # Moved to the wss endpoint: the server certificate chains to the installed root.
    await cp.reconnect_with(url=tls_csms.url, security_profile=2, timeout=5)
    assert tls_csms.connects == ["TRUST"]
    assert tls_csms.auth_headers == [_basic("TRUST", PASSWORD)]


async def test_a_leaf_or_garbage_is_not_installed_as_a_root(
    csms: FakeCSMS, ca: PkiDirectory, build: Build, tmp_path: Path
) -> None:
    cp = build(ChargePoint201, csms, "BAD")
    await cp.connect()
    await cp.boot()
    leaf_path, _ = ca.client_certificate("BAD", directory=tmp_path)
    leaf = x509.load_pem_x509_certificates(leaf_path.read_bytes())[0]
    for certificate in (
        leaf.public_bytes(serialization.Encoding.PEM).decode(),
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    ):
        install = {"certificateType": "CSMSRootCertificate", "certificate": certificate}
        assert await csms.call("BAD", "InstallCertificate", install) == {"status": "Rejected"}
    assert (await csms.call("BAD", "GetInstalledCertificateIds", {}))["status"] == "NotFound"


async def test_the_chargers_own_certificate_cannot_be_deleted(
    tls_csms: FakeCSMS, ca: PkiDirectory, build: Build
) -> None:
    cp = build(
        ChargePoint201, tls_csms, "OWN", password=PASSWORD, security_profile=2,
        tls=TlsClient(ca_file=ca.ca_path),
    )  # fmt: skip
    await cp.connect()
    await cp.boot()
    await cp.obtain_certificate(timeout=5)
    leaf = cp.certificates.client_certificate()
    assert leaf is not None
    own = _expected_hash_data(leaf) | {
        "issuerNameHash": hashlib.sha256(leaf.issuer.public_bytes()).hexdigest(),
        "issuerKeyHash": _expected_hash_data(ca.certificate)["issuerKeyHash"],
    }
    answer = await tls_csms.call("OWN", "DeleteCertificate", {"certificateHashData": own})
    assert answer == {"status": "Failed"}  # 2.0.1 M04
    # The CA that signed it, installed as the CSMS root, can still be deleted.
    pem = ca.certificate.public_bytes(serialization.Encoding.PEM).decode()
    install = {"certificateType": "CSMSRootCertificate", "certificate": pem}
    assert await tls_csms.call("OWN", "InstallCertificate", install) == {"status": "Accepted"}
    root = {"certificateHashData": _expected_hash_data(ca.certificate)}
    assert await tls_csms.call("OWN", "DeleteCertificate", root) == {"status": "Accepted"}


# -- credentials and security profile changes ----------------------------------------------------


async def test_1_6_authorization_key_becomes_the_password_of_the_next_connection(
    csms: FakeCSMS, build: Build
) -> None:
    cp = build(ChargePoint16, csms, "AK", password="old-password-123")
    await cp.connect()
    await cp.boot()
    new = "new-password-4567"
    answer = await csms.call(
        "AK", "ChangeConfiguration", {"key": "AuthorizationKey", "value": new.encode().hex()}
    )
    assert answer == {"status": "Accepted"}
    await csms.wait_until(lambda: len(csms.connects) == 2)
    assert csms.auth_headers == [_basic("AK", "old-password-123"), _basic("AK", new)]


async def test_1_6_security_profile_3_is_taken_once_a_certificate_is_installed(
    tls_csms: FakeCSMS, ca: PkiDirectory, build: Build
) -> None:
    cp = build(
        ChargePoint16, tls_csms, "UP", password=PASSWORD, security_profile=2,
        tls=TlsClient(ca_file=ca.ca_path),
    )  # fmt: skip
    await cp.connect()
    await cp.boot()
    change = {"key": "SecurityProfile", "value": "3"}
    # No client certificate yet: Rejected (1.6 security whitepaper).
    assert await tls_csms.call("UP", "ChangeConfiguration", change) == {"status": "Rejected"}
    await cp.obtain_certificate(timeout=5)
    assert await tls_csms.call("UP", "ChangeConfiguration", change) == {"status": "Accepted"}
    await tls_csms.wait_until(lambda: len(tls_csms.connects) == 2)
    assert tls_csms.client_cns[-1] == "UP" and tls_csms.auth_headers[-1] is None
    lower = {"key": "SecurityProfile", "value": "2"}
    await tls_csms.wait_connected("UP")
    assert await tls_csms.call("UP", "ChangeConfiguration", lower) == {"status": "Rejected"}


async def test_2_0_1_set_network_profile_is_used_after_the_reset(
    csms: FakeCSMS, tls_csms: FakeCSMS, ca: PkiDirectory, build: Build
) -> None:
    cp = build(ChargePoint201, csms, "NP", password=PASSWORD, tls=TlsClient(ca_file=ca.ca_path))
    await cp.connect()
    await cp.boot()
    profile = {
        "configurationSlot": 1,
        "connectionData": {
            "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": tls_csms.url,
            "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0",
        },
    }  # fmt: skip
    assert await csms.call("NP", "SetNetworkProfile", profile) == {"status": "Accepted"}
    downgrade = profile | {"connectionData": profile["connectionData"] | {"securityProfile": 0}}
    assert await csms.call("NP", "SetNetworkProfile", downgrade) == {"status": "Rejected"}
    priority = {
        "setVariableData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "NetworkConfigurationPriority"},
                "attributeValue": "1,0",
            }
        ]
    }
    answer = await csms.call("NP", "SetVariables", priority)
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert await csms.call("NP", "Reset", {"type": "Immediate"}) == {"status": "Accepted"}
    # A05: after the reset, the new profile: the wss endpoint, Basic auth over TLS.
    await tls_csms.wait_for("BootNotification", timeout=10)
    assert tls_csms.auth_headers == [_basic("NP", PASSWORD)]
    assert cp.security_profile == 2
