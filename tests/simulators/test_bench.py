"""The benchmark harness: echo baseline, subprocess hygiene, the results table."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from bench.echo_server import BOOT_INTERVAL_S, start_echo_server
from bench.harness import BenchOptions, BenchResults, IdleResult, ThroughputResult, format_results
from bench.processes import StepFailed, start_echo, tree_rss_kib
from simulators.load import LoadReport

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] != "Z"


async def test_echo_server_answers_with_the_fields_the_load_generator_needs() -> None:
    server = await start_echo_server("127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with connect(f"ws://127.0.0.1:{port}/ocpp/E1", subprotocols=["ocpp1.6"]) as ws:
            answers = []
            for frame in (
                '[2,"1","BootNotification",{"chargePointVendor":"v","chargePointModel":"m"}]',
                '[2,"2","StartTransaction",{"connectorId":1,"idTag":"T","meterStart":0,'
                '"timestamp":"2030-01-01T00:00:00Z"}]',
                '[2,"3","MeterValues",{"connectorId":1,"meterValue":[]}]',
                '[2,"4","Authorize",{"idTag":"T"}]',
            ):
                await ws.send(frame)
                answers.append(json.loads(await ws.recv()))
    finally:
        server.close()
        await server.wait_closed()
    boot, start, meter, authorize = answers
    assert boot[:2] == [3, "1"] and boot[2]["status"] == "Accepted"
    assert boot[2]["interval"] == BOOT_INTERVAL_S and "currentTime" in boot[2]
    assert start[2]["idTagInfo"] == {"status": "Accepted"}
    assert isinstance(start[2]["transactionId"], int)
    assert meter == [3, "3", {}]
    assert authorize[2] == {"idTagInfo": {"status": "Accepted"}}


async def test_echo_subprocess_reports_its_port_and_is_killed_on_exit() -> None:
    async with start_echo() as server:
        pid = server.pid
        assert _alive(pid)
        assert tree_rss_kib(pid) > 1000
        async with connect(f"ws://127.0.0.1:{server.port}/ocpp/X", subprotocols=["ocpp1.6"]):
            pass
    assert not _alive(pid)


async def test_echo_subprocess_is_killed_when_the_step_fails() -> None:
    pid = None
    with pytest.raises(StepFailed):
        async with start_echo() as server:
            pid = server.pid
            raise StepFailed("boom")
    assert pid is not None and not _alive(pid)


def _report(
    calls_per_s: float, p99_ms: float, *, mode: str = "meter", protocol: str = "ocpp1.6"
) -> LoadReport:
    return LoadReport(
        mode=mode,
        protocol=protocol,
        chargers=100,
        booted=100,
        connect_failures=0,
        boot_failures=0,
        setup_seconds=1.0,
        setup_rate_per_s=100.0,
        duration_s=15.0,
        calls=int(calls_per_s * 15),
        calls_per_s=calls_per_s,
        p50_ms=5.0,
        p95_ms=8.0,
        p99_ms=p99_ms,
        max_ms=p99_ms + 1,
        call_errors=0,
        timeouts=0,
        disconnects=0,
    )


def test_results_table_shows_the_ratio_and_the_targets() -> None:
    results = BenchResults(options=BenchOptions(), started_at="2030-01-01T00:00:00+00:00")
    results.throughput["echo"] = ThroughputResult("echo", _report(8000, 20.0), 90.0, 95.0)
    results.throughput["csms"] = ThroughputResult("csms", _report(3000, 150.0), 99.0, 60.0)
    results.idle = IdleResult(
        target="csms",
        connections=5000,
        requested=5000,
        setup_seconds=10.0,
        rate_per_s=500.0,
        rss_before_kib=50_000,
        rss_after_kib=200_000,
        rss_per_connection_kib=30.0,
    )
    assert results.ratio == pytest.approx(0.375)
    table = format_results(results)
    lines = table.splitlines()
    assert any(line.startswith("echo") and "8,000" in line for line in lines)
    assert any(line.startswith("csms") and "3,000" in line for line in lines)
    assert any("0.38 x" in line and line.endswith("MISSED") for line in lines)
    assert any("p99 < 100 ms" in line and line.endswith("MISSED") for line in lines)
    assert any("RSS per idle connection" in line and line.endswith("ok") for line in lines)
    assert "500 chargers/s" in table and "30.0 KiB per connection" in table
    assert results.to_dict()["csms_to_echo_ratio"] == pytest.approx(0.375)


def test_results_table_shows_the_2_0_1_steps_and_their_own_ratio() -> None:
    results = BenchResults(options=BenchOptions(), started_at="2030-01-01T00:00:00+00:00")
    results.throughput["echo"] = ThroughputResult("echo", _report(8000, 20.0))
    results.throughput["csms"] = ThroughputResult("csms", _report(4800, 30.0))
    v201 = {"mode": "txevent", "protocol": "ocpp2.0.1"}
    results.throughput["echo201"] = ThroughputResult("echo201", _report(7000, 20.0, **v201))
    results.throughput["csms201"] = ThroughputResult("csms201", _report(2100, 40.0, **v201))
    assert results.ratio == pytest.approx(0.6)
    assert results.ratio201 == pytest.approx(0.3)
    lines = format_results(results).splitlines()
    assert any(line.startswith("echo201") and "7,000" in line for line in lines)
    assert any(line.startswith("csms201") and "2,100" in line for line in lines)
    assert any(
        "csms calls/s >= 0.5 x echo" in line and "0.60 x" in line and line.endswith("ok")
        for line in lines
    )
    assert any(
        "csms201 calls/s >= 0.5 x echo201" in line and "0.30 x" in line and line.endswith("MISSED")
        for line in lines
    )
    saved = results.to_dict()
    assert saved["csms_to_echo_ratio"] == pytest.approx(0.6)
    assert saved["csms201_to_echo201_ratio"] == pytest.approx(0.3)


def test_a_2_0_1_step_that_failed_is_shown_with_its_error() -> None:
    results = BenchResults(options=BenchOptions(), started_at="x")
    results.throughput["echo201"] = ThroughputResult("echo201", _report(7000, 20.0))
    results.throughput["csms201"] = ThroughputResult(
        "csms201",
        error="no charger could boot against csms201: BENCH201-00000: TransactionEvent "
        "answered with CALLERROR NotImplemented: requested action is not known",
    )
    table = format_results(results)
    assert "csms201   FAILED: no charger could boot" in table
    assert "CALLERROR NotImplemented" in table
    assert any("csms201 calls/s" in line and line.endswith("n/a") for line in table.splitlines())


def test_results_without_csms_have_no_ratio() -> None:
    results = BenchResults(options=BenchOptions(), started_at="x")
    results.throughput["echo"] = ThroughputResult("echo", _report(8000, 20.0))
    assert math.isnan(results.ratio)
    assert "n/a" in format_results(results)


def _saved(directory: Path) -> list[Path]:
    return list(directory.glob("bench-*.json"))


async def _bench(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(90):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_bench_echo_step_runs_end_to_end() -> None:
    code, out, err = await _bench(
        "--only", "echo", "--chargers", "5", "--duration", "0.5", "--warmup", "0.1",
        "--results-dir", "", "--json",
    )  # fmt: skip
    assert code == 0, err
    results = json.loads(out)
    report = results["throughput"]["echo"]["report"]
    assert report["booted"] == 5 and report["calls"] > 0
    assert report["call_errors"] == report["timeouts"] == 0
    assert "csms" not in results["throughput"]


async def test_bench_echo201_step_runs_the_transaction_event_load() -> None:
    code, out, err = await _bench(
        "--only", "echo201", "--chargers", "5", "--duration", "0.5", "--warmup", "0.1",
        "--results-dir", "", "--json",
    )  # fmt: skip
    assert code == 0, err
    results = json.loads(out)
    report = results["throughput"]["echo201"]["report"]
    assert (report["protocol"], report["mode"]) == ("ocpp2.0.1", "txevent")
    assert report["booted"] == 5 and report["calls"] > 0
    assert report["call_errors"] == report["timeouts"] == 0
    assert list(results["throughput"]) == ["echo201"]


async def test_bench_reports_a_csms_that_cannot_start_and_exits_non_zero(tmp_path: Path) -> None:
    failing = f"{sys.executable} -c 'import sys; print(\"no database\"); sys.exit(4)'"
    code, out, _ = await _bench(
        "--only", "csms", "--chargers", "2", "--duration", "0.2", "--warmup", "0",
        "--csms-command", failing, "--results-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 1
    assert "csms" in out and "FAILED" in out and "status 4" in out
    assert len(_saved(tmp_path)) == 1


async def test_bench_idle_step_measures_connections_per_second_and_rss() -> None:
    code, out, err = await _bench(
        "--only", "idle", "--idle-target", "echo", "--idle-chargers", "200",
        "--results-dir", "", "--json",
    )  # fmt: skip
    assert code == 0, err
    idle = json.loads(out)["idle"]
    assert idle["connections"] == 200 and idle["failures"] == 0
    assert idle["rate_per_s"] > 0
    assert idle["rss_after_kib"] > idle["rss_before_kib"]
    assert idle["rss_per_connection_kib"] > 0
