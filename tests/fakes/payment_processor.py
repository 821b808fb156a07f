"""A payment processor on 127.0.0.1 that answers like Stripe's REST API, for the calls csms makes.

Endpoints (form-encoded bodies with Stripe's ``card[number]`` brackets, JSON answers, Stripe's
error shape ``{"error": {"type", "code", "decline_code", "message"}}``)::

    POST /v1/customers                          description, metadata[...]
    POST /v1/payment_methods                    type=card, card[number|exp_month|exp_year|cvc]
    POST /v1/payment_methods/{id}/attach        customer
    POST /v1/payment_methods/{id}/detach
    POST /v1/payment_intents                    amount, currency (lowercase), customer,
                                                payment_method, confirm=true, off_session,
                                                description, metadata[...]
    GET  /v1/customers/{id}, /v1/payment_methods/{id}, /v1/payment_intents/{id}

Every request needs ``Authorization: Bearer <key>`` (401 otherwise) and every POST an
``Idempotency-Key`` (400 otherwise: csms must always send one). A key used again with the same
method, path and parameters gets the first answer replayed (same status and body, header
``Idempotent-Replayed: true``) and nothing happens again; with other parameters it gets 400
``idempotency_error``; while the first request with that key is still being answered (held,
delayed) it gets 409 ``idempotency_key_in_use``. As at Stripe, only requests that were
executed (answers 200 and 402) are remembered; injected failures, 400 and 401 are not.

Test cards (as in Stripe's test mode, where they exist there)::

    4242424242424242  visa        succeeds
    5555555555554444  mastercard  succeeds
    2223003122003222  mastercard  succeeds (2-series)
    378282246310005   amex        succeeds
    4000000000000002  declined when attached: 402 card_declined / generic_decline
    4000000000000069  declined when attached: 402 expired_card
    4000000000000127  declined when attached: 402 incorrect_cvc
    4000000000000341  attaches; every charge declined: card_declined / generic_decline
    4000000000009995  attaches; every charge declined: card_declined / insufficient_funds
    4000000000009979  attaches; every charge declined: card_declined / stolen_card
    4000000000009987  attaches; every charge declined: card_declined / lost_card
    4100000000000019  attaches; every charge declined: card_declined / fraudulent
    4000002760003184  attaches; every charge declined: 402 authentication_required
    4000002500003155  attaches; every charge answered 200 with status requires_action

Any other number that passes the Luhn check succeeds; one that does not is refused with 402
``invalid_number`` when the payment method is created.

Failure injection: ``fail_next(status)`` (the next requests answered with that status before
anything happens), ``delay_next(seconds)`` (the next request reaches the processor late),
``arrive_late()``/``let_late_in()`` (the next request is received, then reaches the
processor only when the test says so), ``hold()``/``release()`` (the next payment intent
is created and recorded, then its answer is held back until ``release()``: the charge
happened but the client has not learnt it), and ``stop()``/``restart()`` (the processor is
down / back on the same port).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.fakes.gates import Hold, Upcoming
from tests.fakes.http_server import ThreadedHttpServer

__all__ = [
    "DEFAULT_KEY",
    "TEST_CARDS",
    "CardBehaviour",
    "Charge",
    "FakeStripe",
    "PaymentProcessorState",
    "SeenRequest",
    "create_app",
    "parse_form",
]

DEFAULT_KEY = "sk_test_csms_fake_4f1c2a9b7d"
HOLD_MAX_S = 60.0


@dataclass(frozen=True)
class CardBehaviour:
    """What the fake does with a test card: refuse it when attached, or decline its charges."""

    attach_error: tuple[str, str | None] | None = None  # (code, decline_code)
    charge_error: tuple[str, str | None] | None = None  # (code, decline_code)
    charge_requires_action: bool = False


TEST_CARDS: dict[str, CardBehaviour] = {
    "4000000000000002": CardBehaviour(attach_error=("card_declined", "generic_decline")),
    "4000000000000069": CardBehaviour(attach_error=("expired_card", None)),
    "4000000000000127": CardBehaviour(attach_error=("incorrect_cvc", None)),
    "4000000000000341": CardBehaviour(charge_error=("card_declined", "generic_decline")),
    "4000000000009995": CardBehaviour(charge_error=("card_declined", "insufficient_funds")),
    "4000000000009979": CardBehaviour(charge_error=("card_declined", "stolen_card")),
    "4000000000009987": CardBehaviour(charge_error=("card_declined", "lost_card")),
    "4100000000000019": CardBehaviour(charge_error=("card_declined", "fraudulent")),
    "4000002760003184": CardBehaviour(
        charge_error=("authentication_required", "authentication_required")
    ),
    "4000002500003155": CardBehaviour(charge_requires_action=True),
}

_MESSAGES = {
    "card_declined": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "invalid_number": "Your card number is incorrect.",
    "invalid_expiry_month": "Your card's expiration month is invalid.",
    "invalid_expiry_year": "Your card's expiration year is invalid.",
    "invalid_cvc": "Your card's security code is invalid.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}
_DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "stolen_card": "Your card was declined.",
    "lost_card": "Your card was declined.",
    "fraudulent": "Your card was declined.",
}


@dataclass(frozen=True)
class Charge:
    """A payment intent that succeeded: money moved."""

    id: str
    amount: int
    currency: str
    customer: str
    payment_method: str
    idempotency_key: str | None
    description: str | None
    metadata: dict[str, str]


@dataclass
class SeenRequest:
    """One request as it arrived (replays included); ``status`` once it has been answered."""

    method: str
    path: str
    headers: dict[str, str]  # lowercased names
    body: bytes
    idempotency_key: str | None
    status: int | None = None
    replayed: bool = False
    injected: bool = False


@dataclass
class _Stored:
    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: dict[str, Any]


@dataclass
class _Injected:
    status: int
    code: str | None
    message: str | None
    type: str | None


@dataclass
class _PaymentMethod:
    id: str
    number: str = field(repr=False)
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    customer: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "payment_method",
            "type": "card",
            "customer": self.customer,
            "card": {
                "brand": self.brand,
                "last4": self.last4,
                "exp_month": self.exp_month,
                "exp_year": self.exp_year,
                "funding": "credit",
                "country": "US",
            },
            "livemode": False,
        }


class _Answer(Exception):
    """Raised inside a handler to answer with ``status`` and ``body``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    decline_code: str | None = None,
    param: str | None = None,
    **extra: Any,
) -> _Answer:
    error: dict[str, Any] = {"type": type, "message": message}
    if code is not None:
        error["code"] = code
    if decline_code is not None:
        error["decline_code"] = decline_code
    if param is not None:
        error["param"] = param
    error.update(extra)
    return _Answer(status, {"error": error})


