"""SignCertificate → CertificateSigned over real sockets, on OCPP 1.6 (security extension,
whitepaper edition 3 A02/A03) and 2.0.1 (A02/A03): csms's CA signs a good CSR, answers
Accepted and only then sends the chain; a bad CSR, a missing CA or a V2G request is
answered Rejected and nothing is issued."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from csms.adapters.v16 import inbound as v16
from csms.adapters.v201 import inbound as v201
from csms.config import Settings
from csms.domain.charging.stations import add_charger
from csms.domain.security.issued_certificates import (
    CERTIFICATE_SIGNED_REJECTED_EVENT,
    CSR_REJECTED_EVENT,
)
from csms.gateway import Gateway
from protocol import OCPPVersion
from protocol.validation import validator_for
from storage.database import Database
from tests.gateway.conftest import NOW, PASSWORD, basic_auth
from tests.pki import Issued, csms_ca, csr_pem, rsa_key, verify_chain, write_ca
from tests.waiting import eventually

#: The charger of each version: (identity, subprotocol).
CHARGERS = {"1.6": ("CP1", "ocpp1.6"), "2.0.1": ("CS1", "ocpp2.0.1")}
VALIDATORS = {"1.6": validator_for(OCPPVersion.V16), "2.0.1": validator_for(OCPPVersion.V201)}


@dataclass
class Home:
    settings: Settings

    def install_ca(self) -> Issued:
        ca = csms_ca()
        write_ca(self.settings.home, ca)
        return ca


@pytest.fixture
def home(settings_factory: Callable[..., Settings]) -> Home:
    return Home(settings_factory())


@pytest.fixture
async def gateway(sqlite_db: Database, home: Home) -> AsyncIterator[Gateway]:
    for charger_id, _ in CHARGERS.values():
        await sqlite_db.write(
            lambda uow, cid=charger_id: add_charger(uow, charger_id=cid, now=NOW, password=PASSWORD)
        )
    gw = Gateway(
        db=sqlite_db,
        settings=home.settings,
        handlers={OCPPVersion.V201: v201.HANDLERS, OCPPVersion.V16: v16.HANDLERS},
    )
    await gw.start()
    yield gw
    await gw.stop()


class Charger:
    """A bare charger of either version: sends CALLs, reads every frame csms sends."""

    def __init__(self, ws: ClientConnection, version: str) -> None:
        self.ws = ws
        self.version = version
        self._ids = itertools.count(1)

    async def send_call(self, action: str, payload: dict[str, Any]) -> str:
        unique_id = f"c{next(self._ids)}"
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        return unique_id

    async def frame(self) -> list[Any]:
        return list(json.loads(await self.ws.recv()))

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        unique_id = await self.send_call(action, payload)
        answer = await self.frame()
        assert answer[:2] == [3, unique_id], answer
        VALIDATORS[self.version].validate_response(action, answer[2])
        return dict(answer[2])

    async def boot(self) -> None:
        payload: dict[str, Any] = (
            {"chargePointVendor": "Acme", "chargePointModel": "Wallbox 1"}
            if self.version == "1.6"
            else {"reason": "PowerUp", "chargingStation": {"vendorName": "Acme", "model": "W2"}}
        )
        assert (await self.call("BootNotification", payload))["status"] == "Accepted"

    async def certificate_signed(self, status: str = "Accepted") -> dict[str, Any]:
        """Read csms's CertificateSigned CALL and answer it with ``status``; its payload."""
        frame = await self.frame()
        assert frame[0] == 2 and frame[2] == "CertificateSigned", frame
        VALIDATORS[self.version].validate_request("CertificateSigned", frame[3])
        await self.ws.send(json.dumps([3, frame[1], {"status": status}]))
        return dict(frame[3])


@pytest.fixture(params=sorted(CHARGERS))
async def charger(request: pytest.FixtureRequest, gateway: Gateway) -> AsyncIterator[Charger]:
    version = request.param
    identity, subprotocol = CHARGERS[version]
    async with connect(
        f"ws://127.0.0.1:{gateway.port}/ocpp/{identity}",
        subprotocols=[Subprotocol(subprotocol)],
        additional_headers=basic_auth(identity, PASSWORD),
    ) as ws:
        connected = Charger(ws, version)
        await connected.boot()
        yield connected


def identity(charger: Charger) -> str:
    return CHARGERS[charger.version][0]


async def test_a_good_csr_is_accepted_then_certificate_signed_brings_a_chain_of_csms_ca(
    charger: Charger, home: Home, sqlite_db: Database
) -> None:
    # 1.6 whitepaper / 2.0.1 A02.FR.11, A03.FR.11: Accepted; then CertificateSigned.
    ca = home.install_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    request: dict[str, Any] = {"csr": csr_pem(key, cn=identity(charger))}
    if charger.version == "2.0.1":
        request["certificateType"] = "ChargingStationCertificate"
    # The answer comes first; the CALL after it (Charger.call fails on anything else).
    assert await charger.call("SignCertificate", request) == {"status": "Accepted"}
    signed = await charger.certificate_signed()
    leaf = verify_chain(signed["certificateChain"], ca.certificate)
    assert leaf.public_key() == key.public_key()
    if charger.version == "2.0.1":
        # 2.0.1 A02.FR.14: the certificateType of the request.
        assert signed["certificateType"] == "ChargingStationCertificate"
    (row,) = await sqlite_db.read(
        lambda uow: uow.issued_certificates.list(charger_id=identity(charger))
    )
    assert int(row.serial, 16) == leaf.serial_number
    assert row.certificate_type == "ChargingStationCertificate"
    assert row.not_after == leaf.not_valid_after_utc
    assert row.subject == f"CN={identity(charger)},O=csms"
    assert x509.load_pem_x509_certificate(row.pem.encode()) == leaf
    # The charger's Accepted is no security event.
    assert await sqlite_db.read(lambda uow: uow.security_events.list()) == []


