"""Issue 18 item 1 as it was found: a 1.6 charger over a real WebSocket to a running csms,
a Stripe-shaped processor on 127.0.0.1. StartTransaction meterStart 7, StopTransaction one
hour later meterStop 2147483647: the session is completed, its invoice held, and the
processor never hears of it, while a normal session beside it is charged. An operator
adjusts it through the HTTP API (owners may not); it is then charged once. On SQLite and
PostgreSQL."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from csms.config import Settings
from csms.domain.billing.payment_cards import store_card
from csms.domain.billing.payments import CardDetails
from csms.domain.billing.tariffs import add_tariff
from csms.domain.charging.stations import add_charger
from csms.domain.people.cards import add_card
from csms.domain.people.customers import add_customer
from csms.domain.people.owners import add_owner
from csms.domain.security.tokens import create_token
from csms.server import running_server
from notify.payments import StripeGateway
from tests.fakes.payment_processor import FakeStripe
from tests.waiting import eventually

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
PASSWORD = "held-charger-password"


@pytest.fixture
def stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
async def server(
    database_url: str, settings_factory: Callable[..., Settings], stripe: FakeStripe
) -> AsyncIterator[Any]:
    settings = settings_factory(
        database_url=database_url, payment_url=stripe.url, payment_key=stripe.key
    )
    async with running_server(settings) as running:
        yield running


class Charger16:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        unique_id = f"h{next(self._ids)}"
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        answer = json.loads(await self.ws.recv())
        assert answer[:2] == [3, unique_id], answer
        return dict(answer[2])

    async def session(self, *, meter_start: int, meter_stop: int, start: str, stop: str) -> int:
        started = await self.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "04HE1D", "meterStart": meter_start, "timestamp": start},
        )
        tx_id = int(started["transactionId"])
        await self.call(
            "StopTransaction",
            {"transactionId": tx_id, "meterStop": meter_stop, "timestamp": stop, "idTag": "04HE1D"},
        )
        return tx_id


async def _provision(server: Any, stripe: FakeStripe) -> str:
    """Charger, default tariff (0.40 EUR/kWh), a customer with an RFID card and a card at
    the processor; the owner token (which must not release invoices)."""
    gateway = StripeGateway(api_key=stripe.key, base_url=stripe.url, timeout=2)
    try:
        card = await gateway.add_card(
            CardDetails.parse("4242424242424242", 12, 2031, "123", today=T0.date()),
            customer_ref=None,
            description="csms customer test",
            idempotency_key="add-served",
        )
    finally:
        await gateway.aclose()

    def run(uow: Any) -> str:
        add_owner(uow, name="ACME", now=T0)
        add_charger(uow, charger_id="CP-JUMP", now=T0, password=PASSWORD, owner="ACME")
        customer = add_customer(uow, name="Jo Jump", email="jo@example.com", notify=(), now=T0)
        add_card(uow, uid="04HE1D", customer_number=customer.customer_number, now=T0)
        store_card(
            uow,
            customer.id,
            token=card.token,
            customer_ref=card.customer_ref,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            now=T0,
        )
        tariff = add_tariff(uow, name="standard", per_kwh="0.40", now=T0)
        uow.tariffs.assign(tariff_id=tariff.id, charger_id=None, at=T0)
        return create_token(uow, name="site", role="owner", owner="ACME", now=T0)[1]

    return str(await server.db.write(run))


async def test_the_issue_s_1_6_meter_jump_is_held_and_never_reaches_the_processor(
    server: Any, stripe: FakeStripe
) -> None:
    owner_token = await _provision(server, stripe)
    auth = base64.b64encode(f"CP-JUMP:{PASSWORD}".encode()).decode()
    async with connect(
        f"{server.ocpp_url}/CP-JUMP",
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Basic {auth}"},
    ) as ws:
        charger = Charger16(ws)
        await charger.call("BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"})
        jump = await charger.session(
            meter_start=7,
            meter_stop=2_147_483_647,
            start="2026-12-01T10:00:00Z",
            stop="2026-12-01T11:00:00Z",
        )
        normal = await charger.session(
            meter_start=1_000,
            meter_stop=12_000,
            start="2026-12-01T12:00:00Z",
            stop="2026-12-01T13:00:00Z",
        )

    def invoice_of(tx_id: int) -> Callable[[], Any]:
        async def check() -> Any:
            def load(uow: Any) -> Any:
                tx = uow.transactions.by_transaction_id(tx_id)
                return uow.invoices.by_transaction(tx.id) if tx is not None else None

            return await server.db.read(load)

        return check

    # the normal session is charged (the worker runs) ...
    paid = await eventually(lambda: _status_is(invoice_of(normal), "paid"), timeout=15)
    held = await invoice_of(jump)()
    # ... and the jump's invoice stays held: the processor never heard of it
    assert held.payment_status == "held" and held.total_minor == 85_899_346  # 2,147,483.640 kWh
    [charge] = stripe.charges
    assert charge.metadata["invoice"] == str(paid.id) and charge.amount == 440  # 11 kWh × 0.40
    intents = [r for r in stripe.requests_seen if r.path == "/v1/payment_intents"]
    assert [r.idempotency_key for r in intents] == [f"invoice-{paid.id}-attempt-1"]

    base = server.api_url
    admin = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=base) as http:
        listed = (await http.get("/api/invoices", params={"status": "held"}, headers=admin)).json()
        assert [(i["id"], i["held_reason"] is not None) for i in listed] == [(held.id, True)]
        owner = {"Authorization": f"Bearer {owner_token}"}
        refused = await http.post(f"/api/invoices/{held.id}/release", headers=owner)
        assert refused.status_code == 403
        refused = await http.post(
            f"/api/invoices/{held.id}/adjust", json={"energy_kwh": "1"}, headers=owner
        )
        assert refused.status_code == 403
        adjusted = await http.post(
            f"/api/invoices/{held.id}/adjust",
            json={"energy_kwh": "21.5", "reason": "register overflow"},
            headers=admin,
        )
        assert adjusted.status_code == 200, adjusted.text
        assert adjusted.json()["total"] == "8.60"  # 21.5 kWh × 0.40
        await eventually(lambda: _status_is(invoice_of(jump), "paid"), timeout=15)
        again = await http.post(f"/api/invoices/{held.id}/release", headers=admin)
        assert again.status_code in (400, 409, 422) and "not held" in again.text
    assert sorted((c.metadata["invoice"], c.amount) for c in stripe.charges) == sorted(
        [(str(paid.id), 440), (str(held.id), 860)]
    )


async def _status_is(load: Callable[[], Any], status: str) -> Any:
    invoice = await load()
    return invoice if invoice is not None and invoice.payment_status == status else None
