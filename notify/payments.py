"""Card payments through Stripe: ``StripeGateway`` implements the payment port
(``csms.domain.billing.payments.PaymentGateway``).

What is kept
    What the port says (``csms.domain.billing.payments``): the card number and CVC go to the
    processor once and are never stored or logged; csms keeps the ``StoredCard``. Nothing
    this module raises or logs contains them, the API key, or a request body.

Idempotency
    Every POST carries an ``Idempotency-Key``. The processor stores its first answer to a key
    and returns that same answer for any later request with the same key, without acting
    again. So a charge retried after a timeout, a dropped connection or a crash (when it is
    unknown whether the first request arrived) never charges twice: retry with the *same*
    key. A retry after a *decline* needs a *new* key, otherwise it replays the decline; the
    caller derives keys such as ``invoice-{id}-attempt-{n}`` and moves to ``n + 1`` only after a
    ``ChargeResult`` with ``status="declined"`` and ``retryable=True``, never after a
    ``PaymentDeliveryError``. A key reused with different parameters is refused by the processor
    (``PaymentDeliveryError(permanent=True)``). ``add_card`` makes up to three requests; it derives
    one key per step from the caller's key, so a retried ``add_card`` with the same key finds
    the same customer and payment method instead of creating new ones.

Amounts
    ``charge`` takes integer ISO 4217 minor units, as invoices store them
    (``csms.domain.billing.pricing.CURRENCY_EXPONENTS``), and sends Stripe's ``amount``, which is in
    Stripe's own minor unit of the currency (``stripe_amount``). They differ for ISK: csms
    bills whole krónur (ISO exponent 0), Stripe still takes ISK as a two-decimal currency
    (``500`` charges 5 ISK, and only multiples of 100 are accepted). HUF is two-decimal at
    both (fillér; Stripe's whole-forint rule is for payouts), JPY and KRW are zero-decimal at
    both, every other currency csms bills in is two-decimal at both. Stripe takes the
    three-decimal currencies (BHD, JOD, KWD, OMR, TND) only in multiples of 10; csms does
    not bill in them, and ``stripe_amount`` refuses an amount that is not such a multiple.

Processor ids
    Payment method, customer, payment intent, card, source and setup intent ids (``pm_...``,
    ``cus_...``, ``pi_...``, ``card_...``, ``src_...``, ``seti_...``) are logged masked, their
    last four characters only (``mask_id``), and masked in every message this module raises
    or returns (the processor's error texts name them: "No such PaymentMethod: 'pm_...'"),
    also in the request lines httpx logs (their paths name payment methods). Such messages
    end up in ``outbox.last_error``, the logs and ``csms outbox list``.

Failures
    * a card the processor or issuer refuses: ``CardRejected`` from ``add_card``, a
      ``ChargeResult(status="declined")`` from ``charge``;
    * the processor is unreachable, slow, rate limiting or failing (timeouts, connection
      errors, 409 ``idempotency_key_in_use``, 429, 5xx): ``PaymentDeliveryError(permanent=False)``;
      retry with the same key;
    * the processor refuses the request itself (a wrong API key, an unknown id, a reused key
      with other parameters, an amount below the processor's minimum: 400, 401, 403, 404):
      ``PaymentDeliveryError(permanent=True)``;
    * a payment intent the processor left ``processing`` (neither paid nor declined yet):
      ``ChargeUnresolved``, a permanent ``PaymentDeliveryError`` naming the payment intent.

Which declines may be retried later
    ``retryable`` is False for the decline codes in ``HARD_DECLINE_CODES``: the card is
    reported lost or stolen, fraud is suspected, the number, account or expiry is wrong, the
    issuer forbids this kind of charge, or the customer has to authenticate (3-D Secure) —
    charging the same card again cannot succeed and card networks penalise such retries; the
    customer has to act. ``do_not_honor`` is treated as retryable: issuers use it for
    temporary reasons too and Visa files it among the declines that may be retried later;
    the outbox worker's bounded number of attempts keeps retries within the networks' limits.
    Every other code (``insufficient_funds``, ``generic_decline``, ``processing_error``, ...)
    and a decline without a code are retryable.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from csms.domain.billing.payments import (
    CardDetails,
    CardOnFile,
    CardRejected,
    ChargeResult,
    PaymentProcessorError,
    StoredCard,
)
from csms.domain.billing.pricing import CURRENCY_EXPONENTS
from notify.errors import DeliveryError

__all__ = [
    "DEFAULT_STRIPE_URL",
    "HARD_DECLINE_CODES",
    "STRIPE_API_VERSION",
    "ChargeUnresolved",
    "PaymentDeliveryError",
    "StripeGateway",
    "is_retryable_decline",
    "mask_id",
    "redact_ids",
    "stripe_amount",
]

log = logging.getLogger(__name__)

DEFAULT_STRIPE_URL = "https://api.stripe.com"
#: The Stripe API version every request pins (``Stripe-Version``), so a change of the account's
#: default version in the dashboard cannot change the answers this module parses.
STRIPE_API_VERSION = "2024-06-20"
DEFAULT_TIMEOUT_S = 20.0

#: Decline codes after which charging the same card again is pointless (see module docstring).
HARD_DECLINE_CODES = frozenset(
    {
        "authentication_required",
        "card_not_supported",
        "currency_not_supported",
        "expired_card",
        "fraudulent",
        "incorrect_cvc",
        "incorrect_number",
        "invalid_account",
        "invalid_cvc",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "invalid_number",
        "lost_card",
        "merchant_blacklist",
        "new_account_information_available",
        "pickup_card",
        "restricted_card",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "stolen_card",
        "stop_payment_order",
        "transaction_not_allowed",
    }
)

_IDEMPOTENCY_KEY_MAX = 200  # Stripe allows 255; add_card appends a step suffix
_TOKEN_RE = re.compile(r"[A-Za-z0-9_]{1,255}")
_CURRENCY_RE = re.compile(r"[A-Za-z]{3}")
_DIGIT_RUN_RE = re.compile(r"\d(?:[ -]?\d){11,18}")  # anything that may be a card number
_REDACTED = "[redacted]"
#: A processor object id: a known prefix, then letters and digits with at least one digit
#: (so that codes such as ``card_declined`` or types such as ``card_error`` stay readable).
_PROCESSOR_ID_RE = re.compile(
    r"\b(pm|cus|pi|card|src|seti)_(?=[A-Za-z0-9_]*[0-9])([A-Za-z0-9_]{4,})\b"
)

#: Stripe's minor unit where it is not the ISO 4217 one (see "Amounts" above).
_STRIPE_EXPONENTS = {"ISK": 2}
#: Currencies whose Stripe amounts must end in 0.
_STRIPE_TENS_ONLY = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


class PaymentDeliveryError(DeliveryError, PaymentProcessorError):
    """A request to the payment processor failed: a ``DeliveryError`` to the outbox worker
    (retried unless ``permanent``), a ``PaymentProcessorError`` to the customer API."""


class ChargeUnresolved(PaymentDeliveryError):
    """The processor has neither paid nor declined the charge (a payment intent left
    ``processing``): someone has to look at it there. Permanent; ``reference`` names the
    payment intent (unmasked: for the record, not for logs)."""

    def __init__(self, message: str, *, reference: str) -> None:
        super().__init__(message, permanent=True)
        self.reference = reference


def mask_id(value: str | None) -> str:
    """A processor id as it may be logged: its prefix and last four characters
    (``pm_****4242``)."""
    if not value:
        return "-"
    prefix, sep, rest = value.partition("_")
    if not sep or not rest:
        return "****"
    return f"{prefix}_****{rest[-4:]}" if len(rest) > 8 else f"{prefix}_****"


def redact_ids(text: str) -> str:
    """``text`` with every processor id in it masked (``mask_id``)."""
    return _PROCESSOR_ID_RE.sub(lambda m: mask_id(m.group(0)), text)


class _MaskProcessorIds(logging.Filter):
    """Masks processor ids in the lines httpx logs itself ("HTTP Request: POST
    https://api.stripe.com/v1/payment_methods/pm_.../attach ...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact_ids(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _mask_ids_in_http_client_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskProcessorIds) for f in logger.filters):
        logger.addFilter(_MaskProcessorIds())


def stripe_amount(amount_minor: int, currency: str) -> int:
    """Stripe's ``amount`` for ``amount_minor`` ISO 4217 minor units of ``currency``.

    ``PaymentDeliveryError(permanent=True)`` for a currency csms does not know the minor unit of,
    or an amount Stripe does not take in it (a three-decimal currency's amount not ending
    in 0): the processor would refuse it.
    """
    code = currency.upper()
    iso = CURRENCY_EXPONENTS.get(code)
    if iso is None:
        raise PaymentDeliveryError(
            f"cannot charge in {code}: csms does not know its minor unit", permanent=True
        )
    amount = int(amount_minor * 10 ** (_STRIPE_EXPONENTS.get(code, iso) - iso))
    if code in _STRIPE_TENS_ONLY and amount % 10:
        raise PaymentDeliveryError(
            f"cannot charge {amount_minor} minor units of {code}: the payment processor takes "
            f"{code} amounts in multiples of 10 only",
            permanent=True,
        )
    return amount


def is_retryable_decline(code: str | None) -> bool:
    """Whether a charge declined with ``code`` may succeed on the same card later."""
    return code not in HARD_DECLINE_CODES


def _check_idempotency_key(key: str) -> None:
    if not isinstance(key, str) or not key.strip():
        raise ValueError("idempotency_key must be a non-empty string")
    if len(key) > _IDEMPOTENCY_KEY_MAX or not key.isprintable() or not key.isascii():
        raise ValueError(
            f"idempotency_key must be printable ASCII of at most {_IDEMPOTENCY_KEY_MAX} characters"
        )


def _check_token(value: str, what: str) -> None:
    if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
        raise ValueError(f"{what} must be a processor id such as pm_123 or cus_123")


def _metadata_fields(metadata: Mapping[str, str]) -> list[tuple[str, str]]:
    fields = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > 40 or "[" in key or "]" in key:
            raise ValueError("metadata keys must be 1-40 characters without square brackets")
        if not isinstance(value, str) or len(value) > 500:
            raise ValueError(f"metadata value for {key!r} must be a string of at most 500 chars")
        fields.append((f"metadata[{key}]", value))
    return fields


class _Redactor:
    """Takes secrets (card number, CVC, API key) out of any text that may end up in a log,
    and masks processor ids (``redact_ids``)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        result = str(text)
        for secret in self._secrets:
            if len(secret) <= 4:  # a CVC: only where it stands alone
                result = re.sub(rf"(?<![0-9]){re.escape(secret)}(?![0-9])", _REDACTED, result)
            else:
                result = result.replace(secret, _REDACTED)
        return redact_ids(_DIGIT_RUN_RE.sub(_REDACTED, result))


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]
    request_id: str | None

    @property
    def error(self) -> dict[str, Any]:
        error = self.body.get("error")
        return error if isinstance(error, dict) else {}

    def error_str(self, field: str) -> str | None:
        value = self.error.get(field)
        return value if isinstance(value, str) and value else None


class StripeGateway:
    """``PaymentGateway`` over Stripe's REST API (form-encoded POSTs, Bearer secret key)."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_STRIPE_URL,
        timeout: float = DEFAULT_TIMEOUT_S,
        api_version: str = STRIPE_API_VERSION,
    ) -> None:
        _check_api_key(api_key)
        self._base_url = _check_base_url(base_url)
        _mask_ids_in_http_client_logs()
        self._api_key = api_key
        self._client = httpx.AsyncClient(
            base_url=self._base_url,
            timeout=httpx.Timeout(timeout),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Stripe-Version": api_version,
                "User-Agent": "csms",
                "Accept": "application/json",
            },
            follow_redirects=False,
        )

    @classmethod
    def from_settings(
        cls, url: str | None, key: str | None, *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> StripeGateway | None:
        """The gateway configured by ``CSMS_PAYMENT_URL`` and ``CSMS_PAYMENT_KEY``.

        Neither set: ``None`` (payments disabled: sessions are billed, payment stays pending).
        A key without a URL talks to Stripe itself. ``ValueError`` naming the variable on a
        bad URL or a URL without a key; messages never contain the key.
        """
        checked = cls.check_settings(url, key)
        if checked is None:
            return None
        base_url, api_key = checked
        return cls(api_key=api_key, base_url=base_url, timeout=timeout)

    @staticmethod
    def check_settings(url: str | None, key: str | None) -> tuple[str, str] | None:
        """``(base URL, API key)`` of ``CSMS_PAYMENT_URL`` and ``CSMS_PAYMENT_KEY`` as
        ``from_settings`` takes them, checked without opening anything (configuration is
        checked at every start and every CLI command); None when payments are off."""
        url = (url or "").strip() or None
        key = (key or "").strip() or None
        if url is None and key is None:
            return None
        if key is None:
            raise ValueError(
                "CSMS_PAYMENT_KEY is not set: CSMS_PAYMENT_URL needs the processor's secret API "
                "key in CSMS_PAYMENT_KEY (or unset CSMS_PAYMENT_URL to disable payments)"
            )
        _check_api_key(key)
        return _check_base_url(url or DEFAULT_STRIPE_URL), key

    @property
    def base_url(self) -> str:
        return self._base_url

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> StripeGateway:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- PaymentGateway ---------------------------------------------------------------

    async def add_card(
        self,
        card: CardDetails,
        *,
        customer_ref: str | None,
        description: str,
        idempotency_key: str,
        customer_number: str | None = None,
    ) -> StoredCard:
        _check_idempotency_key(idempotency_key)
        if customer_ref is not None:
            _check_token(customer_ref, "customer_ref")
        redact = _Redactor([card.number, card.cvc, self._api_key])
        if customer_ref is None:
            fields = [("description", description)]
            if customer_number is not None:
                fields.append(("metadata[csms_customer]", customer_number))
            created = await self._post(
                "/v1/customers", fields, key=f"{idempotency_key}:customer", redact=redact
            )
            self._raise_unless_ok(created, "creating the customer", redact)
            customer_ref = self._id_of(created, "customer", redact)

        method = await self._post(
            "/v1/payment_methods",
            [
                ("type", "card"),
                ("card[number]", card.number),
                ("card[exp_month]", str(card.exp_month)),
                ("card[exp_year]", str(card.exp_year)),
                ("card[cvc]", card.cvc),
            ],
            key=f"{idempotency_key}:payment_method",
            redact=redact,
        )
        self._raise_if_card_rejected(method, redact)
        self._raise_unless_ok(method, "creating the payment method", redact)
        token = self._id_of(method, "payment method", redact)

        attached = await self._post(
            f"/v1/payment_methods/{token}/attach",
            [("customer", customer_ref)],
            key=f"{idempotency_key}:attach",
            redact=redact,
        )
        self._raise_if_card_rejected(attached, redact)
        self._raise_unless_ok(attached, "attaching the payment method", redact)
        details = _card_object(attached) or _card_object(method)
        last4 = details.get("last4")
        log.info("card stored at the processor as payment method %s", mask_id(token))
        return StoredCard(
            token=token,
            customer_ref=customer_ref,
            brand=str(details.get("brand") or "unknown"),
            last4=last4 if isinstance(last4, str) and len(last4) == 4 else card.last4,
            exp_month=_int_or(details.get("exp_month"), card.exp_month),
            exp_year=_int_or(details.get("exp_year"), card.exp_year),
        )

    async def charge(
        self,
        *,
        amount_minor: int,
        currency: str,
        card: CardOnFile,
        idempotency_key: str,
        description: str,
        metadata: Mapping[str, str],
    ) -> ChargeResult:
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
            raise ValueError("amount_minor must be a positive integer (minor units, e.g. cents)")
        if not isinstance(currency, str) or not _CURRENCY_RE.fullmatch(currency):
            raise ValueError("currency must be a 3-letter ISO 4217 code such as EUR")
        _check_idempotency_key(idempotency_key)
        _check_token(card.token, "card token")
        _check_token(card.customer_ref, "customer_ref")
        amount = stripe_amount(amount_minor, currency)
        redact = _Redactor([self._api_key])
        answer = await self._post(
            "/v1/payment_intents",
            [
                ("amount", str(amount)),
                ("currency", currency.lower()),
                ("customer", card.customer_ref),
                ("payment_method", card.token),
                ("confirm", "true"),
                ("off_session", "true"),
                ("description", description),
                *_metadata_fields(metadata),
            ],
            key=idempotency_key,
            redact=redact,
        )
        if answer.status == 402 and answer.error_str("type") == "card_error":
            intent = answer.error.get("payment_intent")
            reference = intent.get("id") if isinstance(intent, dict) else None
            code = answer.error_str("decline_code") or answer.error_str("code")
            message = answer.error_str("message")
            log.info("charge %s declined: %s", idempotency_key, code)
            return ChargeResult(
                status="declined",
                reference=reference if isinstance(reference, str) else None,
                decline_code=code,
                message=redact(message) if message else None,
                retryable=is_retryable_decline(code),
            )
        self._raise_unless_ok(answer, "creating the payment intent", redact)
        reference = self._id_of(answer, "payment intent", redact)
        status = answer.body.get("status")
        if status == "succeeded":
            log.info("charge %s succeeded as %s", idempotency_key, mask_id(reference))
            return ChargeResult(status="succeeded", reference=reference, retryable=False)
        if status == "processing":
            # Neither paid nor declined yet; a retry with this key would only replay this, and
            # one with a new key could charge twice. Someone has to look.
            raise ChargeUnresolved(
                f"payment intent {mask_id(reference)} (idempotency key {idempotency_key}) is "
                "still processing at the payment processor; check its outcome there before "
                "retrying",
                reference=reference,
            )
        log.info("charge %s needs customer action (%s)", idempotency_key, status)
        return ChargeResult(
            status="declined",
            reference=reference,
            decline_code="authentication_required",
            message=f"the payment needs the customer's action (payment intent status {status})",
            retryable=False,
        )

    async def detach_card(self, token: str, *, idempotency_key: str) -> None:
        _check_idempotency_key(idempotency_key)
        _check_token(token, "token")
        redact = _Redactor([self._api_key])
        answer = await self._post(
            f"/v1/payment_methods/{token}/detach", [], key=idempotency_key, redact=redact
        )
        code = answer.error_str("code")
        if answer.status == 404 and code == "resource_missing":
            log.info(
                "payment method %s is unknown to the processor: nothing to detach", mask_id(token)
            )
            return
        if answer.status == 400 and code == "payment_method_unexpected_state":
            log.info("payment method %s was not attached: nothing to detach", mask_id(token))
            return
        self._raise_unless_ok(answer, "detaching the payment method", redact)

    # --- HTTP ---------------------------------------------------------------------------

    async def _post(
        self, path: str, fields: list[tuple[str, str]], *, key: str, redact: _Redactor
    ) -> _Answer:
        endpoint = _endpoint_name(path)
        try:
            response = await self._client.post(
                path,
                content=urlencode(fields).encode("ascii"),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Idempotency-Key": key,
                },
            )
        except httpx.TimeoutException as exc:
            raise PaymentDeliveryError(
                f"payment processor did not answer {endpoint} in time ({type(exc).__name__}); "
                "the outcome is unknown: retry with the same idempotency key"
            ) from None
        except httpx.HTTPError as exc:
            raise PaymentDeliveryError(
                f"payment processor unreachable for {endpoint}: "
                f"{type(exc).__name__}: {redact(exc) or 'no detail'}"
            ) from None
        request_id = response.headers.get("Request-Id")
        log.debug("POST %s -> %s (%s)", endpoint, response.status_code, request_id)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if 200 <= response.status_code < 300:
                raise PaymentDeliveryError(
                    f"payment processor answered {endpoint} with HTTP {response.status_code} "
                    "but no JSON object; retry with the same idempotency key"
                )
            body = {}
        return _Answer(status=response.status_code, body=body, request_id=request_id)

    @staticmethod
    def _raise_if_card_rejected(answer: _Answer, redact: _Redactor) -> None:
        if answer.status == 402 and answer.error_str("type") == "card_error":
            code = answer.error_str("decline_code") or answer.error_str("code")
            message = answer.error_str("message") or "the card was declined"
            raise CardRejected(redact(message), code)

    @staticmethod
    def _raise_unless_ok(answer: _Answer, action: str, redact: _Redactor) -> None:
        if 200 <= answer.status < 300:
            return
        parts = [f"payment processor refused {action}: HTTP {answer.status}"]
        for field in ("type", "code", "decline_code"):
            value = answer.error_str(field)
            if value:
                parts.append(f"{field}={value}")
        message = answer.error_str("message")
        text = " ".join(parts)
        if message:
            text += f": {message}"
        if answer.request_id:
            text += f" (request {answer.request_id})"
        transient = answer.status in (409, 429) or answer.status >= 500
        if answer.status == 401:
            text += "; check CSMS_PAYMENT_KEY"
        raise PaymentDeliveryError(redact(text), permanent=not transient)

    @staticmethod
    def _id_of(answer: _Answer, what: str, redact: _Redactor) -> str:
        value = answer.body.get("id")
        if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
            raise PaymentDeliveryError(
                f"payment processor answered without a valid {what} id"
                + (f" (request {answer.request_id})" if answer.request_id else ""),
                permanent=True,
            )
        return value