async def test_a_csr_for_another_charger_is_rejected_recorded_and_nothing_is_issued(
    charger: Charger, home: Home, sqlite_db: Database
) -> None:
    # 1.6 whitepaper / 2.0.1 A02.FR.12: Rejected when csms cannot process it.
    home.install_ca()
    answer = await charger.call("SignCertificate", {"csr": csr_pem(cn="SOMEONE-ELSE")})
    assert answer["status"] == "Rejected"
    reason = f"CN is 'SOMEONE-ELSE', expected the charger's identity '{identity(charger)}'"
    if charger.version == "2.0.1":
        assert answer["statusInfo"] == {"reasonCode": "InvalidCSR", "additionalInfo": reason}
    (event,) = await sqlite_db.read(lambda uow: uow.security_events.list(kind=CSR_REJECTED_EVENT))
    assert event.charger_id == identity(charger)
    assert event.details == {"reason": reason, "certificate_type": "ChargingStationCertificate"}
    assert await sqlite_db.read(lambda uow: uow.issued_certificates.list()) == []
    # Nothing follows the answer: the next frame is the answer to the next CALL.
    assert (await charger.call("Heartbeat", {}))["currentTime"]


async def test_a_weak_key_is_rejected_with_the_reason_and_no_key_material_is_kept(
    charger: Charger, home: Home, sqlite_db: Database
) -> None:
    home.install_ca()
    pem = csr_pem(rsa_key(1024), cn=identity(charger))
    answer = await charger.call("SignCertificate", {"csr": pem})
    assert answer["status"] == "Rejected"
    (event,) = await sqlite_db.read(lambda uow: uow.security_events.list(kind=CSR_REJECTED_EVENT))
    assert event.details["reason"] == "RSA key of 1024 bits is too weak: at least 2048 bits"
    body = pem.splitlines()[1]
    assert body not in json.dumps(event.details)


async def test_without_a_ca_a_good_csr_is_rejected_and_the_log_says_to_run_ca_init(
    charger: Charger, sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await charger.call("SignCertificate", {"csr": csr_pem(cn=identity(charger))})
    assert answer["status"] == "Rejected"
    if charger.version == "2.0.1":
        assert answer["statusInfo"]["reasonCode"] == "NotEnabled"
    assert "run `csms ca init`" in caplog.text
    assert await sqlite_db.read(lambda uow: uow.issued_certificates.list()) == []
    assert (await charger.call("Heartbeat", {}))["currentTime"]


async def test_the_charger_rejecting_the_certificate_is_recorded_as_a_security_event(
    charger: Charger, home: Home, sqlite_db: Database
) -> None:
    home.install_ca()
    assert (await charger.call("SignCertificate", {"csr": csr_pem(cn=identity(charger))}))[
        "status"
    ] == "Accepted"
    await charger.certificate_signed("Rejected")
    (event,) = await eventually(
        lambda: sqlite_db.read(
            lambda uow: uow.security_events.list(kind=CERTIFICATE_SIGNED_REJECTED_EVENT)
        )
    )
    (row,) = await sqlite_db.read(lambda uow: uow.issued_certificates.list())
    assert event.charger_id == identity(charger)
    assert event.details == {
        "serial": row.serial,
        "certificate_type": "ChargingStationCertificate",
    }


async def test_a_ca_installed_while_running_is_used_at_the_next_csr(
    charger: Charger, home: Home
) -> None:
    pem = csr_pem(cn=identity(charger))
    assert (await charger.call("SignCertificate", {"csr": pem}))["status"] == "Rejected"
    ca = home.install_ca()  # `csms ca init` on a running server
    assert (await charger.call("SignCertificate", {"csr": pem}))["status"] == "Accepted"
    verify_chain((await charger.certificate_signed())["certificateChain"], ca.certificate)


async def test_a_v2g_certificate_request_is_rejected_saying_csms_signs_charging_station_ones(
    gateway: Gateway, home: Home, sqlite_db: Database
) -> None:
    home.install_ca()
    async with connect(
        f"ws://127.0.0.1:{gateway.port}/ocpp/CS1",
        subprotocols=[Subprotocol("ocpp2.0.1")],
        additional_headers=basic_auth("CS1", PASSWORD),
    ) as ws:
        station = Charger(ws, "2.0.1")
        await station.boot()
        answer = await station.call(
            "SignCertificate", {"csr": csr_pem(cn="CS1"), "certificateType": "V2GCertificate"}
        )
    assert answer == {
        "status": "Rejected",
        "statusInfo": {
            "reasonCode": "UnsupportedRequest",
            "additionalInfo": "this CSMS signs ChargingStationCertificate CSRs only, "
            "not V2GCertificate",
        },
    }
    assert await sqlite_db.read(lambda uow: uow.issued_certificates.list()) == []
