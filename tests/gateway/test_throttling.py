"""Throttling guesses at the charger endpoint (issue 18, item 8), over real sockets.

The issue's figures: 400 Authorize guesses in 0.3 s and 60 wrong charger passwords in
2.6 s, none slowed. Now Authorize beyond CSMS_RATE_LIMIT_AUTHORIZE (60/min) is answered
Invalid without a database lookup, and wrong passwords beyond
CSMS_RATE_LIMIT_CHARGER_AUTH (10/min) wait before their 401; each burst records one
security event for the charger, never with the password.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from csms.adapters.v16 import inbound as v16
from csms.config import Settings
from csms.domain.charging.stations import add_charger
from csms.gateway import AUTH_THROTTLED_EVENT, AUTHORIZE_THROTTLED_EVENT, Gateway
from protocol import OCPPVersion
from storage.database import Database
from tests.gateway.conftest import NOW, PASSWORD, RawCharger, basic_auth


@pytest.fixture
async def gateway(
    db: Database, settings_factory: Callable[..., Settings]
) -> AsyncIterator[Gateway]:
    for charger_id in ("CP1", "CP2"):
        await db.write(
            lambda uow, c=charger_id: add_charger(uow, charger_id=c, now=NOW, password=PASSWORD)
        )
    await db.write(lambda uow: uow.id_tags.add(uid="CARD1", status="active", created_at=NOW))
    gw = Gateway(db=db, settings=settings_factory(), handlers={OCPPVersion.V16: v16.HANDLERS})
    await gw.start()
    yield gw
    await gw.stop()


async def _open(gateway: Gateway, identity: str, password: str) -> AsyncIterator[RawCharger]:
    async with connect(
        f"ws://127.0.0.1:{gateway.port}/ocpp/{identity}",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=basic_auth(identity, password),
        open_timeout=30,
    ) as ws:
        charger = RawCharger(ws)
        await charger.boot()
        yield charger


async def _authorize_burst(charger: RawCharger, count: int) -> list[str]:
    statuses = []
    for _ in range(count):
        answer = await charger.call("Authorize", {"idTag": "CARD1"})
        assert answer[0] == 3, answer  # never a CALLERROR
        statuses.append(answer[2]["idTagInfo"]["status"])
    return statuses


async def test_400_authorize_guesses_are_answered_invalid_beyond_the_rate(
    gateway: Gateway, db: Database
) -> None:
    async for charger in _open(gateway, "CP1", PASSWORD):
        statuses = await _authorize_burst(charger, 400)
    # The first 60 are looked up (the card is valid); the rest are refused unseen.
    assert statuses[:60] == ["Accepted"] * 60
    assert set(statuses[60:]) == {"Invalid"}
    events = await db.read(lambda uow: uow.security_events.list(kind=AUTHORIZE_THROTTLED_EVENT))
    assert [(e.charger_id, e.details) for e in events] == [("CP1", {"rate": "60/min"})]
    # Another charger is not affected.
    async for other in _open(gateway, "CP2", PASSWORD):
        assert await _authorize_burst(other, 5) == ["Accepted"] * 5


async def _attempt(gateway: Gateway, identity: str, password: str) -> tuple[int, float]:
    started = time.monotonic()
    try:
        async with connect(
            f"ws://127.0.0.1:{gateway.port}/ocpp/{identity}",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic_auth(identity, password),
            open_timeout=30,
        ):
            status = 101
    except InvalidStatus as exc:
        status = exc.response.status_code
    return status, time.monotonic() - started


async def test_60_wrong_charger_passwords_are_slowed_and_recorded(
    gateway: Gateway, db: Database
) -> None:
    results = await asyncio.gather(*(_attempt(gateway, "CP1", f"guess-{n}") for n in range(60)))
    assert {status for status, _ in results} == {401}
    waits = sorted(seconds for _, seconds in results)
    # Ten get their answer at once; the 50 beyond the rate wait, up to 5 s each.
    assert sum(1 for s in waits if s >= 2.0) >= 40, waits
    assert waits[-1] < 8.0
    events = await db.read(lambda uow: uow.security_events.list(kind=AUTH_THROTTLED_EVENT))
    assert [e.charger_id for e in events] == ["CP1"]
    assert PASSWORD not in json.dumps(events[0].details)
    assert "guess" not in json.dumps(events[0].details)
    assert events[0].details["source"] == "127.0.0.1"
    # The right password still gets in (after the wait: same source, same identity).
    assert (await _attempt(gateway, "CP1", PASSWORD))[0] == 101


async def test_a_charger_with_the_right_password_is_never_slowed(gateway: Gateway) -> None:
    results = [await _attempt(gateway, "CP2", PASSWORD) for _ in range(30)]
    assert {status for status, _ in results} == {101}
    assert max(seconds for _, seconds in results) < 2.0
