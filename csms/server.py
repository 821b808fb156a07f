"""The csms server process: database, OCPP gateway and HTTP API in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import importlib.util
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import uvicorn

from csms.adapters.v16 import inbound as v16
from csms.adapters.v201 import inbound as v201
from csms.config import Settings
from csms.domain.people.retention import RetentionReport, run_retention_and_vacuum
from csms.domain.security.issued_certificates import expiry_warnings
from csms.gateway import Gateway
from csms.tls import server_context
from csms.wiring import NotifyService, notify_service
from protocol import OCPPVersion
from storage.database import Database
from storage.errors import StorageUnavailable
from storage.files import secure_directory
from storage.migrate import head_revision, revision_of, upgrade

__all__ = ["CsmsServer", "configure_logging", "running_server", "serve"]

log = logging.getLogger(__name__)

#: Retention (csms.domain.people.retention) runs this long after start, then once a day.
RETENTION_FIRST_DELAY = 60.0
RETENTION_INTERVAL = 24 * 60 * 60.0
#: Issued certificates close to their expiry are logged at start, then this often.
CERTIFICATE_CHECK_INTERVAL = 24 * 60 * 60.0


class CsmsServer:
    """Starts and stops the parts of a csms node; exposes the bound addresses."""

    def __init__(
        self,
        settings: Settings,
        *,
        retention_first_delay: float = RETENTION_FIRST_DELAY,
        retention_interval: float = RETENTION_INTERVAL,
    ) -> None:
        self.settings = settings
        self.db: Database | None = None
        self.gateway: Gateway | None = None
        self.billing: NotifyService | None = None
        self._api: uvicorn.Server | None = None
        self._api_ticks: asyncio.Task[None] | None = None
        self._retention_first_delay = retention_first_delay
        self._retention_interval = retention_interval
        self._retention: asyncio.Task[None] | None = None
        self._certificate_check: asyncio.Task[None] | None = None
        #: The latest retention run's report (None before the first one).
        self.last_retention: RetentionReport | None = None

    @property
    def router(self) -> Gateway:
        assert self.gateway is not None
        return self.gateway

    @property
    def ocpp_port(self) -> int:
        return self.router.port

    @property
    def api_port(self) -> int:
        assert self._api is not None
        return int(self._api.servers[0].sockets[0].getsockname()[1])

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    @property
    def ocpp_tls_port(self) -> int | None:
        """The wss listener's port; None when no server certificate is configured."""
        return self.router.tls_port

    @property
    def ocpp_tls_url(self) -> str | None:
        port = self.ocpp_tls_port
        return None if port is None else f"wss://localhost:{port}/ocpp"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def admin_token(self) -> str:
        return self.settings.admin_token_path.read_text().strip()

    async def start(self, *, migrate: bool = False) -> None:
        settings = self.settings
        secure_directory(settings.home)  # 0700, looser modes tightened (storage/files.py)
        # Before anything starts: a certificate or key that does not load stops start-up
        # with a ConfigError naming it.
        tls = server_context(settings)
        keys = settings.key_ring()
        if migrate:
            await asyncio.to_thread(lambda: upgrade(settings.database.url, keys=keys))
        self.db = Database(
            settings.database.url, keys=keys, outage_hold=settings.database.outage_hold
        )
        current = await self.db.read(lambda uow: revision_of(uow.conn))
        if current != head_revision():
            await self.db.close()
            raise StorageUnavailable(
                f"the database is at schema revision {current or 'none'}, this csms needs "
                f"{head_revision()}: run `csms db upgrade`"
            )
        from csms.domain.security.tokens import ensure_admin_token

        await ensure_admin_token(self.db, settings.admin_token_path)
        self.gateway = Gateway(
            db=self.db,
            settings=settings,
            handlers={OCPPVersion.V201: v201.HANDLERS, OCPPVersion.V16: v16.HANDLERS},
            tls=tls,
        )
        from csms.adapters.password_delivery import deliver_pending_password

        db, gateway = self.db, self.gateway
        gateway.connect_hooks.append(lambda cid: deliver_pending_password(db, gateway, cid))
        await self.gateway.start()
        # Billing and notification: the outbox worker (docs/adr/0008-outbox.md).
        self.billing = notify_service(self.db, settings)
        await self.billing.start()
        from csms.api import create_app

        app = create_app(
            db=self.db,
            router=self.gateway,
            settings=settings,
            payments=self.billing.gateway,
        )
        config = uvicorn.Config(
            app,
            host=settings.api.host,
            port=settings.api.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            log_config=None,  # our handlers and format (configure_logging)
            lifespan="off",
            server_header=False,
        )
        self._api = uvicorn.Server(config)
        # uvicorn.Server.serve() would take over the process's signal handlers; run its
        # steps in this loop instead (signals are ours: see serve()).
        config.load()
        self._api.lifespan = config.lifespan_class(config)
        try:
            api_sockets = bind_listening_sockets(settings.api.host, settings.api.port)
        except OSError:
            await self.billing.stop()
            await self.gateway.stop()
            raise
        await self._api.startup(sockets=api_sockets)
        if not self._api.should_exit:
            self._api_ticks = asyncio.create_task(self._api.main_loop(), name="api-ticks")
        if self._api.should_exit:
            await self.billing.stop()
            await self.gateway.stop()
            raise OSError(
                f"cannot listen on {settings.api.host}:{settings.api.port} "
                "(in use? set CSMS_API_PORT)"
            )
        self._retention = asyncio.create_task(self._retention_daily(), name="retention")
        self._certificate_check = asyncio.create_task(
            self._certificate_expiry_daily(), name="certificate-expiry"
        )
        log.info(
            "csms serving OCPP on ws://%s:%s/ocpp/{id} and the API on http://%s:%s (%s loop)",
            settings.ocpp.host,
            self.ocpp_port,
            settings.api.host,
            self.api_port,
            type(asyncio.get_running_loop()).__module__.partition(".")[0],
        )
        if self.ocpp_tls_port is not None:
            log.info(
                "csms serving OCPP over TLS on wss://%s:%s/ocpp/{id} (security profiles 2, 3)",
                settings.ocpp.host,
                self.ocpp_tls_port,
            )
        else:
            log.info(
                "no wss listener: no server certificate (run `csms ca init`, or set "
                "CSMS_TLS_CERT and CSMS_TLS_KEY, then restart); profile 2 and 3 chargers "
                "cannot connect"
            )

    async def _retention_daily(self) -> None:
        """Run retention shortly after start, then every day. A failed run is logged and
        tried again at the next one; it never stops the server."""
        delay = self._retention_first_delay
        years = self.settings.privacy.retention_years
        event_days = self.settings.privacy.event_retention_days
        while True:
            await asyncio.sleep(delay)
            delay = self._retention_interval
            assert self.db is not None
            now = datetime.now(UTC)
            try:
                report = await run_retention_and_vacuum(
                    self.db, now=now, retention_years=years, event_retention_days=event_days
                )
            except Exception as exc:
                log.error(
                    "retention run failed (%s: %s); next try in %.0f s",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                continue
            self.last_retention = report
            log.info(
                "retention: %s",
                ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in report.counts().items()),
            )

    async def _certificate_expiry_daily(self) -> None:
        """At start and then daily, one WARNING line per certificate in use that expires
        within 30 days or has expired (csms.domain.security.issued_certificates). A failed
        check is logged and done again at the next one; it never stops the server."""
        while True:
            assert self.db is not None
            now = datetime.now(UTC)
            try:
                await self.db.read(functools.partial(expiry_warnings, now=now))
            except Exception as exc:
                log.error(
                    "certificate expiry check failed (%s: %s); next one in %.0f s",
                    type(exc).__name__,
                    exc,
                    CERTIFICATE_CHECK_INTERVAL,
                )
            await asyncio.sleep(CERTIFICATE_CHECK_INTERVAL)

    async def stop(self) -> None:
        if self._certificate_check is not None:
            self._certificate_check.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._certificate_check
            self._certificate_check = None
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
            self._retention = None
        if self._api is not None:
            self._api.should_exit = True
            if self._api_ticks is not None:
                await self._api_ticks
                self._api_ticks = None
            await self._api.shutdown()
            self._api = None
        # The chargers' calls in hand are answered before the rest stops (Gateway.stop);
        # the API went first, so no operator command waits on a charger that is no longer
        # read.
        if self.gateway is not None:
            await self.gateway.stop()
        if self.billing is not None:
            await self.billing.stop()
            self.billing = None
        if self.db is not None:
            await self.db.close()
            self.db = None


