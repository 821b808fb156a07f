"""``python -m bench``: csms against a bare websockets echo server, under the same load.

Steps (``--only`` picks some):

- ``echo``: the baseline. ``bench/echo_server.py`` in a subprocess; N chargers in a closed
  loop of OCPP 1.6 MeterValues with two sampled values; calls/s and latency percentiles.
- ``csms``: the same load against ``csms serve`` (fresh CSMS_HOME, SQLite, unknown chargers
  accepted, after ``csms db upgrade``).
- ``echo201`` / ``csms201``: the same pair under an OCPP 2.0.1 load: each charger starts a
  transaction with TransactionEvent Started, then runs a closed loop of TransactionEvent
  Updated carrying two sampled values (persisted by csms). A server that answers with
  CALLERRORs is reported as a failed step with the first errors, not a crash.
- ``wss``: connect+boot per second over ``ws://`` and over ``wss://`` against the same
  server process in the same run (``--connect-chargers`` new chargers each way and round,
  the order swapped every round), with a CA and an EC P-256 server certificate the bench
  makes in its scratch directory (csms: CSMS_TLS_CERT / CSMS_TLS_KEY / CSMS_OCPP_TLS_PORT);
  the ratio wss/ws is the median of the round ratios. Every charger is new, so every wss
  connect is a full TLS handshake (a reconnecting simulated charger resumes its session:
  :class:`simulators.tls.TlsClient`).
- ``idle``: thousands of chargers connect and boot, then stay idle: connect+boot rate and the
  server's resident memory per connection ((RSS with all connected - RSS before) / count).

Interleaved rounds (``--rounds N``, 3 by default): the speed of a shared machine drifts by
tens of percent within minutes, so one echo run followed by one csms run gives an unstable
ratio. Each pair (echo, csms) and (echo201, csms201) therefore runs baseline, target,
baseline, target, ... N times each, every run with its own warm-up and measured window. The
ratio of round i is target_i / baseline_i (adjacent runs, so drift largely cancels); the
reported ratio is the median of the round ratios, and the verdict uses it. A step's row
shows its median calls/s and the latency and CPU figures of the round with the median
calls/s; errors are summed over all rounds. A step picked alone with ``--only`` runs its N
rounds without a ratio.

The load generator runs inside this process (see :mod:`simulators.load`); every server is a
subprocess that is stopped by its pid when its step ends, on errors and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bench.certificates import TlsFiles, make_server_certificate
from bench.processes import (
    ServerProcess,
    StepFailed,
    cpu_seconds,
    free_port,
    run_checked,
    start_echo,
    start_process,
    tree_rss_kib,
)
from simulators.load import LoadConfig, LoadGenerator, LoadMode, LoadReport

__all__ = [
    "BenchOptions",
    "BenchResults",
    "ConnectResult",
    "IdleResult",
    "LoadStep",
    "StepRounds",
    "ThroughputResult",
    "format_results",
    "main",
    "run_bench",
    "schedule",
]

STEPS = ("echo", "csms", "echo201", "csms201", "wss", "idle")


@dataclass(frozen=True, slots=True)
class LoadStep:
    """A closed-loop throughput step: which server, which protocol and load mode."""

    server: str
    protocol: str
    mode: LoadMode
    description: str


#: The throughput steps, in the order they run; each 2.0.1 step mirrors a 1.6 one.
LOAD_STEPS: dict[str, LoadStep] = {
    "echo": LoadStep("echo", "ocpp1.6", "meter", "MeterValues closed loop"),
    "csms": LoadStep("csms", "ocpp1.6", "meter", "MeterValues closed loop"),
    "echo201": LoadStep("echo", "ocpp2.0.1", "txevent", "TransactionEvent Updated closed loop"),
    "csms201": LoadStep("csms", "ocpp2.0.1", "txevent", "TransactionEvent Updated closed loop"),
}
#: (csms step, its echo baseline) for the ratio targets; every load step is in one pair.
RATIO_PAIRS = (("csms", "echo"), ("csms201", "echo201"))

#: Defaults of a full run and of ``--quick``: (rounds, measured seconds, warm-up seconds).
FULL_RUN = (3, 8.0, 2.0)
QUICK_RUN = (1, 3.0, 1.0)

#: Information only: what csms is expected to reach (issue targets).
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
TARGET_RSS_KIB = 40.0
TARGET_WSS_RATIO = 0.5


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchOptions:
    steps: tuple[str, ...] = STEPS
    chargers: int = 100
    rounds: int = FULL_RUN[0]
    duration: float = FULL_RUN[1]
    warmup: float = FULL_RUN[2]
    idle_chargers: int = 5000
    idle_target: str = "csms"
    idle_settle: float = 2.0
    connect_chargers: int = 300
    connect_target: str = "csms"
    csms_command: tuple[str, ...] = ()
    keep_home: bool = False
    results_dir: Path | None = Path(".bench")


@dataclass(slots=True)
class ThroughputResult:
    """One run of a load step (one round)."""

    target: str
    report: LoadReport | None = None
    server_cpu_percent: float = math.nan
    loadgen_cpu_percent: float = math.nan
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.report.to_dict() if self.report else None,
            "server_cpu_percent": self.server_cpu_percent,
            "loadgen_cpu_percent": self.loadgen_cpu_percent,
            "error": self.error,
        }


def _ratio(target: ThroughputResult | None, baseline: ThroughputResult | None) -> float:
    if target is None or baseline is None or target.report is None or baseline.report is None:
        return math.nan
    if baseline.report.calls_per_s > 0:
        return target.report.calls_per_s / baseline.report.calls_per_s
    return math.nan


@dataclass(slots=True)
class StepRounds:
    """Every run of one load step, round 1 first. A step that failed runs no later rounds."""

    target: str
    runs: list[ThroughputResult] = field(default_factory=list)

    def run(self, round_number: int) -> ThroughputResult | None:
        """The run of round ``round_number`` (1-based), if it took place."""
        return self.runs[round_number - 1] if 0 < round_number <= len(self.runs) else None

    @property
    def failed_round(self) -> int | None:
        return next((i for i, run in enumerate(self.runs, 1) if run.error), None)

    @property
    def error(self) -> str | None:
        failed = self.failed_round
        return None if failed is None else self.runs[failed - 1].error

    @property
    def measured(self) -> list[ThroughputResult]:
        return [run for run in self.runs if run.report is not None]

    @property
    def calls_per_s(self) -> float:
        """Median calls/s over the rounds that were measured."""
        rates = [run.report.calls_per_s for run in self.measured if run.report]
        return statistics.median(rates) if rates else math.nan

    @property
    def median_round(self) -> int | None:
        """The round with the median calls/s (the lower middle one for an even count)."""
        measured = [(run.report.calls_per_s, i) for i, run in enumerate(self.runs, 1) if run.report]
        if not measured:
            return None
        return sorted(measured)[(len(measured) - 1) // 2][1]

    @property
    def median_run(self) -> ThroughputResult | None:
        index = self.median_round
        return None if index is None else self.runs[index - 1]

    @property
    def errors(self) -> int:
        """Call errors, timeouts, failed connects and disconnects of all rounds."""
        return sum(run.report.errors for run in self.measured if run.report)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "median_calls_per_s": self.calls_per_s,
            "median_round": self.median_round,
            "errors": self.errors,
            "error": self.error,
            "failed_round": self.failed_round,
            "rounds": [{"round": i, **run.to_dict()} for i, run in enumerate(self.runs, 1)],
        }


@dataclass(slots=True)
class IdleResult:
    target: str
    connections: int = 0
    requested: int = 0
    setup_seconds: float = math.nan
    rate_per_s: float = math.nan
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    rss_per_connection_kib: float = math.nan
    failures: int = 0
    error: str | None = None


@dataclass(slots=True)
class ConnectResult:
    """The wss step: connect+boot per second over ws and over wss, per round."""

    target: str
    chargers: int = 0
    ws_rates: list[float] = field(default_factory=list)
    wss_rates: list[float] = field(default_factory=list)
    failures: int = 0
    first_errors: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ws_rate(self) -> float:
        return statistics.median(self.ws_rates) if self.ws_rates else math.nan

    @property
    def wss_rate(self) -> float:
        return statistics.median(self.wss_rates) if self.wss_rates else math.nan

    @property
    def round_ratios(self) -> list[float]:
        return [
            wss / ws if ws > 0 else math.nan
            for ws, wss in zip(self.ws_rates, self.wss_rates, strict=False)
        ]

    @property
    def ratio(self) -> float:
        """The median of the round ratios wss/ws (NaN when the step failed)."""
        ratios = [r for r in self.round_ratios if not math.isnan(r)]
        return statistics.median(ratios) if ratios and not self.error else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "chargers": self.chargers,
            "ws_connect_boot_per_s": self.ws_rate,
            "wss_connect_boot_per_s": self.wss_rate,
            "ws_rounds": self.ws_rates,
            "wss_rounds": self.wss_rates,
            "round_ratios": self.round_ratios,
            "wss_to_ws_ratio": self.ratio,
            "failures": self.failures,
            "first_errors": self.first_errors,
            "error": self.error,
        }


@dataclass(slots=True)
class BenchResults:
    options: BenchOptions
    started_at: str
    throughput: dict[str, StepRounds] = field(default_factory=dict)
    idle: IdleResult | None = None
    connect: ConnectResult | None = None

    @property
    def failed(self) -> bool:
        return (
            any(r.error for r in self.throughput.values())
            or bool(self.idle and self.idle.error)
            or bool(self.connect and self.connect.error)
        )

    @property
    def ratio(self) -> float:
        """Median over the rounds of csms / echo calls per second under the 1.6 load."""
        return self.ratio_of("csms", "echo")

    @property
    def ratio201(self) -> float:
        """Median over the rounds of csms201 / echo201 calls per second (2.0.1 load)."""
        return self.ratio_of("csms201", "echo201")

    def add(self, target: str, run: ThroughputResult) -> None:
        """Record the next round's run of ``target``."""
        self.throughput.setdefault(target, StepRounds(target)).runs.append(run)

    def round_ratios(self, step: str, baseline: str) -> list[float]:
        """step / baseline calls per second of each round (NaN where a run is missing)."""
        target, base = self.throughput.get(step), self.throughput.get(baseline)
        if target is None or base is None:
            return []
        count = max(len(target.runs), len(base.runs))
        return [_ratio(target.run(i), base.run(i)) for i in range(1, count + 1)]

    def ratio_of(self, step: str, baseline: str) -> float:
        """The median of the round ratios; NaN when a run of either step failed."""
        target, base = self.throughput.get(step), self.throughput.get(baseline)
        if target is None or base is None or target.error or base.error:
            return math.nan
        ratios = [r for r in self.round_ratios(step, baseline) if not math.isnan(r)]
        return statistics.median(ratios) if ratios else math.nan

    def to_dict(self) -> dict[str, Any]:
        def clean(value: Any) -> Any:
            if isinstance(value, float):
                return None if math.isnan(value) else round(value, 3)
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [clean(v) for v in value]
            if isinstance(value, Path):
                return str(value)
            return value

        ratios = {
            f"{step}/{baseline}": {
                "rounds": self.round_ratios(step, baseline),
                "median": self.ratio_of(step, baseline),
            }
            for step, baseline in RATIO_PAIRS
            if step in self.throughput and baseline in self.throughput
        }
        return cast(
            "dict[str, Any]",
            clean(
                {
                    "started_at": self.started_at,
                    "options": asdict(self.options),
                    "throughput": {
                        name: steps.to_dict() for name, steps in self.throughput.items()
                    },
                    "ratios": ratios,
                    "csms_to_echo_ratio": self.ratio,
                    "csms201_to_echo201_ratio": self.ratio201,
                    "idle": asdict(self.idle) if self.idle else None,
                    "wss": self.connect.to_dict() if self.connect else None,
                }
            ),
        )


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- servers ----------------------------------------------------------------------------


