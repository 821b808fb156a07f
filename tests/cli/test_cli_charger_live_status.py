"""A charger in use does not read ``Available`` (issue 18 item 13): its status comes from
its connectors and running sessions, not only from what it says about itself (1.6
connector 0; a 2.0.1 station says nothing for itself). Simulators over real sockets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from csms.domain.charging.stations import add_charger
from simulators import ChargePoint16, ChargePoint201
from tests.cli.conftest import run_cli
from tests.waiting import eventually

CARD = "04D1A2B3C4"


async def _provision(server: Any, charger_id: str) -> str:
    now = datetime.now(UTC)

    def run(uow: Any) -> str:
        uow.id_tags.add(uid=CARD, status="active", created_at=now)
        return str(add_charger(uow, charger_id=charger_id, now=now)[1])

    return str(await server.db.write(run))


async def _status(env: dict[str, str], charger_id: str) -> tuple[str, str]:
    """(``chargers list`` status, ``chargers show`` status)."""
    listed = await run_cli(env, "chargers", "list", "--json")
    shown = await run_cli(env, "chargers", "show", charger_id, "--json")
    [row] = [c for c in listed.json() if c["id"] == charger_id]
    return row["status"], shown.json()["status"]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_charger_whose_connector_charges_reads_charging_not_available(
    csms_server: Any, cli_env: dict[str, str], version: str
) -> None:
    password = await _provision(csms_server, "LIVE")
    cls = ChargePoint16 if version == "1.6" else ChargePoint201
    async with cls(
        url=csms_server.ocpp_url, identity="LIVE", password=password, speed=3600
    ) as station:
        await station.boot()
        await eventually(lambda: _is(cli_env, "Available"))

        tx = await station.start_transaction(id_tag=CARD)
        if isinstance(station, ChargePoint16):
            await station.set_status(1, "Charging")
        else:
            await station.set_status(1, "Occupied")
        assert await _status(cli_env, "LIVE") == ("Charging", "Charging")

        await station.stop_transaction(tx)
        if isinstance(station, ChargePoint16):
            await station.set_status(1, "Finishing")
            assert await _status(cli_env, "LIVE") == ("Occupied", "Occupied")
        await station.set_status(1, "Available")
        assert await _status(cli_env, "LIVE") == ("Available", "Available")


async def _is(env: dict[str, str], status: str) -> bool:
    return await _status(env, "LIVE") == (status, status)
