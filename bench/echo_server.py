"""The benchmark baseline: a bare ``websockets`` server that answers every OCPP CALL at once.

Every CALL gets an empty CALLRESULT ``[3,id,{}]``, except the few actions whose answers the
load generator reads (or whose schema requires fields): BootNotification, Heartbeat,
Authorize and StartTransaction get a minimal valid answer. No validation, no storage.

Run as ``python -m bench.echo_server [--host 127.0.0.1] [--port 0]``; it prints
``listening on HOST:PORT`` once ready and runs until SIGTERM/SIGINT. With ``--tls-cert FILE
--tls-key FILE`` it also serves wss on ``--tls-port`` (0: any free port), printed before as
``tls on HOST:PORT``: the baseline of the wss connect step.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import ssl
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

__all__ = ["BOOT_INTERVAL_S", "main", "start_echo_server", "tls_server_context"]

#: Heartbeat interval handed out at boot: long, so idle chargers stay silent.
BOOT_INTERVAL_S = 86_400

_transaction_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _boot(_: str) -> str:
    return f'{{"status":"Accepted","currentTime":"{_now()}","interval":{BOOT_INTERVAL_S}}}'


def _heartbeat(_: str) -> str:
    return f'{{"currentTime":"{_now()}"}}'


def _authorize(subprotocol: str) -> str:
    if subprotocol == "ocpp2.0.1":
        return '{"idTokenInfo":{"status":"Accepted"}}'
    return '{"idTagInfo":{"status":"Accepted"}}'


def _start_transaction(_: str) -> str:
    return f'{{"transactionId":{next(_transaction_ids)},"idTagInfo":{{"status":"Accepted"}}}}'


_ANSWERS: dict[str, Callable[[str], str]] = {
    "BootNotification": _boot,
    "Heartbeat": _heartbeat,
    "Authorize": _authorize,
    "StartTransaction": _start_transaction,
}


async def _handler(ws: ServerConnection) -> None:
    subprotocol = ws.subprotocol or ""
    answers = _ANSWERS
    try:
        async for message in ws:
            try:
                frame = json.loads(message)
                if frame[0] != 2:
                    continue
                unique_id = frame[1]
                action = frame[2]
            except (ValueError, TypeError, IndexError, KeyError):
                continue
            answer = answers.get(action)
            payload = answer(subprotocol) if answer is not None else "{}"
            await ws.send(f"[3,{json.dumps(unique_id)},{payload}]")
    except ConnectionClosed:
        pass


async def start_echo_server(
    host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None
) -> Server:
    """Start the echo server in the running loop (``port=0``: any free port; ``tls``: wss)."""
    return await serve(
        _handler,
        host,
        port,
        subprotocols=[Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")],
        compression=None,
        ping_interval=None,
        backlog=4096,
        ssl=tls,
    )


def tls_server_context(cert: str, key: str) -> ssl.SSLContext:
    """TLS 1.2+ with the certificate chain and key (PEM), as an OCPP server offers it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION
    context.load_cert_chain(cert, key)
    return context


async def _serve_forever(
    host: str, port: int, *, tls: ssl.SSLContext | None = None, tls_port: int = 0
) -> None:
    servers = []
    if tls is not None:
        secure = await start_echo_server(host, tls_port, tls=tls)
        bound = secure.sockets[0].getsockname()
        print(f"tls on {bound[0]}:{bound[1]}", flush=True)
        servers.append(secure)
    server = await start_echo_server(host, port)
    servers.append(server)
    bound = server.sockets[0].getsockname()
    print(f"listening on {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for each in servers:
        each.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2):
            for each in servers:
                await each.wait_closed()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.echo_server",
        description="Bare OCPP-J echo server: the benchmark baseline.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--tls-cert", help="serve wss too, with this certificate chain (PEM)")
    parser.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    parser.add_argument("--tls-port", type=int, default=0, help="wss port (0: a free one)")
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    tls = tls_server_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    asyncio.run(_serve_forever(args.host, args.port, tls=tls, tls_port=args.tls_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
