"""A real SMTP server (aiosmtpd) on 127.0.0.1, for the email tests and for a csms process
under test.

It speaks plain SMTP, STARTTLS (required by default) or implicit TLS, with an optional
AUTH PLAIN/LOGIN login, using a throwaway CA and server certificate (``ca.pem`` is the
``cafile`` for ``CSMS_SMTP_URL``). It records every accepted message, dedupes redeliveries by
Message-ID (accepted again, recorded once; ``data_commands`` counts every DATA) and fails on
request::

    with FakeSmtpServer(tls="starttls", credentials=("csms", "pw"), directory=tmp_path) as smtp:
        settings = SmtpSettings.from_url(smtp.url(timeout=0.5), sender="noreply@example.com")
        smtp.reject_next(550)              # the next RCPT gets 550 (stage="data" for DATA)
        smtp.defer_next(451, stage="data")
        smtp.hold()                        # the next DATA is recorded, then not answered ...
        smtp.wait_held()                   # ... (it has arrived) ...
        smtp.release()                     # ... until now
        smtp.stop(); smtp.start()          # down, and back on the same port
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import itertools
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.fakes.gates import Hold, Upcoming
from tests.pki import PkiDirectory

__all__ = [
    "FakeSmtpServer",
    "ReceivedEmail",
    "SmtpTls",
    "silent_listener",
]

SmtpTls = Literal["none", "starttls", "implicit"]
Stage = Literal["mail", "rcpt", "data"]

HOST = "127.0.0.1"
#: What the server certificate is for (``ca.pem`` signed it).
SERVER_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ReceivedEmail:
    """One accepted message with its envelope and how it arrived."""

    message: EmailMessage
    mail_from: str
    rcpt_tos: tuple[str, ...]
    #: The connection was encrypted (STARTTLS or implicit TLS).
    tls: bool
    #: The AUTH login used, if any.
    login: str | None


class _Controller(Controller):
    """aiosmtpd's Controller, but able to listen on port 0 (a free port)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSmtpServer:
    """An SMTP server on 127.0.0.1 in a thread of its own; see the module docs."""

    def __init__(
        self,
        *,
        tls: SmtpTls = "none",
        require_starttls: bool = True,
        credentials: tuple[str, str] | None = None,
        directory: Path | None = None,
        port: int = 0,
    ) -> None:
        self.tls = tls
        self.require_starttls = require_starttls
        self.credentials = credentials
        self.host = HOST
        self.port = port
        self._lock = threading.Lock()
        self._received: list[ReceivedEmail] = []
        self._seen_ids: set[str] = set()
        self._data_commands = 0
        self._auth_failures = 0
        self._failures: dict[str, Upcoming[int]] = {
            "mail": Upcoming(),
            "rcpt": Upcoming(),
            "data": Upcoming(),
        }
        self._hold = Hold()
        self._queue_ids = itertools.count(1)
        self._controller: _Controller | None = None
        self._own_directory: Path | None = None
        self.certificates: PkiDirectory | None = None
        if tls != "none":
            if directory is None:
                directory = self._own_directory = Path(tempfile.mkdtemp(prefix="fake-smtp-"))
            self.certificates = PkiDirectory(directory, hostnames=SERVER_NAMES)

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> FakeSmtpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        """Listen (again, on the same port once it has one)."""
        if self._controller is not None:
            return
        server_context = (
            self.certificates.server_context(client_cert="none") if self.certificates else None
        )
        kwargs: dict[str, Any] = {
            "server_hostname": "fake-smtp.test",
            "ready_timeout": 10.0,
            # AUTH only after STARTTLS (aiosmtpd's check). Implicit TLS is TLS from the first
            # byte, which that check does not see; a plain server with credentials is a local
            # relay that allows it. Without credentials, AUTH is not offered over plain SMTP.
            "auth_require_tls": self.tls == "starttls" or self.credentials is None,
        }
        if self.tls == "starttls":
            kwargs["tls_context"] = server_context
            kwargs["require_starttls"] = self.require_starttls
        elif self.tls == "implicit":
            kwargs["ssl_context"] = server_context
        if self.credentials is not None:
            kwargs["authenticator"] = self._authenticate
        controller = _Controller(_Handler(self), hostname=HOST, port=self.port, **kwargs)
        controller.start()
        self.port = controller.port
        self._controller = controller

    def stop(self) -> None:
        """Stop listening; connections are refused ("the server is down")."""
        self._hold.release()  # a held DATA must not keep the thread alive
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def close(self) -> None:
        self.stop()
        if self._own_directory is not None:
            shutil.rmtree(self._own_directory, ignore_errors=True)
            self._own_directory = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    # -- what a test reads -------------------------------------------------------------

    @property
    def cafile(self) -> Path | None:
        return self.certificates.ca_path if self.certificates else None

    @property
    def received(self) -> list[ReceivedEmail]:
        with self._lock:
            return list(self._received)

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [r.message for r in self._received]

    @property
    def data_commands(self) -> int:
        """Every DATA command, duplicates and refused ones included."""
        with self._lock:
            return self._data_commands

    @property
    def auth_failures(self) -> int:
        with self._lock:
            return self._auth_failures

    def url(
        self,
        *,
        login: tuple[str, str] | bool = True,
        timeout: float | None = None,
        cafile: bool = True,
        starttls: bool | None = None,
    ) -> str:
        """A ``CSMS_SMTP_URL`` for this server.

        ``login``: True for the server's credentials (if it has any), False for none, or a
        ``(user, password)`` pair. ``starttls``: None for what the server speaks
        (``?starttls=off`` for a plain one), True to ask for STARTTLS regardless, False for
        ``?starttls=off``. ``cafile``: trust the test CA.
        """
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        userinfo = ""
        pair = self.credentials if login is True else (login or None)
        if pair:
            userinfo = f"{quote(pair[0], safe='')}:{quote(pair[1], safe='')}@"
        query: list[tuple[str, str]] = []
        if starttls is False or (starttls is None and self.tls == "none"):
            query.append(("starttls", "off"))
        elif cafile and self.cafile is not None:
            query.append(("cafile", str(self.cafile)))
        if timeout is not None:
            query.append(("timeout", str(timeout)))
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{scheme}://{userinfo}{self.host}:{self.port}{suffix}"

    # -- failure injection -------------------------------------------------------------

    def reject_next(self, code: int = 550, *, stage: Stage = "rcpt", times: int = 1) -> None:
        """Answer the next ``times`` MAIL, RCPT or DATA commands with a 5xx reply."""
        if not 500 <= code < 600:
            raise ValueError("reject_next takes a 5xx code")
        self._inject(code, stage, times)

    def defer_next(self, code: int = 451, *, stage: Stage = "rcpt", times: int = 1) -> None:
        """Answer the next ``times`` MAIL, RCPT or DATA commands with a 4xx reply."""
        if not 400 <= code < 500:
            raise ValueError("defer_next takes a 4xx code")
        self._inject(code, stage, times)

    def _inject(self, code: int, stage: Stage, times: int) -> None:
        if stage not in self._failures:
            raise ValueError("stage is 'mail', 'rcpt' or 'data'")
        self._failures[stage].add(code, times=times)

    def _take_failure(self, stage: Stage) -> int | None:
        return self._failures[stage].take()

    def hold(self) -> None:
        """The next DATA is recorded, then not answered until ``release()``: the server has
        the message but the sender does not know it yet."""
        self._hold.arm()

    def wait_held(self, timeout: float = 10.0) -> bool:
        """Block until a held DATA has arrived (and been recorded)."""
        return self._hold.wait_held(timeout)

    def release(self) -> None:
        self._hold.release()

    # -- called by the handler in the server thread -----------------------------------

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        assert self.credentials is not None
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            if (login, password) == self.credentials:
                return AuthResult(success=True, auth_data=login)
        with self._lock:
            self._auth_failures += 1
        return AuthResult(success=False, handled=False)

    def _record(self, received: ReceivedEmail) -> None:
        message_id = (received.message.get("Message-ID") or "").strip()
        with self._lock:
            if message_id and message_id in self._seen_ids:
                return  # a redelivery: accepted, recorded once
            if message_id:
                self._seen_ids.add(message_id)
            self._received.append(received)

    def _count_data(self) -> None:
        with self._lock:
            self._data_commands += 1


