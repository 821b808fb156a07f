"""Security profiles over real TLS on 127.0.0.1, both OCPP versions: every row of the SPEC
table ("Security profiles and certificates"), the downgrade guard, profile 3 client
certificates, TLS handshake refusals, and raising a pending profile.

One gateway (ws and wss listeners, csms's CA made by ``init_ca`` plus a second CA in
CSMS_TLS_CLIENT_CA) serves the whole module; each test provisions its own chargers.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage, InvalidStatus

from csms.adapters.v16 import inbound as v16
from csms.adapters.v201 import inbound as v201
from csms.domain.charging.stations import add_charger
from csms.domain.security.ca import ca_files, init_ca
from csms.domain.security.profiles import CONNECTION_REFUSED_EVENT, PROFILE_RAISED_EVENT
from csms.gateway import Gateway
from csms.tls import server_context
from protocol import OCPPVersion
from storage.database import Database
from storage.migrate import upgrade
from storage.records import SecurityEventRecord
from tests.conftest import make_settings
from tests.gateway.conftest import PASSWORD, RawCharger, basic_auth
from tests.pki import (
    Issued,
    ago,
    client_context,
    from_now,
    load_issued,
    make_ca,
    make_leaf,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

VERSIONS = ["ocpp1.6", "ocpp2.0.1"]
_ids = itertools.count(1)


@dataclass
class Site:
    """The module's gateway and what tests need to reach it."""

    gateway: Gateway
    db: Database
    home: Path
    files: Path  # where tests write client certificate files
    ca: Issued  # csms's CA (ca.pem / ca.key under the home)
    partner_ca: Issued  # a CA of CSMS_TLS_CLIENT_CA
    trust: Path  # what clients trust: csms's ca.pem (it signed the server certificate)

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}/ocpp"

    @property
    def wss(self) -> str:
        return f"wss://localhost:{self.gateway.tls_port}/ocpp"

    def context(self, certificate: Issued | None = None) -> ssl.SSLContext:
        return client_context(trust=self.trust, certificate=certificate, directory=self.files)

    async def add(self, profile: int, *, pending: int | None = None) -> str:
        charger_id = f"TLS{next(_ids)}"
        now = datetime.now(UTC)
        await self.db.write(
            lambda uow: add_charger(
                uow, charger_id=charger_id, now=now, password=PASSWORD, security_profile=profile
            )
        )
        if pending is not None:
            await self.db.write(
                lambda uow: uow.chargers.update(charger_id, pending_security_profile=pending)
            )
        return charger_id

    async def events(self, charger_id: str) -> list[SecurityEventRecord]:
        rows = await self.db.read(lambda uow: uow.security_events.list())
        return [row for row in rows if row.charger_id == charger_id]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    root = tmp_path_factory.mktemp("tls")
    home = root / "home"
    init_ca(home, hostnames=["localhost", "127.0.0.1"], now=datetime.now(UTC))
    partner = make_ca("Partner charging-station CA")
    partner_file = root / "partner-ca.pem"
    partner_file.write_bytes(partner.cert_pem())
    settings = make_settings(home, tls_port=0, tls_client_ca=partner_file)
    context = server_context(settings)
    assert context is not None
    url = f"sqlite+aiosqlite:///{root}/csms.sqlite3"
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    gateway = Gateway(
        db=db,
        settings=settings,
        handlers={OCPPVersion.V16: v16.HANDLERS, OCPPVersion.V201: v201.HANDLERS},
        tls=context,
    )
    await gateway.start()
    files = ca_files(home)
    try:
        yield Site(
            gateway=gateway,
            db=db,
            home=home,
            files=root / "clients",
            ca=load_issued(files.ca_cert, files.ca_key),
            partner_ca=partner,
            trust=files.ca_cert,
        )
    finally:
        await gateway.stop()
        await db.close()


