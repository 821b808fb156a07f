"""Issue "completed sessions: tariffs, invoices, card payment, email and SMS, nothing lost",
end to end: ``csms serve`` as its own process, a real SMTP server, a Twilio-shaped SMS
gateway and a Stripe-shaped payment processor on 127.0.0.1, a simulated 1.6 charger.

A customer registers in the app with email and SMS notifications and a payment card,
then charges by RFID card. Whatever happens to the server between the session's end and
the deliveries, the driver gets exactly one "done charging" message and one receipt on
each channel, and the card is charged exactly once, the right amount:

- killed (SIGKILL) at the worst moment, when every receiver has taken its message or
  charge but csms has not yet heard so: after the restart each delivery is made again
  under the same idempotency key, and each receiver recognises it;
- killed while every receiver is down, started again once they are back;
- a receiver down for longer than the retries last: the delivery fails for good,
  ``csms outbox list --failed`` shows it, ``csms outbox retry`` delivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.processes import ServerProcess, free_port, run_checked, start_process
from simulators import ChargePoint16, ChargingPlan
from tests.cli.conftest import Result, run_csms_process
from tests.fakes.payment_processor import FakeStripe
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.smtp_server import FakeSmtpServer
from tests.waiting import eventually

CSMS = str(Path(sys.executable).with_name("csms"))
EMAIL = "dora.delivery@example.net"
PHONE = "+4917655501234"
CARD_UID = "04D0AA11BB22"
CARD_NUMBER = "4242424242424242"
CVC = "314"
PER_KWH = Decimal("0.40")
TAX_RATE = Decimal("19")
#: How often a test asks ``csms outbox list`` (a process each time) while it waits.
POLL_S = 0.1


@dataclass
class Receivers:
    smtp: FakeSmtpServer
    sms: FakeSmsGateway
    stripe: FakeStripe


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[Receivers]:
    with (
        FakeSmtpServer(tls="starttls", directory=tmp_path / "tls") as smtp,
        FakeSmsGateway() as sms,
        FakeStripe() as stripe,
    ):
        yield Receivers(smtp, sms, stripe)


class Csms:
    """``csms serve`` in a process of its own, killed and started again at will."""

    def __init__(self, tmp_path: Path, receivers: Receivers) -> None:
        self.tmp_path = tmp_path
        self.ocpp_port, self.api_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "CSMS_HOME": str(tmp_path / "home"),
            "CSMS_OCPP_HOST": "127.0.0.1",
            "CSMS_OCPP_PORT": str(self.ocpp_port),
            "CSMS_API_PORT": str(self.api_port),
            "CSMS_API_URL": f"http://127.0.0.1:{self.api_port}",
            "CSMS_PING_INTERVAL": "0",
            "CSMS_LOG_LEVEL": "DEBUG",
            "CSMS_SMTP_URL": receivers.smtp.url(timeout=3),
            "CSMS_MAIL_FROM": "EV Network <noreply@ev.example>",
            "CSMS_SMS_URL": receivers.sms.url_for(timeout=3),
            "CSMS_SMS_FROM": "+4930555000",
            "CSMS_PAYMENT_URL": receivers.stripe.url,
            "CSMS_PAYMENT_KEY": receivers.stripe.key,
            # retries within a test's patience: 3 attempts, 0.1-0.4 s apart
            "CSMS_OUTBOX_MAX_ATTEMPTS": "3",
            "CSMS_OUTBOX_RETRY_BASE": "0.2",
            "CSMS_OUTBOX_RETRY_MAX": "0.4",
            # a delivery the kill interrupted is made again 2 s after its claim
            "CSMS_OUTBOX_LEASE": "2",
            # the simulator runs at 3600× with real timestamps (5 kWh in under a second):
            # billing's energy-versus-power check would hold every invoice
            "CSMS_MAX_CHARGER_KW": "off",
        }
        self.env.pop("CSMS_API_TOKEN", None)
        self.runs = 0
        self.logs: list[Path] = []

    @contextlib.asynccontextmanager
    async def serving(self, **env: str) -> AsyncIterator[ServerProcess]:
        self.runs += 1
        log = self.tmp_path / f"serve-{self.runs}.log"
        self.logs.append(log)
        async with start_process(
            "csms", [CSMS, "serve"], port=self.api_port, env={**self.env, **env}, log_path=log
        ) as server:
            yield server

    async def cli(self, *args: str) -> Result:
        result = await run_csms_process(self.env, *args)
        assert result.code == 0, f"csms {' '.join(args)}: {result.err}"
        return result

    async def outbox(self) -> list[dict[str, Any]]:
        return (await self.cli("outbox", "list", "--json", "--limit", "1000")).json()


async def _kill(server: ServerProcess) -> None:
    """SIGKILL: no clean stop, nothing flushed, nothing handed over."""
    server.process.kill()
    await server.process.wait()


async def _provision(csms: Csms) -> tuple[int, str]:
    """Tariff, charger, and a customer with email+SMS notifications, an RFID card and a
    payment card; (customer number, charger password)."""
    await csms.cli(
        "tariffs", "add", "standard", "--per-kwh", str(PER_KWH), "--tax-rate", str(TAX_RATE)
    )
    await csms.cli("tariffs", "assign", "standard", "--default")
    password = (await csms.cli("chargers", "add", "CP-DLV", "--json")).json()["password"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{csms.api_port}") as app:
        registered = await app.post(
            "/api/app/register",
            json={
                "name": "Dora Delivery",
                "email": EMAIL,
                "password": "patient-heron-lantern",
                "birth_date": "1991-06-02",
                "phone": PHONE,
                "notify": ["email", "sms"],
            },
        )
        assert registered.status_code == 202, registered.text
        logged_in = await app.post(
            "/api/app/login", json={"login": EMAIL, "password": "patient-heron-lantern"}
        )
        assert logged_in.status_code == 200, logged_in.text
        app.headers["Authorization"] = f"Bearer {logged_in.json()['token']}"
        card = await app.post(
            "/api/app/me/payment-cards",
            json={"number": CARD_NUMBER, "exp_month": 11, "exp_year": 2031, "cvc": CVC},
        )
        assert card.status_code == 201, card.text
        assert (card.json()["brand"], card.json()["last4"]) == ("visa", "4242")
        number = int(logged_in.json()["customer_number"])
    await csms.cli("cards", "add", CARD_UID, "--customer", str(number))
    return number, password


async def _charge(csms: Csms, password: str) -> None:
    """One session by card: charging, SuspendedEV when the battery is full, then stop."""
    async with ChargePoint16(
        url=f"ws://127.0.0.1:{csms.ocpp_port}/ocpp",
        identity="CP-DLV",
        password=password,
        speed=3600,
        meter_interval=60,
        charging_plan=ChargingPlan(energy_wh=5000, power_w=11_000),
    ) as cp:
        await cp.boot()
        result = await cp.charge(id_tag=CARD_UID)
        assert result.id_tag_status == "Accepted"


def _expected_total_minor(energy_wh: int) -> int:
    """The tariff, worked out by hand: energy × price, rounded half-up to the cent, plus tax
    on that, rounded half-up."""
    cent = Decimal("0.01")
    net = (Decimal(energy_wh) / 1000 * PER_KWH).quantize(cent, rounding=ROUND_HALF_UP)
    tax = (net * TAX_RATE / 100).quantize(cent, rounding=ROUND_HALF_UP)
    return int((net + tax) * 100)


def _done(rows: list[dict[str, Any]]) -> bool:
    topics = {r["topic"] for r in rows}
    expected = {
        "charging.done",
        "email.charging_done",
        "sms.charging_done",
        "session.completed",
        "payment.charge",
        "email.receipt",
        "sms.receipt",
    }
    return expected <= topics and all(r["status"] == "done" for r in rows)


def _emails_by_subject(smtp: FakeSmtpServer) -> list[str]:
    return sorted(str(m["Subject"]) for m in smtp.messages)


def _sms_kinds(sms: FakeSmsGateway) -> list[str]:
    return sorted("receipt" if "receipt" in m.body else "done" for m in sms.messages)


async def _assert_delivered_exactly_once(csms: Csms, receivers: Receivers, number: int) -> None:
    [session] = (await csms.cli("sessions", "list", "--json")).json()
    total = _expected_total_minor(session["energy_wh"])
    assert session["customer_number"] == number and session["charging_done_at"] is not None
    assert session["cost"] == {"amount": f"{Decimal(total) / 100:.2f}", "currency": "EUR"}
    [invoice] = (await csms.cli("invoices", "list", "--json")).json()
    # one "done charging" and one receipt per channel, to this customer
    assert _emails_by_subject(receivers.smtp) == [
        "Your EV is done charging",
        f"Your charging receipt {invoice['number']}, session {session['id']}",
    ]
    assert {r.rcpt_tos for r in receivers.smtp.received} == {(EMAIL,)}
    assert all(r.tls for r in receivers.smtp.received)  # STARTTLS, required
    assert _sms_kinds(receivers.sms) == ["done", "receipt"]
    assert {m.to for m in receivers.sms.messages} == {PHONE}
    # one charge, of the invoice's total
    [charge] = receivers.stripe.charges
    assert (charge.amount, charge.currency) == (total, "eur")
    assert invoice["payment_status"] == "paid" and invoice["payment_reference"] == charge.id


def _no_secrets_in(csms: Csms) -> None:
    """Neither the logs (at DEBUG) nor the database hold the card number or CVC, nor (in
    plain text) who the customer is. A CVC is three digits, which any log line's clock may
    show: what must not appear is a CVC field at all."""
    home = Path(csms.env["CSMS_HOME"])
    stored = b"".join(p.read_bytes() for p in home.glob("csms.sqlite3*") if p.is_file())
    places = {str(log): log.read_text() for log in csms.logs}
    places["database"] = stored.decode("latin-1")
    for where, text in places.items():
        assert "Traceback" not in text, where
        assert "cvc" not in text.lower(), where
        for secret in (CARD_NUMBER, CARD_NUMBER[-12:], EMAIL, PHONE, "Dora Delivery", CARD_UID):
            assert secret not in text, (where, secret)


async def test_a_kill_at_the_worst_moment_still_delivers_each_message_and_charge_once(
    tmp_path: Path, receivers: Receivers
) -> None:
    csms = Csms(tmp_path, receivers)
    await run_checked([CSMS, "db", "upgrade"], env=csms.env, log_path=tmp_path / "upgrade.log")
    async with csms.serving() as server:
        number, password = await _provision(csms)
        # Every receiver takes the next message or charge, then holds its answer back.
        for receiver in (receivers.smtp, receivers.sms, receivers.stripe):
            receiver.hold()
        await _charge(csms, password)
        for receiver in (receivers.smtp, receivers.sms, receivers.stripe):
            assert await asyncio.to_thread(receiver.wait_held, 20), receiver
        await _kill(server)
    # The "done" email and SMS and the charge were received; csms never heard back.
    assert len(receivers.smtp.messages) >= 1 and len(receivers.sms.messages) >= 1
    assert len(receivers.stripe.charges) == 1
    for receiver in (receivers.smtp, receivers.sms, receivers.stripe):
        receiver.release()

    async with csms.serving():
        try:
            rows = await eventually(lambda: _outbox_done(csms), timeout=40, interval=POLL_S)
        except TimeoutError:
            for r in await csms.outbox():
                print(
                    "ROW",
                    r["id"],
                    r["topic"],
                    r["status"],
                    r["attempts"],
                    r["last_error"],
                    r["result"],
                )
            raise
        await _assert_delivered_exactly_once(csms, receivers, number)
    # The held deliveries really were made twice, and recognised the second time.
    assert receivers.smtp.data_commands >= 3
    assert receivers.sms.requests_seen >= 3
    intents = [r for r in receivers.stripe.requests_seen if r.path == "/v1/payment_intents"]
    assert len(intents) == 2 and len({r.idempotency_key for r in intents}) == 1
    assert max(r["attempts"] for r in rows if r["topic"] == "payment.charge") == 2
    _no_secrets_in(csms)


async def _outbox_done(csms: Csms) -> list[dict[str, Any]] | None:
    rows = await csms.outbox()
    return rows if _done(rows) else None


async def test_deliveries_outlive_a_kill_while_receivers_are_down_and_a_failed_one_is_retried(
    tmp_path: Path, receivers: Receivers
) -> None:
    csms = Csms(tmp_path, receivers)
    await run_checked([CSMS, "db", "upgrade"], env=csms.env, log_path=tmp_path / "upgrade.log")
    # (no giving up while everything is down: the deliveries must still be pending at the kill)
    async with csms.serving(CSMS_OUTBOX_MAX_ATTEMPTS="1000") as server:
        number, password = await _provision(csms)
        for receiver in (receivers.smtp, receivers.sms, receivers.stripe):
            receiver.stop()
        await _charge(csms, password)

        async def tried_everything() -> bool:
            rows = {r["topic"]: r for r in await csms.outbox()}
            return all(
                topic in rows and rows[topic]["attempts"] >= 1 and rows[topic]["status"] != "done"
                for topic in ("email.charging_done", "payment.charge", "email.receipt")
            )

        await eventually(tried_everything, timeout=30, interval=POLL_S)
        await _kill(server)
    assert receivers.stripe.charges == [] and receivers.smtp.messages == []

    # Mail and payments are back; the SMS gateway stays down past every retry (3 attempts,
    # used up before the kill already).
    receivers.smtp.start()
    receivers.stripe.restart()
    async with csms.serving():

        async def sms_failed() -> list[dict[str, Any]]:
            rows = (await csms.cli("outbox", "list", "--failed", "--json")).json()
            return (
                rows if {r["topic"] for r in rows} == {"sms.charging_done", "sms.receipt"} else []
            )

        failed = await eventually(sms_failed, timeout=40, interval=POLL_S)
        assert all(r["status"] == "failed" and r["attempts"] >= 3 for r in failed)
        assert all("SMS gateway" in (r["last_error"] or "") for r in failed)
        table = (await csms.cli("outbox", "list", "--failed")).out
        assert "sms.receipt" in table and "failed" in table

        receivers.sms.restart()
        for row in failed:
            retried = await csms.cli("outbox", "retry", str(row["id"]))
            assert "queued again" in retried.out
        await eventually(lambda: _outbox_done(csms), timeout=40, interval=POLL_S)
        await _assert_delivered_exactly_once(csms, receivers, number)
        refused = await run_csms_process(csms.env, "outbox", "retry", str(failed[0]["id"]))
        assert refused.code != 0 and "only failed deliveries are retried" in refused.err
    _no_secrets_in(csms)
