"""Changing the security profile a charger must connect with (SPEC "Security profiles and
certificates": ``csms chargers set-profile ID 1|2|3 [--allow-downgrade]``).

Lowering is refused without ``--allow-downgrade``; raising tells the connected charger
(1.6 security whitepaper: ChangeConfiguration SecurityProfile; 2.0.1 A05: SetNetworkProfile,
NetworkConfigurationPriority, Reset OnIdle) and, once it accepted, keeps the profile as
pending. Raw OCPP-J clients over real sockets play the charger.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from csms.config import Settings
from storage.sql import tables as t
from tests.cli.conftest import answer_one_call, run_cli
from tests.gateway.conftest import basic_auth

PASSWORD = "profile-password-1"
PUBLIC_URL = "wss://csms.example.test:9443/ocpp"


@pytest.fixture
async def csms_server(settings_factory: Callable[..., Settings]) -> AsyncIterator[Any]:
    """A running csms that knows the wss:// address chargers reach it at."""
    from csms.server import running_server

    async with running_server(settings_factory(ocpp_public_url=PUBLIC_URL)) as server:
        yield server


async def _add(cli_env: dict[str, str], identity: str, profile: int = 1) -> None:
    result = await run_cli(
        cli_env,
        "chargers",
        "add",
        identity,
        "--password",
        PASSWORD,
        "--security-profile",
        str(profile),
    )
    assert result.code == 0, result.err


def _open(server: Any, version: str, identity: str) -> Any:
    return connect(
        f"{server.ocpp_url}/{identity}",
        subprotocols=[Subprotocol(f"ocpp{version}")],
        additional_headers=basic_auth(identity, PASSWORD),
    )


async def _boot(ws: ClientConnection, version: str) -> None:
    payload: dict[str, Any] = (
        {"chargePointVendor": "Acme", "chargePointModel": "W"}
        if version == "1.6"
        else {"chargingStation": {"vendorName": "Acme", "model": "W"}, "reason": "PowerUp"}
    )
    await ws.send(json.dumps([2, "boot", "BootNotification", payload]))
    assert json.loads(await ws.recv())[2]["status"] == "Accepted"


async def _stored(server: Any, identity: str) -> Any:
    return await server.db.read(lambda uow: uow.chargers.get(identity))


async def _security_events(server: Any, identity: str, kind: str) -> list[Any]:
    events = await server.db.read(lambda uow: uow.security_events.list(kind=kind))
    return [e for e in events if e.charger_id == identity]


async def _issue_certificate(
    server: Any, identity: str, *, not_after: datetime, kind: str = "ChargingStationCertificate"
) -> None:
    now = datetime.now(UTC)
    await server.db.write(
        lambda uow: uow.conn.execute(
            t.issued_certificates.insert().values(
                serial=f"{identity}{kind}{not_after:%Y%m%d}".upper().encode().hex()[:64],
                charger_id=identity,
                certificate_type=kind,
                subject=f"CN={identity},O=csms",
                not_before=now - timedelta(days=400),
                not_after=not_after,
                fingerprint="AB" * 32,
                pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
                issued_at=now - timedelta(days=400),
            )
        )
    )


def _variable_result(component: str, variable: str, status: str, value: str | None = None) -> Any:
    result: dict[str, Any] = {
        "attributeStatus": status,
        "component": {"name": component},
        "variable": {"name": variable},
    }
    if value is not None:
        result["attributeValue"] = value
    return result


# -- lowering ---------------------------------------------------------------------------


async def test_lowering_the_profile_is_refused_without_allow_downgrade_saying_how(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "LOW", profile=2)
    result = await run_cli(cli_env, "chargers", "set-profile", "LOW", "1")
    assert result.code == 1
    assert "requires security profile 2" in result.err and "--allow-downgrade" in result.err
    assert (await _stored(csms_server, "LOW")).security_profile == 2
    assert not await _security_events(csms_server, "LOW", "SecurityProfileLowered")


async def test_lowering_with_allow_downgrade_applies_at_once_and_is_recorded(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "LOWOK", profile=3)
    result = await run_cli(
        cli_env, "chargers", "set-profile", "LOWOK", "2", "--allow-downgrade", "--json"
    )
    assert result.code == 0, result.err
    answer = result.json()
    assert answer["change"] == "lowered" and answer["security_profile"] == 2
    assert (await _stored(csms_server, "LOWOK")).security_profile == 2
    (event,) = await _security_events(csms_server, "LOWOK", "SecurityProfileLowered")
    assert event.details == {"from": 3, "to": 2}