async def _connects(url: str, version: str, **kwargs: Any) -> str:
    """Connect, boot, and return the BootNotification status (proves frames flow)."""
    async with connect(url, subprotocols=[version], **kwargs) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == version
        if version == "ocpp1.6":
            answer = await RawCharger(ws).boot()
        else:
            answer = await RawCharger(ws).call(
                "BootNotification",
                {
                    "reason": "PowerUp",
                    "chargingStation": {"vendorName": "Acme", "model": "Wallbox 2"},
                },
            )
        return str(answer[2]["status"])


async def _status(url: str, version: str, **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, subprotocols=[version], **kwargs):  # type: ignore[list-item]
            pass
    return info.value.response.status_code


async def _tls_refused(url: str, version: str, context: ssl.SSLContext) -> BaseException:
    """Connect expecting the TLS handshake to fail; the client's exception (with TLS 1.3
    the client may finish its part first and see the server hang up on its request)."""
    with pytest.raises((ssl.SSLError, ConnectionError, InvalidMessage)) as info:
        async with connect(url, subprotocols=[version], ssl=context):  # type: ignore[list-item]
            pass
    return info.value


# -- profile 1 --------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_profile_1_charger_connects_on_ws_and_on_wss_with_its_password(
    site: Site, version: str
) -> None:
    charger = await site.add(1)
    auth = basic_auth(charger, PASSWORD)
    assert await _connects(f"{site.ws}/{charger}", version, additional_headers=auth) == "Accepted"
    assert (
        await _connects(
            f"{site.wss}/{charger}", version, additional_headers=auth, ssl=site.context()
        )
        == "Accepted"
    )


@pytest.mark.parametrize("version", VERSIONS)
async def test_profile_1_charger_with_a_wrong_password_is_refused_with_401_on_ws_and_wss(
    site: Site, version: str
) -> None:
    charger = await site.add(1)
    wrong = basic_auth(charger, "not-the-password")
    assert await _status(f"{site.ws}/{charger}", version, additional_headers=wrong) == 401
    assert (
        await _status(
            f"{site.wss}/{charger}", version, additional_headers=wrong, ssl=site.context()
        )
        == 401
    )


# -- profile 2 --------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_profile_2_charger_connects_on_wss_with_its_password(
    site: Site, version: str
) -> None:
    charger = await site.add(2)
    auth = basic_auth(charger, PASSWORD)
    url = f"{site.wss}/{charger}"
    assert await _connects(url, version, additional_headers=auth, ssl=site.context()) == "Accepted"
    assert await _status(url, version, ssl=site.context()) == 401  # no password: refused


@pytest.mark.parametrize("version", VERSIONS)
async def test_profile_2_charger_on_plain_ws_is_refused_with_401_and_a_security_event(
    site: Site, version: str
) -> None:
    """1.6 security whitepaper / 2.0.1 A00: profile 2 is TLS only; the downgrade to ws is
    refused before the password is even checked, and the event never holds it."""
    charger = await site.add(2)
    auth = basic_auth(charger, PASSWORD)
    assert await _status(f"{site.ws}/{charger}", version, additional_headers=auth) == 401
    assert not site.gateway.is_connected(charger)
    events = await site.events(charger)
    assert [e.kind for e in events] == [CONNECTION_REFUSED_EVENT]
    details = events[0].details
    assert details["reason"] == "profile 2 requires TLS (wss://)"
    assert details["transport"] == "ws"
    assert details["credentials_sent_in_clear"] is True
    assert PASSWORD not in repr(details)
    assert auth["Authorization"].split()[1] not in repr(details)


async def test_repeated_refusals_of_one_charger_store_one_event_per_while(site: Site) -> None:
    charger = await site.add(2)
    for _ in range(3):
        assert await _status(f"{site.ws}/{charger}", "ocpp1.6") == 401
    assert len(await site.events(charger)) == 1


# -- profile 3 --------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_profile_3_charger_with_its_certificate_connects_without_a_password(
    site: Site, version: str
) -> None:
    charger = await site.add(3)
    context = site.context(make_leaf(site.ca, charger, organization="csms"))
    assert await _connects(f"{site.wss}/{charger}", version, ssl=context) == "Accepted"


