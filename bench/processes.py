"""Servers under test as subprocesses: start, wait until ready, measure, always stop by pid."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "ServerProcess",
    "StepFailed",
    "cpu_seconds",
    "free_port",
    "rss_kib",
    "run_checked",
    "start_echo",
    "start_process",
    "tree_rss_kib",
]

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)

#: pids of every process started here and not yet reaped, for the atexit safety net.
_live_pids: set[int] = set()


class StepFailed(Exception):
    """A benchmark step could not run (server did not start, command failed, ...)."""


@dataclass(slots=True)
class ServerProcess:
    """A started server: its pid, the OCPP port and where its output goes."""

    name: str
    process: asyncio.subprocess.Process
    port: int
    log_path: Path | None
    #: The wss port, when the server serves TLS too.
    tls_port: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        return "" if self.log_path is None else _tail(self.log_path, lines)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _open_log(path: Path | None) -> BinaryIO | None:
    return None if path is None else open(path, "ab")  # the caller closes it


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    """Resident set size of one process in KiB (``VmRSS`` of /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise StepFailed(f"no VmRSS for pid {pid}")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = task / "children"
        with contextlib.suppress(OSError):
            found += [int(child) for child in children.read_text().split()]
    return found


def tree_rss_kib(pid: int) -> int:
    """RSS of a process plus its descendants (a server that forks workers), in KiB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError, StepFailed):
            total += rss_kib(current)
            pending += _children(current)
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child gets SIGTERM if the harness dies without cleaning up (SIGKILL)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _kill_leftovers() -> None:
    for pid in list(_live_pids):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    _live_pids.clear()


atexit.register(_kill_leftovers)


async def _stop(process: asyncio.subprocess.Process, *, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always by this process's pid."""
    try:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                async with asyncio.timeout(grace):
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
    finally:
        _live_pids.discard(process.pid)


async def _spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None,
    log_path: Path | None,
    stdout_pipe: bool = False,
) -> asyncio.subprocess.Process:
    log = _open_log(log_path)
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout_pipe else (log or asyncio.subprocess.DEVNULL),
            stderr=log or asyncio.subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            # Own session: a Ctrl-C in the terminal reaches only the harness, which then
            # stops its servers in order.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    finally:
        if log is not None:
            log.close()
    _live_pids.add(process.pid)
    return process


async def run_checked(
    argv: Sequence[str], *, env: Mapping[str, str], log_path: Path, timeout: float = 120.0
) -> None:
    """Run a command to completion (e.g. ``csms db upgrade``); raise StepFailed on failure."""
    process = await _spawn(argv, env=env, log_path=log_path)
    try:
        async with asyncio.timeout(timeout):
            code = await process.wait()
    except TimeoutError:
        raise StepFailed(f"{' '.join(argv)} did not finish within {timeout:.0f} s") from None
    finally:
        await _stop(process)
    if code != 0:
        tail = _tail(log_path)
        raise StepFailed(f"{' '.join(argv)} exited with status {code}:\n{tail}")


async def _wait_for_port(server: ServerProcess, timeout: float, port: int | None = None) -> None:
    port = server.port if port is None else port
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if server.process.returncode is not None:
            raise StepFailed(
                f"{server.name} exited with status {server.process.returncode} before "
                f"listening on port {port}:\n{server.log_tail()}"
            )
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        if asyncio.get_running_loop().time() > deadline:
            raise StepFailed(
                f"{server.name} did not listen on port {port} within {timeout:.0f} s:\n"
                f"{server.log_tail()}"
            )
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def start_process(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    ready_timeout: float = 60.0,
    tls_port: int | None = None,
) -> AsyncIterator[ServerProcess]:
    """Start a server that listens on ``port`` (and ``tls_port``, if given); stop it (by
    pid) when the block exits."""
    process = await _spawn(argv, env=env, log_path=log_path)
    server = ServerProcess(
        name=name, process=process, port=port, log_path=log_path, tls_port=tls_port
    )
    try:
        await _wait_for_port(server, ready_timeout)
        if tls_port is not None:
            try:
                # Both listeners start together: once ws is up, wss is a moment away.
                await _wait_for_port(server, min(ready_timeout, 10.0), tls_port)
            except StepFailed as exc:
                raise StepFailed(
                    f"{exc}\n(is wss configured? CSMS_TLS_CERT / CSMS_TLS_KEY / "
                    f"CSMS_OCPP_TLS_PORT={tls_port} were set)"
                ) from None
        yield server
    finally:
        await _stop(process)


@contextlib.asynccontextmanager
async def start_echo(
    *, log_path: Path | None = None, tls: tuple[Path, Path] | None = None
) -> AsyncIterator[ServerProcess]:
    """Start ``bench/echo_server.py`` on a free port; it reports the port on stdout. With
    ``tls`` (certificate chain, key) it serves wss too, on :attr:`ServerProcess.tls_port`."""
    argv = [sys.executable, "-m", "bench.echo_server", "--host", "127.0.0.1", "--port", "0"]
    if tls is not None:
        argv += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_REPO_ROOT, env.get("PYTHONPATH")]))
    process = await _spawn(argv, env=env, log_path=log_path, stdout_pipe=True)
    try:
        assert process.stdout is not None
        tls_port: int | None = None
        while True:
            try:
                async with asyncio.timeout(30):
                    line = await process.stdout.readline()
            except TimeoutError:
                raise StepFailed("the echo server did not start within 30 s") from None
            text = line.decode(errors="replace").strip()
            if text.startswith("tls on "):
                tls_port = int(text.rsplit(":", 1)[1])
                continue
            if not text.startswith("listening on "):
                raise StepFailed(f"the echo server did not start: {text!r}")
            break
        port = int(text.rsplit(":", 1)[1])
        yield ServerProcess(
            name="echo", process=process, port=port, log_path=log_path, tls_port=tls_port
        )
    finally:
        await _stop(process)
