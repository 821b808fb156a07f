"""The benchmark harness: echo baseline, subprocess hygiene, rounds, the results table."""

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
from bench.harness import (
    BenchOptions,
    BenchResults,
    IdleResult,
    ThroughputResult,
    _parse,
    format_results,
    schedule,
)
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


def _results(rounds: int = 1, **runs: list[ThroughputResult]) -> BenchResults:
    results = BenchResults(options=BenchOptions(rounds=rounds), started_at="x")
    for name, step_runs in runs.items():
        for run in step_runs:
            results.add(name, run)
    return results


def _runs(name: str, *calls_per_s: float, **kwargs: str) -> list[ThroughputResult]:
    return [ThroughputResult(name, _report(rate, 20.0, **kwargs)) for rate in calls_per_s]


def test_results_table_shows_the_ratio_and_the_targets() -> None:
    results = _results(
        echo=[ThroughputResult("echo", _report(8000, 20.0), 90.0, 95.0)],
        csms=[ThroughputResult("csms", _report(3000, 150.0), 99.0, 60.0)],
    )
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
    assert "one run per step, 8 s measured after 2 s warm-up" in table
    assert any(line.startswith("echo") and "8,000" in line for line in lines)
    assert any(line.startswith("csms") and "3,000" in line for line in lines)
    assert "csms/echo per round: 0.38 (median 0.38)" in lines
    assert not any(line.startswith("calls/s: median") for line in lines)
    assert any("0.38 x" in line and line.endswith("MISSED") for line in lines)
    assert any("p99 < 100 ms" in line and line.endswith("MISSED") for line in lines)
    assert any("RSS per idle connection" in line and line.endswith("ok") for line in lines)
    assert "500 chargers/s" in table and "30.0 KiB per connection" in table
    assert results.to_dict()["csms_to_echo_ratio"] == pytest.approx(0.375)