def _reply(code: int, stage: str, address: str = "") -> str:
    # Like real servers, the texts quote the address: csms must not copy them into its logs.
    permanent = code >= 500
    if stage == "rcpt":
        detail = "User unknown" if permanent else "Greylisted, try again later"
        return f"{code} {'5.1.1' if permanent else '4.7.1'} <{address}>: Recipient {detail}"
    if stage == "mail":
        return f"{code} {'5.7.1' if permanent else '4.3.0'} <{address}>: Sender rejected"
    return f"{code} {'5.7.1 Message rejected' if permanent else '4.3.0 Try again later'}"


class _Handler:
    def __init__(self, owner: FakeSmtpServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.owner.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        code = self.owner._take_failure("mail")
        if code is not None:
            return _reply(code, "mail", address)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        code = self.owner._take_failure("rcpt")
        if code is not None:
            return _reply(code, "rcpt", address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        owner = self.owner
        owner._count_data()
        code = owner._take_failure("data")
        if code is not None:
            return _reply(code, "data")
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("sslcontext") is not None
        owner._record(
            ReceivedEmail(
                message=message,
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                tls=tls,
                login=session.auth_data if isinstance(session.auth_data, str) else None,
            )
        )
        await owner._hold.pause()
        return f"250 2.0.0 Ok: queued as Q{next(owner._queue_ids)}"


@contextlib.contextmanager
def silent_listener() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts TCP connections (the kernel does) but never says a
    word: a server that hangs before its greeting."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((HOST, 0))
        listener.listen(16)
        yield listener.getsockname()[1]