def _card_error(code: str, decline_code: str | None, **extra: Any) -> _Answer:
    message = _DECLINE_MESSAGES.get(decline_code or "") or _MESSAGES.get(code, "Declined.")
    return _error(402, message, type="card_error", code=code, decline_code=decline_code, **extra)


def parse_form(body: bytes) -> dict[str, Any]:
    """``a=1&card[number]=42&metadata[k]=v`` → ``{"a": "1", "card": {"number": "42"}, ...}``."""
    result: dict[str, Any] = {}
    for name, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", name)
        if match is None:
            raise _error(400, f"Invalid parameter name: {name}", code="parameter_invalid")
        keys = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        target = result
        for key in keys[:-1]:
            child = target.setdefault(key, {})
            if not isinstance(child, dict):
                raise _error(400, f"Invalid parameter: {name}", code="parameter_invalid")
            target = child
        target[keys[-1]] = value
    return result


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number[:2] in ("34", "37"):
        return "amex"
    return "unknown"


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _int_param(params: dict[str, Any], name: str, *, param: str | None = None) -> int:
    value = params.get(name)
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,12}", value):
        raise _error(
            400, f"Invalid integer: {value}", code="parameter_invalid", param=param or name
        )
    return int(value)


def _digits(value: object) -> int | None:
    return int(value) if isinstance(value, str) and re.fullmatch(r"[0-9]{1,4}", value) else None


def _metadata(params: dict[str, Any]) -> dict[str, str]:
    metadata = params.get("metadata", {})
    if not isinstance(metadata, dict):
        raise _error(400, "Invalid hash", code="parameter_invalid", param="metadata")
    return {str(k): str(v) for k, v in metadata.items()}