def bind_listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to ``host:port`` as asyncio binds the OCPP listener, for the API.

    uvicorn binding the port itself would log a clash and exit the process from inside
    its start-up; bound here, a port in use raises the same OSError as the OCPP port's
    ("error while attempting to bind on address ...: address already in use"), which
    ``csms serve`` turns into one line naming the port.
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
            try:
                sock.bind(address)
            except OSError as err:
                reason = (err.strerror or str(err)).lower()
                raise OSError(
                    err.errno, f"error while attempting to bind on address {address!r}: {reason}"
                ) from None
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@contextlib.asynccontextmanager
async def running_server(
    settings: Settings,
    *,
    migrate: bool = True,
    retention_first_delay: float = RETENTION_FIRST_DELAY,
    retention_interval: float = RETENTION_INTERVAL,
) -> AsyncIterator[CsmsServer]:
    server = CsmsServer(
        settings,
        retention_first_delay=retention_first_delay,
        retention_interval=retention_interval,
    )
    await server.start(migrate=migrate)
    try:
        yield server
    finally:
        await server.stop()


def configure_logging(level: str) -> None:
    """Log lines to stderr. Payloads are never logged: they carry card ids and meter data."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # Libraries that narrate routine steps at INFO (every handshake, every migration
    # plugin): our own log lines say what matters.
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for name in ("websockets", "alembic", "uvicorn.error"):
        logging.getLogger(name).setLevel(quiet)


async def serve(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly (queued writes are committed)."""
    configure_logging(settings.log_level)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = CsmsServer(settings)
    await server.start()
    # Everything allocated at start-up (schemas, modules, the app) lives as long as the
    # process: move it out of the cyclic collector's reach, so that full collections,
    # which stall every charger, scan only what the traffic allocates.
    gc.collect()
    gc.freeze()
    try:
        await stop.wait()
        log.info("stopping")
    finally:
        await server.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def event_loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop ``csms serve`` runs on: uvloop unless ``CSMS_EVENT_LOOP=asyncio``
    (or uvloop is not installed); ``None`` means asyncio's own.

    uvloop's transports and callbacks are C: under 100 chargers csms answers about a
    fifth more calls per second on the same core (docs/adr/0005-uvloop.md).
    """
    if settings.event_loop == "asyncio" or importlib.util.find_spec("uvloop") is None:
        return None
    import uvloop

    return uvloop.new_event_loop


def run(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM on the configured event loop."""
    with asyncio.Runner(loop_factory=event_loop_factory(settings)) as runner:
        runner.run(serve(settings))