async def test_setting_the_profile_a_charger_already_has_changes_nothing(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "SAME", profile=2)
    result = await run_cli(cli_env, "chargers", "set-profile", "SAME", "2")
    assert result.code == 0, result.err
    assert "already requires security profile 2" in result.out


# -- raising: 1.6 -----------------------------------------------------------------------


async def test_raising_a_16_charger_sends_security_profile_and_keeps_it_pending_once_accepted(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    """1.6 security whitepaper: ChangeConfiguration SecurityProfile; the charger reconnects
    with the new profile, which is then required."""
    await _add(cli_env, "UP16")
    async with _open(csms_server, "1.6", "UP16") as ws:
        await _boot(ws, "1.6")
        cli = asyncio.create_task(run_cli(cli_env, "chargers", "set-profile", "UP16", "2"))
        call = await answer_one_call(ws, {"status": "Accepted"})
        result = await cli
    assert call[2:] == ["ChangeConfiguration", {"key": "SecurityProfile", "value": "2"}]
    assert result.code == 0, result.err
    assert "UP16: ChangeConfiguration Accepted" in result.out
    assert "pending: 2" in result.out
    stored = await _stored(csms_server, "UP16")
    assert (stored.security_profile, stored.pending_security_profile) == (1, 2)
    (event,) = await _security_events(csms_server, "UP16", "SecurityProfileRaiseAccepted")
    assert (event.details["from"], event.details["to"]) == (1, 2)
    shown = await run_cli(cli_env, "chargers", "show", "UP16")
    assert "pending security profile: 2" in shown.out


async def test_a_16_charger_refusing_the_new_profile_is_reported_and_nothing_is_stored(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "NO16")
    async with _open(csms_server, "1.6", "NO16") as ws:
        await _boot(ws, "1.6")
        cli = asyncio.create_task(run_cli(cli_env, "chargers", "set-profile", "NO16", "2"))
        await answer_one_call(ws, {"status": "Rejected"})
        result = await cli
    assert result.code == 1
    assert "refused" in result.err and "nothing changed" in result.err
    assert (await _stored(csms_server, "NO16")).pending_security_profile is None
    assert not await _security_events(csms_server, "NO16", "SecurityProfileRaiseAccepted")


# -- raising: 2.0.1 ---------------------------------------------------------------------


async def test_raising_a_201_station_sends_network_profile_priority_and_reset_then_pending(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    """2.0.1 A05: SetNetworkProfile in a free slot, NetworkConfigurationPriority with it
    first, Reset OnIdle; the new profile is pending once the station took it."""
    await _add(cli_env, "UP201")
    async with _open(csms_server, "2.0.1", "UP201") as ws:
        await _boot(ws, "2.0.1")
        cli = asyncio.create_task(run_cli(cli_env, "chargers", "set-profile", "UP201", "2"))
        read = await answer_one_call(
            ws,
            {
                "getVariableResult": [
                    _variable_result(
                        "OCPPCommCtrlr", "NetworkConfigurationPriority", "Accepted", "1"
                    )
                ]
            },
        )
        network = await answer_one_call(ws, {"status": "Accepted"})
        priority = await answer_one_call(
            ws,
            {
                "setVariableResult": [
                    _variable_result("OCPPCommCtrlr", "NetworkConfigurationPriority", "Accepted")
                ]
            },
        )
        reset = await answer_one_call(ws, {"status": "Accepted"})
        result = await cli
    assert result.code == 0, result.err
    assert read[2] == "GetVariables"
    assert read[3]["getVariableData"][0]["variable"] == {"name": "NetworkConfigurationPriority"}
    assert network[2:] == [
        "SetNetworkProfile",
        {
            "configurationSlot": 2,
            "connectionData": {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": PUBLIC_URL,
                "messageTimeout": 30,
                "securityProfile": 2,
                "ocppInterface": "Wired0",
            },
        },
    ]
    assert priority[2] == "SetVariables"
    (item,) = priority[3]["setVariableData"]
    assert (item["variable"]["name"], item["attributeValue"]) == (
        "NetworkConfigurationPriority",
        "2,1",
    )
    assert reset[2:] == ["Reset", {"type": "OnIdle"}]
    for action in ("GetVariables", "SetNetworkProfile", "SetVariables", "Reset"):
        assert f"UP201: {action} Accepted" in result.out
    stored = await _stored(csms_server, "UP201")
    assert (stored.security_profile, stored.pending_security_profile) == (1, 2)
    assert await _security_events(csms_server, "UP201", "SecurityProfileRaiseAccepted")


async def test_a_201_station_refusing_the_network_profile_changes_nothing_after_it(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "NO201")
    async with _open(csms_server, "2.0.1", "NO201") as ws:
        await _boot(ws, "2.0.1")
        cli = asyncio.create_task(
            run_cli(cli_env, "chargers", "set-profile", "NO201", "2", "--slot", "5", "--json")
        )
        await answer_one_call(
            ws,
            {
                "getVariableResult": [
                    _variable_result(
                        "OCPPCommCtrlr", "NetworkConfigurationPriority", "Accepted", "0,1"
                    )
                ]
            },
        )
        network = await answer_one_call(ws, {"status": "Rejected"})
        result = await cli
        # Nothing more was sent after the refusal.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), timeout=0.3)
    assert network[3]["configurationSlot"] == 5
    assert result.code == 1
    answer = result.json()
    assert answer["change"] == "refused"
    assert [s["action"] for s in answer["steps"]] == ["GetVariables", "SetNetworkProfile"]
    assert (await _stored(csms_server, "NO201")).pending_security_profile is None


async def test_raising_a_201_station_without_a_public_wss_url_is_refused_saying_which_setting(
    settings_factory: Callable[..., Settings],
) -> None:
    from csms.server import running_server

    async with running_server(settings_factory()) as server:
        env = {
            "CSMS_HOME": str(server.settings.home),
            "CSMS_API_URL": server.api_url,
            "CSMS_DATABASE_URL": server.settings.database.url,
        }
        await _add(env, "NOURL")
        async with _open(server, "2.0.1", "NOURL") as ws:
            await _boot(ws, "2.0.1")
            result = await run_cli(env, "chargers", "set-profile", "NOURL", "2")
            plain = await run_cli(
                env, "chargers", "set-profile", "NOURL", "2", "--url", "ws://plain.example/ocpp"
            )
        assert result.code == 1 and "CSMS_OCPP_PUBLIC_URL" in result.err
        assert plain.code == 1 and "wss://" in plain.err
        assert (await _stored(server, "NOURL")).pending_security_profile is None


# -- refusals before anything is sent -------------------------------------------------------


async def test_raising_to_3_without_a_certificate_from_csms_is_refused_unless_forced(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "TO3")
    # One that expired, and a V2G certificate, do not count.
    await _issue_certificate(csms_server, "TO3", not_after=datetime.now(UTC) - timedelta(days=1))
    await _issue_certificate(
        csms_server, "TO3", not_after=datetime.now(UTC) + timedelta(days=30), kind="V2GCertificate"
    )
    async with _open(csms_server, "1.6", "TO3") as ws:
        await _boot(ws, "1.6")
        refused = await run_cli(cli_env, "chargers", "set-profile", "TO3", "3")
        assert refused.code == 1
        assert "no valid certificate" in refused.err
        assert "csms chargers certificates renew TO3" in refused.err and "--force" in refused.err
        assert (await _stored(csms_server, "TO3")).pending_security_profile is None

        cli = asyncio.create_task(
            run_cli(cli_env, "chargers", "set-profile", "TO3", "3", "--force")
        )
        call = await answer_one_call(ws, {"status": "Accepted"})
        forced = await cli
    assert call[3] == {"key": "SecurityProfile", "value": "3"}
    assert forced.code == 0, forced.err
    assert (await _stored(csms_server, "TO3")).pending_security_profile == 3


async def test_raising_to_3_a_charger_csms_issued_a_valid_certificate_to_is_sent(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "CERT")
    await _issue_certificate(csms_server, "CERT", not_after=datetime.now(UTC) + timedelta(days=30))
    async with _open(csms_server, "1.6", "CERT") as ws:
        await _boot(ws, "1.6")
        cli = asyncio.create_task(run_cli(cli_env, "chargers", "set-profile", "CERT", "3"))
        call = await answer_one_call(ws, {"status": "Accepted"})
        result = await cli
    assert call[3] == {"key": "SecurityProfile", "value": "3"}
    assert result.code == 0, result.err
    assert (await _stored(csms_server, "CERT")).pending_security_profile == 3


async def test_raising_the_profile_of_an_offline_charger_is_refused_and_nothing_is_stored(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await _add(cli_env, "GONE")
    result = await run_cli(cli_env, "chargers", "set-profile", "GONE", "2")
    assert result.code == 1
    assert "not connected" in result.err and "try again" in result.err
    assert (await _stored(csms_server, "GONE")).pending_security_profile is None


@pytest.mark.parametrize("bad", ["0", "4", "two"])
async def test_set_profile_takes_only_profiles_1_to_3(
    csms_server: Any, cli_env: dict[str, str], bad: str
) -> None:
    result = await run_cli(cli_env, "chargers", "set-profile", "ANY", bad)
    assert result.code == 2
    assert "1 (Basic auth), 2 (TLS + Basic auth) or 3 (TLS client certificate)" in result.err
