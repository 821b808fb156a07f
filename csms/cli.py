"""``csms``: the operator command line (noun-verb, like ``gh`` or ``kubectl``).

``serve``, ``db`` and ``token`` work on the database directly; every other command talks
to the running server's HTTP API (``CSMS_API_URL``, token from ``CSMS_API_TOKEN`` or
``$CSMS_HOME/admin.token``). ``--json`` prints only JSON on stdout; without it the output
is for people. Errors go to stderr with a non-zero exit status: 1 for a failed command,
2 for bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import quote

import httpx

from csms.config import ConfigError, Settings
from csms.domain.model import PAYMENT_STATUSES
from csms.wiring import load_settings
from protocol import ID_TOKEN_TYPES

__all__ = ["ApiClient", "CliError", "build_parser", "main", "package_version"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report on stderr; the message says what to do."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- the API client -----------------------------------------------------------------


class ApiClient:
    """A thin synchronous client of the csms HTTP API that turns failures into CliErrors."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 45.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
        )
        self._has_token = token is not None
        #: What a 401 without a token says (where the CLI looked for one).
        self.no_token_hint: str | None = None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        response = self._send(method, path, body=body, params=params)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{self.base_url} answered with something that is not JSON: "
                "is CSMS_API_URL pointing at the csms API?"
            ) from None

    def get_text(self, path: str, **params: Any) -> str:
        """A GET whose answer is text (a CSV report), not JSON."""
        return self._send("GET", path, params=params).text

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._client.request(method, path, json=body, params=clean)
        except httpx.TimeoutException:
            raise CliError(
                f"the csms API at {self.base_url} did not answer in time: "
                "check the server log and try again"
            ) from None
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach the csms API at {self.base_url}: is `csms serve` running? "
                f"(set CSMS_API_URL) [{type(exc).__name__}]"
            ) from None
        if response.status_code >= 400:
            raise CliError(self._error_message(response))
        return response

    def _error_message(self, response: httpx.Response) -> str:
        try:
            data = response.json()
            message = str(data.get("error") or data.get("detail") or data)
        except (ValueError, AttributeError):
            message = response.text.strip()[:200] or response.reason_phrase
        if response.status_code == 401 and not self._has_token:
            if self.no_token_hint is not None:
                return self.no_token_hint
            return (
                "no API token: set CSMS_API_TOKEN, or run `csms serve` once so that it "
                "writes $CSMS_HOME/admin.token"
            )
        return message

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def get_page(self, path: str, **params: Any) -> tuple[Any, httpx.Headers]:
        """A GET whose answer's headers matter too (a page and its next-page cursor)."""
        response = self._send("GET", path, params=params)
        try:
            return response.json(), response.headers
        except ValueError:
            raise CliError(
                f"{self.base_url} answered with something that is not JSON: "
                "is CSMS_API_URL pointing at the csms API?"
            ) from None

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body=body if body is not None else {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def _seg(value: object) -> str:
    """One URL path segment."""
    return quote(str(value), safe="")


# -- output -------------------------------------------------------------------------


@dataclass
class Output:
    json: bool
    out: TextIO
    err: TextIO

    def data(self, value: Any) -> None:
        self.out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def note(self, text: str) -> None:
        self.err.write(text + "\n")


Column = tuple[str, Callable[[dict[str, Any]], Any]]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _when(value: str | None) -> str | None:
    """``2024-05-01T10:00:03.123456Z`` → ``2024-05-01 10:00:03Z``."""
    if not value:
        return None
    text = value.replace("T", " ")
    if "." in text:
        text = text.split(".", 1)[0] + "Z"
    return text


def _kwh(wh: int | None) -> str | None:
    return None if wh is None else f"{wh / 1000:.3f}"


def _print_rows(ctx: Context, rows: list[dict[str, Any]], columns: list[Column], empty: str) -> int:
    """A list command's output: the rows as JSON with --json, else an aligned table."""
    if ctx.out.json:
        ctx.out.data(rows)
    else:
        _table(ctx.out, rows, columns, empty)
    return EXIT_OK


def _table(out: Output, rows: list[dict[str, Any]], columns: list[Column], empty: str) -> None:
    if not rows:
        out.line(empty)
        return
    cells = [[_cell(get(row)) for _, get in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, (h, _) in enumerate(columns)]
    out.line("  ".join(h.ljust(w) for (h, _), w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        out.line("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _fields(out: Output, pairs: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        out.line(f"{key + ':':<{width + 1}} {_cell(value)}")


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda row: row.get(name)


# -- views for people ---------------------------------------------------------------

_CHARGER_COLUMNS: list[Column] = [
    ("ID", _field("id")),
    ("NAME", _field("name")),
    ("OWNER", _field("owner")),
    ("CONNECTED", _field("connected")),
    ("OCPP", _field("ocpp_version")),
    ("STATUS", _field("status")),
    ("REGISTRATION", _field("registration_status")),
    ("VENDOR", _field("vendor")),
    ("MODEL", _field("model")),
    ("LAST SEEN", lambda c: _when(c.get("last_seen"))),
]

_CONNECTOR_COLUMNS: list[Column] = [
    ("CONNECTOR", _field("id")),
    ("STATUS", _field("status")),
    ("ERROR", _field("error_code")),
    ("SINCE", lambda c: _when(c.get("updated_at"))),
]

_SESSION_COLUMNS: list[Column] = [
    ("ID", _field("id")),
    ("CHARGER", _field("charger_id")),
    ("CONNECTOR", _field("connector_id")),
    ("TRANSACTION", _field("transaction_id")),
    ("CUSTOMER", _field("customer_number")),
    ("METHOD", _field("auth_method")),
    ("STARTED", lambda s: _when(s.get("started_at"))),
    ("STOPPED", lambda s: _when(s.get("stopped_at"))),
    ("KWH", lambda s: _kwh(s.get("energy_wh")) or _so_far(_kwh(s.get("energy_so_far_wh")))),
    ("COST", lambda s: _cost(s.get("cost")) or _so_far(_cost(s.get("cost_so_far")))),
    ("STATUS", _field("status")),
]


def _cost(cost: dict[str, Any] | None) -> str | None:
    return f"{cost['amount']} {cost['currency']}" if cost else None


def _so_far(text: str | None) -> str | None:
    """A running session's figure (energy, cost until now)."""
    return f"{text} so far" if text else None


_METER_COLUMNS: list[Column] = [
    ("TIMESTAMP", lambda m: _when(m.get("timestamp"))),
    ("MEASURAND", _field("measurand")),
    ("PHASE", _field("phase")),
    ("VALUE", _field("value")),
    ("UNIT", _field("unit")),
    ("CONTEXT", _field("context")),
]

_CUSTOMER_COLUMNS: list[Column] = [
    ("NUMBER", _field("customer_number")),
    ("NAME", _field("name")),
    ("EMAIL", _field("email")),
    ("PHONE", _field("phone")),
    ("CREATED", lambda c: _when(c.get("created_at"))),
    ("ERASED", lambda c: _when(c.get("erased_at"))),
]

_CARD_COLUMNS: list[Column] = [
    ("UID", _field("uid")),
    ("STATUS", _field("status")),
    ("EXPIRES", lambda c: _when(c.get("expires_at"))),
    ("CUSTOMER", _field("customer_number")),
    ("CREATED", lambda c: _when(c.get("created_at"))),
]

_REPORT_COLUMNS: list[Column] = [
    ("SESSION", _field("session_id")),
    ("CHARGER", _field("charger_id")),
    ("CONNECTOR", _field("connector_id")),
    ("STARTED", lambda r: _when(r.get("started_at"))),
    ("STOPPED", lambda r: _when(r.get("stopped_at"))),
    ("KWH", lambda r: _kwh(r.get("energy_wh"))),
    ("BILLED", lambda r: f"{r['billed']} {r['currency']}" if r.get("billed") else None),
    ("COLLECTED", lambda r: f"{r['amount']} {r['currency']}" if r.get("amount") else None),
    ("CUSTOMER", _field("customer_number")),
    ("METHOD", _field("auth_method")),
]

_TARIFF_COLUMNS: list[Column] = [
    ("NAME", _field("name")),
    ("CURRENCY", _field("currency")),
    ("PER KWH", _field("per_kwh")),
    ("PER HOUR", _field("per_hour")),
    ("SESSION", _field("session_fee")),
    ("IDLE/MIN", _field("idle_fee_per_minute")),
    ("GRACE MIN", _field("idle_grace_minutes")),
    ("TAX %", _field("tax_rate")),
    ("DEFAULT", _field("default")),
    ("CHARGERS", lambda t: ", ".join(t.get("chargers") or []) or None),
]


def _money(invoice: dict[str, Any], name: str = "total") -> str | None:
    value = invoice.get(name)
    return None if value is None else f"{value} {invoice['currency']}"


_INVOICE_COLUMNS: list[Column] = [
    ("INVOICE", _field("id")),
    ("NUMBER", _field("number")),
    ("SESSION", _field("session_id")),
    ("CUSTOMER", _field("customer_number")),
    ("TOTAL", _money),
    ("PAYMENT", _field("payment_status")),
    ("DECLINES", _field("declines")),
    ("CREATED", lambda i: _when(i.get("created_at"))),
]

#: ``csms invoices list --held``: what an operator decides on, and why it was held.
_HELD_INVOICE_COLUMNS: list[Column] = [
    *(c for c in _INVOICE_COLUMNS if c[0] not in ("PAYMENT", "DECLINES")),
    ("REASON", _field("held_reason")),
]

_OUTBOX_COLUMNS: list[Column] = [
    ("ID", _field("id")),
    ("TOPIC", _field("topic")),
    ("KEY", _field("key")),
    ("STATUS", _field("status")),
    ("ATTEMPTS", _field("attempts")),
    ("NEXT", lambda r: _when(r.get("next_attempt_at"))),
    (
        "RESULT / ERROR",
        lambda r: r.get("last_error") if r.get("status") != "done" else r.get("result"),
    ),
]

_KEY_COLUMNS: list[Column] = [
    ("KEY", _field("key_id")),
    ("NEWEST", _field("newest")),
    ("VALUES", _field("values")),
]

_OWNER_COLUMNS: list[Column] = [
    ("NAME", _field("name")),
    ("CHARGERS", _field("chargers")),
    ("CREATED", lambda o: _when(o.get("created_at"))),
]


def _show_charger(out: Output, c: dict[str, Any]) -> None:
    _fields(
        out,
        [
            ("id", c.get("id")),
            ("name", c.get("name")),
            ("owner", c.get("owner")),
            ("connected", c.get("connected")),
            ("ocpp version", c.get("ocpp_version")),
            ("status", c.get("status")),
            ("error code", c.get("error_code")),
            ("registration", c.get("registration_status")),
            ("security profile", c.get("security_profile")),
            ("password", _password_text(c)),
            ("archived", _when(c.get("archived_at"))),
            ("vendor", c.get("vendor")),
            ("model", c.get("model")),
            ("serial number", c.get("serial_number")),
            ("firmware", c.get("firmware_version")),
            ("last boot", _when(c.get("last_boot"))),
            ("last seen", _when(c.get("last_seen"))),
        ],
    )
    out.line()
    _table(out, c.get("connectors") or [], _CONNECTOR_COLUMNS, "no connectors reported yet")
    model = c.get("device_model")
    if model:  # 2.0.1: what the station's last NotifyReport said
        out.line()
        report = _when(model.get("last_report_at"))
        if model.get("last_report_complete") is False:
            report = f"{report} (incomplete)"
        _fields(
            out,
            [
                (
                    "device model",
                    f"{model.get('components')} components, "
                    f"{model.get('variables')} variables, {model.get('evses')} EVSEs",
                ),
                ("last report", report),
                *sorted((model.get("values") or {}).items()),
            ],
        )


_PASSWORD_STATES = {
    "none": "none: any connection is let in (`csms chargers accept ID` issues one)",
    "pending": "issued, not confirmed by the charger yet (it may still connect without)",
    "rejected": "refused by the charger (it still connects without one)",
    "active": "set: Basic auth enforced",
}


def _password_text(c: dict[str, Any]) -> str | None:
    state = c.get("password_state")
    if state is None:
        return None
    text = _PASSWORD_STATES.get(state, state)
    detail = c.get("password_detail")
    return f"{text}; {detail}" if detail and state != "none" else text


def _vehicle(vehicle: dict[str, Any] | None) -> str | None:
    if not vehicle:
        return None
    return " ".join(str(vehicle[k]) for k in ("make", "model", "year") if vehicle.get(k))


def _show_customer(out: Output, c: dict[str, Any]) -> None:
    _fields(
        out,
        [
            ("customer number", c.get("customer_number")),
            ("name", c.get("name")),
            ("email", c.get("email")),
            ("phone", c.get("phone")),
            ("address", c.get("address")),
            ("vehicle", _vehicle(c.get("vehicle"))),
            ("notify", ", ".join(c.get("notify") or []) or "none"),
            ("pin set", c.get("pin_set")),
            ("pin locked until", _when(c.get("pin_locked_until"))),
            ("marketing", c.get("marketing_opt_in")),
            ("created", _when(c.get("created_at"))),
            ("erased", _when(c.get("erased_at"))),
        ],
    )


def _show_session(out: Output, s: dict[str, Any]) -> None:
    cost = s.get("cost")
    _fields(
        out,
        [
            ("session", s.get("id")),
            ("charger", s.get("charger_id")),
            ("connector", s.get("connector_id")),
            ("transaction id", s.get("transaction_id")),
            ("customer", s.get("customer_number")),
            ("id tag", s.get("id_tag")),
            ("auth method", s.get("auth_method")),
            ("auth status", s.get("auth_status")),
            ("status", s.get("status")),
            ("started", _when(s.get("started_at"))),
            ("stopped", _when(s.get("stopped_at"))),
            ("meter start (Wh)", s.get("meter_start_wh")),
            ("meter stop (Wh)", s.get("meter_stop_wh")),
            ("energy (kWh)", _kwh(s.get("energy_wh"))),
            ("energy so far (kWh)", _kwh(s.get("energy_so_far_wh"))),
            ("cost so far", _cost(s.get("cost_so_far"))),
            ("stop reason", s.get("stop_reason")),
            ("closed by", s.get("closed_by")),
            ("stop note", s.get("stop_note")),
            ("charging done", _when(s.get("charging_done_at"))),
            ("cost", f"{cost['amount']} {cost['currency']}" if cost else None),
        ],
    )
    invoice = s.get("invoice")
    if invoice:
        out.line()
        _show_invoice_lines(out, invoice)
    if "meter_values" in s:
        out.line()
        _table(out, s["meter_values"], _METER_COLUMNS, "no meter values")


def _show_invoice_lines(out: Output, invoice: dict[str, Any]) -> None:
    currency = invoice["currency"]
    rows = [
        {
            "item": line["description"],
            "quantity": f"{line['quantity']} {line['unit']}",
            "price": line["unit_price"],
            "amount": f"{line['amount']} {currency}",
        }
        for line in invoice["lines"]
    ]
    rows.append({"item": "net", "amount": f"{invoice['net']} {currency}"})
    rows.append(
        {"item": f"tax ({invoice['tax_rate']} %)", "amount": f"{invoice['tax']} {currency}"}
    )
    rows.append({"item": "total", "amount": f"{invoice['total']} {currency}"})
    _table(
        out,
        rows,
        [
            (f"INVOICE {invoice['id']}", _field("item")),
            ("QUANTITY", _field("quantity")),
            ("UNIT PRICE", _field("price")),
            ("AMOUNT", _field("amount")),
        ],
        "no lines",
    )
    payment = invoice["payment_status"]
    if invoice.get("decline_code"):
        payment += f" (declined {invoice['declines']}x: {invoice['decline_code']})"
    if payment == "held":
        payment += (
            f" ({invoice.get('held_reason')}): `csms invoices release {invoice['id']}` or "
            f"`csms invoices adjust {invoice['id']} --energy-kwh X`"
        )
    out.line(f"payment: {payment}")


def _show_answer(out: Output, answer: dict[str, Any]) -> None:
    if answer.get("configuration") is not None:
        _table(
            out,
            answer["configuration"],
            [("KEY", _field("key")), ("VALUE", _field("value")), ("READONLY", _field("readonly"))],
            "no configuration keys",
        )
        if answer.get("unknown_keys"):
            out.line("unknown keys: " + ", ".join(answer["unknown_keys"]))
        for rejected in answer.get("rejected_keys") or []:
            reason = f" ({rejected['reason']})" if rejected.get("reason") else ""
            out.line(f"not read: {rejected['key']}: {rejected['status']}{reason}")
        return
    head = f"{answer.get('charger_id')}: {answer.get('action')}"
    if answer.get("messages_in_queue") is not None:  # GetTransactionStatus
        ongoing = answer.get("ongoing")
        state = "unknown" if ongoing is None else ("yes" if ongoing else "no")
        queued = "yes" if answer["messages_in_queue"] else "no"
        out.line(f"{head}: transaction ongoing: {state}; messages queued: {queued}")
        return
    line = f"{head} {answer.get('status')}"
    if answer.get("reason"):
        line += f" ({answer['reason']})"
    out.line(line)
    if answer.get("request_id") is not None and answer.get("status") == "Accepted":
        out.line(
            f"report request {answer['request_id']}: the station sends the report in "
            "NotifyReport messages"
        )
    if answer.get("remote_start_id") is not None:
        out.line(f"remote start id: {answer['remote_start_id']}")
    if answer.get("station_transaction_id") is not None:
        out.line(f"already running as station transaction {answer['station_transaction_id']}")


# -- commands -----------------------------------------------------------------------


@dataclass
class Context:
    args: argparse.Namespace
    settings: Settings
    out: Output
    transport: httpx.BaseTransport | None = None
    #: where confirmations are read from (``customers erase`` on a terminal)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)

    def client(self) -> ApiClient:
        from csms.domain.security.tokens import read_token_file

        settings = self.settings
        token = settings.api.token or read_token_file(settings.admin_token_path)
        client = ApiClient(
            settings.api.url,
            token,
            timeout=settings.ocpp.call_timeout + 15,
            transport=self.transport,
        )
        if token is None:
            home = settings.home
            relative = "" if home.is_absolute() else f", relative to {Path.cwd()}"
            client.no_token_hint = (
                f"no API token: CSMS_API_TOKEN is not set and there is no token file at "
                f"{settings.admin_token_path.absolute()} (CSMS_HOME={home}{relative}); "
                "set CSMS_HOME to the server's data directory, or set CSMS_API_TOKEN "
                "(`csms token create NAME` makes one)"
            )
        return client


def _run_db(settings: Settings, fn: Callable[[Any], Any]) -> Any:
    """Run one unit of work on the configured database, outside any server."""
    from storage.database import Database

    async def run() -> Any:
        db = Database(settings.database.url, keys=settings.key_ring())
        try:
            return await db.write(fn)
        finally:
            await db.close()

    return asyncio.run(run())


def cmd_serve(ctx: Context) -> int:
    args = ctx.args
    settings = ctx.settings.with_overrides(
        ocpp_port=args.ocpp_port, api_port=args.api_port, database_url=args.database_url
    )
    from csms.server import run
    from storage.errors import StorageError

    try:
        run(settings)
    except KeyboardInterrupt:
        return EXIT_OK
    except StorageError as exc:
        raise CliError(f"cannot start the server: {exc}") from None
    except OSError as exc:
        raise CliError(
            f"cannot start the server: {exc} (is another csms using the ports? "
            "choose others with --ocpp-port/--api-port)"
        ) from None
    return EXIT_OK


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_db_upgrade(ctx: Context) -> int:
    from sqlalchemy.engine import make_url

    from storage.migrate import head_revision, upgrade

    url = ctx.settings.database.url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(url, keys=ctx.settings.key_ring())
    except Exception as exc:
        raise CliError(
            f"cannot upgrade the database at {_redacted(url)}: {exc}; "
            "check CSMS_DATABASE_URL and that the database server is running"
        ) from None
    revision = head_revision()
    if ctx.out.json:
        ctx.out.data({"database": _redacted(url), "revision": revision})
    else:
        ctx.out.line(f"database {_redacted(url)} is at revision {revision}")
    return EXIT_OK


def cmd_token_create(ctx: Context) -> int:
    from datetime import UTC, datetime

    from csms.domain.errors import DomainError
    from csms.domain.security.tokens import create_token
    from storage.errors import StorageError

    args = ctx.args
    now = datetime.now(UTC)
    expires_at = None if args.expires is None else now + args.expires
    try:
        record, token = _run_db(
            ctx.settings,
            lambda uow: create_token(
                uow,
                name=args.name,
                role=args.role,
                owner=args.owner,
                now=now,
                expires_at=expires_at,
            ),
        )
    except DomainError as exc:
        raise CliError(str(exc)) from None
    except StorageError as exc:
        raise CliError(
            f"cannot create the token in {_redacted(ctx.settings.database.url)}: {exc}; "
            "if the database is new, run `csms db upgrade` first"
        ) from None
    if ctx.out.json:
        ctx.out.data(
            {
                "name": record.name,
                "role": record.role,
                "owner": args.owner,
                "expires_at": _iso(record.expires_at),
                "token": token,
            }
        )
    else:
        expiry = f", expires {_when(_iso(expires_at))}" if expires_at else ""
        ctx.out.note(f"created {record.role} token {record.name!r}{expiry}; it is shown only now:")
        ctx.out.line(token)
    return EXIT_OK


def _iso(value: Any) -> str | None:
    """A stored timestamp as the API writes them: ISO 8601 UTC with ``Z``."""
    if value is None:
        return None
    return str(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))


def _token_db_error(ctx: Context, exc: Exception) -> CliError:
    return CliError(
        f"cannot read the tokens in {_redacted(ctx.settings.database.url)}: {exc}; "
        "if the database is new, run `csms db upgrade` first"
    )


_TOKEN_COLUMNS: list[Column] = [
    ("NAME", _field("name")),
    ("ROLE", _field("role")),
    ("OWNER", _field("owner")),
    ("CREATED", lambda r: _when(r.get("created_at"))),
    ("LAST USED", lambda r: _when(r.get("last_used_at"))),
    ("EXPIRES", lambda r: _when(r.get("expires_at"))),
    ("REVOKED", lambda r: _when(r.get("revoked_at"))),
    ("STATUS", _field("status")),
]


def cmd_token_list(ctx: Context) -> int:
    from csms.domain.security.tokens import list_tokens
    from storage.errors import StorageError

    now = datetime.now(UTC)
    try:
        views = _run_db(ctx.settings, lambda uow: list_tokens(uow, now=now))
    except StorageError as exc:
        raise _token_db_error(ctx, exc) from None
    rows = [
        {
            "name": v.name,
            "role": v.role,
            "owner": v.owner,
            "created_at": _iso(v.created_at),
            "last_used_at": _iso(v.last_used_at),
            "expires_at": _iso(v.expires_at),
            "revoked_at": _iso(v.revoked_at),
            "status": v.status,
        }
        for v in views
    ]
    return _print_rows(
        ctx, rows, _TOKEN_COLUMNS, "no API tokens: create one with `csms token create NAME`"
    )


def cmd_token_revoke(ctx: Context) -> int:
    from csms.domain.errors import DomainError
    from csms.domain.security.tokens import revoke_token
    from storage.errors import StorageError

    name = ctx.args.name
    now = datetime.now(UTC)
    try:
        record = _run_db(ctx.settings, lambda uow: revoke_token(uow, name=name, now=now))
    except DomainError as exc:
        raise CliError(str(exc)) from None
    except StorageError as exc:
        raise _token_db_error(ctx, exc) from None
    if ctx.out.json:
        ctx.out.data(
            {"name": record.name, "role": record.role, "revoked_at": _iso(record.revoked_at)}
        )
    else:
        ctx.out.line(f"revoked {record.role} token {record.name!r}: it is refused from now on")
    return EXIT_OK


def cmd_chargers_add(ctx: Context) -> int:
    a = ctx.args
    body = {
        "id": a.id,
        "password": a.password,
        "security_profile": a.security_profile,
        "owner": a.owner,
        "name": a.name,
    }
    with ctx.client() as api:
        charger = api.post("/api/chargers", {k: v for k, v in body.items() if v is not None})
    if ctx.out.json:
        ctx.out.data(charger)
    else:
        ctx.out.line(
            f"added charger {charger['id']} (security profile {charger['security_profile']})"
        )
        ctx.out.line(f"password (shown only now): {charger['password']}")
    return EXIT_OK


def cmd_chargers_list(ctx: Context) -> int:
    archived = "include" if ctx.args.all else "only" if ctx.args.archived else None
    with ctx.client() as api:
        chargers = api.get("/api/chargers", archived=archived)
    return _print_rows(
        ctx, chargers, _CHARGER_COLUMNS, "no chargers: add one with `csms chargers add ID`"
    )


def cmd_chargers_show(ctx: Context) -> int:
    with ctx.client() as api:
        charger = api.get(f"/api/chargers/{_seg(ctx.args.id)}")
    if ctx.out.json:
        ctx.out.data(charger)
    else:
        _show_charger(ctx.out, charger)
    return EXIT_OK


def cmd_chargers_accept(ctx: Context) -> int:
    body = {"password": ctx.args.password} if ctx.args.password is not None else {}
    with ctx.client() as api:
        charger = api.post(f"/api/chargers/{_seg(ctx.args.id)}/accept", body)
    delivery = charger.get("password_delivery") or {}
    refused = delivery.get("status") == "refused"
    if ctx.out.json:
        ctx.out.data(charger)
    else:
        ctx.out.line(f"accepted charger {charger['id']}")
        if charger.get("password"):
            ctx.out.line(f"password (shown only now): {charger['password']}")
        if delivery.get("status") == "accepted":
            ctx.out.line(f"{delivery['detail']}: Basic auth is enforced from now on")
        elif delivery.get("status") == "waiting":
            ctx.out.line(
                f"password not on the charger yet: {delivery['detail']}; until then it "
                "connects without one"
            )
    if refused:
        ctx.out.note(
            f"warning: {delivery['detail']}. The charger still connects without a password. "
            "Set the password on the charger by hand (1.6 AuthorizationKey, 2.0.1 "
            "SecurityCtrlr.BasicAuthPassword): it is enforced from its first connection "
            f"with it; or allow remote changes on the charger and run `csms chargers accept "
            f"{charger['id']}` again to resend it."
        )
        return EXIT_FAILED
    return EXIT_OK


def _archive(ctx: Context, verb: str) -> int:
    with ctx.client() as api:
        charger = api.post(f"/api/chargers/{_seg(ctx.args.id)}/{verb}")
    if ctx.out.json:
        ctx.out.data(charger)
    elif verb == "archive":
        ctx.out.line(
            f"archived charger {charger['id']}: hidden from `csms chargers list` (see it with "
            "--archived), its connections refused; its sessions and reports are kept"
        )
    else:
        ctx.out.line(f"charger {charger['id']} is no longer archived: it may connect again")
    return EXIT_OK


def cmd_chargers_archive(ctx: Context) -> int:
    return _archive(ctx, "archive")


def cmd_chargers_unarchive(ctx: Context) -> int:
    return _archive(ctx, "unarchive")


def cmd_chargers_remove(ctx: Context) -> int:
    with ctx.client() as api:
        result = api.delete(f"/api/chargers/{_seg(ctx.args.id)}")
    if ctx.out.json:
        ctx.out.data(result)
    else:
        ctx.out.line(f"removed charger {ctx.args.id}")
    return EXIT_OK


#: Answers that mean the charger does (or will do) what it was asked: 1.6 and 2.0.1
#: ``Accepted``, ``Scheduled`` (after the running transaction), ``Unlocked``, and
#: ``RebootRequired`` (the value is taken, it applies after a reboot).
_DONE_STATUSES = frozenset({"Accepted", "Scheduled", "Unlocked", "RebootRequired"})


def _answered(ctx: Context, answer: dict[str, Any]) -> int:
    """Exit 0 when the charger did what it was asked, 1 when it refused (Rejected,
    NotSupported, UnlockFailed, ...); an answer without a status (a configuration read)
    is 0."""
    status = answer.get("status") if isinstance(answer, dict) else None
    if status is None or status in _DONE_STATUSES:
        return EXIT_OK
    ctx.out.note(f"csms: the charger answered {status}: it did not do what was asked")
    return EXIT_FAILED


def _charger_command(ctx: Context, verb: str, body: dict[str, Any] | None = None) -> int:
    with ctx.client() as api:
        answer = api.post(f"/api/chargers/{_seg(ctx.args.id)}/{verb}", body)
    if ctx.out.json:
        ctx.out.data(answer)
    else:
        _show_answer(ctx.out, answer)
    return _answered(ctx, answer)


def _place(body: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Add ``--connector``/``--evse`` to a command body when given."""
    if getattr(args, "connector", None) is not None:
        body["connector_id"] = args.connector
    if getattr(args, "evse", None) is not None:
        body["evse_id"] = args.evse
    return body


def cmd_chargers_reset(ctx: Context) -> int:
    body = _place({"type": "hard" if ctx.args.hard else "soft"}, ctx.args)
    return _charger_command(ctx, "reset", body)


def cmd_chargers_unlock(ctx: Context) -> int:
    return _charger_command(ctx, "unlock", _place({}, ctx.args))


def cmd_chargers_availability(ctx: Context) -> int:
    return _charger_command(ctx, "availability", _place({"state": ctx.args.state}, ctx.args))


def _attribute(body: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    if args.attribute is not None:
        body["attribute"] = args.attribute
    return body


def cmd_chargers_config_get(ctx: Context) -> int:
    return _charger_command(ctx, "config/get", _attribute({"keys": ctx.args.keys}, ctx.args))


def cmd_chargers_config_set(ctx: Context) -> int:
    body = _attribute({"key": ctx.args.key, "value": ctx.args.value}, ctx.args)
    return _charger_command(ctx, "config/set", body)


def cmd_chargers_trigger(ctx: Context) -> int:
    return _charger_command(ctx, "trigger", _place({"message": ctx.args.message}, ctx.args))


def cmd_chargers_clear_cache(ctx: Context) -> int:
    return _charger_command(ctx, "clear-cache")


def cmd_chargers_report(ctx: Context) -> int:
    a = ctx.args
    if a.type is not None and (a.names or a.criteria):
        raise CliError(
            "--type asks for a whole base report; leave it out to report only some "
            "components (NAME...) or --criteria",
            exit_code=EXIT_USAGE,
        )
    body: dict[str, Any] = {"names": a.names, "criteria": a.criteria or []}
    if a.type is not None:
        body["type"] = a.type
    return _charger_command(ctx, "report", body)


def cmd_sessions_list(ctx: Context) -> int:
    a = ctx.args
    with ctx.client() as api:
        sessions, headers = api.get_page(
            "/api/sessions",
            charger=a.charger,
            active="true" if a.active else None,
            customer=a.customer,
            limit=a.limit,
            before=a.before,
            **{"from": a.start, "to": a.end},
        )
    code = _print_rows(ctx, sessions, _SESSION_COLUMNS, "no sessions")
    cursor = headers.get("X-Next-Before")
    if cursor:
        # (on stderr: --json output stays a plain list)
        ctx.out.note(
            f"more sessions than these {len(sessions)}: add `--before {cursor}` for the next "
            "page (or a larger --limit, up to 1000)"
        )
    return code


def cmd_sessions_show(ctx: Context) -> int:
    with ctx.client() as api:
        session = api.get(f"/api/sessions/{ctx.args.id}")
    if ctx.out.json:
        ctx.out.data(session)
    else:
        _show_session(ctx.out, session)
    return EXIT_OK


def cmd_sessions_start(ctx: Context) -> int:
    a = ctx.args
    body = _place({"charger_id": a.charger, "id_tag": a.id_tag}, a)
    if a.token_type is not None:
        body["token_type"] = a.token_type
    with ctx.client() as api:
        answer = api.post("/api/sessions/start", body)
    if ctx.out.json:
        ctx.out.data(answer)
    else:
        _show_answer(ctx.out, answer)
    return _answered(ctx, answer)


def _session_command(ctx: Context, verb: str) -> int:
    with ctx.client() as api:
        answer = api.post(f"/api/sessions/{ctx.args.id}/{verb}")
    if ctx.out.json:
        ctx.out.data(answer)
    else:
        _show_answer(ctx.out, answer)
    return _answered(ctx, answer)


def cmd_sessions_stop(ctx: Context) -> int:
    return _session_command(ctx, "stop")


def cmd_sessions_status(ctx: Context) -> int:
    return _session_command(ctx, "status")


def cmd_sessions_close(ctx: Context) -> int:
    a = ctx.args
    body: dict[str, Any] = {}
    if a.meter_stop is not None:
        body["meter_stop_wh"] = a.meter_stop
    if a.reason is not None:
        body["reason"] = a.reason
    with ctx.client() as api:
        session = api.post(f"/api/sessions/{a.id}/close", body)
    if ctx.out.json:
        ctx.out.data(session)
    else:
        ctx.out.line(
            f"closed session {session['id']} on {session['charger_id']}: meter stop "
            f"{session['meter_stop_wh']} Wh, {_kwh(session.get('energy_wh')) or '-'} kWh; "
            "it is billed now and its card is free again"
        )
    return EXIT_OK


def cmd_customers_add(ctx: Context) -> int:
    a = ctx.args
    body: dict[str, Any] = {"name": a.name, "email": a.email}
    for name in ("phone", "address", "vehicle", "pin"):
        if getattr(a, name) is not None:
            body[name] = getattr(a, name)
    if a.notify is not None:
        body["notify"] = a.notify
    with ctx.client() as api:
        customer = api.post("/api/customers", body)
    if ctx.out.json:
        ctx.out.data(customer)
    else:
        ctx.out.line(f"added customer {customer['customer_number']} ({customer['name']})")
    return EXIT_OK


def cmd_customers_list(ctx: Context) -> int:
    with ctx.client() as api:
        customers = api.get("/api/customers")
    return _print_rows(
        ctx, customers, _CUSTOMER_COLUMNS, "no customers: add one with `csms customers add`"
    )


def cmd_customers_show(ctx: Context) -> int:
    with ctx.client() as api:
        customer = api.get(f"/api/customers/{ctx.args.number}")
    if ctx.out.json:
        ctx.out.data(customer)
    else:
        _show_customer(ctx.out, customer)
    return EXIT_OK


def _write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600), atomically."""
    import tempfile

    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise CliError(
            f"cannot write {path}: {exc.strerror}; check that the folder exists"
        ) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.chmod(tmp, 0o600)  # (mkstemp makes it 0600 already; say so explicitly)
            file.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def cmd_customers_export(ctx: Context) -> int:
    number = ctx.args.number
    with ctx.client() as api:
        document = api.get(f"/api/customers/{number}/export")
    if ctx.args.output is None:
        ctx.out.data(document)  # the export is JSON, --json or not
        return EXIT_OK
    path = Path(ctx.args.output)
    _write_private_file(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    if ctx.out.json:
        ctx.out.data({"customer_number": number, "output": str(path)})
    else:
        ctx.out.line(
            f"wrote everything held about customer {number} to {path} (readable by you only)"
        )
    return EXIT_OK


def _confirm(ctx: Context, question: str) -> bool:
    ctx.out.err.write(f"{question} [y/N] ")
    ctx.out.err.flush()
    answer = ctx.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cmd_customers_erase(ctx: Context) -> int:
    number = ctx.args.number
    if not ctx.args.yes:
        if ctx.out.json:
            raise CliError(
                "--json cannot ask for confirmation: add --yes to erase the customer",
                exit_code=EXIT_USAGE,
            )
        if not ctx.stdin.isatty():
            raise CliError(
                "erasing a customer cannot be undone and there is no terminal to confirm it "
                "on: add --yes",
                exit_code=EXIT_USAGE,
            )
    with ctx.client() as api:
        if not ctx.args.yes:
            customer = api.get(f"/api/customers/{number}")
            if customer.get("erased_at"):
                ctx.out.line(f"customer {number} was erased on {_when(customer['erased_at'])}")
                return EXIT_OK
            who = ", ".join(str(customer[k]) for k in ("name", "email") if customer.get(k))
            if not _confirm(
                ctx,
                f"Erase customer {number} ({who}) for good? Name, contact details, address, "
                "vehicle, PIN, cards and logins are deleted; sessions stay under the number.",
            ):
                ctx.out.note("not erased")
                return EXIT_FAILED
        erased = api.post(f"/api/customers/{number}/erase")
    if ctx.out.json:
        ctx.out.data(erased)
    else:
        ctx.out.line(f"erased customer {number}: identity removed; sessions stay under the number")
    return EXIT_OK


def cmd_cards_add(ctx: Context) -> int:
    a = ctx.args
    body: dict[str, Any] = {"uid": a.uid}
    if a.customer is not None:
        body["customer_number"] = a.customer
    if a.expires is not None:
        body["expires"] = a.expires
    if a.group is not None:
        body["group"] = a.group
    with ctx.client() as api:
        card = api.post("/api/cards", body)
    if ctx.out.json:
        ctx.out.data(card)
    else:
        owner = f" for customer {card['customer_number']}" if card.get("customer_number") else ""
        expiry = f", expires {_when(card['expires_at'])}" if card.get("expires_at") else ""
        ctx.out.line(f"added card {card['uid']}{owner}{expiry}")
    return EXIT_OK


def cmd_cards_list(ctx: Context) -> int:
    with ctx.client() as api:
        cards = api.get(
            "/api/cards",
            customer=ctx.args.customer,
            masked="true" if ctx.args.masked else None,
        )
    return _print_rows(ctx, cards, _CARD_COLUMNS, "no cards: add one with `csms cards add UID`")


def _card_status(ctx: Context, verb: str) -> int:
    with ctx.client() as api:
        card = api.post(f"/api/cards/{_seg(ctx.args.uid)}/{verb}")
    if ctx.out.json:
        ctx.out.data(card)
    else:
        ctx.out.line(f"card {card['uid']} is {card['status']}")
    return EXIT_OK


def cmd_cards_block(ctx: Context) -> int:
    return _card_status(ctx, "block")


def cmd_cards_unblock(ctx: Context) -> int:
    return _card_status(ctx, "unblock")


def cmd_owners_add(ctx: Context) -> int:
    with ctx.client() as api:
        owner = api.post("/api/owners", {"name": ctx.args.name})
    if ctx.out.json:
        ctx.out.data(owner)
    else:
        ctx.out.line(f"added owner {owner['name']}")
    return EXIT_OK


def cmd_owners_list(ctx: Context) -> int:
    with ctx.client() as api:
        owners = api.get("/api/owners")
    return _print_rows(
        ctx, owners, _OWNER_COLUMNS, "no owners: add one with `csms owners add NAME`"
    )


def cmd_reports_sessions(ctx: Context) -> int:
    a = ctx.args
    if ctx.out.json and a.format == "csv":
        raise CliError(
            "--json prints JSON: leave out --format csv (or --json)", exit_code=EXIT_USAGE
        )
    params = {"owner": a.owner, "from": a.start, "to": a.end}
    with ctx.client() as api:
        if a.format == "csv":
            ctx.out.out.write(api.get_text("/api/reports/sessions", format="csv", **params))
            return EXIT_OK
        rows = api.get("/api/reports/sessions", format="json", **params)
    if ctx.out.json or a.format == "json":
        ctx.out.data(rows)
    else:
        _table(ctx.out, rows, _REPORT_COLUMNS, "no sessions in this period")
    return EXIT_OK


def cmd_retention_run(ctx: Context) -> int:
    with ctx.client() as api:
        report = api.post("/api/retention/run")
    if ctx.out.json:
        ctx.out.data(report)
        return EXIT_OK
    sessions_before = (report.get("session_cutoff") or "")[:10]
    _fields(
        ctx.out,
        [
            ("charger connections deleted (older than 21 days)", report["connection_log_deleted"]),
            ("app login addresses cleared (older than 21 days)", report["login_addresses_cleared"]),
            ("expired app logins deleted", report["app_logins_deleted"]),
            ("expired touchscreen login tokens deleted", report["login_tokens_deleted"]),
            (
                f"sessions anonymized (ended before {sessions_before})",
                report["sessions_anonymized"],
            ),
        ],
    )
    return EXIT_OK


def cmd_keys_list(ctx: Context) -> int:
    with ctx.client() as api:
        keys = api.get("/api/keys")
    if ctx.out.json:
        ctx.out.data(keys)
        return EXIT_OK
    _table(ctx.out, keys, _KEY_COLUMNS, "no data keys")
    if keys:
        ctx.out.line()
        ctx.out.line(f"keys from {keys[0]['source']}; a key with 0 values can be retired")
    return EXIT_OK


def cmd_keys_rotate(ctx: Context) -> int:
    with ctx.client() as api:
        report = api.post("/api/keys/rotate")
    if ctx.out.json:
        ctx.out.data(report)
        return EXIT_OK
    newest = report["newest_key_id"]
    if report.get("new_key_id"):
        ctx.out.line(
            f"new data key {newest}, first in $CSMS_HOME/data.keys: back that file up now "
            "(apart from the database backups)"
        )
    else:
        ctx.out.line(f"re-encrypted under data key {newest}, the newest in CSMS_DATA_KEYS")
    counts = ", ".join(f"{table} {n}" for table, n in report["reencrypted"].items())
    ctx.out.line(f"re-encrypted rows: {counts}")
    older = [k for k in report["key_ids"] if k != newest]
    if older:
        ctx.out.line(
            f"older keys: {', '.join(older)}: `csms keys retire KEYID` once no backup you may "
            "restore still needs them"
        )
    return EXIT_OK


def cmd_keys_retire(ctx: Context) -> int:
    key_id = ctx.args.key_id
    with ctx.client() as api:
        result = api.post(f"/api/keys/{_seg(key_id)}/retire")
    if ctx.out.json:
        ctx.out.data(result)
    else:
        ctx.out.line(f"retired data key {key_id}; keys left: {', '.join(result['key_ids'])}")
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------


def cmd_tariffs_add(ctx: Context) -> int:
    a = ctx.args
    body = {
        "name": a.name,
        "currency": a.currency,
        "per_kwh": a.per_kwh,
        "per_hour": a.per_hour,
        "session_fee": a.session_fee,
        "idle_fee_per_minute": a.idle_fee,
        "idle_grace_minutes": a.idle_grace,
        "tax_rate": a.tax_rate,
    }
    with ctx.client() as api:
        tariff = api.post("/api/tariffs", body)
    if ctx.out.json:
        ctx.out.data(tariff)
    else:
        ctx.out.line(
            f"added tariff {tariff['name']}: {tariff['per_kwh']} {tariff['currency']}/kWh; "
            f"assign it with `csms tariffs assign {tariff['name']} --charger ID` (or --default)"
        )
    return EXIT_OK


def cmd_tariffs_list(ctx: Context) -> int:
    with ctx.client() as api:
        tariffs = api.get("/api/tariffs")
    return _print_rows(
        ctx, tariffs, _TARIFF_COLUMNS, "no tariffs: add one with `csms tariffs add NAME`"
    )


def cmd_tariffs_assign(ctx: Context) -> int:
    a = ctx.args
    if (a.charger is None) == (not a.default):
        raise CliError(
            "say where the tariff applies: --charger ID, or --default for every charger "
            "without a tariff of its own",
            exit_code=EXIT_USAGE,
        )
    with ctx.client() as api:
        tariff = api.post(f"/api/tariffs/{_seg(a.name)}/assign", {"charger_id": a.charger})
    if ctx.out.json:
        ctx.out.data(tariff)
    else:
        where = f"charger {a.charger}" if a.charger else "every charger without its own tariff"
        ctx.out.line(f"sessions starting from now on {where} are billed under {tariff['name']}")
    return EXIT_OK


def cmd_invoices_list(ctx: Context) -> int:
    a = ctx.args
    if a.held and a.status not in (None, "held"):
        raise CliError("--held lists held invoices: leave out --status", exit_code=EXIT_USAGE)
    status = "held" if a.held else a.status
    with ctx.client() as api:
        invoices = api.get("/api/invoices", customer=a.customer, status=status, limit=a.limit)
    if a.held:
        return _print_rows(ctx, invoices, _HELD_INVOICE_COLUMNS, "no held invoices")
    return _print_rows(ctx, invoices, _INVOICE_COLUMNS, "no invoices")


def _invoice_done(ctx: Context, invoice: dict[str, Any], what: str) -> int:
    if ctx.out.json:
        ctx.out.data(invoice)
        return EXIT_OK
    ctx.out.line(
        f"invoice {invoice['id']} ({invoice.get('number') or 'no number'}) {what}: "
        f"total {_money(invoice)}, payment {invoice['payment_status']}"
    )
    return EXIT_OK


def cmd_invoices_release(ctx: Context) -> int:
    with ctx.client() as api:
        invoice = api.post(f"/api/invoices/{ctx.args.id}/release")
    return _invoice_done(ctx, invoice, "released")


def cmd_invoices_adjust(ctx: Context) -> int:
    a = ctx.args
    body: dict[str, Any] = {"energy_kwh": a.energy_kwh}
    if a.reason is not None:
        body["reason"] = a.reason
    with ctx.client() as api:
        invoice = api.post(f"/api/invoices/{a.id}/adjust", body)
    return _invoice_done(ctx, invoice, f"adjusted to {a.energy_kwh} kWh and released")


def _adjusted_kwh(invoice: dict[str, Any]) -> str | None:
    wh = invoice.get("adjusted_energy_wh")
    return None if wh is None else f"{wh / 1000:.3f} kWh"


def _seller_fields(seller: dict[str, Any] | None) -> list[tuple[str, Any]]:
    if not seller:
        return []
    address = seller.get("address")
    return [
        ("seller", seller.get("name")),
        ("seller address", address.replace("\n", ", ") if address else None),
        ("seller VAT id", seller.get("vat_id")),
    ]


def cmd_invoices_show(ctx: Context) -> int:
    with ctx.client() as api:
        invoice = api.get(f"/api/invoices/{ctx.args.id}")
    if ctx.out.json:
        ctx.out.data(invoice)
        return EXIT_OK
    card = invoice.get("card")
    _fields(
        ctx.out,
        [
            ("invoice", invoice["id"]),
            ("number", invoice.get("number")),
            ("session", invoice["session_id"]),
            ("customer", invoice.get("customer_number")),
            ("created", _when(invoice.get("created_at"))),
            ("paid", _when(invoice.get("paid_at"))),
            ("card", f"{card['brand']} •••• {card['last4']}" if card else None),
            ("processor reference", invoice.get("payment_reference")),
            ("held", invoice.get("held_reason")),
            ("released", _when(invoice.get("released_at"))),
            ("adjusted energy", _adjusted_kwh(invoice)),
            ("adjust reason", invoice.get("adjust_reason")),
            *_seller_fields(invoice.get("seller")),
        ],
    )
    ctx.out.line()
    _show_invoice_lines(ctx.out, invoice)
    attempts = invoice.get("payment_attempts") or []
    if attempts:
        ctx.out.line()
        _table(
            ctx.out,
            attempts,
            [
                ("ATTEMPT AT", lambda r: _when(r.get("at"))),
                ("STATUS", _field("status")),
                ("AMOUNT", _field("amount")),
                ("DECLINE", _field("decline_code")),
                ("REFERENCE", _field("reference")),
            ],
            "",
        )
    return EXIT_OK


def cmd_outbox_list(ctx: Context) -> int:
    status = "failed" if ctx.args.failed else ctx.args.status
    with ctx.client() as api:
        rows = api.get("/api/outbox", status=status, limit=ctx.args.limit)
    empty = "no failed deliveries" if status == "failed" else "the outbox is empty"
    return _print_rows(ctx, rows, _OUTBOX_COLUMNS, empty)


def cmd_outbox_retry(ctx: Context) -> int:
    with ctx.client() as api:
        row = api.post(f"/api/outbox/{ctx.args.id}/retry")
    if ctx.out.json:
        ctx.out.data(row)
    else:
        ctx.out.line(f"outbox {row['id']} ({row['topic']}) is queued again: due now")
    return EXIT_OK


def cmd_customers_marketing_export(ctx: Context) -> int:
    if ctx.out.json:
        raise CliError("the marketing export is CSV: leave out --json", exit_code=EXIT_USAGE)
    with ctx.client() as api:
        text = api.get_text("/api/marketing/export")
    if ctx.args.output is None:
        ctx.out.out.write(text)
        return EXIT_OK
    path = Path(ctx.args.output)
    _write_private_file(path, text)
    count = max(0, text.count("\r\n") - 1)
    ctx.out.line(f"wrote {count} opted-in customer(s) to {path} (readable by you only)")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _int_in(low: int, high: int | None, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < low or (high is not None and value > high):
            limit = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{value} must be {limit}")
        return value

    return parse


def _token_lifetime(text: str) -> timedelta:
    """An argparse type: seconds, or a number with a unit: ``90s``, ``10m``, ``24h``, ``30d``."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in units else (raw, "s")
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: use seconds or a number with s, m, h or d (30d)"
        ) from None
    if not value > 0 or value * units[unit] > 100 * 365 * 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: give a duration above 0 and under 100 years")
    return timedelta(seconds=value * units[unit])


_positive = _int_in(1, None, "a number")
_non_negative = _int_in(0, None, "a number")
_port = _int_in(0, 65535, "a port number")


_CONFIG_HELP = """\
read or change charger configuration

OCPP 1.6 chargers name configuration keys plainly: HeartbeatInterval.
OCPP 2.0.1 stations name variables Component.Variable:
  OCPPCommCtrlr.HeartbeatInterval
  OCPPCommCtrlr.MessageAttempts[TransactionEvent]   a variable instance in brackets
  SmartChargingCtrlr[Main].Enabled                  a component instance in brackets
  EVSE@1.AvailabilityState                          the component of EVSE 1
  Connector@1:2.AvailabilityState                   connector 2 of EVSE 1
--attribute reads or writes Target, MinSet or MaxSet instead of Actual (2.0.1 only).
A 2.0.1 station lists all its variables in a report: `csms chargers report ID`."""

_RESET_HELP = """\
OCPP 2.0.1 stations reset OnIdle (after running transactions end) by default; --hard
resets Immediate (running transactions are stopped)."""

_PLACE_HELP = """\
--connector N names connector N of a 1.6 charger; on a 2.0.1 station it names EVSE N
(connector 1 where a connector is needed). --evse E (2.0.1) names EVSE E, and with
--connector C connector C of it."""

_ROTATE_HELP = """\
With the keys in $CSMS_HOME/data.keys, a new key is generated and written first in that
file, then every encrypted value is re-encrypted under it; back the file up afterwards.
With CSMS_DATA_KEYS, csms cannot add the key: put a new KEYID:KEY entry first in the
variable and restart (a refused rotate prints a freshly generated one), then rotate."""

_RETIRE_HELP = """\
A retired key cannot decrypt anything any more, including database backups made before
the last rotation: keep it until no backup you may restore needs it."""

_TARIFF_HELP = """\
A session is billed under the tariff in force on its charger when it started. Each amount
is rounded half-up to the currency's minor unit (cents) as it is computed: every line,
then the tax on their sum. A tariff never changes: for a new price, add a new tariff and
assign it."""

_EXIT_HELP = f"""\
exit status:
  {EXIT_OK}    done (a charger command: the charger answered Accepted, Scheduled,
       Unlocked or RebootRequired)
  {EXIT_FAILED}    failed: the charger refused (Rejected, NotSupported, UnlockFailed, ...),
       or the command could not be done (not found, server unreachable, bad token)
  {EXIT_USAGE}    bad usage or configuration (an unknown option, a bad CSMS_* value)
  130  interrupted (Ctrl-C)"""


def package_version() -> str:
    """The installed csms package's version (``0`` in a source tree never installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("csms")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


_CRITERIA = ("active", "available", "enabled", "problem")


def _notify_channels(text: str) -> list[str]:
    """An argparse type: ``email``, ``sms``, ``email,sms`` or ``none``."""
    wanted = [c.strip().lower() for c in text.split(",") if c.strip()]
    if wanted == ["none"]:
        return []
    if not wanted or any(c not in ("email", "sms") for c in wanted):
        raise argparse.ArgumentTypeError(f"{text!r}: use email, sms, email,sms or none")
    return sorted(set(wanted))


def _criteria(text: str) -> list[str]:
    """An argparse type: comma-separated report criteria."""
    wanted = [c.strip().lower() for c in text.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in _CRITERIA]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(
            f"{text!r}: criteria are {', '.join(_CRITERIA)} (comma-separated)"
        )
    return wanted


def _epilog(p: argparse.ArgumentParser, text: str) -> None:
    p.epilog = text
    p.formatter_class = argparse.RawDescriptionHelpFormatter


def _evse_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--evse", type=_positive, help="OCPP 2.0.1 EVSE number (see below for --connector)"
    )
    _epilog(p, _PLACE_HELP)


def _attribute_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--attribute",
        choices=["Actual", "Target", "MinSet", "MaxSet"],
        help="OCPP 2.0.1 attribute (default Actual)",
    )
    _epilog(p, _CONFIG_HELP.split("\n", 2)[2])


def build_parser() -> argparse.ArgumentParser:
    common: argparse.ArgumentParser = _Parser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print only JSON"
    )
    parser = _Parser(
        prog="csms",
        description="csms: OCPP central system. Commands other than serve, db and token talk "
        "to the running server (CSMS_API_URL, CSMS_API_TOKEN).",
        parents=[common],
        epilog=_EXIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"csms {package_version()}")
    nouns: Any = parser.add_subparsers(dest="noun", required=True, metavar="COMMAND")

    def leaf(
        group: Any, name: str, handler: Callable[[Context], int], help: str
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(
            name, help=help, description=help, parents=[common]
        )
        p.set_defaults(handler=handler)
        return p

    def noun(name: str, help: str) -> Any:
        p = nouns.add_parser(name, help=help, description=help, parents=[common])
        return p.add_subparsers(dest="verb", required=True, metavar="COMMAND")

    serve = leaf(nouns, "serve", cmd_serve, "run the server (OCPP endpoint and HTTP API)")
    serve.add_argument("--ocpp-port", type=_port, help="OCPP port (default 9000)")
    serve.add_argument("--api-port", type=_port, help="HTTP API port (default 8080)")
    serve.add_argument("--database-url", help="sqlite+aiosqlite:///PATH or postgresql+asyncpg://…")

    db = noun("db", "database maintenance")
    leaf(db, "upgrade", cmd_db_upgrade, "create or migrate the database schema")

    token = noun("token", "API tokens (works on the database directly)")
    p = leaf(token, "create", cmd_token_create, "create an API token (printed once)")
    p.add_argument("name", help="who or what uses the token")
    p.add_argument("--role", choices=["admin", "operator", "owner"], default="operator")
    p.add_argument("--owner", help="the owner an owner token is for")
    p.add_argument(
        "--expires",
        type=_token_lifetime,
        metavar="DURATION",
        help="refuse the token after this long: 90s, 10m, 24h, 30d (default: never)",
    )
    leaf(token, "list", cmd_token_list, "list API tokens (never the tokens themselves)")
    p = leaf(token, "revoke", cmd_token_revoke, "revoke an API token: refused from now on")
    p.add_argument("name", help="the token's name (`csms token list`)")

    chargers = noun("chargers", "charging stations")
    p = leaf(chargers, "add", cmd_chargers_add, "provision a charger (password printed once)")
    p.add_argument("id", help="the charger's OCPP identity")
    p.add_argument("--password", help="8-40 characters (default: generated)")
    p.add_argument("--security-profile", type=int, choices=[1, 2, 3])
    p.add_argument("--owner", help="owner name (`csms owners list`)")
    p.add_argument("--name", help="a human-friendly name")
    p = leaf(chargers, "list", cmd_chargers_list, "list chargers (not archived ones)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--archived", action="store_true", help="only archived chargers")
    which.add_argument("--all", action="store_true", help="archived chargers too")
    p = leaf(
        chargers,
        "accept",
        cmd_chargers_accept,
        "accept a pending charger; one without a password gets one (printed once, sent to it)",
    )
    p.add_argument("id", help="charger id")
    p.add_argument(
        "--password",
        help="the password to give it (16-20 characters for OCPP 1.6, up to 40 for 2.0.1; "
        "default: generated)",
    )
    for verb, handler, text in (
        ("show", cmd_chargers_show, "show a charger and its connectors"),
        ("remove", cmd_chargers_remove, "remove a charger without sessions"),
        (
            "archive",
            cmd_chargers_archive,
            "hide a charger that has sessions and refuse its connections (history kept)",
        ),
        ("unarchive", cmd_chargers_unarchive, "undo `chargers archive`"),
        ("clear-cache", cmd_chargers_clear_cache, "clear the charger's authorization cache"),
    ):
        leaf(chargers, verb, handler, text).add_argument("id", help="charger id")
    p = leaf(chargers, "reset", cmd_chargers_reset, "reset a charger (soft by default)")
    p.add_argument("id", help="charger id")
    p.add_argument(
        "--hard", action="store_true", help="reboot now (1.6 Hard; 2.0.1 Immediate, not OnIdle)"
    )
    p.add_argument("--evse", type=_positive, help="OCPP 2.0.1: reset only this EVSE")
    _epilog(p, _RESET_HELP)
    p = leaf(chargers, "unlock", cmd_chargers_unlock, "unlock a connector")
    p.add_argument("id", help="charger id")
    p.add_argument("--connector", type=_positive, required=True, help="connector number")
    _evse_option(p)
    p = leaf(chargers, "availability", cmd_chargers_availability, "change availability")
    p.add_argument("id", help="charger id")
    p.add_argument("state", choices=["operative", "inoperative"])
    p.add_argument(
        "--connector", type=_non_negative, default=0, help="connector (default 0: whole charger)"
    )
    _evse_option(p)
    config = chargers.add_parser(
        "config",
        help="read or change charger configuration (2.0.1: variables)",
        description=_CONFIG_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    ).add_subparsers(dest="config_verb", required=True, metavar="COMMAND")
    p = leaf(
        config,
        "get",
        cmd_chargers_config_get,
        "read configuration keys (1.6: all by default) or 2.0.1 variables",
    )
    p.add_argument("id", help="charger id")
    p.add_argument("keys", nargs="*", metavar="KEY", help="1.6 key or 2.0.1 Component.Variable")
    _attribute_option(p)
    p = leaf(config, "set", cmd_chargers_config_set, "change a configuration key or variable")
    p.add_argument("id", help="charger id")
    p.add_argument("key", metavar="KEY", help="1.6 key or 2.0.1 Component.Variable")
    p.add_argument("value", metavar="VALUE")
    _attribute_option(p)
    p = leaf(chargers, "trigger", cmd_chargers_trigger, "ask the charger to send a message")
    p.add_argument("id", help="charger id")
    p.add_argument(
        "message",
        metavar="MESSAGE",
        help="e.g. Heartbeat, StatusNotification, MeterValues; 2.0.1 also TransactionEvent, "
        "LogStatusNotification, SignChargingStationCertificate",
    )
    p.add_argument("--connector", type=_positive, help="connector number")
    _evse_option(p)
    p = leaf(
        chargers,
        "report",
        cmd_chargers_report,
        "ask a 2.0.1 station for its device model report (sent back in NotifyReport)",
    )
    p.add_argument("id", help="charger id")
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="only these components (Component) or variables (Component.Variable)",
    )
    p.add_argument(
        "--type",
        choices=["full", "config", "summary"],
        help="base report: FullInventory (default), ConfigurationInventory, SummaryInventory",
    )
    p.add_argument(
        "--criteria",
        type=_criteria,
        help="only components that are active,available,enabled,problem (comma-separated)",
    )

    sessions = noun("sessions", "charging sessions")
    p = leaf(sessions, "list", cmd_sessions_list, "list sessions, most recent first")
    p.add_argument("--charger", help="only this charger's sessions")
    p.add_argument("--active", action="store_true", help="only running sessions")
    p.add_argument("--customer", type=_positive, help="only this customer number's sessions")
    p.add_argument(
        "--limit", type=_int_in(1, 1000, "a number"), default=100, help="at most N (default 100)"
    )
    p.add_argument(
        "--before",
        type=_positive,
        metavar="ID",
        help="the page after session ID (the cursor a previous page printed)",
    )
    p.add_argument(
        "--from", dest="start", metavar="DATE", help="started from: YYYY-MM-DD or ISO 8601"
    )
    p.add_argument(
        "--to", dest="end", metavar="DATE", help="started before the end of: YYYY-MM-DD or ISO 8601"
    )
    p = leaf(sessions, "show", cmd_sessions_show, "show a session with its meter values")
    p.add_argument("id", type=_positive, help="session id")
    p = leaf(sessions, "start", cmd_sessions_start, "ask a charger to start a session")
    p.add_argument("charger", help="charger id")
    p.add_argument(
        "--id-tag", required=True, help="the id tag (card UID) or 2.0.1 id token to start for"
    )
    p.add_argument("--connector", type=_positive, help="connector number")
    _evse_option(p)
    p.add_argument(
        "--token-type",
        choices=list(ID_TOKEN_TYPES),
        help="OCPP 2.0.1 idToken type (default Central: a token the CSMS vouches for)",
    )
    p = leaf(sessions, "stop", cmd_sessions_stop, "ask the charger to stop a session")
    p.add_argument("id", type=_positive, help="session id")
    p = leaf(
        sessions,
        "close",
        cmd_sessions_close,
        "end a stuck session without the charger (billed, its card free again)",
    )
    p.add_argument("id", type=_positive, help="session id")
    p.add_argument(
        "--meter-stop",
        type=_non_negative,
        metavar="WH",
        help="the meter reading in Wh to close with (default: the last meter value, else "
        "the meter start)",
    )
    p.add_argument("--reason", help="why, kept with the session")
    p = leaf(
        sessions,
        "status",
        cmd_sessions_status,
        "ask a 2.0.1 station whether a session is still ongoing (GetTransactionStatus)",
    )
    p.add_argument("id", type=_positive, help="session id")

    customers = noun("customers", "customers (drivers) and their personal data")
    p = leaf(customers, "add", cmd_customers_add, "add a customer")
    p.add_argument("--name", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--phone", help="international, with + and country code: +4930123456")
    p.add_argument("--address", help="postal address")
    p.add_argument("--vehicle", metavar="MAKE/MODEL/YEAR", help="e.g. Renault/Zoe/2021")
    p.add_argument("--pin", help="touchscreen PIN, 4-8 digits (stored as a salted hash only)")
    p.add_argument(
        "--notify",
        type=_notify_channels,
        metavar="email,sms",
        help="how to tell the driver the car is done: email, sms, email,sms or none",
    )
    leaf(customers, "list", cmd_customers_list, "list customers")
    p = leaf(customers, "show", cmd_customers_show, "show a customer")
    p.add_argument("number", type=_positive, help="customer number")
    p = leaf(
        customers,
        "export",
        cmd_customers_export,
        "everything held about a customer, as JSON (their right of access)",
    )
    p.add_argument("number", type=_positive, help="customer number")
    p.add_argument(
        "--output", metavar="FILE", help="write it to FILE, readable by you only (mode 0600)"
    )
    p = leaf(
        customers,
        "erase",
        cmd_customers_erase,
        "erase a customer's identity for good (sessions stay under the number)",
    )
    p.add_argument("number", type=_positive, help="customer number")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p = leaf(
        customers,
        "marketing-export",
        cmd_customers_marketing_export,
        "the customers who opted in to marketing, as CSV with their unsubscribe links",
    )
    p.add_argument(
        "--output", metavar="FILE", help="write it to FILE, readable by you only (mode 0600)"
    )

    cards = noun("cards", "RFID cards")
    p = leaf(cards, "add", cmd_cards_add, "add a card")
    p.add_argument("uid", help="the card UID as chargers report it")
    p.add_argument("--customer", type=_positive, help="customer number")
    p.add_argument("--expires", metavar="DATE", help="YYYY-MM-DD (valid through that day, UTC)")
    p.add_argument(
        "--group", metavar="GROUP", help="group id chargers get as parentIdTag/groupIdToken"
    )
    p = leaf(cards, "list", cmd_cards_list, "list cards (full UIDs unless --masked)")
    p.add_argument("--customer", type=_positive, help="only this customer number's cards")
    p.add_argument("--masked", action="store_true", help="show only the last 4 UID characters")
    for verb, handler, text in (
        ("block", cmd_cards_block, "block a card"),
        ("unblock", cmd_cards_unblock, "unblock a card"),
    ):
        leaf(cards, verb, handler, text).add_argument("uid", help="card UID")

    owners = noun("owners", "station owners")
    p = leaf(owners, "add", cmd_owners_add, "add an owner")
    p.add_argument("name")
    leaf(owners, "list", cmd_owners_list, "list owners")

    reports = noun("reports", "reports for station owners (no driver identity)")
    p = leaf(
        reports,
        "sessions",
        cmd_reports_sessions,
        "the sessions on an owner's (or every) charger: times, energy, amount, customer number",
    )
    p.add_argument(
        "--owner",
        help="owner name (default: every owner's for an admin or operator token; "
        "an owner token: its own)",
    )
    p.add_argument(
        "--from", dest="start", metavar="DATE", help="YYYY-MM-DD (from midnight UTC) or ISO 8601"
    )
    p.add_argument(
        "--to", dest="end", metavar="DATE", help="YYYY-MM-DD (through that day, UTC) or ISO 8601"
    )
    p.add_argument(
        "--format", choices=["csv", "json"], help="csv or json (default: a table for people)"
    )

    tariffs = noun("tariffs", "prices: per kWh, per hour, per session, idle fee, tax")
    p = leaf(tariffs, "add", cmd_tariffs_add, "add a tariff (prices net of tax; never changed)")
    p.add_argument("name")
    p.add_argument("--per-kwh", default="0", metavar="X", help="price per kWh, e.g. 0.39")
    p.add_argument("--per-hour", default="0", metavar="X", help="price per hour plugged in")
    p.add_argument("--session-fee", default="0", metavar="X", help="price per session")
    p.add_argument(
        "--idle-fee",
        default="0",
        metavar="X",
        help="per full minute plugged in after charging is done (after --idle-grace)",
    )
    p.add_argument(
        "--idle-grace", type=_int_in(0, 1440, "a number of minutes"), default=0, metavar="MIN"
    )
    p.add_argument("--tax-rate", default="0", metavar="PCT", help="percent added, e.g. 19")
    p.add_argument("--currency", default="EUR", help="ISO 4217 code (default EUR)")
    _epilog(p, _TARIFF_HELP)
    leaf(tariffs, "list", cmd_tariffs_list, "list tariffs and where they are in force")
    p = leaf(
        tariffs,
        "assign",
        cmd_tariffs_assign,
        "bill sessions that start from now on on a charger (or by default) under a tariff",
    )
    p.add_argument("name")
    p.add_argument("--charger", metavar="ID", help="the charger")
    p.add_argument(
        "--default", action="store_true", help="every charger without a tariff of its own"
    )

    invoices = noun("invoices", "invoices of billed sessions and their payment")
    p = leaf(invoices, "list", cmd_invoices_list, "list invoices, newest first")
    p.add_argument("--customer", type=_positive, help="only this customer number's invoices")
    p.add_argument(
        "--status",
        choices=list(PAYMENT_STATUSES),
        help="only invoices with this payment status",
    )
    p.add_argument("--limit", type=_positive, default=100, help="at most N (default 100)")
    p.add_argument(
        "--held",
        action="store_true",
        help="only held invoices (implausible sessions, never charged), with the reason",
    )
    p = leaf(invoices, "show", cmd_invoices_show, "show an invoice and its payment attempts")
    p.add_argument("id", type=_positive, help="invoice id")
    p = leaf(
        invoices,
        "release",
        cmd_invoices_release,
        "charge a held invoice as billed (card charge and receipt go out)",
    )
    p.add_argument("id", type=_positive, help="invoice id (`csms invoices list --held`)")
    p = leaf(
        invoices,
        "adjust",
        cmd_invoices_adjust,
        "price a held invoice again from the corrected energy, then release it",
    )
    p.add_argument("id", type=_positive, help="invoice id (`csms invoices list --held`)")
    p.add_argument(
        "--energy-kwh", required=True, metavar="X", help="the energy to bill, in kWh (12.5)"
    )
    p.add_argument("--reason", metavar="TEXT", help="why (kept on the invoice)")

    outbox = noun("outbox", "deliveries after commits: billing, card charges, email, SMS")
    p = leaf(outbox, "list", cmd_outbox_list, "list deliveries, newest first")
    p.add_argument("--failed", action="store_true", help="only those that failed for good")
    p.add_argument("--status", choices=["pending", "done", "failed"], help="only this status")
    p.add_argument("--limit", type=_positive, default=100, help="at most N (default 100)")
    p = leaf(outbox, "retry", cmd_outbox_retry, "queue a failed delivery again")
    p.add_argument("id", type=_positive, help="outbox id (`csms outbox list --failed`)")

    retention = noun("retention", "personal data retention (the server also runs it daily)")
    leaf(
        retention,
        "run",
        cmd_retention_run,
        "purge connection addresses older than 21 days and expired logins; anonymize "
        "sessions past CSMS_RETENTION_YEARS",
    )

    keys = noun("keys", "the data keys that encrypt personal data (admin token)")
    leaf(keys, "list", cmd_keys_list, "data keys, newest first, and the values each protects")
    p = leaf(
        keys,
        "rotate",
        cmd_keys_rotate,
        "encrypt all personal data under a new key (CSMS_DATA_KEYS: its newest key)",
    )
    _epilog(p, _ROTATE_HELP)
    p = leaf(keys, "retire", cmd_keys_retire, "remove a data key that no stored value uses")
    p.add_argument("key_id", metavar="KEYID", help="from `csms keys list`")
    _epilog(p, _RETIRE_HELP)
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run one ``csms`` command; returns the exit status."""
    out_stream = stdout or sys.stdout
    err_stream = stderr or sys.stderr
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(out_stream), contextlib.redirect_stderr(err_stream):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out = Output(json=getattr(args, "json", False), out=out_stream, err=err_stream)
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        err_stream.write(f"csms: configuration error: {exc}\n")
        return EXIT_USAGE
    ctx = Context(
        args=args, settings=settings, out=out, transport=transport, stdin=stdin or sys.stdin
    )
    try:
        return int(args.handler(ctx))
    except CliError as exc:
        err_stream.write(f"csms: error: {exc}\n")
        return exc.exit_code
    except ConfigError as exc:
        err_stream.write(f"csms: configuration error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err_stream.write("csms: interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`csms sessions show 1 | head`): nothing more to say.
        # Later flushes of stdout at exit would fail the same way; send them nowhere.
        if stdout is None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
