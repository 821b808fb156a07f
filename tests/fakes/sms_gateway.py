"""A fake SMS gateway in the shape of Twilio's Messages API, served on 127.0.0.1 from a thread.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with form fields To, From, Body and
HTTP Basic auth ``AccountSid:AuthToken`` answers ``201`` with ``{"sid": "SM…", "status":
"queued", …}``; wrong credentials get ``401`` (Twilio error 20003), an invalid To ``400``
(21211), an invalid From ``400`` (21212), an empty Body ``400`` (21602). Error texts quote
the number, as Twilio's do. Unlike Twilio, it dedupes on the ``Idempotency-Key`` header: the
same key gets the same answer and the message is recorded once (``requests_seen`` counts
every POST)::

    with FakeSmsGateway() as gateway:
        settings = SmsSettings.from_url(gateway.url_for(timeout=0.5), sender="+15005550006")
        gateway.fail_next(status=503, times=2)
        gateway.delay_next(2.0)         # the next request is answered 2 s late
        gateway.hold()                  # the next message is recorded, then not answered ...
        gateway.wait_held()             # ... (it has arrived) ...
        gateway.release()               # ... until now
        gateway.stop(); gateway.restart()
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.gates import Hold, Upcoming
from tests.fakes.http_server import ThreadedHttpServer

__all__ = ["DEFAULT_ACCOUNT_SID", "DEFAULT_AUTH_TOKEN", "FakeSmsGateway", "SentSms"]

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fake-auth-token"
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
#: Twilio error codes the fake answers with when a failure is injected without one.
_DEFAULT_CODES = {400: 21200, 401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}


@dataclass(frozen=True)
class SentSms:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    idempotency_key: str | None


@dataclass(frozen=True)
class _Failure:
    status: int
    code: int | None


class FakeSmsGateway:
    """See the module docs. ``messages`` and ``requests_seen`` are safe to read from any
    thread."""

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        port: int = 0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._lock = threading.Lock()
        self._messages: list[SentSms] = []
        self._requests_seen = 0
        self._answers: dict[str, tuple[tuple[str, str, str], int, dict[str, Any]]] = {}
        self._failures: Upcoming[_Failure] = Upcoming()
        self._delays: Upcoming[float] = Upcoming()
        self._hold = Hold()
        self._shutdown = threading.Event()
        self.app = self._make_app()
        self.server = ThreadedHttpServer(self.app, port=port)

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> FakeSmsGateway:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._shutdown.clear()
        self.server.start()

    def stop(self) -> None:
        """Stop listening ("the gateway is down"); held or delayed requests end first."""
        self._shutdown.set()
        self._hold.release()
        self.server.stop()

    def restart(self) -> None:
        """Listen again on the same port."""
        self._shutdown.clear()
        self.server.restart()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def base_url(self) -> str:
        return self.server.url

    def url_for(
        self, sid: str | None = None, token: str | None = None, *, timeout: float | None = None
    ) -> str:
        """A ``CSMS_SMS_URL`` for this gateway (its own credentials unless given)."""
        sid = self.account_sid if sid is None else sid
        token = self.auth_token if token is None else token
        query = f"?{urlencode({'timeout': timeout})}" if timeout is not None else ""
        return f"http://{quote(sid, safe='')}:{quote(token, safe='')}@127.0.0.1:{self.port}{query}"

    # -- what a test reads -------------------------------------------------------------

    @property
    def messages(self) -> list[SentSms]:
        with self._lock:
            return list(self._messages)

    @property
    def requests_seen(self) -> int:
        """Every POST to the Messages endpoint, duplicates and failures included."""
        with self._lock:
            return self._requests_seen

    # -- failure injection -------------------------------------------------------------

    def fail_next(self, status: int = 500, *, times: int = 1, code: int | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (and a Twilio error body)."""
        if not 400 <= status < 600:
            raise ValueError("fail_next takes a 4xx or 5xx status")
        failure = _Failure(status, code or _DEFAULT_CODES.get(status))
        # (``times`` below 1 still fails the next request)
        self._failures.add(failure, times=max(times, 1))

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """Answer the next ``times`` requests ``seconds`` late (before anything else)."""
        self._delays.add(seconds, times=times)

    def hold(self) -> None:
        """The next message is recorded, then not answered until ``release()``."""
        self._hold.arm()

    def wait_held(self, timeout: float = 10.0) -> bool:
        return self._hold.wait_held(timeout)

    def release(self) -> None:
        self._hold.release()

    # -- the app -----------------------------------------------------------------------

    def _make_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/2010-04-01/Accounts/{account_sid}/Messages.json")
        async def create_message(account_sid: str, request: Request) -> JSONResponse:
            status, payload = await self._create_message(account_sid, request)
            return JSONResponse(payload, status_code=status)

        return app

    async def _create_message(self, account_sid: str, request: Request) -> tuple[int, Any]:
        with self._lock:
            self._requests_seen += 1
        delay, failure = self._delays.take(), self._failures.take()
        if delay:
            await asyncio.to_thread(self._shutdown.wait, delay)
        if failure is not None:
            return _error(failure.status, failure.code, "Injected failure")
        if not self._authorized(account_sid, request.headers.get("authorization", "")):
            return _error(401, 20003, "Authenticate")

        form = {
            key: values[-1]
            for key, values in parse_qs(
                (await request.body()).decode("utf-8", "replace"), keep_blank_values=True
            ).items()
        }
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        key = request.headers.get("idempotency-key")
        with self._lock:
            if key is not None and key in self._answers:
                params, status, payload = self._answers[key]
                if params != (to, from_, body):
                    return _error(409, None, "Idempotency-Key reused with other parameters")
                return status, payload
        if not _E164.fullmatch(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not _E164.fullmatch(from_):
            return _error(400, 21212, f"The 'From' number {from_} is not a valid phone number.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds 1600 characters.")

        sid = f"SM{uuid.uuid4().hex}"
        payload = _message_resource(sid, account_sid, to, from_, body)
        with self._lock:
            if key is not None and key in self._answers:  # a concurrent duplicate won
                return self._answers[key][1], self._answers[key][2]
            self._messages.append(SentSms(sid, account_sid, to, from_, body, key))
            if key is not None:
                self._answers[key] = ((to, from_, body), 201, payload)
        await self._hold.pause()
        return 201, payload

    def _authorized(self, account_sid: str, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        return user == self.account_sid == account_sid and password == self.auth_token


def _error(status: int, code: int | None, message: str) -> tuple[int, dict[str, Any]]:
    more_info = f"https://www.twilio.com/docs/errors/{code}" if code else None
    return status, {"code": code, "message": message, "more_info": more_info, "status": status}


def _message_resource(sid: str, account_sid: str, to: str, from_: str, body: str) -> dict[str, Any]:
    now = format_datetime(datetime.now(UTC), usegmt=True)
    return {
        "sid": sid,
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": body,
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": from_,
        "to": to,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "status": "queued",
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    }
