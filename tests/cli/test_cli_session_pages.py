"""``csms sessions list`` pages and says when more sessions exist (issue 18 item 13)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import add_charger_for, add_session
from tests.cli.conftest import run_cli


async def test_sessions_list_says_how_to_get_the_next_page_and_json_stays_a_list(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await add_charger_for(csms_server.db, "CP1")
    ids = [await add_session(csms_server.db, "CP1", stop=True, minute=m) for m in range(3)]

    first = await run_cli(cli_env, "sessions", "list", "--limit", "2", "--json")
    assert first.code == 0, first.err
    rows = first.json()
    assert isinstance(rows, list) and [r["id"] for r in rows] == ids[:0:-1]
    assert f"--before {ids[1]}" in first.err

    people = await run_cli(cli_env, "sessions", "list", "--limit", "2")
    assert f"--before {ids[1]}" in people.err and "more sessions" in people.err

    last = await run_cli(
        cli_env, "sessions", "list", "--limit", "2", "--before", str(ids[1]), "--json"
    )
    assert last.code == 0, last.err
    assert [r["id"] for r in last.json()] == [ids[0]]
    assert last.err == ""

    everything = await run_cli(cli_env, "sessions", "list", "--json")
    assert len(everything.json()) == 3 and everything.err == ""


async def test_a_running_session_shows_its_energy_so_far(
    csms_server: Any, cli_env: dict[str, str]
) -> None:
    await add_charger_for(csms_server.db, "CP1")
    running = await add_session(csms_server.db, "CP1")  # 1000 Wh at start, 1500 Wh later
    listed = await run_cli(cli_env, "sessions", "list")
    assert "0.500 so far" in listed.out
    shown = await run_cli(cli_env, "sessions", "show", str(running))
    assert "energy so far (kWh)" in shown.out and "0.500" in shown.out