def _default_csms_command() -> tuple[str, ...]:
    entry_point = Path(sys.executable).with_name("csms")
    if entry_point.exists():
        return (str(entry_point),)
    return (sys.executable, "-m", "csms.cli")


class _Servers:
    """Starts the servers the steps need, in a scratch directory removed at the end.

    Every csms run gets a fresh process and a fresh CSMS_HOME: a copy of one home migrated
    at the first start (a copy takes milliseconds, ``csms db upgrade`` over a second). So
    every round starts from the same empty database and a later round is not slowed down by
    the rows the earlier ones wrote, which would bias the later round ratios; and csms is
    started and warmed up per run exactly like the echo server it is compared with.
    """

    def __init__(self, options: BenchOptions, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.template = workdir / "csms-home-migrated"
        self._migrated = False
        self._runs = 0
        self._command = options.csms_command or _default_csms_command()

    def _csms_env(self, home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
        env.update(
            CSMS_HOME=str(home),
            CSMS_UNKNOWN_CHARGERS="accept",
            CSMS_OCPP_HOST="127.0.0.1",
            CSMS_API_HOST="127.0.0.1",
            # A closed-loop "sessions" charger authorizes far more often than 60 a
            # minute: measure the lookups, not the throttle's cheap refusals.
            CSMS_RATE_LIMIT_AUTHORIZE="off",
        )
        return env

    @contextlib.asynccontextmanager
    async def csms(self, *, tls: TlsFiles | None = None) -> AsyncIterator[ServerProcess]:
        if not self._migrated:
            self.template.mkdir(parents=True, exist_ok=True)
            _log(f"csms db upgrade (CSMS_HOME={self.template})")
            await run_checked(
                [*self._command, "db", "upgrade"],
                env=self._csms_env(self.template),
                log_path=self.workdir / "db.log",
            )
            self._migrated = True
        self._runs += 1
        home = self.workdir / f"csms-home-{self._runs}"
        shutil.copytree(self.template, home)
        env = self._csms_env(home)
        ocpp_port, api_port = free_port(), free_port()
        tls_port = None
        if tls is not None:
            tls_port = free_port()
            env.update(
                CSMS_TLS_CERT=str(tls.cert),
                CSMS_TLS_KEY=str(tls.key),
                CSMS_OCPP_TLS_PORT=str(tls_port),
            )
        argv = [
            *self._command,
            "serve",
            "--ocpp-port",
            str(ocpp_port),
            "--api-port",
            str(api_port),
        ]
        _log(f"starting {' '.join(argv)}")
        async with start_process(
            "csms serve",
            argv,
            port=ocpp_port,
            env=env,
            log_path=self.workdir / f"csms-serve-{self._runs}.log",
            tls_port=tls_port,
        ) as server:
            yield server
        if not self.options.keep_home:
            shutil.rmtree(home, ignore_errors=True)

    @contextlib.asynccontextmanager
    async def echo(self, *, tls: TlsFiles | None = None) -> AsyncIterator[ServerProcess]:
        _log("starting the echo server")
        pair = None if tls is None else (tls.cert, tls.key)
        async with start_echo(log_path=self.workdir / "echo.log", tls=pair) as server:
            yield server

    def start(
        self, server: str, *, tls: TlsFiles | None = None
    ) -> AbstractAsyncContextManager[ServerProcess]:
        return self.csms(tls=tls) if server == "csms" else self.echo(tls=tls)


# -- steps ------------------------------------------------------------------------------


def schedule(steps: Sequence[str], rounds: int) -> list[tuple[str, int]]:
    """The load runs in order as (step, round): each pair alternates baseline and target.

    With both steps of a pair selected: baseline 1, target 1, baseline 2, target 2, ...;
    with one of them, just its rounds.
    """
    order: list[tuple[str, int]] = []
    for step, baseline in RATIO_PAIRS:
        picked = [name for name in (baseline, step) if name in steps]
        for round_number in range(1, rounds + 1):
            order += [(name, round_number) for name in picked]
    return order


async def _throughput(servers: _Servers, target: str, round_number: int = 1) -> ThroughputResult:
    options = servers.options
    step = LOAD_STEPS[target]
    result = ThroughputResult(target=target)
    label = target if options.rounds == 1 else f"{target} round {round_number}/{options.rounds}"
    try:
        async with servers.start(step.server) as server:
            config = LoadConfig(
                url=f"ws://127.0.0.1:{server.port}/ocpp",
                chargers=options.chargers,
                duration=options.duration,
                warmup=options.warmup,
                protocol=step.protocol,
                mode=step.mode,
                # A fresh identity range per protocol: a charger keeps its version.
                id_prefix="BENCH" if step.protocol == "ocpp1.6" else "BENCH201-",
            )
            cpu: list[tuple[float, float]] = []

            def sample_cpu() -> None:
                cpu.append((cpu_seconds(server.pid), time.process_time()))

            _log(
                f"{label}: {options.chargers} chargers, {step.protocol} {step.description}, "
                f"{options.warmup:g} s warm-up + {options.duration:g} s measured"
            )
            async with LoadGenerator(config) as load:
                await load.connect_all()
                if load.booted == 0:
                    raise StepFailed(
                        f"no charger could boot against {target}: "
                        + "; ".join(load.setup_report().first_errors)
                    )
                report = await load.run(on_measure_start=sample_cpu, on_measure_end=sample_cpu)
            result.report = report
            if len(cpu) == 2 and report.duration_s > 0:
                (server_start, own_start), (server_end, own_end) = cpu
                result.server_cpu_percent = (server_end - server_start) / report.duration_s * 100
                result.loadgen_cpu_percent = (own_end - own_start) / report.duration_s * 100
            _log(
                f"{label}: {report.calls_per_s:.0f} calls/s, p50 {report.p50_ms:.2f} ms, "
                f"p99 {report.p99_ms:.2f} ms, errors {report.errors}"
            )
            if report.errors:
                _log(f"{label}: first errors: " + "; ".join(report.first_errors))
    except StepFailed as exc:
        result.error = str(exc)
        _log(f"{label}: FAILED: {exc}")
    return result


async def _idle(servers: _Servers) -> IdleResult:
    options = servers.options
    target = options.idle_target
    result = IdleResult(target=target, requested=options.idle_chargers)
    try:
        async with servers.start(target) as server:
            await asyncio.sleep(1.0)  # let the freshly started server settle
            result.rss_before_kib = tree_rss_kib(server.pid)
            config = LoadConfig(
                url=f"ws://127.0.0.1:{server.port}/ocpp",
                chargers=options.idle_chargers,
                duration=options.idle_settle,
                mode="idle",
                id_prefix="IDLE",
                connect_timeout=60.0,
                call_timeout=60.0,
            )
            _log(f"idle: connecting {options.idle_chargers} chargers to {target}")
            async with LoadGenerator(config) as load:
                seconds = await load.connect_all()
                result.connections = load.booted
                result.setup_seconds = seconds
                result.rate_per_s = load.booted / seconds if seconds > 0 else math.nan
                report = await load.run()  # hold the connections idle for a moment
                result.failures = report.connect_failures + report.boot_failures
                result.rss_after_kib = tree_rss_kib(server.pid)
            if result.connections:
                result.rss_per_connection_kib = (
                    result.rss_after_kib - result.rss_before_kib
                ) / result.connections
            _log(
                f"idle: {result.connections} booted in {seconds:.1f} s "
                f"({result.rate_per_s:.0f}/s), {result.rss_per_connection_kib:.1f} KiB each"
            )
            if result.connections == 0:
                raise StepFailed("no idle charger could connect: " + "; ".join(report.first_errors))
    except StepFailed as exc:
        result.error = str(exc)
        _log(f"idle: FAILED: {exc}")
    return result


async def _connect_rate(result: ConnectResult, *, url: str, prefix: str, ca: Path | None) -> float:
    """Connect and boot ``result.chargers`` new chargers at ``url``; their rate per second."""
    config = LoadConfig(
        url=url,
        chargers=result.chargers,
        duration=0.0,
        mode="idle",
        id_prefix=prefix,
        ca_file=ca,
        connect_timeout=60.0,
        call_timeout=60.0,
    )
    async with LoadGenerator(config) as load:
        seconds = await load.connect_all()
        report = load.setup_report()
        booted = load.booted
    result.failures += report.connect_failures + report.boot_failures
    for message in report.first_errors:
        if len(result.first_errors) < 5:
            result.first_errors.append(message)
    if booted == 0:
        raise StepFailed(f"no charger could connect to {url}: " + "; ".join(report.first_errors))
    return booted / seconds if seconds > 0 else math.nan


async def _wss(servers: _Servers) -> ConnectResult:
    """ws and wss connect+boot per second, alternating in each round on one server."""
    options = servers.options
    result = ConnectResult(target=options.connect_target, chargers=options.connect_chargers)
    tls = make_server_certificate(servers.workdir / "tls")
    try:
        async with servers.start(options.connect_target, tls=tls) as server:
            assert server.tls_port is not None
            await asyncio.sleep(1.0)  # let the freshly started server settle
            urls = {
                "ws": f"ws://127.0.0.1:{server.port}/ocpp",
                "wss": f"wss://127.0.0.1:{server.tls_port}/ocpp",
            }
            for round_number in range(1, options.rounds + 1):
                order = ("ws", "wss") if round_number % 2 else ("wss", "ws")
                for scheme in order:
                    rate = await _connect_rate(
                        result,
                        url=urls[scheme],
                        prefix=f"CONN{scheme.upper()}{round_number}-",
                        ca=tls.ca,
                    )
                    (result.ws_rates if scheme == "ws" else result.wss_rates).append(rate)
                    _log(
                        f"wss round {round_number}/{options.rounds}: {scheme} "
                        f"{options.connect_chargers} connect+boot at {rate:.0f}/s"
                    )
                    await asyncio.sleep(0.5)
                ratio = result.round_ratios[-1]
                _log(f"wss/ws round {round_number}: {_num(ratio)}")
    except StepFailed as exc:
        result.error = str(exc)
        _log(f"wss: FAILED: {exc}")
    return result


async def run_bench(options: BenchOptions) -> BenchResults:
    """Run the selected steps; servers are stopped and scratch files removed afterwards."""
    results = BenchResults(options=options, started_at=datetime.now(UTC).isoformat())
    workdir = Path(tempfile.mkdtemp(prefix="csms-bench-"))
    servers = _Servers(options, workdir)
    try:
        for step, round_number in schedule(options.steps, options.rounds):
            done = results.throughput.get(step)
            if done is not None and done.error:
                _log(f"{step} round {round_number}: skipped, round {done.failed_round} failed")
                continue
            results.add(step, await _throughput(servers, step, round_number))
            for target, baseline in RATIO_PAIRS:
                if step == target and baseline in options.steps:
                    ratio = results.round_ratios(target, baseline)[round_number - 1]
                    _log(f"{target}/{baseline} round {round_number}: {_num(ratio)}")
        if "wss" in options.steps:
            results.connect = await _wss(servers)
        if "idle" in options.steps:
            results.idle = await _idle(servers)
    finally:
        if options.keep_home:
            _log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


# -- output -----------------------------------------------------------------------------


def _num(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def _one_line(text: str | None, limit: int = 200) -> str:
    flat = " | ".join(line.strip() for line in (text or "").splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("ok" if ok else "MISSED")


def _runs_text(options: BenchOptions) -> str:
    each = f"{options.duration:g} s measured after {options.warmup:g} s warm-up"
    if options.rounds == 1:
        return f"one run per step, {each}"
    return (
        f"{options.rounds} rounds per step, each run {each}, a pair's baseline and csms "
        f"alternating round by round"
    )


def format_results(results: BenchResults) -> str:
    """The human-readable table printed at the end."""
    options = results.options
    lines = [
        "",
        f"csms benchmark: {options.chargers} chargers, closed loop (one outstanding call each), "
        f"{_runs_text(options)}; echo/csms: OCPP 1.6 MeterValues with 2 sampled values; "
        f"echo201/csms201: OCPP 2.0.1 TransactionEvent Updated with 2 sampled values inside "
        f"running transactions",
        "",
        f"{'server':<10}{'calls/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'errors':>8}{'server CPU':>12}{'loadgen CPU':>13}",
    ]
    for name in LOAD_STEPS:
        steps = results.throughput.get(name)
        if steps is None:
            continue
        run = steps.median_run
        if steps.error or run is None or run.report is None:
            failed = steps.failed_round
            where = (
                f" in round {failed} of {options.rounds}" if failed and options.rounds > 1 else ""
            )
            lines.append(f"{name:<10}FAILED{where}: {_one_line(steps.error)}")
            continue
        report = run.report
        lines.append(
            f"{name:<10}{_num(steps.calls_per_s, 0):>10}{_num(report.p50_ms):>9}"
            f"{_num(report.p95_ms):>9}{_num(report.p99_ms):>9}{_num(report.max_ms):>9}"
            f"{steps.errors:>8}{_num(run.server_cpu_percent, 0) + ' %':>12}"
            f"{_num(run.loadgen_cpu_percent, 0) + ' %':>13}"
        )
    notes = []
    if options.rounds > 1 and results.throughput:
        notes.append(
            f"calls/s: median of the {options.rounds} rounds; p50 to max and CPU: the round with "
            f"the median calls/s (for an even count the lower middle one); errors: all rounds"
        )
    for step, baseline in RATIO_PAIRS:
        ratios = results.round_ratios(step, baseline)
        if ratios:
            each = " ".join(_num(r) for r in ratios)
            median = _num(results.ratio_of(step, baseline))
            notes.append(f"{step}/{baseline} per round: {each} (median {median})")
    if notes:
        lines += ["", *notes]
    idle = results.idle
    if idle is not None:
        lines.append("")
        if idle.error:
            lines.append(f"idle ({idle.target}): FAILED: {_one_line(idle.error)}")
        else:
            lines.append(
                f"idle ({idle.target}): {idle.connections}/{idle.requested} chargers connected "
                f"and booted in {_num(idle.setup_seconds, 1)} s = {_num(idle.rate_per_s, 0)} "
                f"chargers/s; server RSS {idle.rss_before_kib / 1024:.1f} MiB -> "
                f"{idle.rss_after_kib / 1024:.1f} MiB = "
                f"{_num(idle.rss_per_connection_kib, 1)} KiB per connection"
            )

    connect = results.connect
    if connect is not None:
        lines.append("")
        if connect.error:
            lines.append(f"wss ({connect.target}): FAILED: {_one_line(connect.error)}")
        else:
            each = " ".join(_num(r) for r in connect.round_ratios)
            lines += [
                f"ws connect+boot per second   {_num(connect.ws_rate, 0):>8}  "
                f"({connect.target}, {connect.chargers} new chargers, median of "
                f"{len(connect.ws_rates)} rounds)",
                f"wss connect+boot per second  {_num(connect.wss_rate, 0):>8}  "
                f"(full TLS handshakes, EC P-256 server certificate)",
                f"wss/ws per round: {each} (median {_num(connect.ratio)}); "
                f"failed connects {connect.failures}",
            ]

    csms = results.throughput.get("csms")
    csms_run = csms.median_run if csms and not csms.error else None
    csms_report = csms_run.report if csms_run else None
    rows: list[tuple[str, str, bool | None]] = []
    for step, baseline in RATIO_PAIRS:
        ratio = results.ratio_of(step, baseline)
        if step != "csms" and step not in results.throughput:
            continue  # the 1.6 row is always shown; the 2.0.1 one when it ran
        rows.append(
            (
                f"{step} calls/s >= {TARGET_RATIO:g} x {baseline}",
                "-" if math.isnan(ratio) else f"{ratio:.2f} x",
                None if math.isnan(ratio) else ratio >= TARGET_RATIO,
            )
        )
    rows += [
        (
            f"csms p99 < {TARGET_P99_MS:g} ms",
            f"{_num(csms_report.p99_ms)} ms" if csms_report else "-",
            None
            if csms_report is None or math.isnan(csms_report.p99_ms)
            else csms_report.p99_ms < TARGET_P99_MS,
        ),
    ]
    rss = idle.rss_per_connection_kib if idle and idle.target == "csms" else math.nan
    rows.append(
        (
            f"csms RSS per idle connection <= {TARGET_RSS_KIB:g} KiB",
            "-" if math.isnan(rss) else f"{rss:.1f} KiB",
            None if math.isnan(rss) else rss <= TARGET_RSS_KIB,
        )
    )
    if connect is not None:
        wss_ratio = connect.ratio
        rows.append(
            (
                f"{connect.target} wss connect+boot >= {TARGET_WSS_RATIO:g} x ws",
                "-" if math.isnan(wss_ratio) else f"{wss_ratio:.2f} x",
                None if math.isnan(wss_ratio) else wss_ratio >= TARGET_WSS_RATIO,
            )
        )
    lines += ["", f"{'target (information)':<44}{'measured':>12}  result"]
    lines += [f"{name:<44}{value:>12}  {_verdict(ok)}" for name, value, ok in rows]
    return "\n".join(lines)


# -- command line -----------------------------------------------------------------------


def _parse(argv: Sequence[str] | None) -> tuple[BenchOptions, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark csms against a bare websockets echo server under the same "
        "load (OCPP 1.6 MeterValues: echo, csms; OCPP 2.0.1 TransactionEvent: echo201, "
        "csms201), then connect+boot over ws and over wss (wss), then idle connections. "
        "Each baseline and its csms step run in "
        "alternating rounds; the ratio is the median of the round ratios. Every process "
        "targets 127.0.0.1 and stops by itself.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: one round of 3 s per step after 1 s warm-up, 500 idle chargers",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=STEPS,
        help="run only this step (repeatable); default: all",
    )
    parser.add_argument("--chargers", type=int, help="chargers in the load steps (100)")
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"runs of each load step, a pair's baseline and csms alternating "
        f"({FULL_RUN[0]}; --quick: {QUICK_RUN[0]})",
    )
    parser.add_argument(
        "--duration",
        type=float,
        help=f"measured seconds per run ({FULL_RUN[1]:g}; --quick: {QUICK_RUN[1]:g})",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        help=f"unmeasured seconds before each run ({FULL_RUN[2]:g}; --quick: {QUICK_RUN[2]:g})",
    )
    parser.add_argument("--idle-chargers", type=int, help="chargers in the idle step (5000)")
    parser.add_argument(
        "--idle-target",
        choices=("csms", "echo"),
        default="csms",
        help="server for the idle step (echo: the websockets baseline)",
    )
    parser.add_argument(
        "--connect-chargers",
        type=int,
        help="new chargers per connect in the wss step, over ws and over wss (300; --quick: 100)",
    )
    parser.add_argument(
        "--connect-target",
        choices=("csms", "echo"),
        default="csms",
        help="server for the wss step (echo: the websockets baseline with TLS)",
    )
    parser.add_argument(
        "--csms-command",
        help="how to run csms (default: the csms next to this Python, else python -m csms.cli)",
    )
    parser.add_argument(
        "--keep-home", action="store_true", help="keep the scratch CSMS_HOME and server logs"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON only")
    parser.add_argument(
        "--results-dir",
        default=".bench",
        help="where a JSON copy of the results goes (default .bench/; '' to skip)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    rounds, duration, warmup = QUICK_RUN if quick else FULL_RUN
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    options = BenchOptions(
        steps=tuple(step for step in STEPS if step in args.only) if args.only else STEPS,
        chargers=args.chargers or 100,
        rounds=args.rounds if args.rounds is not None else rounds,
        duration=args.duration if args.duration is not None else duration,
        warmup=args.warmup if args.warmup is not None else warmup,
        idle_chargers=args.idle_chargers or (500 if quick else 5000),
        idle_target=args.idle_target,
        idle_settle=1.0 if quick else 2.0,
        connect_chargers=args.connect_chargers or (100 if quick else 300),
        connect_target=args.connect_target,
        csms_command=tuple(shlex.split(args.csms_command)) if args.csms_command else (),
        keep_home=args.keep_home,
        results_dir=Path(args.results_dir) if args.results_dir else None,
    )
    return options, args.json


def _save(results: BenchResults) -> Path | None:
    directory = results.options.results_dir
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"bench-{stamp}.json"
    path.write_text(json.dumps(results.to_dict(), indent=2) + "\n")
    return path


async def _main_async(options: BenchOptions) -> BenchResults:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    cancel: Callable[[], Any] = task.cancel
    loop.add_signal_handler(signal.SIGTERM, cancel)
    try:
        return await run_bench(options)
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def main(argv: Sequence[str] | None = None) -> int:
    options, as_json = _parse(argv)
    try:
        results = asyncio.run(_main_async(options))
    except (KeyboardInterrupt, asyncio.CancelledError):
        _log("interrupted; servers stopped")
        return 130
    saved = _save(results)
    if as_json:
        print(json.dumps(results.to_dict(), indent=2))
    else:
        print(format_results(results))
        if saved is not None:
            print(f"\n(results saved to {saved})")
    return 1 if results.failed else 0
