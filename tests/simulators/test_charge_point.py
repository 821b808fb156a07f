"""What the 1.6 and 2.0.1 simulators share (simulators/charge_point.py), without a CSMS."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from simulators.charge_point import (
    apply_scheduled_availability,
    change_availability,
    free_target,
    one_time_token,
    reading,
)


@dataclass
class Target:
    status: str = "Available"
    operative: bool = True
    scheduled_operative: bool | None = None
    transaction: object | None = None
    remote_start_pending: bool = False
    usable: bool = True

    @property
    def free(self) -> bool:
        return self.usable and not self.remote_start_pending


def test_readings_are_whole_registers_and_power_and_current_per_phase() -> None:
    assert reading("Energy.Active.Import.Register", energy_wh=1234.6, power_w=0) == 1235
    assert reading("Power.Active.Import", energy_wh=0, power_w=11_000.4) == 11_000
    assert reading("Current.Import", energy_wh=0, power_w=11_000) == 15.9
    assert reading("Voltage", energy_wh=0, power_w=0) == 230.0
    assert isinstance(reading("Energy.Active.Import.Register", energy_wh=1.0, power_w=0), int)


def test_a_remote_start_gets_the_connector_it_asked_for_only_when_free() -> None:
    targets = {1: Target(usable=False), 2: Target()}
    assert free_target(targets, 2) is targets[2]
    assert free_target(targets, 1) is None
    assert free_target(targets, 3) is None
    assert free_target(targets, None) is targets[2]
    assert free_target({1: Target(usable=False)}, None) is None


async def test_going_inoperative_while_charging_is_scheduled_and_idle_targets_report() -> None:
    busy, idle = Target(status="Charging", transaction=object()), Target()
    reported: list[tuple[Target, str]] = []

    async def report(target: Target, status: str) -> None:
        reported.append((target, status))

    reply = change_availability([busy, idle], operative=False, report=report)
    assert reply.payload == {"status": "Scheduled"}
    assert (busy.operative, busy.scheduled_operative) == (True, False)
    assert idle.operative is False
    assert reply.then is not None
    await reply.then()
    assert reported == [(idle, "Unavailable")]
    apply_scheduled_availability(busy)
    assert (busy.operative, busy.scheduled_operative) == (False, None)


async def test_going_operative_is_accepted_at_once() -> None:
    target = Target(status="Unavailable", operative=False)
    reported: list[str] = []

    async def report(_: Target, status: str) -> None:
        reported.append(status)

    reply = change_availability([target], operative=True, report=report)
    assert reply.payload == {"status": "Accepted"}
    assert reply.then is not None
    await reply.then()
    assert reported == ["Available"]


@pytest.mark.parametrize(
    ("answer", "token"),
    [
        ({"status": "Accepted", "data": json.dumps({"idTag": "T1", "expiresAt": "x"})}, "T1"),
        ({"status": "Accepted", "data": {"idTag": "T2"}}, "T2"),
        ({"status": "Rejected", "data": json.dumps({"idTag": "T3"})}, None),
        ({"status": "Accepted", "data": "not json"}, None),
        ({"status": "Accepted"}, None),
    ],
)
def test_the_one_time_token_of_a_pin_login_answer(
    answer: dict[str, object], token: str | None
) -> None:
    assert one_time_token(answer) == token
