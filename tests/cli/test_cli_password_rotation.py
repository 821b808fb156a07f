"""Rotating a charger's Basic auth password (SPEC "Security profiles and certificates":
``csms chargers rotate-password``; 2.0.1 A01, 1.6 security whitepaper AuthorizationKey)
and ``config set`` of the password keys (issue 19 point 2, OCTT TC_A_09).

The old password stays valid until the charger has connected once with the new one: a
charger may answer Accepted and reconnect with the old one before it applies the new one.
Real sockets throughout: the server, the CLI, simulators or raw OCPP-J clients.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from simulators import ChargePoint16, ChargePoint201
from simulators.station import Station
from tests.cli.conftest import answer_one_call, run_cli
from tests.gateway.conftest import basic_auth
from tests.waiting import eventually

VERSIONS = ["1.6", "2.0.1"]
OLD = "the-old-password-1"  # 18 bytes: within both versions' limits


def _station(server: Any, version: str, identity: str, **options: Any) -> Station:
    cls = ChargePoint16 if version == "1.6" else ChargePoint201
    options.setdefault("reconnect_delays", (0.05,))
    return cls(url=server.ocpp_url, identity=identity, speed=3600, **options)


def _open(server: Any, version: str, identity: str, password: str | None) -> Any:
    headers = basic_auth(identity, password) if password is not None else {}
    return connect(
        f"{server.ocpp_url}/{identity}",
        subprotocols=[Subprotocol(f"ocpp{version}")],
        additional_headers=headers,
    )


async def _handshake(server: Any, version: str, identity: str, password: str | None) -> int:
    """HTTP status of a raw handshake (101 when the connection opened); closed at once."""
    try:
        async with _open(server, version, identity, password):
            return 101
    except InvalidStatus as exc:
        return exc.response.status_code


async def _boot(ws: ClientConnection, version: str) -> None:
    payload: dict[str, Any] = (
        {"chargePointVendor": "Acme", "chargePointModel": "W"}
        if version == "1.6"
        else {"chargingStation": {"vendorName": "Acme", "model": "W"}, "reason": "PowerUp"}
    )
    await ws.send(json.dumps([2, "boot", "BootNotification", payload]))
    assert json.loads(await ws.recv())[2]["status"] == "Accepted"


def _set_answer(version: str, status: str) -> dict[str, Any]:
    if version == "1.6":
        return {"status": status}
    return {
        "setVariableResult": [
            {
                "attributeStatus": status,
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
            }
        ]
    }


def _password_sent(version: str, call: list[Any]) -> str:
    """The password in the CALL csms sent (1.6: hex of its bytes)."""
    if version == "1.6":
        assert call[2] == "ChangeConfiguration"
        assert call[3]["key"] == "AuthorizationKey"
        return bytes.fromhex(call[3]["value"]).decode()
    assert call[2] == "SetVariables"
    (item,) = call[3]["setVariableData"]
    assert item["component"] == {"name": "SecurityCtrlr"}
    assert item["variable"] == {"name": "BasicAuthPassword"}
    return str(item["attributeValue"])


async def _add(cli_env: dict[str, str], identity: str, *more: str) -> None:
    result = await run_cli(cli_env, "chargers", "add", identity, "--password", OLD, *more)
    assert result.code == 0, result.err


async def _show(cli_env: dict[str, str], identity: str) -> dict[str, Any]:
    result = await run_cli(cli_env, "chargers", "show", identity, "--json")
    assert result.code == 0, result.err
    return dict(result.json())


async def _security_events(server: Any, identity: str, kind: str) -> list[Any]:
    events = await server.db.read(lambda uow: uow.security_events.list(kind=kind))
    return [e for e in events if e.charger_id == identity]


def _printed_password(out: str) -> str:
    return out.split("(shown only now): ", 1)[1].split()[0]


@pytest.mark.parametrize("version", VERSIONS)
async def test_rotation_keeps_the_old_password_valid_until_the_charger_connects_with_the_new(
    csms_server: Any, cli_env: dict[str, str], version: str
) -> None:
    """2.0.1 A01 / 1.6 whitepaper: the charger answers Accepted and reconnects with the new
    password when it applies it; until then it may reconnect with the old one."""
    identity = f"ROT-{version}"
    await _add(cli_env, identity)
    async with _open(csms_server, version, identity, OLD) as ws:
        await _boot(ws, version)
        cli = asyncio.create_task(run_cli(cli_env, "chargers", "rotate-password", identity))
        call = await answer_one_call(ws, _set_answer(version, "Accepted"))
        result = await cli
    assert result.code == 0, result.err
    new = _printed_password(result.out)
    assert _password_sent(version, call) == new
    assert "its current one stays valid until it connects with the new one" in result.out
    shown = await _show(cli_env, identity)
    assert shown["password_state"] == "sent" and "password" not in shown

    # Accepted, not applied yet: the old password still lets it in (and again: the
    # verified-password cache holds it now).
    assert await _handshake(csms_server, version, identity, OLD) == 101
    assert await _handshake(csms_server, version, identity, OLD) == 101
    assert not await _security_events(csms_server, identity, "PasswordRotated")

    # Its first connection with the new one makes that the only one.
    assert await _handshake(csms_server, version, identity, new) == 101
    assert await _handshake(csms_server, version, identity, OLD) == 401
    assert await _handshake(csms_server, version, identity, None) == 401
    assert await _handshake(csms_server, version, identity, new) == 101
    shown = await _show(cli_env, identity)
    assert shown["password_state"] == "active"
    (event,) = await _security_events(csms_server, identity, "PasswordRotated")
    assert new not in json.dumps(event.details) and OLD not in json.dumps(event.details)
    stored = await csms_server.db.read(lambda uow: uow.chargers.get(identity))
    assert stored.pending_password_hash is None
    assert await csms_server.db.read(lambda uow: uow.chargers.password_delivery(identity)) is None


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_connected_charger_takes_its_rotated_password_and_reconnects_with_it(
    csms_server: Any, cli_env: dict[str, str], version: str
) -> None:
    identity = f"SIM-{version}"
    await _add(cli_env, identity)
    async with _station(csms_server, version, identity, password=OLD) as station:
        await station.boot()
        result = await run_cli(
            cli_env, "chargers", "rotate-password", identity, "--password", "chosen-new-pass-2"
        )
        assert result.code == 0, result.err
        assert "(shown only now): chosen-new-pass-2" in result.out
        await eventually(
            lambda: station.password == "chosen-new-pass-2" and station.connections >= 2
        )
        await station.wait_ready(timeout=10)
        await eventually(
            lambda: _security_events(csms_server, identity, "PasswordRotated"), timeout=10
        )
    assert (await _show(cli_env, identity))["password_state"] == "active"
    assert await _handshake(csms_server, version, identity, OLD) == 401
    assert await _handshake(csms_server, version, identity, "chosen-new-pass-2") == 101


@pytest.mark.parametrize("version", VERSIONS)
async def test_an_offline_charger_gets_its_rotated_password_at_its_next_connection(
    csms_server: Any, cli_env: dict[str, str], version: str
) -> None:
    identity = f"OFF-{version}"
    await _add(cli_env, identity)
    async with _station(csms_server, version, identity, password=OLD) as station:
        await station.boot()  # its version is known from now on
    await eventually(lambda: not csms_server.router.is_connected(identity))

    result = await run_cli(cli_env, "chargers", "rotate-password", identity, "--json")
    assert result.code == 0, result.err
    rotated = result.json()
    new = rotated["password"]
    assert rotated["password_delivery"]["status"] == "waiting"
    assert rotated["password_state"] == "rotating"
    human = await run_cli(cli_env, "chargers", "show", identity)
    assert "a new one waits to be sent" in human.out and new not in human.out

    # It connects with the old one, is sent the new one (the connect hook), reconnects.
    async with _station(csms_server, version, identity, password=OLD) as station:
        await eventually(lambda: station.password == new and station.connections >= 2)
        await station.wait_ready(timeout=10)
        await eventually(
            lambda: _security_events(csms_server, identity, "PasswordRotated"), timeout=10
        )
    assert (await _show(cli_env, identity))["password_state"] == "active"
    assert await _handshake(csms_server, version, identity, OLD) == 401
    assert await _handshake(csms_server, version, identity, new) == 101


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_charger_refusing_its_new_password_keeps_the_old_one_and_the_new_is_dropped(
    csms_server: Any, cli_env: dict[str, str], version: str
) -> None:
    identity = f"NO-{version}"
    await _add(cli_env, identity)
    async with _station(
        csms_server, version, identity, password=OLD, accept_password_change=False
    ) as station:
        await station.boot()
        result = await run_cli(
            cli_env, "chargers", "rotate-password", identity, "--password", "refused-new-pass"
        )
    assert result.code == 1
    assert "(shown only now): refused-new-pass" in result.out
    assert "refused the new password" in result.err and "dropped" in result.err
    shown = await _show(cli_env, identity)
    assert shown["password_state"] == "active"
    assert "keeps its current password" in shown["password_detail"]
    assert await _security_events(csms_server, identity, "PasswordRotationRefused")
    assert await _handshake(csms_server, version, identity, "refused-new-pass") == 401
    assert await _handshake(csms_server, version, identity, OLD) == 101


async def test_a_given_password_the_charger_cannot_hold_is_refused_before_anything_changes(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    """1.6 AuthorizationKey: 16 to 20 bytes; 2.0.1 BasicAuthPassword: 16 to 40 characters."""
    for version, identity in (("1.6", "LIM16"), ("2.0.1", "LIM201")):
        await _add(cli_env, identity)
        async with _open(csms_server, version, identity, OLD) as ws:
            await _boot(ws, version)
    too_long_16 = await run_cli(
        cli_env, "chargers", "rotate-password", "LIM16", "--password", "x" * 21
    )
    assert too_long_16.code == 1
    assert "16 to 20 bytes" in too_long_16.err and "AuthorizationKey" in too_long_16.err
    too_long_201 = await run_cli(
        cli_env, "chargers", "rotate-password", "LIM201", "--password", "x" * 41
    )
    assert too_long_201.code == 1 and "40" in too_long_201.err
    too_short = await run_cli(
        cli_env, "chargers", "rotate-password", "LIM201", "--password", "short"
    )
    assert too_short.code == 1 and "16" in too_short.err
    for identity in ("LIM16", "LIM201"):
        shown = await _show(cli_env, identity)
        assert shown["password_state"] == "active"
        stored = await csms_server.db.read(lambda uow, i=identity: uow.chargers.get(i))
        assert stored.pending_password_hash is None


async def test_rotating_the_password_of_a_profile_3_charger_is_refused_saying_why(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "CERT3", "--security-profile", "3")
    result = await run_cli(cli_env, "chargers", "rotate-password", "CERT3")
    assert result.code == 1
    assert "security profile 3" in result.err and "client certificate" in result.err
    assert "csms chargers certificates renew CERT3" in result.err
    stored = await csms_server.db.read(lambda uow: uow.chargers.get("CERT3"))
    assert stored.pending_password_hash is None


async def test_rotating_the_password_of_an_unknown_charger_says_where_to_look(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    result = await run_cli(cli_env, "chargers", "rotate-password", "NOPE")
    assert result.code == 1 and "csms chargers list" in result.err


# -- config set of the password keys (issue 19 point 2, TC_A_09) -------------------------


@pytest.mark.parametrize(
    ("version", "key"),
    [("1.6", "AuthorizationKey"), ("2.0.1", "SecurityCtrlr.BasicAuthPassword")],
)
async def test_config_set_of_the_password_rotates_it_and_never_locks_the_charger_out(
    csms_server: Any, cli_env: dict[str, str], version: str, key: str
) -> None:
    identity = f"CFG-{version}"
    new = "set-by-config-01"
    value = new.encode().hex() if version == "1.6" else new
    await _add(cli_env, identity)
    async with _station(csms_server, version, identity, password=OLD) as station:
        await station.boot()
        result = await run_cli(cli_env, "chargers", "config", "set", identity, key, value)
        assert result.code == 0, result.err
        action = "ChangeConfiguration" if version == "1.6" else "SetVariables"
        assert f"{identity}: {action} Accepted" in result.out
        # The station reconnects with the new password and is let in (TC_A_09: not 401).
        await eventually(lambda: station.password == new and station.connections >= 2)
        await station.wait_ready(timeout=10)
        assert csms_server.router.is_connected(identity)
    assert (await _show(cli_env, identity))["password_state"] == "active"
    assert await _handshake(csms_server, version, identity, OLD) == 401
    assert await _handshake(csms_server, version, identity, new) == 101


async def test_config_set_of_the_password_a_charger_rejects_keeps_the_old_one(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "CFGNO")
    async with _open(csms_server, "2.0.1", "CFGNO", OLD) as ws:
        await _boot(ws, "2.0.1")
        cli = asyncio.create_task(
            run_cli(
                cli_env,
                "chargers",
                "config",
                "set",
                "CFGNO",
                "SecurityCtrlr.BasicAuthPassword",
                "rejected-by-station",
            )
        )
        call = await answer_one_call(ws, _set_answer("2.0.1", "Rejected"))
        result = await cli
    assert _password_sent("2.0.1", call) == "rejected-by-station"
    assert result.code == 1
    assert "CFGNO: SetVariables Rejected" in result.out
    assert await _handshake(csms_server, "2.0.1", "CFGNO", OLD) == 101
    assert await _handshake(csms_server, "2.0.1", "CFGNO", "rejected-by-station") == 401


async def test_config_set_of_the_password_of_an_offline_charger_changes_nothing(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "CFGOFF")
    result = await run_cli(
        cli_env, "chargers", "config", "set", "CFGOFF", "AuthorizationKey", "41" * 16
    )
    assert result.code == 1
    assert "not connected" in result.err and "csms chargers rotate-password CFGOFF" in result.err
    stored = await csms_server.db.read(lambda uow: uow.chargers.get("CFGOFF"))
    assert stored.pending_password_hash is None


async def test_config_set_of_an_authorization_key_that_is_not_hex_is_refused_saying_how(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "CFGHEX")
    async with _open(csms_server, "1.6", "CFGHEX", OLD) as ws:
        await _boot(ws, "1.6")
        not_hex = await run_cli(
            cli_env,
            "chargers",
            "config",
            "set",
            "CFGHEX",
            "AuthorizationKey",
            "plain-text-password",
        )
        too_short = await run_cli(
            cli_env, "chargers", "config", "set", "CFGHEX", "AuthorizationKey", "41" * 8
        )
    assert not_hex.code == 1 and "hexadecimal" in not_hex.err
    assert too_short.code == 1 and "16 to 20 bytes" in too_short.err
    stored = await csms_server.db.read(lambda uow: uow.chargers.get("CFGHEX"))
    assert stored.pending_password_hash is None
