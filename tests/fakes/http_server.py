"""Serve an ASGI app on 127.0.0.1 from a thread of its own, for as long as a test needs it.

The app runs in its own event loop, so it answers while the test's loop is busy (or while
the test blocks in a subprocess wait), and a csms server in another process can reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import uvicorn

__all__ = ["ThreadedHttpServer", "serve_in_thread"]


class ThreadedHttpServer:
    """An ASGI app listening on 127.0.0.1; ``url`` once started, ``stop()`` to end it."""

    def __init__(self, app: Any, *, port: int = 0) -> None:
        self.app = app
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self._port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            log_config=None,
        )
        server = uvicorn.Server(config)
        self._server = server
        started = threading.Event()

        def run() -> None:
            async def main() -> None:
                config.load()
                server.lifespan = config.lifespan_class(config)
                await server.startup()
                if server.servers:
                    self.port = server.servers[0].sockets[0].getsockname()[1]
                started.set()
                await server.main_loop()
                await server.shutdown()

            asyncio.run(main())
            started.set()

        self._thread = threading.Thread(target=run, name="fake-http", daemon=True)
        self._thread.start()
        if not started.wait(10) or not self.port:
            raise RuntimeError("the fake HTTP server did not start")

    def stop(self) -> None:
        """Stop listening (new connections are refused: "the server is down")."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._server = None
        self._thread = None

    def restart(self) -> None:
        """Listen again on the same port ("the server is back")."""
        self._port = self.port
        self.start()


@contextlib.contextmanager
def serve_in_thread(app: Any, *, port: int = 0) -> Iterator[ThreadedHttpServer]:
    server = ThreadedHttpServer(app, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
