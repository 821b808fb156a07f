"""The load generator: percentiles, the closed loop, error accounting."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bench.echo_server import start_echo_server
from protocol import ErrorCode, OCPPError
from simulators.load import LoadConfig, LoadGenerator, check_loopback_url, run_load
from simulators.stats import percentile, summarize_latencies
from tests.simulators.fake_csms import NO_ANSWER, CSMSCallError, FakeCSMS


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([1, 2, 3, 4], 0.5, 2.5),
        ([1, 2, 3, 4], 0.0, 1.0),
        ([1, 2, 3, 4], 1.0, 4.0),
        ([10, 20, 30, 40, 50], 0.95, 48.0),
        (list(range(1, 101)), 0.99, 99.01),
        (list(range(1, 101)), 0.5, 50.5),
        ([7], 0.99, 7.0),
    ],
)
def test_percentile_interpolates_linearly_between_ranks(
    values: list[float], fraction: float, expected: float
) -> None:
    assert percentile(values, fraction) == pytest.approx(expected)


def test_percentile_of_nothing_is_nan_and_fraction_is_checked() -> None:
    assert math.isnan(percentile([], 0.5))
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_latency_summary_sorts_and_converts_to_milliseconds() -> None:
    summary = summarize_latencies([0.004, 0.001, 0.003, 0.002])
    assert summary.count == 4
    assert summary.p50_ms == pytest.approx(2.5)
    assert summary.p99_ms == pytest.approx(3.97)
    assert summary.max_ms == pytest.approx(4.0)
    assert summary.mean_ms == pytest.approx(2.5)


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:9000/ocpp", "ws://localhost/ocpp", "ws://[::1]:1/x", "wss://127.0.0.2"]
)
def test_loopback_urls_are_allowed(url: str) -> None:
    check_loopback_url(url)


@pytest.mark.parametrize(
    "url", ["ws://example.com/ocpp", "ws://10.0.0.1:9000/ocpp", "http://127.0.0.1:9000"]
)
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_loopback_url(url)


@pytest.fixture
async def echo_url() -> AsyncIterator[str]:
    server = await start_echo_server("127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"
    finally:
        server.close()
        await server.wait_closed()


async def test_heartbeat_loop_against_the_echo_server_measures_calls(echo_url: str) -> None:
    report = await run_load(LoadConfig(url=echo_url, chargers=5, duration=0.5))
    assert (report.booted, report.errors) == (5, 0)
    assert report.calls > 50
    assert report.calls_per_s == pytest.approx(report.calls / report.duration_s)
    assert 0 < report.p50_ms <= report.p95_ms <= report.p99_ms <= report.max_ms


async def test_ramp_spreads_the_connects_over_the_given_time(echo_url: str) -> None:
    config = LoadConfig(url=echo_url, chargers=4, duration=0.1, ramp=0.4, mode="idle")
    async with LoadGenerator(config) as load:
        seconds = await load.connect_all()
    assert seconds >= 0.3  # the last of 4 starts 0.3 s after the first


async def test_meter_mode_sends_schema_valid_meter_values_of_one_transaction(
    csms: FakeCSMS,
) -> None:
    report = await run_load(
        LoadConfig(url=csms.url, chargers=3, duration=0.3, mode="meter", id_prefix="M")
    )
    assert report.errors == 0 and report.calls > 0
    assert csms.refused == []  # the hand-built frames pass the 1.6 schemas
    assert sorted(set(csms.connects)) == ["M00000", "M00001", "M00002"]
    assert len(csms.of("StartTransaction")) == 3
    for record in csms.of("MeterValues"):
        samples = record.payload["meterValue"][0]["sampledValue"]
        assert [s["measurand"] for s in samples] == [
            "Energy.Active.Import.Register",
            "Power.Active.Import",
        ]
        assert record.payload["transactionId"] in range(1000, 1003)
    per_charger = {r.identity: r.payload["transactionId"] for r in csms.of("MeterValues")}
    assert len(set(per_charger.values())) == 3  # each charger its own transaction


async def test_sessions_mode_runs_whole_sessions(csms: FakeCSMS) -> None:
    report = await run_load(LoadConfig(url=csms.url, chargers=2, duration=0.5, mode="sessions"))
    assert report.errors == 0 and report.sessions_completed > 0
    assert csms.refused == []
    first = [r.action for r in csms.received if r.identity == "LOAD00000"][:7]
    assert first == [
        "BootNotification",
        "Authorize",
        "StartTransaction",
        "MeterValues",
        "MeterValues",
        "MeterValues",
        "StopTransaction",
    ]


async def test_call_errors_are_counted_not_measured(csms: FakeCSMS) -> None:
    def refuse(identity: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise OCPPError(ErrorCode.INTERNAL_ERROR, "nope")

    csms.rules["Heartbeat"] = refuse
    report = await run_load(LoadConfig(url=csms.url, chargers=2, duration=0.3))
    assert report.call_errors > 0
    assert report.calls == 0  # failed calls are not latency samples
    assert any("InternalError" in message for message in report.first_errors)


async def test_unanswered_calls_count_as_timeouts_and_the_run_still_ends_on_time(
    csms: FakeCSMS,
) -> None:
    csms.rules["Heartbeat"] = lambda identity, payload: NO_ANSWER
    started = time.monotonic()
    report = await run_load(LoadConfig(url=csms.url, chargers=2, duration=0.6, call_timeout=0.2))
    assert time.monotonic() - started < 3
    assert report.timeouts >= 2
    assert report.calls == 0


async def test_chargers_that_cannot_boot_are_reported_and_left_out(csms: FakeCSMS) -> None:
    csms.rules["BootNotification"] = lambda identity, payload: {
        "status": "Rejected",
        "currentTime": "2030-01-01T00:00:00Z",
        "interval": 60,
    }
    report = await run_load(LoadConfig(url=csms.url, chargers=2, duration=0.1))
    assert (report.booted, report.boot_failures) == (0, 2)


async def test_idle_mode_keeps_connections_open_until_closed(echo_url: str) -> None:
    async with LoadGenerator(
        LoadConfig(url=echo_url, chargers=20, duration=0.1, mode="idle")
    ) as load:
        seconds = await load.connect_all()
        assert load.booted == 20 and seconds > 0
        report = await load.run()
        assert report.calls == 0 and report.booted == 20
    assert load.booted == 0  # closed


async def test_server_calls_during_the_loop_are_refused_politely(csms: FakeCSMS) -> None:
    config = LoadConfig(url=csms.url, chargers=1, duration=0.5, mode="idle")
    async with LoadGenerator(config) as load:
        await load.connect_all()
        run = asyncio.create_task(load.run())
        await asyncio.sleep(0.1)
        with pytest.raises(CSMSCallError) as error:
            await csms.call("LOAD00000", "GetConfiguration", {})
        assert error.value.code == "NotSupported"
        await run


async def test_txevent_mode_updates_one_running_transaction_per_charger_with_growing_seq_no(
    csms: FakeCSMS,
) -> None:
    """2.0.1: TransactionEvent Started once, then Updated with two sampled values."""
    report = await run_load(
        LoadConfig(
            url=csms.url,
            chargers=3,
            duration=0.3,
            protocol="ocpp2.0.1",
            mode="txevent",
            id_prefix="T",
        )
    )
    assert report.errors == 0 and report.calls > 0 and report.booted == 3
    assert csms.refused == []  # the hand-built frames pass the 2.0.1 schemas
    assert {csms.versions[i].value for i in ("T00000", "T00001", "T00002")} == {"ocpp2.0.1"}
    by_charger: dict[str, list[dict[str, Any]]] = {}
    for record in csms.of("TransactionEvent"):
        by_charger.setdefault(record.identity, []).append(record.payload)
    assert sorted(by_charger) == ["T00000", "T00001", "T00002"]
    transaction_ids = set()
    for events in by_charger.values():
        started, *updates = events
        assert started["eventType"] == "Started" and started["seqNo"] == 0
        assert started["idToken"] == {"idToken": "LOADTAG", "type": "ISO14443"}
        assert updates and all(e["eventType"] == "Updated" for e in updates)
        assert [e["seqNo"] for e in events] == list(range(len(events)))
        ids = {e["transactionInfo"]["transactionId"] for e in events}
        assert len(ids) == 1
        transaction_ids |= ids
        samples = updates[0]["meterValue"][0]["sampledValue"]
        assert [(s["measurand"], s["context"]) for s in samples] == [
            ("Energy.Active.Import.Register", "Sample.Periodic"),
            ("Power.Active.Import", "Sample.Periodic"),
        ]
    assert len(transaction_ids) == 3  # each charger its own transaction


def test_txevent_mode_needs_ocpp201_and_sessions_mode_needs_ocpp16() -> None:
    with pytest.raises(ValueError, match=r"ocpp2\.0\.1"):
        LoadConfig(url="ws://127.0.0.1:1/ocpp", chargers=1, duration=1, mode="txevent")
    with pytest.raises(ValueError, match=r"ocpp1\.6"):
        LoadConfig(
            url="ws://127.0.0.1:1/ocpp",
            chargers=1,
            duration=1,
            mode="sessions",
            protocol="ocpp2.0.1",
        )


async def test_ocpp201_meter_mode_sends_meter_values_without_a_transaction(
    csms: FakeCSMS,
) -> None:
    report = await run_load(
        LoadConfig(url=csms.url, chargers=2, duration=0.2, protocol="ocpp2.0.1", mode="meter")
    )
    assert report.errors == 0 and report.calls > 0
    assert csms.refused == [] and csms.of("TransactionEvent") == []
    assert csms.of("MeterValues")[0].payload["evseId"] == 1


async def test_a_csms_refusing_transaction_events_is_reported_with_the_action(
    csms: FakeCSMS,
) -> None:
    def refuse(identity: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise OCPPError(ErrorCode.NOT_IMPLEMENTED, "TransactionEvent is not implemented")

    csms.rules["TransactionEvent"] = refuse
    report = await run_load(
        LoadConfig(url=csms.url, chargers=2, duration=0.1, protocol="ocpp2.0.1", mode="txevent")
    )
    assert (report.booted, report.boot_failures) == (0, 2)
    assert any(
        "TransactionEvent answered with CALLERROR NotImplemented" in message
        for message in report.first_errors
    )
