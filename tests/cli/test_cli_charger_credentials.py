"""Chargers accepted from Pending get a password (issue 18 item 10).

A charger that connected under ``CSMS_UNKNOWN_CHARGERS=pending`` has no password; accepting
it issues one, shown once, stored hashed, and sends it to the charger (1.6 security
whitepaper AuthorizationKey, as hex of the password's bytes; 2.0.1 A01
SecurityCtrlr.BasicAuthPassword). Once the charger has it, Basic auth is enforced. The
simulators (the same code as ``csms-sim``) over real sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from csms.config import Settings
from simulators import ChargePoint16, ChargePoint201, HandshakeFailed
from simulators.station import Station
from tests.cli.conftest import run_cli
from tests.waiting import eventually

VERSIONS = ["1.6", "2.0.1"]


@pytest.fixture
async def csms_server(settings_factory: Callable[..., Settings]) -> AsyncIterator[Any]:
    """A running csms that registers unknown chargers as Pending."""
    from csms.server import running_server

    async with running_server(settings_factory(unknown_chargers="pending")) as server:
        yield server


def _station(server: Any, version: str, identity: str, **options: Any) -> Station:
    cls = ChargePoint16 if version == "1.6" else ChargePoint201
    options.setdefault("reconnect_delays", (0.05,))
    return cls(url=server.ocpp_url, identity=identity, speed=3600, **options)


async def _status_of_connection(server: Any, version: str, identity: str, **options: Any) -> int:
    """HTTP status of a handshake (101 when the connection opened)."""
    try:
        async with _station(server, version, identity, **options):
            return 101
    except HandshakeFailed as exc:
        assert exc.status is not None
        return exc.status


async def _show(cli_env: dict[str, str], identity: str) -> dict[str, Any]:
    result = await run_cli(cli_env, "chargers", "show", identity, "--json")
    assert result.code == 0, result.err
    return dict(result.json())


async def _pending_booted(station: Station) -> None:
    answer = await station.boot(retry=False)
    assert answer["status"] == "Pending"


@pytest.mark.parametrize("version", VERSIONS)
async def test_accepting_a_pending_charger_gives_it_a_password_that_is_then_enforced(
    csms_server: Any, cli_env: dict[str, str], version: str
) -> None:
    """pending → accept → the charger receives its password → reconnects with it → a
    connection without it, or with a wrong one, is refused with 401."""
    identity = f"PEND-{version}"
    async with _station(csms_server, version, identity) as station:
        await _pending_booted(station)
        before = await _show(cli_env, identity)
        assert before["password_state"] == "none"

        result = await run_cli(cli_env, "chargers", "accept", identity)
        assert result.code == 0, result.err
        assert "password (shown only now): " in result.out
        password = result.out.split("password (shown only now): ", 1)[1].split()[0]
        assert "Basic auth is enforced" in result.out

        # The charger took it and reconnected with it, then booted (Accepted).
        await eventually(lambda: station.password == password and station.connections >= 2)
        await station.wait_ready(timeout=10)
        assert station.accepted
        if version == "1.6":
            sent = [
                m.payload
                for m in station.history
                if m.direction == "received" and m.action == "ChangeConfiguration"
            ]
            assert sent == [{"key": "AuthorizationKey", "value": password.encode().hex().upper()}]

        shown = await _show(cli_env, identity)
        assert shown["password_state"] == "active"
        assert shown["registration_status"] == "Accepted"

    stored = await csms_server.db.read(lambda uow: uow.chargers.get(identity))
    assert stored.password_hash is not None and password not in stored.password_hash
    assert await csms_server.db.read(lambda uow: uow.chargers.password_delivery(identity)) is None

    assert await _status_of_connection(csms_server, version, identity) == 401
    assert (
        await _status_of_connection(csms_server, version, identity, password="wrong-" + password)
        == 401
    )
    assert await _status_of_connection(csms_server, version, identity, password=password) == 101


@pytest.mark.parametrize("version", VERSIONS)
async def test_an_offline_charger_gets_its_password_at_its_next_connection(
    csms_server: Any, cli_env: dict[str, str], version: str
) -> None:
    identity = f"OFF-{version}"
    async with _station(csms_server, version, identity) as station:
        await _pending_booted(station)
    await eventually(lambda: not csms_server.router.is_connected(identity))

    result = await run_cli(cli_env, "chargers", "accept", identity, "--json")
    assert result.code == 0, result.err
    accepted = result.json()
    password = accepted["password"]
    assert accepted["password_delivery"]["status"] == "waiting"
    assert accepted["password_state"] == "pending"
    shown = await _show(cli_env, identity)
    assert shown["password_state"] == "pending" and "password" not in shown

    async with _station(csms_server, version, identity) as station:
        await eventually(lambda: station.password == password and station.connections >= 2)
        await station.wait_ready(timeout=10)
        assert (await _show(cli_env, identity))["password_state"] == "active"
    assert await _status_of_connection(csms_server, version, identity) == 401
    assert await _status_of_connection(csms_server, version, identity, password=password) == 101


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_charger_that_refuses_its_password_is_reported_and_enforced_once_set_by_hand(
    csms_server: Any, cli_env: dict[str, str], version: str
) -> None:
    identity = f"NO-{version}"
    async with _station(csms_server, version, identity, accept_password_change=False) as station:
        await _pending_booted(station)
        result = await run_cli(
            cli_env, "chargers", "accept", identity, "--password", "chosen-by-operator1"
        )
    assert result.code == 1
    assert "password (shown only now): chosen-by-operator1" in result.out
    assert "refused" in result.err and "by hand" in result.err
    assert f"csms chargers accept {identity}" in result.err
    shown = await _show(cli_env, identity)
    assert shown["password_state"] == "rejected"
    assert "Rejected" in shown["password_detail"]
    human = await run_cli(cli_env, "chargers", "show", identity)
    assert "refused by the charger" in human.out

    # Until the charger has it, it still connects without one ...
    assert await _status_of_connection(csms_server, version, identity) == 101
    # ... and once it connects with it (set by hand), it is enforced.
    assert (
        await _status_of_connection(csms_server, version, identity, password="chosen-by-operator1")
        == 101
    )
    assert (await _show(cli_env, identity))["password_state"] == "active"
    assert await _status_of_connection(csms_server, version, identity) == 401


async def test_a_password_a_1_6_charger_cannot_hold_is_refused_before_anything_changes(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    async with _station(csms_server, "1.6", "LONG") as station:
        await _pending_booted(station)
        result = await run_cli(cli_env, "chargers", "accept", "LONG", "--password", "x" * 30)
    assert result.code == 1
    assert "AuthorizationKey" in result.err
    shown = await _show(cli_env, "LONG")
    assert shown["registration_status"] == "Pending"
    assert shown["password_state"] == "none"
