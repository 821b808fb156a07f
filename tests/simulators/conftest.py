"""Fixtures for the simulator tests: a fake CSMS and charge points wired to it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest

from simulators import ChargePoint16, ChargePoint201, Station
from tests.simulators.fake_csms import FakeCSMS

T = TypeVar("T", bound=Station)

#: Fast but not instantaneous: 100 simulated seconds per real second.
SPEED = 100.0


@pytest.fixture
async def csms() -> AsyncIterator[FakeCSMS]:
    async with FakeCSMS() as server:
        yield server


#: Options every simulated charger of these tests gets unless a test says otherwise.
_FAST: dict[str, Any] = {
    "speed": SPEED,
    "meter_interval": 20,
    "call_timeout": 5.0,
    "reconnect_delays": (0.05,),
    "transaction_retry_interval": 1.0,
}


@contextlib.asynccontextmanager
async def _builder(
    csms: FakeCSMS, cls: type[T], default_identity: str
) -> AsyncIterator[Callable[..., T]]:
    """Build (not connect) ``cls`` charge points for the fake CSMS; closed afterwards."""
    created: list[T] = []

    def build(identity: str = default_identity, **options: Any) -> T:
        arguments: dict[str, Any] = {"url": csms.url, "identity": identity}
        station = cls(**(arguments | _FAST | options))
        created.append(station)
        return station

    yield build
    for station in created:
        await station.close()


@pytest.fixture
async def make_cp(csms: FakeCSMS) -> AsyncIterator[Callable[..., ChargePoint16]]:
    """Build (not connect) 1.6 charge points for the fake CSMS; all are closed afterwards."""
    async with _builder(csms, ChargePoint16, "CP1") as build:
        yield build


@pytest.fixture
async def make_cs(csms: FakeCSMS) -> AsyncIterator[Callable[..., ChargePoint201]]:
    """Build (not connect) 2.0.1 charging stations for the fake CSMS; closed afterwards."""
    async with _builder(csms, ChargePoint201, "CS1") as build:
        yield build
