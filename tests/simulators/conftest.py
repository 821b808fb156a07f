"""Fixtures for the simulator tests: a fake CSMS and charge points wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from simulators import ChargePoint16, ChargePoint201
from tests.simulators.fake_csms import FakeCSMS

#: Fast but not instantaneous: 100 simulated seconds per real second.
SPEED = 100.0


@pytest.fixture
async def csms() -> AsyncIterator[FakeCSMS]:
    async with FakeCSMS() as server:
        yield server


@pytest.fixture
async def make_cp(csms: FakeCSMS) -> AsyncIterator[Callable[..., ChargePoint16]]:
    """Build (not connect) charge points for the fake CSMS; all are closed afterwards."""
    created: list[ChargePoint16] = []

    def build(identity: str = "CP1", **options: Any) -> ChargePoint16:
        defaults: dict[str, Any] = {
            "speed": SPEED,
            "meter_interval": 20,
            "call_timeout": 5.0,
            "reconnect_delays": (0.05,),
            "transaction_retry_interval": 1.0,
        }
        cp = ChargePoint16(**({"url": csms.url, "identity": identity} | defaults | options))
        created.append(cp)
        return cp

    yield build
    for cp in created:
        await cp.close()


@pytest.fixture
async def make_cs(csms: FakeCSMS) -> AsyncIterator[Callable[..., ChargePoint201]]:
    """Build (not connect) 2.0.1 charging stations for the fake CSMS; closed afterwards."""
    created: list[ChargePoint201] = []

    def build(identity: str = "CS1", **options: Any) -> ChargePoint201:
        defaults: dict[str, Any] = {
            "speed": SPEED,
            "meter_interval": 20,
            "call_timeout": 5.0,
            "reconnect_delays": (0.05,),
            "transaction_retry_interval": 1.0,
        }
        cs = ChargePoint201(**({"url": csms.url, "identity": identity} | defaults | options))
        created.append(cs)
        return cs

    yield build
    for cs in created:
        await cs.close()