class PaymentProcessorState:
    """Everything the fake processor holds and records; safe to read from the test's thread."""

    def __init__(self, *, key: str = DEFAULT_KEY, require_idempotency_key: bool = True) -> None:
        self.key = key
        self.require_idempotency_key = require_idempotency_key
        self._lock = threading.Lock()
        self._customers: dict[str, dict[str, Any]] = {}
        self._payment_methods: dict[str, _PaymentMethod] = {}
        self._payment_intents: dict[str, dict[str, Any]] = {}
        self._charges: list[Charge] = []
        self._seen: list[SeenRequest] = []
        self._idempotent: dict[str, _Stored] = {}
        self._in_flight: set[str] = set()
        self._failures: Upcoming[_Injected] = Upcoming()
        self._delays: Upcoming[float] = Upcoming()
        self._hold = Hold(max_hold=HOLD_MAX_S)
        self._late = Hold(max_hold=HOLD_MAX_S)

    # --- what a test reads ------------------------------------------------------------

    @property
    def charges(self) -> list[Charge]:
        with self._lock:
            return list(self._charges)

    @property
    def requests_seen(self) -> list[SeenRequest]:
        with self._lock:
            return [replace(r, headers=dict(r.headers)) for r in self._seen]

    @property
    def raw_bodies(self) -> list[bytes]:
        with self._lock:
            return [r.body for r in self._seen]

    @property
    def customers(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._customers.items()}

    @property
    def payment_methods(self) -> dict[str, dict[str, Any]]:
        """Payment methods as the processor's API shows them (without the full number)."""
        with self._lock:
            return {k: v.to_json() for k, v in self._payment_methods.items()}

    @property
    def payment_intents(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._payment_intents.items()}

    # --- failure injection ------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        *,
        times: int = 1,
        code: str | None = None,
        message: str | None = None,
        type: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (nothing happens, nothing stored)."""
        self._failures.add(_Injected(status, code, message, type), times=times)

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """The next ``times`` requests reach the processor ``seconds`` late (then take effect)."""
        self._delays.add(seconds, times=times)

    def hold(self) -> None:
        """The next payment intent is created and recorded, then its answer waits for release."""
        self._hold.arm()

    def wait_held(self, timeout: float = 5.0) -> bool:
        """Block until a payment intent is being held (the charge has happened)."""
        return self._hold.wait_held(timeout)

    def arrive_late(self) -> None:
        """The next request is received but reaches the processor only on ``let_late_in()``
        (a request the client gave up on, arriving after its retry): an event, not a
        delay, so that no timing on a busy machine decides the order."""
        self._late.arm()

    def wait_arrived_late(self, timeout: float = 10.0) -> bool:
        """Block until the request ``arrive_late()`` meant has been received (True)."""
        return self._late.wait_held(timeout)

    def let_late_in(self) -> None:
        self._late.release()

    def release(self, *, wait: float = 5.0) -> None:
        """Let a held answer go; wait until it has been sent (and remembered for replays)."""
        held = self._hold.disarm()
        self._hold.release()
        if held and wait > 0:
            self._hold.wait_answered(wait)

    # --- request handling (called on the server's thread) -----------------------------

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        key = headers.get("idempotency-key")
        seen = SeenRequest(
            method=request.method,
            path=request.url.path,
            headers=headers,
            body=body,
            idempotency_key=key,
        )
        with self._lock:
            self._seen.append(seen)
        delay = self._delays.take()
        if delay:
            await asyncio.sleep(delay)
        await self._late.pause()
        status, payload, replayed = await self._answer(seen)
        with self._lock:
            seen.status = status
            seen.replayed = replayed
        response_headers = {"Request-Id": _new_id("req")}
        if replayed:
            response_headers["Idempotent-Replayed"] = "true"
        return JSONResponse(payload, status_code=status, headers=response_headers)

    async def _answer(self, seen: SeenRequest) -> tuple[int, dict[str, Any], bool]:
        method, path, headers, body = seen.method, seen.path, seen.headers, seen.body
        injected = self._failures.take()
        if injected is not None:
            with self._lock:
                seen.injected = True
            return injected.status, self._injected_body(injected), False
        if headers.get("authorization") != f"Bearer {self.key}":
            return 401, self._unauthorized(headers.get("authorization")), False
        try:
            params = parse_form(body) if body else {}
        except _Answer as answer:
            return answer.status, answer.body, False
        key = headers.get("idempotency-key") if method == "POST" else None
        if method == "POST" and key is None and self.require_idempotency_key:
            return (
                400,
                _error(400, "This fake requires an Idempotency-Key on every POST.").body,
                False,
            )
        if key is not None:
            with self._lock:
                stored = self._idempotent.get(key)
                if stored is not None:
                    if (stored.method, stored.path, stored.params) == (method, path, params):
                        return stored.status, stored.body, True
                    return (
                        400,
                        _error(
                            400,
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                            type="idempotency_error",
                        ).body,
                        False,
                    )
                if key in self._in_flight:
                    return (
                        409,
                        _error(
                            409,
                            "There is currently another in-progress request using this "
                            "Idempotent Key. Please try again later.",
                            type="idempotency_error",
                            code="idempotency_key_in_use",
                        ).body,
                        False,
                    )
                self._in_flight.add(key)
        held = False
        try:
            try:
                status, payload = 200, await self._route(method, path, params, key)
            except _Answer as answer:
                status, payload = answer.status, answer.body
            if path == "/v1/payment_intents" and status in (200, 402):
                held = await self._hold.pause()
            if key is not None and status in (200, 402):
                with self._lock:
                    self._idempotent[key] = _Stored(method, path, params, status, payload)
        finally:
            if key is not None:
                with self._lock:
                    self._in_flight.discard(key)
            if held:
                self._hold.answered()
        return status, payload, False

    @staticmethod
    def _injected_body(injected: _Injected) -> dict[str, Any]:
        default_type = {
            401: "invalid_request_error",
            402: "card_error",
            409: "idempotency_error",
            429: "invalid_request_error",
        }.get(injected.status, "api_error" if injected.status >= 500 else "invalid_request_error")
        default_code = {429: "rate_limit", 409: "idempotency_key_in_use"}.get(injected.status)
        default_message = {
            429: "Too many requests hit the API too quickly.",
            500: "An unknown error occurred.",
            503: "The service is temporarily unavailable.",
        }.get(injected.status, f"Injected failure (HTTP {injected.status}).")
        return _error(
            injected.status,
            injected.message or default_message,
            type=injected.type or default_type,
            code=injected.code or default_code,
        ).body

    @staticmethod
    def _unauthorized(authorization: str | None) -> dict[str, Any]:
        if authorization is None or not authorization.startswith("Bearer "):
            message = (
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth."
            )
        else:
            given = authorization.removeprefix("Bearer ")
            # Like Stripe: the key is shown masked, its last 4 characters only.
            message = f"Invalid API Key provided: {'*' * max(len(given) - 4, 0)}{given[-4:]}"
        return _error(401, message).body

    async def _route(
        self, method: str, path: str, params: dict[str, Any], key: str | None
    ) -> dict[str, Any]:
        parts = path.strip("/").split("/")
        if method == "POST":
            if parts == ["v1", "customers"]:
                return self._create_customer(params)
            if parts == ["v1", "payment_methods"]:
                return self._create_payment_method(params)
            if len(parts) == 4 and parts[:2] == ["v1", "payment_methods"]:
                if parts[3] == "attach":
                    return self._attach(parts[2], params)
                if parts[3] == "detach":
                    return self._detach(parts[2])
            if parts == ["v1", "payment_intents"]:
                return self._create_payment_intent(params, key)
        if method == "GET" and len(parts) == 3 and parts[0] == "v1":
            with self._lock:
                if parts[1] == "customers" and parts[2] in self._customers:
                    return dict(self._customers[parts[2]])
                if parts[1] == "payment_methods" and parts[2] in self._payment_methods:
                    return self._payment_methods[parts[2]].to_json()
                if parts[1] == "payment_intents" and parts[2] in self._payment_intents:
                    return dict(self._payment_intents[parts[2]])
            raise _error(404, f"No such object: '{parts[2]}'", code="resource_missing")
        raise _error(404, f"Unrecognized request URL ({method}: {path}).")

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer: dict[str, Any] = {
            "id": _new_id("cus"),
            "object": "customer",
            "description": params.get("description"),
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": _metadata(params),
            "livemode": False,
        }
        with self._lock:
            self._customers[customer["id"]] = customer
        return dict(customer)

    def _create_payment_method(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("type") != "card":
            raise _error(400, "Invalid type: must be card", code="parameter_invalid", param="type")
        card = params.get("card")
        if not isinstance(card, dict):
            raise _error(400, "Missing required param: card.", code="parameter_missing")
        number = card.get("number")
        if not isinstance(number, str):
            raise _error(400, "Missing required param: card[number].", code="parameter_missing")
        if not re.fullmatch(r"[0-9]{12,19}", number) or not _luhn_ok(number):
            raise _card_error("invalid_number", None, param="card[number]")
        month = _digits(card.get("exp_month"))
        year = _digits(card.get("exp_year"))
        if month is None or not 1 <= month <= 12:
            raise _card_error("invalid_expiry_month", None, param="card[exp_month]")
        if year is None:
            raise _card_error("invalid_expiry_year", None, param="card[exp_year]")
        if year < 100:
            year += 2000
        today = time.gmtime()
        if (year, month) < (today.tm_year, today.tm_mon) or year > today.tm_year + 50:
            raise _card_error("invalid_expiry_year", None, param="card[exp_year]")
        cvc = card.get("cvc")
        if cvc is not None and not re.fullmatch(r"[0-9]{3,4}", cvc):
            raise _card_error("invalid_cvc", None, param="card[cvc]")
        method = _PaymentMethod(
            id=_new_id("pm"),
            number=number,
            brand=_brand(number),
            last4=number[-4:],
            exp_month=month,
            exp_year=year,
        )
        with self._lock:
            self._payment_methods[method.id] = method
        return method.to_json()

    def _attach(self, method_id: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer")
        if not isinstance(customer, str):
            raise _error(400, "Missing required param: customer.", code="parameter_missing")
        with self._lock:
            method = self._payment_methods.get(method_id)
            if method is None:
                raise _error(404, f"No such PaymentMethod: '{method_id}'", code="resource_missing")
            if customer not in self._customers:
                raise _error(
                    400,
                    f"No such customer: '{customer}'",
                    code="resource_missing",
                    param="customer",
                )
            behaviour = TEST_CARDS.get(method.number, CardBehaviour())
            if behaviour.attach_error is not None:
                raise _card_error(*behaviour.attach_error)
            if method.customer not in (None, customer):
                raise _error(
                    400,
                    "The payment method you provided has already been attached to a customer.",
                    code="payment_method_unexpected_state",
                )
            method.customer = customer
            return method.to_json()

    def _detach(self, method_id: str) -> dict[str, Any]:
        with self._lock:
            method = self._payment_methods.get(method_id)
            if method is None:
                raise _error(404, f"No such PaymentMethod: '{method_id}'", code="resource_missing")
            if method.customer is None:
                raise _error(
                    400,
                    "The payment method you provided is not attached to a customer so "
                    "detachment is impossible.",
                    code="payment_method_unexpected_state",
                )
            method.customer = None
            return method.to_json()

    def _create_payment_intent(self, params: dict[str, Any], key: str | None) -> dict[str, Any]:
        amount = _int_param(params, "amount")
        if amount < 1:
            raise _error(400, "Amount must be at least 1.", code="parameter_invalid")
        currency = params.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            raise _error(
                400, f"Invalid currency: {currency}.", code="parameter_invalid", param="currency"
            )
        if params.get("confirm") != "true":
            raise _error(400, "This fake only supports confirm=true.", code="parameter_invalid")
        customer = params.get("customer")
        method_id = params.get("payment_method")
        metadata = _metadata(params)
        with self._lock:
            if not isinstance(customer, str) or customer not in self._customers:
                raise _error(
                    400,
                    f"No such customer: '{customer}'",
                    code="resource_missing",
                    param="customer",
                )
            method = self._payment_methods.get(str(method_id))
            if method is None:
                raise _error(
                    400,
                    f"No such PaymentMethod: '{method_id}'",
                    code="resource_missing",
                    param="payment_method",
                )
            if method.customer != customer:
                raise _error(
                    400,
                    "The provided PaymentMethod is not attached to this customer.",
                    code="payment_method_unexpected_state",
                    param="payment_method",
                )
            behaviour = TEST_CARDS.get(method.number, CardBehaviour())
            intent: dict[str, Any] = {
                "id": _new_id("pi"),
                "object": "payment_intent",
                "amount": amount,
                "currency": currency,
                "customer": customer,
                "payment_method": method.id,
                "description": params.get("description"),
                "metadata": metadata,
                "off_session": params.get("off_session") == "true",
                "livemode": False,
                "last_payment_error": None,
                "latest_charge": None,
            }
            if behaviour.charge_error is not None:
                code, decline_code = behaviour.charge_error
                declined = _card_error(code, decline_code)
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = dict(declined.body["error"])
                self._payment_intents[intent["id"]] = intent
                declined.body["error"]["payment_intent"] = dict(intent)
                raise declined
            if behaviour.charge_requires_action:
                intent["status"] = "requires_action"
                self._payment_intents[intent["id"]] = intent
                return dict(intent)
            intent["status"] = "succeeded"
            intent["latest_charge"] = _new_id("ch")
            self._payment_intents[intent["id"]] = intent
            self._charges.append(
                Charge(
                    id=intent["id"],
                    amount=amount,
                    currency=currency,
                    customer=customer,
                    payment_method=method.id,
                    idempotency_key=key,
                    description=intent["description"],
                    metadata=metadata,
                )
            )
            return dict(intent)


def create_app(state: PaymentProcessorState) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/{path:path}", methods=["GET", "POST", "DELETE"])
    async def any_request(request: Request) -> Response:
        return await state.handle(request)

    return app


class FakeStripe:
    """The fake processor served on 127.0.0.1: ``with FakeStripe() as stripe: stripe.url``."""

    def __init__(
        self, *, key: str = DEFAULT_KEY, port: int = 0, require_idempotency_key: bool = True
    ) -> None:
        self.state = PaymentProcessorState(key=key, require_idempotency_key=require_idempotency_key)
        self.app = create_app(self.state)
        self.server = ThreadedHttpServer(self.app, port=port)
        self._started = False

    @property
    def key(self) -> str:
        return self.state.key

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> FakeStripe:
        self.server.start()
        self._started = True
        return self

    def stop(self) -> None:
        """The processor is down (connections refused); held answers are let go first."""
        self.state.release(wait=0)
        if self._started:
            self.server.stop()
            self._started = False

    def restart(self) -> None:
        """The processor is back on the same port, with everything it held before."""
        self.server.restart()
        self._started = True

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Everything a test reads or injects, straight from the state.
    @property
    def charges(self) -> list[Charge]:
        return self.state.charges

    @property
    def requests_seen(self) -> list[SeenRequest]:
        return self.state.requests_seen

    @property
    def raw_bodies(self) -> list[bytes]:
        return self.state.raw_bodies

    @property
    def customers(self) -> dict[str, dict[str, Any]]:
        return self.state.customers

    @property
    def payment_methods(self) -> dict[str, dict[str, Any]]:
        return self.state.payment_methods

    @property
    def payment_intents(self) -> dict[str, dict[str, Any]]:
        return self.state.payment_intents

    def fail_next(
        self,
        status: int = 500,
        *,
        times: int = 1,
        code: str | None = None,
        message: str | None = None,
        type: str | None = None,
    ) -> None:
        self.state.fail_next(status, times=times, code=code, message=message, type=type)

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        self.state.delay_next(seconds, times=times)

    def hold(self) -> None:
        self.state.hold()

    def wait_held(self, timeout: float = 5.0) -> bool:
        return self.state.wait_held(timeout)

    def arrive_late(self) -> None:
        self.state.arrive_late()

    def wait_arrived_late(self, timeout: float = 10.0) -> bool:
        return self.state.wait_arrived_late(timeout)

    def let_late_in(self) -> None:
        self.state.let_late_in()

    def release(self, *, wait: float = 5.0) -> None:
        self.state.release(wait=wait)
