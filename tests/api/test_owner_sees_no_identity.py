"""Station owners never learn who the drivers are (SPEC "Personal data": "Station owners'
reports show the numeric customer number, never identity").

A customer with distinctive identity and a card charges at an owner's 1.6 charger and at
the owner's 2.0.1 station (simulators over real sockets, a real server). Then every
endpoint of the API (enumerated from the app's OpenAPI document, so endpoints added later
are covered without touching this test) is called with that owner's token, path
parameters filled with real ids; no answer may contain any of the identity strings.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx

from csms.api import create_app
from csms.domain.security.tokens import create_token
from simulators import ChargePoint16, ChargePoint201, ChargingPlan
from tests.waiting import eventually

OWNER = "Sunny Site GmbH"
NAME = "Quirinus Eberhardt-Lindqvist"
EMAIL = "q.lindqvist@example.net"
PHONE = "+4917699887766"
ADDRESS = "Ahornallee 42, 54321 Nebelstadt"
VEHICLE_MAKE = "Zylophant"
CARD = "04F7E6D5C4B3A2"
PIN = "4826"

IDENTITY = {
    "name": NAME,
    "surname": "Lindqvist",
    "email": EMAIL,
    "phone": PHONE,
    "phone digits": PHONE.removeprefix("+49"),
    "address": "Ahornallee",
    "vehicle make": VEHICLE_MAKE,
    "card UID": CARD,
    "card UID tail": CARD[-8:],
}
#: Read-only answers an owner token must get (not vacuous: there is data behind them).
OWNER_READS = {
    "/api/chargers",
    "/api/chargers/{charger_id}",
    "/api/sessions",
    "/api/sessions/{session_id}",
    "/api/reports/sessions",
}
#: Calls that would change personal data (or expose it to an operator) that an owner
#: token must be refused.
OPERATOR_ONLY = {
    ("GET", "/api/customers"),
    ("GET", "/api/customers/{customer_number}"),
    ("GET", "/api/customers/{customer_number}/export"),
    ("POST", "/api/customers/{customer_number}/erase"),
    ("GET", "/api/cards"),
    ("GET", "/api/cards/{uid}"),
    ("POST", "/api/retention/run"),
    ("POST", "/api/keys/rotate"),
    ("GET", "/api/keys"),
    ("GET", "/api/invoices"),
    ("GET", "/api/invoices/{invoice_id}"),
    ("GET", "/api/outbox"),
    ("POST", "/api/outbox/{outbox_id}/retry"),
    ("GET", "/api/marketing/export"),
    ("GET", "/api/tariffs"),
}


def _leaks(text: str) -> list[str]:
    lowered = text.lower()
    return [what for what, value in IDENTITY.items() if value.lower() in lowered]


async def _run_sessions(server: Any, admin: httpx.AsyncClient) -> dict[str, Any]:
    """The owner, its two chargers, the customer and card, and one session on each."""
    assert (await admin.post("/api/owners", json={"name": OWNER})).status_code == 201
    passwords = {}
    for charger_id in ("CP-OWN-16", "CP-OWN-201"):
        added = await admin.post("/api/chargers", json={"id": charger_id, "owner": OWNER})
        assert added.status_code == 201, added.text
        passwords[charger_id] = added.json()["password"]
    customer = await admin.post(
        "/api/customers",
        json={
            "name": NAME,
            "email": EMAIL,
            "phone": PHONE,
            "address": ADDRESS,
            "vehicle": f"{VEHICLE_MAKE}/Vortex/2024",
            "pin": PIN,
            "notify": ["email", "sms"],
        },
    )
    assert customer.status_code == 201, customer.text
    number = int(customer.json()["customer_number"])
    card = await admin.post("/api/cards", json={"uid": CARD, "customer_number": number})
    assert card.status_code == 201, card.text
    # Billed sessions: an invoice and outbox deliveries exist for the owner to try.
    tariff = await admin.post("/api/tariffs", json={"name": "site", "per_kwh": "0.40"})
    assert tariff.status_code == 201, tariff.text
    assigned = await admin.post("/api/tariffs/site/assign", json={"charger_id": None})
    assert assigned.status_code == 200, assigned.text
    plan = ChargingPlan(energy_wh=2000, power_w=11_000)
    async with ChargePoint16(
        url=server.ocpp_url,
        identity="CP-OWN-16",
        password=passwords["CP-OWN-16"],
        speed=3600,
        meter_interval=60,
        charging_plan=plan,
    ) as cp16:
        await cp16.boot()
        assert (await cp16.charge(id_tag=CARD)).id_tag_status == "Accepted"
    async with ChargePoint201(
        url=server.ocpp_url,
        identity="CP-OWN-201",
        password=passwords["CP-OWN-201"],
        speed=3600,
        meter_interval=60,
        charging_plan=plan,
    ) as cp201:
        await cp201.boot()
        await cp201.charge(id_tag=CARD)
    sessions = (await admin.get("/api/sessions")).json()
    assert {s["charger_id"] for s in sessions} == {"CP-OWN-16", "CP-OWN-201"}
    assert all(s["customer_number"] == number and s["status"] == "completed" for s in sessions)
    return {"number": number, "session_id": sessions[0]["id"]}


def _path_values(ids: dict[str, Any], key_id: str) -> dict[str, str]:
    return {
        "charger_id": "CP-OWN-16",
        "session_id": str(ids["session_id"]),
        "customer_number": str(ids["number"]),
        "uid": CARD,
        "card_id": "1",
        "key_id": key_id,
        "token": "not-a-real-unsubscribe-token",
        "name": "site",
        "invoice_id": "1",
        "outbox_id": "1",
        "serial": "0A1B2C3D",
    }


def _fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"{path}: give this test a real value for {{{name}}}"
        return values[name]

    return re.sub(r"\{([^}]+)\}", value, path)


async def test_no_endpoint_shows_an_owner_who_the_drivers_are(csms_server: Any) -> None:
    server = csms_server
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    async with httpx.AsyncClient(base_url=server.api_url, headers=headers, timeout=30) as admin:
        ids = await _run_sessions(server, admin)
        # The identity strings are real: an operator's export shows them.
        export = await admin.get(f"/api/customers/{ids['number']}/export")
        assert {"name", "email", "phone", "address", "vehicle make"} <= set(_leaks(export.text))
        key_id = (await admin.get("/api/keys")).json()[0]["key_id"]

    now = datetime.now(UTC)
    _, owner_token = await server.db.write(
        lambda uow: create_token(uow, name="site host", role="owner", owner=OWNER, now=now)
    )
    app = create_app(db=server.db, router=server.router, settings=server.settings)
    document = app.openapi()
    values = _path_values(ids, key_id)
    calls: list[tuple[str, str, str]] = []  # (method, template, url)
    for template, operations in document["paths"].items():
        for method in operations:
            calls.append((method.upper(), template, _fill(template, values)))
    calls += [
        ("GET", "/api/sessions", f"/api/sessions?customer={ids['number']}"),
        ("GET", "/api/reports/sessions", "/api/reports/sessions?format=csv"),
        ("GET", "/api/reports/sessions", f"/api/reports/sessions?owner={OWNER}&format=json"),
    ]
    assert len(calls) > 50

    answered: dict[tuple[str, str], list[int]] = {}
    headers = {"Authorization": f"Bearer {owner_token}"}
    async with httpx.AsyncClient(base_url=server.api_url, headers=headers, timeout=30) as owner:
        for method, template, url in calls:
            body: dict[str, Any] | None = None if method in ("GET", "DELETE") else {}
            response = await owner.request(method, url, json=body)
            assert _leaks(response.text) == [], f"{method} {url} shows {_leaks(response.text)}"
            answered.setdefault((method, template), []).append(response.status_code)

    for template in OWNER_READS:
        assert set(answered["GET", template]) == {200}, template
    for call in OPERATOR_ONLY:
        assert answered[call] == [403], call
    changes = {call: codes for call, codes in answered.items() if call[0] != "GET"}
    assert all(code >= 400 for codes in changes.values() for code in codes), changes

    # What the owner does see: the sessions, by customer number.
    async with httpx.AsyncClient(base_url=server.api_url, headers=headers, timeout=30) as owner:
        sessions = (await owner.get("/api/sessions")).json()
        report = (await owner.get("/api/reports/sessions", params={"format": "csv"})).text
    assert {s["customer_number"] for s in sessions} == {ids["number"]}
    assert all("id_tag" not in s for s in sessions)
    # what a session cost, but not how its driver paid (declines, card, references)
    async with httpx.AsyncClient(base_url=server.api_url, headers=headers, timeout=30) as owner:

        async def billed() -> dict[str, Any] | None:
            detail = (await owner.get(f"/api/sessions/{sessions[0]['id']}")).json()
            return detail if detail["cost"] is not None else None

        detail = await eventually(billed)
    assert "invoice" not in detail
    assert report.count(str(ids["number"])) == 2
