"""``GET /api/reports/sessions``: an owner's sessions as JSON or CSV, scoped by token."""

from __future__ import annotations

import csv
import io
from typing import Any

from csms.domain.billing.reports import SESSION_REPORT_COLUMNS
from tests.api.conftest import Api, add_charger_for, add_session

CSV_HEADER = (
    "session_id,charger_id,connector_id,started_at,stopped_at,status,energy_wh,billed,amount,"
    "currency,payment_status,customer_number,auth_method"
)


async def _acme_sessions(api: Api) -> tuple[int, list[int]]:
    """A customer with a card charging twice at ACME's charger (a day apart), once at Other's;
    returns the customer number and ACME's session ids."""
    customer = await api.operator.post(
        "/api/customers",
        json={"name": "Rhea Porter", "email": "rhea@example.com", "phone": "+4915112345678"},
    )
    number = int(customer.json()["customer_number"])
    card = await api.operator.post("/api/cards", json={"uid": "RPT0001", "customer_number": number})
    assert card.status_code == 201
    await add_charger_for(api.db, 'CP,"7"', owner="ACME")  # needs quoting in CSV
    await add_charger_for(api.db, "CP-OTHER", owner="Other")
    first = await add_session(api.db, 'CP,"7"', id_tag="RPT0001", stop=True)
    second = await add_session(api.db, 'CP,"7"', id_tag="RPT0001", stop=True, minute=24 * 60)
    await add_session(api.db, "CP-OTHER", id_tag="RPT0001", stop=True)
    return number, [first, second]


async def test_owner_token_gets_its_own_sessions_with_customer_numbers_only(api: Api) -> None:
    number, ids = await _acme_sessions(api)
    response = await api.owner.get("/api/reports/sessions")
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    assert [r["session_id"] for r in rows] == ids  # oldest first, Other's left out
    assert rows[0] == {
        "session_id": ids[0],
        "charger_id": 'CP,"7"',
        "connector_id": 1,
        "started_at": "2026-11-22T10:00:00Z",
        "stopped_at": "2026-11-22T11:00:00Z",
        "status": "completed",
        "energy_wh": 3000,
        "billed": None,
        "amount": None,
        "currency": None,
        "payment_status": None,
        "customer_number": number,
        "auth_method": "card",
    }
    for text in ("Rhea", "rhea@example.com", "+4915112345678", "RPT0001"):
        assert text not in response.text


async def test_csv_has_a_header_row_and_rfc_4180_quoting(api: Api) -> None:
    number, ids = await _acme_sessions(api)
    response = await api.owner.get("/api/reports/sessions", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.split("\r\n")
    assert lines[0] == CSV_HEADER and lines[-1] == ""
    assert lines[1] == (
        f'{ids[0]},"CP,""7""",1,2026-11-22T10:00:00Z,2026-11-22T11:00:00Z,completed,3000,,,,,'
        f"{number},card"
    )
    parsed = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["charger_id"] for r in parsed] == ['CP,"7"', 'CP,"7"']
    assert tuple(parsed[0]) == SESSION_REPORT_COLUMNS


async def test_period_is_from_midnight_through_the_end_of_the_to_day(api: Api) -> None:
    _, ids = await _acme_sessions(api)  # started 2026-11-22 and 2026-11-23
    first_day = await api.operator.get(
        "/api/reports/sessions",
        params={"owner": "ACME", "from": "2026-11-22", "to": "2026-11-22"},
    )
    assert [r["session_id"] for r in first_day.json()] == [ids[0]]
    second_day = await api.operator.get(
        "/api/reports/sessions", params={"owner": "ACME", "from": "2026-11-23"}
    )
    assert [r["session_id"] for r in second_day.json()] == [ids[1]]
    until_ten = await api.operator.get(
        "/api/reports/sessions", params={"owner": "ACME", "to": "2026-11-23T10:00:00Z"}
    )
    assert [r["session_id"] for r in until_ten.json()] == [ids[0]]  # the end is excluded


async def test_owner_token_cannot_ask_for_another_owner(api: Api) -> None:
    await _acme_sessions(api)
    for owner in ("Other", "Nonexistent"):
        refused = await api.owner.get("/api/reports/sessions", params={"owner": owner})
        assert refused.status_code == 403, owner
        assert "its own owner" in refused.json()["error"]
    own = await api.owner.get("/api/reports/sessions", params={"owner": "ACME"})
    assert own.status_code == 200 and len(own.json()) == 2


async def test_without_an_owner_an_admin_or_operator_gets_every_owners_sessions(
    api: Api,
) -> None:
    _, ids = await _acme_sessions(api)
    await add_charger_for(api.db, "CP-NOBODY")  # a charger without an owner counts too
    await add_session(api.db, "CP-NOBODY", id_tag="RPT0001", stop=True, minute=1)
    for client in (api.admin, api.operator):
        every = await client.get("/api/reports/sessions")
        assert every.status_code == 200, every.text
        rows = every.json()
        assert sorted(r["charger_id"] for r in rows) == sorted(
            ['CP,"7"', 'CP,"7"', "CP-OTHER", "CP-NOBODY"]
        )
        assert [r["started_at"] for r in rows] == sorted(r["started_at"] for r in rows)
    # An owner token without owner still sees only its own.
    own = await api.owner.get("/api/reports/sessions")
    assert [r["session_id"] for r in own.json()] == ids


async def test_operators_may_name_one_owner(api: Api) -> None:
    await _acme_sessions(api)
    unknown = await api.operator.get("/api/reports/sessions", params={"owner": "Nobody"})
    assert unknown.status_code == 404
    other = await api.admin.get("/api/reports/sessions", params={"owner": "Other"})
    assert [r["charger_id"] for r in other.json()] == ["CP-OTHER"]


async def test_bad_period_is_400_and_says_the_expected_shape(api: Api) -> None:
    bad = await api.operator.get(
        "/api/reports/sessions", params={"owner": "ACME", "from": "22.11.2026"}
    )
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["error"]
    empty = await api.operator.get(
        "/api/reports/sessions",
        params={"owner": "ACME", "from": "2026-11-23", "to": "2026-11-22"},
    )
    assert empty.status_code == 400 and "--from must be before --to" in empty.json()["error"]
    wrong_format = await api.operator.get(
        "/api/reports/sessions", params={"owner": "ACME", "format": "xml"}
    )
    assert wrong_format.status_code == 422