def test_the_ratio_is_the_median_of_the_round_ratios() -> None:
    # Rounds 0.60, 0.45, 0.40: the median is 0.45; the ratio of the median calls/s would
    # be 6,000 / 15,000 = 0.40, and a single first round 0.60.
    results = _results(
        3, echo=_runs("echo", 10_000, 20_000, 15_000), csms=_runs("csms", 6000, 9000, 6000)
    )
    assert results.round_ratios("csms", "echo") == pytest.approx([0.6, 0.45, 0.4])
    assert results.ratio == pytest.approx(0.45)
    assert results.throughput["echo"].calls_per_s == 15_000
    lines = format_results(results).splitlines()
    assert "csms/echo per round: 0.60 0.45 0.40 (median 0.45)" in lines
    assert any(
        "csms calls/s >= 0.5 x echo" in line and "0.45 x" in line and line.endswith("MISSED")
        for line in lines
    )
    assert any(line.startswith("calls/s: median of the 3 rounds") for line in lines)
    saved = results.to_dict()
    assert saved["csms_to_echo_ratio"] == pytest.approx(0.45)
    assert saved["ratios"]["csms/echo"] == {"rounds": [0.6, 0.45, 0.4], "median": 0.45}
    rounds = saved["throughput"]["echo"]["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3]
    assert [r["report"]["calls_per_s"] for r in rounds] == [10_000, 20_000, 15_000]
    assert saved["throughput"]["echo"]["median_calls_per_s"] == 15_000
    assert saved["throughput"]["echo"]["median_round"] == 3


def test_a_step_row_shows_the_median_calls_and_the_latency_of_that_round() -> None:
    reports = [_report(5000, 30.0), _report(7000, 150.0), _report(3000, 10.0)]
    reports[1].call_errors = 2
    reports[2].timeouts = 1
    runs = [
        ThroughputResult("csms", report, cpu, 50.0)
        for report, cpu in zip(reports, (91.0, 97.0, 80.0), strict=True)
    ]
    results = _results(3, echo=_runs("echo", 10_000, 10_000, 10_000), csms=runs)
    steps = results.throughput["csms"]
    assert steps.median_round == 1 and steps.errors == 3
    lines = format_results(results).splitlines()
    row = next(line for line in lines if line.startswith("csms  "))
    # calls/s of the median round 5,000; its p50, p95, p99, max; errors of all rounds; its CPU
    expected = ["5,000", "5.00", "8.00", "30.00", "31.00", "3", "91", "%", "50", "%"]
    assert row.split()[1:] == expected
    assert any(
        "p99 < 100 ms" in line and "30.00 ms" in line and line.endswith("ok") for line in lines
    )


def test_an_even_number_of_rounds_takes_the_lower_middle_round() -> None:
    results = _results(2, echo=_runs("echo", 9000, 7000))
    steps = results.throughput["echo"]
    assert steps.calls_per_s == 8000  # the true median
    assert steps.median_round == 2  # whose latency is shown: the lower middle one


def test_results_table_shows_the_2_0_1_steps_and_their_own_ratio() -> None:
    v201 = {"mode": "txevent", "protocol": "ocpp2.0.1"}
    results = _results(
        echo=_runs("echo", 8000),
        csms=_runs("csms", 4800),
        echo201=_runs("echo201", 7000, **v201),
        csms201=_runs("csms201", 2100, **v201),
    )
    assert results.ratio == pytest.approx(0.6)
    assert results.ratio201 == pytest.approx(0.3)
    lines = format_results(results).splitlines()
    assert any(line.startswith("echo201") and "7,000" in line for line in lines)
    assert any(line.startswith("csms201") and "2,100" in line for line in lines)
    assert "csms201/echo201 per round: 0.30 (median 0.30)" in lines
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
    failed = ThroughputResult(
        "csms201",
        error="no charger could boot against csms201: BENCH201-00000: TransactionEvent "
        "answered with CALLERROR NotImplemented: requested action is not known",
    )
    results = _results(echo201=_runs("echo201", 7000), csms201=[failed])
    table = format_results(results)
    assert "csms201   FAILED: no charger could boot" in table
    assert "CALLERROR NotImplemented" in table
    assert any("csms201 calls/s" in line and line.endswith("n/a") for line in table.splitlines())
    assert results.failed


def test_a_failed_round_fails_the_step_and_leaves_no_ratio() -> None:
    csms = [*_runs("csms", 6000), ThroughputResult("csms", error="csms serve exited")]
    results = _results(3, echo=_runs("echo", 10_000, 10_000, 10_000), csms=csms)
    assert math.isnan(results.ratio) and results.failed
    lines = format_results(results).splitlines()
    assert "csms      FAILED in round 2 of 3: csms serve exited" in lines
    assert "csms/echo per round: 0.60 - - (median -)" in lines
    assert any("p99 < 100 ms" in line and line.endswith("n/a") for line in lines)
    assert results.to_dict()["throughput"]["csms"]["failed_round"] == 2


def test_results_without_csms_have_no_ratio() -> None:
    results = _results(3, echo=_runs("echo", 8000, 9000, 7000))
    assert math.isnan(results.ratio)
    table = format_results(results)
    assert "n/a" in table and "per round" not in table
    assert results.to_dict()["ratios"] == {}


def test_schedule_alternates_each_baseline_with_its_csms_step() -> None:
    assert schedule(("echo", "csms", "echo201", "csms201", "idle"), 2) == [
        ("echo", 1), ("csms", 1), ("echo", 2), ("csms", 2),
        ("echo201", 1), ("csms201", 1), ("echo201", 2), ("csms201", 2),
    ]  # fmt: skip
    assert schedule(("echo201", "csms201"), 3) == [
        ("echo201", 1), ("csms201", 1), ("echo201", 2), ("csms201", 2),
        ("echo201", 3), ("csms201", 3),
    ]  # fmt: skip
    assert schedule(("csms201",), 3) == [("csms201", 1), ("csms201", 2), ("csms201", 3)]
    assert schedule(("echo", "csms201"), 1) == [("echo", 1), ("csms201", 1)]
    assert schedule(("idle",), 3) == []


def test_rounds_and_durations_on_the_command_line() -> None:
    full, _ = _parse([])
    assert (full.rounds, full.duration, full.warmup) == (3, 8.0, 2.0)
    assert full.steps == ("echo", "csms", "echo201", "csms201", "wss", "idle")
    quick, _ = _parse(["--quick"])
    assert (quick.rounds, quick.duration, quick.warmup) == (1, 3.0, 1.0)
    assert (full.connect_chargers, quick.connect_chargers) == (300, 100)
    custom, _ = _parse(["--rounds", "5", "--duration", "4", "--warmup", "0"])
    assert (custom.rounds, custom.duration, custom.warmup) == (5, 4.0, 0.0)
    quick_rounds, _ = _parse(["--quick", "--rounds", "2"])
    assert (quick_rounds.rounds, quick_rounds.duration) == (2, 3.0)
    only, _ = _parse(["--only", "csms201", "--only", "echo201"])
    assert only.steps == ("echo201", "csms201")


@pytest.mark.parametrize("rounds", ["0", "-1", "two"])
def test_rounds_must_be_a_positive_number(rounds: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parse(["--rounds", rounds])
    assert exit_info.value.code == 2
    assert "--rounds" in capsys.readouterr().err


def _saved(directory: Path) -> list[Path]:
    return list(directory.glob("bench-*.json"))


async def _bench(*args: str) -> tuple[int, str, str]:
    """``python -m bench ARGS`` in a subprocess: (exit status, stdout, stderr)."""
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


async def test_bench_echo_step_runs_its_rounds_end_to_end() -> None:
    code, out, err = await _bench(
        "--only", "echo", "--rounds", "2", "--chargers", "5", "--duration", "0.3",
        "--warmup", "0.1", "--results-dir", "", "--json",
    )  # fmt: skip
    assert code == 0, err
    results = json.loads(out)
    echo = results["throughput"]["echo"]
    assert [r["round"] for r in echo["rounds"]] == [1, 2]
    for run in echo["rounds"]:
        report = run["report"]
        assert report["booted"] == 5 and report["calls"] > 0
        assert report["call_errors"] == report["timeouts"] == 0
    rates = [r["report"]["calls_per_s"] for r in echo["rounds"]]
    assert echo["median_calls_per_s"] == pytest.approx(sum(rates) / 2, abs=0.01)
    assert "csms" not in results["throughput"]
    assert results["ratios"] == {} and results["csms_to_echo_ratio"] is None
    assert results["options"]["rounds"] == 2


async def test_bench_echo201_step_runs_the_transaction_event_load() -> None:
    code, out, err = await _bench(
        "--only", "echo201", "--rounds", "1", "--chargers", "5", "--duration", "0.5",
        "--warmup", "0.1", "--results-dir", "", "--json",
    )  # fmt: skip
    assert code == 0, err
    results = json.loads(out)
    [run] = results["throughput"]["echo201"]["rounds"]
    report = run["report"]
    assert (report["protocol"], report["mode"]) == ("ocpp2.0.1", "txevent")
    assert report["booted"] == 5 and report["calls"] > 0
    assert report["call_errors"] == report["timeouts"] == 0
    assert list(results["throughput"]) == ["echo201"]


async def test_bench_reports_a_csms_that_cannot_start_and_exits_non_zero(tmp_path: Path) -> None:
    failing = f"{sys.executable} -c 'import sys; print(\"no database\"); sys.exit(4)'"
    code, out, err = await _bench(
        "--only", "csms", "--chargers", "2", "--duration", "0.2", "--warmup", "0",
        "--csms-command", failing, "--results-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 1
    assert "csms      FAILED in round 1 of 3:" in out and "status 4" in out
    # The later rounds of a failed step are skipped.
    assert "csms round 2: skipped, round 1 failed" in err
    [saved] = _saved(tmp_path)
    csms = json.loads(saved.read_text())["throughput"]["csms"]
    assert len(csms["rounds"]) == 1 and csms["failed_round"] == 1


#: Stands in for ``csms``: ``db upgrade`` succeeds, ``serve`` runs the echo server.
_FAKE_CSMS = """
import os, sys
if sys.argv[1:3] == ["db", "upgrade"]:
    sys.exit(0)
port = sys.argv[sys.argv.index("--ocpp-port") + 1]
argv = [sys.executable, "-m", "bench.echo_server", "--host", "127.0.0.1", "--port", port]
os.execv(sys.executable, argv)
"""


async def test_bench_runs_a_pair_in_alternating_rounds(tmp_path: Path) -> None:
    fake = tmp_path / "fake_csms.py"
    fake.write_text(_FAKE_CSMS)
    results_dir = tmp_path / "results"
    code, out, err = await _bench(
        "--only", "echo", "--only", "csms", "--rounds", "2", "--chargers", "3",
        "--duration", "0.3", "--warmup", "0.1", "--csms-command", f"{sys.executable} {fake}",
        "--results-dir", str(results_dir),
    )  # fmt: skip
    assert code == 0, err
    order = [
        line.split(":")[0].removeprefix("[bench] ")
        for line in err.splitlines()
        if "chargers, ocpp1.6" in line
    ]
    assert order == ["echo round 1/2", "csms round 1/2", "echo round 2/2", "csms round 2/2"]
    [saved] = _saved(results_dir)
    results = json.loads(saved.read_text())
    ratios = results["ratios"]["csms/echo"]
    assert len(ratios["rounds"]) == 2 and all(r > 0 for r in ratios["rounds"])
    assert ratios["median"] == pytest.approx(sum(ratios["rounds"]) / 2, abs=0.002)
    assert results["csms_to_echo_ratio"] == ratios["median"]
    [line] = [line for line in out.splitlines() if line.startswith("csms/echo per round: ")]
    *each, median = line.removeprefix("csms/echo per round: ").replace("(median", "").split()
    assert [float(r) for r in each] == pytest.approx(ratios["rounds"], abs=0.006)
    assert float(median.rstrip(")")) == pytest.approx(ratios["median"], abs=0.006)
    assert "calls/s: median of the 2 rounds" in out


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


# -- the wss step: connect+boot over ws and over wss --------------------------------------------

#: Stands in for a csms with wss: ``serve`` runs the echo server on the OCPP port and, with
#: the TLS settings csms reads (CSMS_TLS_CERT, CSMS_TLS_KEY, CSMS_OCPP_TLS_PORT), wss too.
_FAKE_TLS_CSMS = """
import os, sys
if sys.argv[1:3] == ["db", "upgrade"]:
    sys.exit(0)
port = sys.argv[sys.argv.index("--ocpp-port") + 1]
argv = [sys.executable, "-m", "bench.echo_server", "--host", "127.0.0.1", "--port", port,
        "--tls-cert", os.environ["CSMS_TLS_CERT"], "--tls-key", os.environ["CSMS_TLS_KEY"],
        "--tls-port", os.environ["CSMS_OCPP_TLS_PORT"]]
os.execv(sys.executable, argv)
"""


async def test_bench_wss_step_reports_ws_and_wss_connect_rates_and_their_ratio(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "fake_csms.py"
    fake.write_text(_FAKE_TLS_CSMS)
    results_dir = tmp_path / "results"
    code, out, err = await _bench(
        "--only", "wss", "--rounds", "2", "--connect-chargers", "20",
        "--csms-command", f"{sys.executable} {fake}", "--results-dir", str(results_dir),
    )  # fmt: skip
    assert code == 0, err
    [saved] = _saved(results_dir)
    wss = json.loads(saved.read_text())["wss"]
    assert wss["chargers"] == 20 and wss["failures"] == 0 and wss["error"] is None
    assert len(wss["ws_rounds"]) == len(wss["wss_rounds"]) == 2
    assert all(rate > 0 for rate in wss["ws_rounds"] + wss["wss_rounds"])
    ratios = [w / p for p, w in zip(wss["ws_rounds"], wss["wss_rounds"], strict=True)]
    assert wss["round_ratios"] == pytest.approx(ratios, abs=0.002)
    assert wss["wss_to_ws_ratio"] == pytest.approx(sum(ratios) / 2, abs=0.002)
    assert "ws connect+boot per second" in out and "wss connect+boot per second" in out
    assert "csms wss connect+boot >= 0.5 x ws" in out
    # The order is swapped every round, so that warming up favours neither.
    order = [
        line.split(": ")[1].split()[0] for line in err.splitlines() if "connect+boot at" in line
    ]
    assert order == ["ws", "wss", "wss", "ws"]


async def test_bench_wss_step_fails_clearly_when_the_server_serves_no_wss(tmp_path: Path) -> None:
    fake = tmp_path / "fake_csms.py"
    fake.write_text(_FAKE_CSMS)  # ignores the TLS settings, like a csms without wss
    code, out, _ = await _bench(
        "--only", "wss", "--rounds", "1", "--connect-chargers", "2",
        "--csms-command", f"{sys.executable} {fake}", "--results-dir", "",
    )  # fmt: skip
    assert code == 1
    assert "wss (csms): FAILED" in out and "is wss configured?" in out