async def test_profile_3_connection_is_exposed_with_its_profile(site: Site) -> None:
    charger = await site.add(3)
    context = site.context(make_leaf(site.ca, charger))
    async with connect(
        f"{site.wss}/{charger}",
        subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        ssl=context,
    ):
        await asyncio.sleep(0.05)
        assert site.gateway.connections[charger].security_profile == 3


@pytest.mark.parametrize("version", VERSIONS)
async def test_profile_3_charger_without_a_certificate_is_refused_with_401(
    site: Site, version: str
) -> None:
    charger = await site.add(3)
    auth = basic_auth(charger, PASSWORD)  # a password does not stand in for the certificate
    url = f"{site.wss}/{charger}"
    assert await _status(url, version, additional_headers=auth, ssl=site.context()) == 401
    assert await _status(f"{site.ws}/{charger}", version, additional_headers=auth) == 401
    reasons = {e.details["reason"] for e in await site.events(charger)}
    assert reasons == {"profile 3 requires a client certificate", "profile 3 requires TLS (wss://)"}


@pytest.mark.parametrize("version", VERSIONS)
async def test_profile_3_certificate_for_another_identity_is_refused_with_401(
    site: Site, version: str
) -> None:
    charger = await site.add(3)
    other = await site.add(3)
    context = site.context(make_leaf(site.ca, other))
    assert await _status(f"{site.wss}/{charger}", version, ssl=context) == 401
    (event,) = await site.events(charger)
    assert other in event.details["reason"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_profile_3_certificate_from_a_client_ca_of_csms_tls_client_ca_is_accepted(
    site: Site, version: str
) -> None:
    charger = await site.add(3)
    context = site.context(make_leaf(site.partner_ca, charger))
    assert await _connects(f"{site.wss}/{charger}", version, ssl=context) == "Accepted"


@pytest.mark.parametrize(
    ("case", "window"),
    [
        ("expired", {"not_before": ago(days=30), "not_after": ago(days=1)}),
        ("not yet valid", {"not_before": from_now(days=1), "not_after": from_now(days=30)}),
        ("untrusted", {}),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
async def test_bad_client_certificates_are_refused_in_the_tls_handshake(
    site: Site,
    version: str,
    case: str,
    window: dict[str, datetime],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Profile 3: a certificate that is expired, not yet valid or signed by a CA csms does
    not trust never reaches the WebSocket handshake; the server logs one line."""
    charger = await site.add(3)
    issuer = make_ca("Somebody else's CA") if case == "untrusted" else site.ca
    context = site.context(make_leaf(issuer, charger, **window))
    with caplog.at_level(logging.INFO, logger="csms.transport"):
        await _tls_refused(f"{site.wss}/{charger}", version, context)
        await asyncio.sleep(0.05)
    lines = [r for r in caplog.records if "TLS handshake from" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.WARNING
    assert "127.0.0.1" in lines[0].getMessage()
    assert lines[0].exc_info is None
    assert not site.gateway.is_connected(charger)
    assert await site.events(charger) == []  # refused before anyone knew who it was


async def test_client_offering_only_tls_1_0_or_1_1_is_refused(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """TLS 1.2 at least (1.6 security whitepaper, 2.0.1 A00)."""
    charger = await site.add(2)
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        context = client_context(trust=site.trust, maximum_version=old)
        with caplog.at_level(logging.INFO, logger="csms.transport"):
            await _tls_refused(f"{site.wss}/{charger}", "ocpp1.6", context)
            await asyncio.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if "TLS handshake from" in r.getMessage()]
    assert len(lines) == 2 and all("TLS versions below 1.2" in line for line in lines), lines


async def test_plain_http_on_the_tls_port_is_dropped_with_one_log_line(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    charger = await site.add(1)
    url = f"ws://127.0.0.1:{site.gateway.tls_port}/ocpp/{charger}"
    with caplog.at_level(logging.INFO, logger="csms.transport"):
        with pytest.raises((ConnectionError, InvalidMessage)):
            async with connect(url, subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
                pass
        await asyncio.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if "TLS handshake from" in r.getMessage()]
    assert len(lines) == 1 and "wss://" in lines[0], lines


async def test_tls_sessions_are_resumed_on_reconnect(site: Site) -> None:
    """A reconnect storm resumes TLS sessions instead of paying full handshakes."""
    port = site.gateway.tls_port
    assert port is not None
    context = client_context(trust=site.trust)
    context.maximum_version = ssl.TLSVersion.TLSv1_2  # (1.2: the session is ready at once)

    def handshake(session: ssl.SSLSession | None) -> tuple[ssl.SSLSession | None, bool]:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            return tls.session, tls.session_reused

    session, reused = await asyncio.to_thread(handshake, None)
    assert not reused and session is not None
    _, reused = await asyncio.to_thread(handshake, session)
    assert reused


# -- pending profile --------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
async def test_pending_profile_2_is_required_once_the_charger_connected_with_it(
    site: Site, version: str
) -> None:
    """2.0.1 A05 / the 1.6 whitepaper's profile upgrade: the charger may still connect at
    its current profile until it has connected with the new one; then ws is refused."""
    charger = await site.add(1, pending=2)
    auth = basic_auth(charger, PASSWORD)
    assert await _connects(f"{site.ws}/{charger}", version, additional_headers=auth) == "Accepted"
    record = await site.db.read(lambda uow: uow.chargers.get(charger))
    assert record is not None
    assert (record.security_profile, record.pending_security_profile) == (1, 2)

    url = f"{site.wss}/{charger}"
    assert await _connects(url, version, additional_headers=auth, ssl=site.context()) == "Accepted"
    record = await site.db.read(lambda uow: uow.chargers.get(charger))
    assert record is not None
    assert (record.security_profile, record.pending_security_profile) == (2, None)
    (raised,) = await site.events(charger)
    assert (raised.kind, raised.details) == (PROFILE_RAISED_EVENT, {"from": 1, "to": 2})

    assert await _status(f"{site.ws}/{charger}", version, additional_headers=auth) == 401


async def test_pending_profile_3_is_required_once_the_charger_connected_with_its_certificate(
    site: Site,
) -> None:
    charger = await site.add(2, pending=3)
    auth = basic_auth(charger, PASSWORD)
    url = f"{site.wss}/{charger}"
    assert await _connects(url, "ocpp2.0.1", additional_headers=auth, ssl=site.context()) == (
        "Accepted"
    )
    context = site.context(make_leaf(site.ca, charger))
    async with connect(url, subprotocols=["ocpp2.0.1"], ssl=context):  # type: ignore[list-item]
        await asyncio.sleep(0.05)
        assert site.gateway.connections[charger].security_profile == 3
    record = await site.db.read(lambda uow: uow.chargers.get(charger))
    assert record is not None
    assert (record.security_profile, record.pending_security_profile) == (3, None)
    assert await _status(url, "ocpp2.0.1", additional_headers=auth, ssl=site.context()) == 401


@pytest.mark.parametrize("profile", [1, 2])
async def test_profile_1_or_2_charger_with_its_certificate_is_let_in_on_it_without_a_password(
    site: Site, profile: int
) -> None:
    """A verified client certificate whose CN is the identity proves more than the password
    a lower profile asks for: the charger is let in on it (connected with profile 3), and
    its required profile stays what the operator set until it is raised."""
    charger = await site.add(profile)
    url = f"{site.wss}/{charger}"
    context = site.context(make_leaf(site.ca, charger))
    async with connect(url, subprotocols=["ocpp1.6"], ssl=context):  # type: ignore[list-item]
        await asyncio.sleep(0.05)
        assert site.gateway.connections[charger].security_profile == 3
    record = await site.db.read(lambda uow: uow.chargers.get(charger))
    assert record is not None
    assert (record.security_profile, record.pending_security_profile) == (profile, None)
    assert await site.events(charger) == []


async def test_profile_2_charger_with_a_certificate_for_another_identity_needs_its_password(
    site: Site,
) -> None:
    charger = await site.add(2)
    url = f"{site.wss}/{charger}"
    context = site.context(make_leaf(site.ca, "SOMEONE-ELSE"))
    assert await _status(url, "ocpp1.6", ssl=context) == 401
    auth = basic_auth(charger, PASSWORD)
    assert await _connects(url, "ocpp1.6", additional_headers=auth, ssl=context) == "Accepted"


# -- the transport over TLS -------------------------------------------------------------


async def test_messages_over_wss_take_the_fast_path_whatever_their_size(site: Site) -> None:
    """The TLS transport hands the WebSocket layer plaintext: frames split over TLS
    records (a 200 kB message spans several 16 kB records) are read as on ws."""
    charger = await site.add(2)
    async with connect(
        f"{site.wss}/{charger}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=basic_auth(charger, PASSWORD),
        ssl=site.context(),
        max_size=None,
    ) as ws:
        raw = RawCharger(ws)
        assert (await raw.boot())[2]["status"] == "Accepted"
        assert site.gateway.connections[charger].ws._framing  # the fast path is on
        for size in (10, 200, 70_000, 200_000):
            answer = await raw.call("DataTransfer", {"vendorId": "acme", "data": "x" * size})
            assert answer[0] == 3 and "status" in answer[2]
        assert site.gateway.connections[charger].ws._framing


async def test_stopping_drops_a_tls_handshake_that_never_started(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """A client that opens TCP to the wss port and says nothing does not hold a stop up."""
    home = tmp_path / "home"
    init_ca(home, now=datetime.now(UTC))
    settings = make_settings(home, tls_port=0)
    gateway = Gateway(
        db=sqlite_db,
        settings=settings,
        handlers={OCPPVersion.V16: v16.HANDLERS},
        tls=server_context(settings),
    )
    await gateway.start()
    assert gateway.tls_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.tls_port)
    await asyncio.sleep(0.05)
    await asyncio.wait_for(gateway.stop(grace=1), 5)
    assert await asyncio.wait_for(reader.read(), 5) == b""  # dropped
    writer.close()
    assert gateway.tls_port is None


async def test_a_stalled_tls_handshake_is_dropped_after_the_handshake_timeout(
    sqlite_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    init_ca(home, now=datetime.now(UTC))
    settings = make_settings(home, tls_port=0, handshake_timeout=0.3)
    gateway = Gateway(
        db=sqlite_db,
        settings=settings,
        handlers={OCPPVersion.V16: v16.HANDLERS},
        tls=server_context(settings),
    )
    await gateway.start()
    try:
        assert gateway.tls_port is not None
        with caplog.at_level(logging.INFO, logger="csms.transport"):
            reader, writer = await asyncio.open_connection("127.0.0.1", gateway.tls_port)
            assert await asyncio.wait_for(reader.read(), 5) == b""  # dropped by the server
            writer.close()
            await asyncio.sleep(0.05)
        lines = [r.getMessage() for r in caplog.records if "TLS handshake from" in r.getMessage()]
        assert len(lines) == 1 and "timed out" in lines[0], lines
    finally:
        await gateway.stop()


async def test_profile_3_charger_resuming_its_tls_session_is_still_known_by_its_certificate(
    site: Site,
) -> None:
    """A resumed session (TLS 1.2 session ticket) carries the client certificate: a profile
    3 charger reconnecting cheaply is not refused."""
    charger = await site.add(3)
    port = site.gateway.tls_port
    assert port is not None
    context = site.context(make_leaf(site.ca, charger))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    request = (
        f"GET /ocpp/{charger} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
    ).encode()

    def upgrade(session: ssl.SSLSession | None) -> tuple[ssl.SSLSession | None, bool, bytes]:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            tls.sendall(request)
            status = tls.recv(4096).split(b"\r\n", 1)[0]
            return tls.session, tls.session_reused, status

    session, reused, status = await asyncio.to_thread(upgrade, None)
    assert (reused, status) == (False, b"HTTP/1.1 101 Switching Protocols")
    _, reused, status = await asyncio.to_thread(upgrade, session)
    assert (reused, status) == (True, b"HTTP/1.1 101 Switching Protocols")
