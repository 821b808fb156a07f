"""wss on uvloop, the event loop ``csms serve`` runs on: the TLS layer must not depend on
asyncio's own loop (uvloop starts reading before a protocol's ``connection_made`` returns,
for one)."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from csms.adapters.v16 import inbound as v16
from csms.domain.charging.stations import add_charger
from csms.domain.security.ca import ca_files, init_ca
from csms.gateway import Gateway
from csms.tls import server_context
from protocol import OCPPVersion
from storage.database import Database
from storage.migrate import upgrade
from tests.conftest import make_settings
from tests.gateway.conftest import PASSWORD, RawCharger, basic_auth
from tests.pki import client_context, load_issued, make_leaf

uvloop = pytest.importorskip("uvloop")


def test_profile_2_and_3_chargers_connect_over_wss_on_uvloop(tmp_path: Path) -> None:
    home = tmp_path / "home"
    files = init_ca(home, now=datetime.now(UTC))
    settings = make_settings(home, tls_port=0)
    url = f"sqlite+aiosqlite:///{tmp_path}/csms.sqlite3"
    upgrade(url)

    async def scenario() -> list[str]:
        db = Database(url)
        now = datetime.now(UTC)
        for charger, profile in (("P2", 2), ("P3", 3)):
            await db.write(
                lambda uow, c=charger, p=profile: add_charger(
                    uow, charger_id=c, now=now, password=PASSWORD, security_profile=p
                )
            )
        gateway = Gateway(
            db=db,
            settings=settings,
            handlers={OCPPVersion.V16: v16.HANDLERS},
            tls=server_context(settings),
        )
        await gateway.start()
        answers = []
        try:
            base = f"wss://localhost:{gateway.tls_port}/ocpp"
            trust = ca_files(home).ca_cert
            leaf = make_leaf(load_issued(files.ca_cert, files.ca_key), "P3")
            contexts: dict[str, tuple[ssl.SSLContext, dict[str, str]]] = {
                "P2": (client_context(trust=trust), basic_auth("P2", PASSWORD)),
                "P3": (client_context(trust=trust, certificate=leaf, directory=tmp_path), {}),
            }
            for charger, (context, headers) in contexts.items():
                async with connect(
                    f"{base}/{charger}",
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    additional_headers=headers,
                    ssl=context,
                    open_timeout=5,
                ) as ws:
                    answers.append(str((await RawCharger(ws).boot())[2]["status"]))
        finally:
            await gateway.stop()
            await db.close()
        return answers

    assert uvloop.run(scenario()) == ["Accepted", "Accepted"]
