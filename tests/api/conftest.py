"""The API app over a migrated SQLite database, a fake command router and tokens per role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from csms.api import create_app
from csms.config import Settings
from csms.domain.people.owners import add_owner
from csms.domain.security.tokens import create_token
from storage.database import Database
from tests.fakes.router import RecordingRouter

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@dataclass
class Api:
    """Clients for each role over one app."""

    db: Database
    router: RecordingRouter
    admin: httpx.AsyncClient
    operator: httpx.AsyncClient
    owner: httpx.AsyncClient  # the owner "ACME"
    anonymous: httpx.AsyncClient
    #: a client for any other token
    client: Callable[[str | None], httpx.AsyncClient]


@pytest.fixture
def fake_router() -> RecordingRouter:
    return RecordingRouter()


@pytest.fixture
async def api(
    sqlite_db: Database, fake_router: RecordingRouter, settings_factory: Callable[..., Settings]
) -> AsyncIterator[Api]:
    app = create_app(db=sqlite_db, router=fake_router, settings=settings_factory())

    def setup(uow: Any) -> dict[str, str]:
        add_owner(uow, name="ACME", now=NOW)
        add_owner(uow, name="Other", now=NOW)
        return {
            role: create_token(
                uow, name=role, role=role, owner="ACME" if role == "owner" else None, now=NOW
            )[1]
            for role in ("admin", "operator", "owner")
        }

    tokens = await sqlite_db.write(setup)
    # raise_app_exceptions=False: the client sees what a real HTTP client would see.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def client(token: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(transport=transport, base_url="http://csms", headers=headers)

    holder = Api(
        db=sqlite_db,
        router=fake_router,
        admin=client(tokens["admin"]),
        operator=client(tokens["operator"]),
        owner=client(tokens["owner"]),
        anonymous=client(None),
        client=client,
    )
    yield holder
    for c in (holder.admin, holder.operator, holder.owner, holder.anonymous):
        await c.aclose()


async def add_charger_for(db: Database, charger_id: str, *, owner: str | None = None) -> None:
    from csms.domain.charging.stations import add_charger

    await db.write(
        lambda uow: add_charger(uow, charger_id=charger_id, now=NOW, password=None, owner=owner)
    )


async def add_session(
    db: Database,
    charger_id: str,
    *,
    id_tag: str = "CARD1",
    connector_id: int = 1,
    stop: bool = False,
    minute: int = 0,
) -> int:
    """A recorded session (as the gateway records one); returns its session id."""
    from datetime import timedelta

    from csms.domain.charging.transactions import (
        record_meter_values,
        start_transaction,
        stop_transaction,
    )
    from csms.domain.model import MeterSample

    started = NOW + timedelta(minutes=minute)

    def run(uow: Any) -> int:
        result = start_transaction(
            uow,
            charger_id=charger_id,
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start_wh=1000,
            timestamp=started,
            now=started,
        )
        record_meter_values(
            uow,
            charger_id=charger_id,
            connector_id=connector_id,
            transaction_id=result.transaction_id,
            samples=[MeterSample(timestamp=started + timedelta(seconds=30), value="1500")],
            now=started,
        )
        if stop:
            stop_transaction(
                uow,
                charger_id=charger_id,
                transaction_id=result.transaction_id,
                meter_stop_wh=4000,
                timestamp=started + timedelta(hours=1),
                now=started + timedelta(hours=1),
                reason="EVDisconnected",
                id_tag=id_tag,
                samples=[],
                raw_payload={},
            )
        tx = uow.transactions.by_transaction_id(result.transaction_id)
        return int(tx.id)

    return await db.write(run)
