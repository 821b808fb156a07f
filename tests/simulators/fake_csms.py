"""A small in-test CSMS: ``websockets.serve`` + :class:`protocol.OCPPSession` (role csms).

It speaks ``ocpp1.6`` and ``ocpp2.0.1`` (the charger's offer decides), records every CALL
the simulators send (after schema validation by the session), answers them from
overridable rules, and can call the charger itself; the charger's answers are checked
against the response schemas of its version.

With ``ssl`` it serves ``wss://`` (client certificates as the context asks; the CN each
connection presented is in :attr:`FakeCSMS.client_cns`), and with ``signer`` it answers
SignCertificate Accepted and then sends CertificateSigned with the chain ``signer`` makes,
as csms does.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from protocol import (
    Call,
    CallErrorReceived,
    CallReceived,
    CallResultReceived,
    OCPPError,
    OCPPSession,
    OCPPVersion,
    SendFrame,
)

__all__ = ["NO_ANSWER", "CSMSCallError", "FakeCSMS", "Received"]

#: Return this from an answer rule to leave the CALL unanswered.
NO_ANSWER: dict[str, Any] = {"__no_answer__": True}

Rule = Callable[[str, dict[str, Any]], dict[str, Any]]


class CSMSCallError(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


@dataclass(frozen=True, slots=True)
class Received:
    identity: str
    action: str
    payload: dict[str, Any]
    unique_id: str
    at: float


@dataclass(slots=True)
class _Connection:
    identity: str
    ws: ServerConnection
    session: OCPPSession
    version: OCPPVersion
    pending: asyncio.Future[dict[str, Any]] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _client_cn(ws: ServerConnection) -> str | None:
    peer = ws.transport.get_extra_info("peercert") if ws.transport is not None else None
    for rdn in (peer or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class FakeCSMS:
    """``async with FakeCSMS() as csms:``; chargers connect to ``csms.url``."""

    def __init__(
        self,
        *,
        heartbeat_interval: int = 86_400,
        ssl: ssl.SSLContext | None = None,
        signer: Callable[[str], str] | None = None,
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.ssl = ssl
        self.signer = signer
        #: The subject CN of the client certificate of each connection (None: none).
        self.client_cns: list[str | None] = []
        #: Identities whose handshake ``refuse`` turned away, in order.
        self.refused_handshakes: list[str] = []
        #: The charger's answers to the CertificateSigned calls made after SignCertificate.
        self.certificate_signed_answers: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        #: (identity, Authorization header, client certificate CN) → an HTTP status to
        #: refuse the handshake with (None: let it in), like a CSMS enforcing profiles.
        self.refuse: Callable[[str, str | None, str | None], int | None] | None = None
        self.received: list[Received] = []
        #: Frames the session refused (schema errors...): should stay empty.
        self.refused: list[str] = []
        self.connections: dict[str, _Connection] = {}
        self.connects: list[str] = []
        self.auth_headers: list[str | None] = []
        self.rules: dict[str, Rule] = {}
        #: The version each identity connected with last.
        self.versions: dict[str, OCPPVersion] = {}
        self._transaction_ids = itertools.count(1000)
        self._changed = asyncio.Event()
        self._server: Server | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> FakeCSMS:
        self._server = await serve(
            self._handler,
            "127.0.0.1",
            0,
            subprotocols=[Subprotocol("ocpp1.6"), Subprotocol("ocpp2.0.1")],
            ping_interval=None,
            ssl=self.ssl,
            process_request=self._process_request,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        for task in self._tasks:
            task.cancel()
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"{'wss' if self.ssl else 'ws'}://127.0.0.1:{self.port}/ocpp"

    # -- answers --------------------------------------------------------------------------

    def default_answer(
        self, action: str, payload: dict[str, Any], *, version: OCPPVersion = OCPPVersion.V16
    ) -> dict[str, Any]:
        if version is OCPPVersion.V201:
            return self._default_answer_v201(action, payload)
        if action == "BootNotification":
            return {
                "status": "Accepted",
                "currentTime": _now(),
                "interval": self.heartbeat_interval,
            }
        if action == "Heartbeat":
            return {"currentTime": _now()}
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            return {
                "transactionId": next(self._transaction_ids),
                "idTagInfo": {"status": "Accepted"},
            }
        if action == "DataTransfer":
            return {"status": "UnknownVendorId"}
        return {}

    def _default_answer_v201(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "BootNotification":
            return {
                "status": "Accepted",
                "currentTime": _now(),
                "interval": self.heartbeat_interval,
            }
        if action == "Heartbeat":
            return {"currentTime": _now()}
        if action == "Authorize":
            return {"idTokenInfo": {"status": "Accepted"}}
        if action == "TransactionEvent" and "idToken" in payload:
            return {"idTokenInfo": {"status": "Accepted"}}  # 2.0.1 E01: idToken answered
        if action == "DataTransfer":
            return {"status": "UnknownVendorId"}
        return {}

    def _answer(self, identity: str, call: Call, version: OCPPVersion) -> dict[str, Any]:
        rule = self.rules.get(call.action)
        if rule is not None:
            return rule(identity, call.payload)
        if call.action == "SignCertificate" and self.signer is not None:
            chain = self.signer(call.payload["csr"])
            self._spawn(self._send_certificate(identity, chain, version))
            return {"status": "Accepted"}
        return self.default_answer(call.action, call.payload, version=version)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_certificate(self, identity: str, chain: str, version: OCPPVersion) -> None:
        await asyncio.sleep(0.01)  # after the SignCertificate answer, as csms does
        payload: dict[str, Any] = {"certificateChain": chain}
        if version is OCPPVersion.V201:
            payload["certificateType"] = "ChargingStationCertificate"
        answer = await self.call(identity, "CertificateSigned", payload)
        self.certificate_signed_answers.append(answer)
        self._notify()

    # -- the connection -------------------------------------------------------------------

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        if self.refuse is None:
            return None
        identity = unquote(request.path.rsplit("/", 1)[-1])
        status = self.refuse(identity, request.headers.get("Authorization"), _client_cn(ws))
        if status is None:
            return None
        self.refused_handshakes.append(identity)
        return ws.respond(status, "refused\n")

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        identity = unquote(ws.request.path.rsplit("/", 1)[-1])
        self.auth_headers.append(ws.request.headers.get("Authorization"))
        self.client_cns.append(_client_cn(ws))
        version = OCPPVersion(ws.subprotocol or "ocpp1.6")
        session = OCPPSession(version=version, role="csms", boot_required=False)
        connection = _Connection(identity, ws, session, version)
        self.versions[identity] = version
        self.connections[identity] = connection
        self.connects.append(identity)
        self._notify()
        loop = asyncio.get_running_loop()
        try:
            async for message in ws:
                for event in session.receive(message, now=loop.time()):
                    if isinstance(event, CallReceived):
                        call = event.call
                        self.received.append(
                            Received(
                                identity, call.action, call.payload, call.unique_id, loop.time()
                            )
                        )
                        self._notify()
                        try:
                            answer = self._answer(identity, call, version)
                        except OCPPError as exc:
                            await ws.send(session.reply_error(call, exc))
                            continue
                        if answer is NO_ANSWER:
                            continue
                        await ws.send(session.reply(call, answer))
                    elif isinstance(event, CallResultReceived):
                        if connection.pending and not connection.pending.done():
                            connection.pending.set_result(event.result.payload)
                    elif isinstance(event, CallErrorReceived):
                        if connection.pending and not connection.pending.done():
                            connection.pending.set_exception(
                                CSMSCallError(event.error.error_code, event.error.error_description)
                            )
                    elif isinstance(event, SendFrame):
                        self.refused.append(event.data)
                        await ws.send(event.data)
        except ConnectionClosed:
            pass
        finally:
            if self.connections.get(identity) is connection:
                del self.connections[identity]
            self._notify()

    def _notify(self) -> None:
        self._changed.set()

    # -- for tests --------------------------------------------------------------------------

    def actions(
        self, identity: str | None = None, *, skip: tuple[str, ...] = ("Heartbeat",)
    ) -> list[str]:
        return [
            r.action
            for r in self.received
            if (identity is None or r.identity == identity) and r.action not in skip
        ]

    def of(self, action: str, identity: str | None = None) -> list[Received]:
        return [
            r
            for r in self.received
            if r.action == action and (identity is None or r.identity == identity)
        ]

    async def wait_until(self, predicate: Callable[[], bool], *, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for(
        self, action: str, count: int = 1, *, timeout: float = 5.0, **match: Any
    ) -> list[Received]:
        def found() -> list[Received]:
            return [
                r for r in self.of(action) if all(r.payload.get(k) == v for k, v in match.items())
            ]

        await self.wait_until(lambda: len(found()) >= count, timeout=timeout)
        return found()

    async def wait_connected(self, identity: str, *, timeout: float = 5.0) -> None:
        await self.wait_until(lambda: identity in self.connections, timeout=timeout)

    async def call(
        self, identity: str, action: str, payload: dict[str, Any], *, timeout: float = 5.0
    ) -> dict[str, Any]:
        """A CSMS-initiated CALL; returns the charger's CALLRESULT payload."""
        connection = self.connections[identity]
        async with connection.lock:
            loop = asyncio.get_running_loop()
            _call, text = connection.session.call(action, payload, now=loop.time())
            connection.pending = loop.create_future()
            await connection.ws.send(text)
            try:
                return await asyncio.wait_for(connection.pending, timeout)
            except TimeoutError:
                connection.session.expire(now=float("inf"))
                raise
            finally:
                connection.pending = None

    async def disconnect(self, identity: str) -> None:
        """Drop a charger's connection from the server side."""
        await self.connections[identity].ws.close()