def _card_object(answer: _Answer) -> dict[str, Any]:
    card = answer.body.get("card")
    return card if isinstance(card, dict) else {}


def _int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _endpoint_name(path: str) -> str:
    # "/v1/payment_methods/pm_123/attach" -> "/v1/payment_methods/{id}/attach": short and stable
    return re.sub(r"/(?:pm|cus|pi|card|src|seti)_[A-Za-z0-9_]+", "/{id}", path)


def _check_api_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("CSMS_PAYMENT_KEY must be set to the processor's secret API key")
    if not key.isascii() or not key.isprintable() or " " in key:
        raise ValueError("CSMS_PAYMENT_KEY must be a single word of printable ASCII characters")
    if key.startswith("pk_"):
        raise ValueError(
            "CSMS_PAYMENT_KEY holds a publishable key (pk_...): "
            "use the secret key (sk_... or rk_...)"
        )


def _check_base_url(url: str) -> str:
    hint = "such as https://api.stripe.com"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise ValueError(f"CSMS_PAYMENT_URL is not a valid URL; use one {hint}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"CSMS_PAYMENT_URL must be an http:// or https:// URL {hint}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "CSMS_PAYMENT_URL must not contain credentials: put the secret key in CSMS_PAYMENT_KEY"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"CSMS_PAYMENT_URL must not have a query or fragment; use one {hint}")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(
            "CSMS_PAYMENT_URL must use https:// (the secret key travels with every request); "
            "plain http:// is allowed only for a processor on this machine (127.0.0.1)"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
