"""``csms chargers archive``: a charger with history is hidden and refused, its sessions
kept (issue 18 item 13). A real server and a simulated charger over real sockets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from csms.domain.charging.stations import add_charger
from simulators import ChargePoint16, HandshakeFailed
from tests.cli.conftest import run_cli
from tests.waiting import eventually

CARD = "04E1A2B3C4"


async def _provision(server: Any, *charger_ids: str) -> dict[str, str]:
    now = datetime.now(UTC)

    def run(uow: Any) -> dict[str, str]:
        uow.id_tags.add(uid=CARD, status="active", created_at=now)
        return {cid: str(add_charger(uow, charger_id=cid, now=now)[1]) for cid in charger_ids}

    return dict(await server.db.write(run))


def _station(server: Any, password: str) -> ChargePoint16:
    return ChargePoint16(
        url=server.ocpp_url, identity="OLD", password=password, speed=3600, reconnect_delays=(5,)
    )


async def _ids(env: dict[str, str], *options: str) -> list[str]:
    result = await run_cli(env, "chargers", "list", *options, "--json")
    assert result.code == 0, result.err
    return [c["id"] for c in result.json()]


async def test_an_archived_charger_is_hidden_refused_and_keeps_its_sessions(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    passwords = await _provision(csms_server, "OLD", "NEW")
    async with _station(csms_server, passwords["OLD"]) as cp:
        await cp.boot()
        tx = await cp.start_transaction(id_tag=CARD)
        cp.deliver_energy(1, 1000)
        await cp.stop_transaction(tx)

        removed = await run_cli(cli_env, "chargers", "remove", "OLD")
        assert removed.code == 1
        assert "archive it instead: `csms chargers archive OLD`" in removed.err

        archived = await run_cli(cli_env, "chargers", "archive", "OLD")
        assert archived.code == 0, archived.err
        assert "archived charger OLD" in archived.out
        # a connected charger is disconnected
        await eventually(lambda: not csms_server.router.is_connected("OLD"))

    try:
        async with _station(csms_server, passwords["OLD"]):
            status = 101
    except HandshakeFailed as exc:
        status = exc.status or 0
    assert status == 404  # like an unknown charger

    assert await _ids(cli_env) == ["NEW"]
    assert await _ids(cli_env, "--archived") == ["OLD"]
    assert await _ids(cli_env, "--all") == ["NEW", "OLD"]
    shown = await run_cli(cli_env, "chargers", "show", "OLD", "--json")
    assert shown.json()["archived_at"] is not None

    sessions = await run_cli(cli_env, "sessions", "list", "--charger", "OLD", "--json")
    [session] = sessions.json()
    assert session["energy_wh"] == 1000 and session["status"] == "completed"

    back = await run_cli(cli_env, "chargers", "unarchive", "OLD")
    assert back.code == 0, back.err
    assert await _ids(cli_env) == ["NEW", "OLD"]
    async with _station(csms_server, passwords["OLD"]) as cp:
        await cp.boot()
        assert cp.accepted
