"""``POST /api/chargers/{id}/password`` and ``/security-profile``: operator-only, strict
bodies, and the password in the answer only (never in the charger's view)."""

from __future__ import annotations

from tests.api.conftest import Api, add_charger_for


async def test_owners_and_anonymous_callers_may_not_rotate_passwords_or_change_profiles(
    api: Api,
) -> None:
    await add_charger_for(api.db, "CP1", owner="ACME")
    for client, status in ((api.owner, 403), (api.anonymous, 401)):
        assert (await client.post("/api/chargers/CP1/password")).status_code == status
        answer = await client.post("/api/chargers/CP1/security-profile", json={"profile": 2})
        assert answer.status_code == status
    charger = await api.db.read(lambda uow: uow.chargers.get("CP1"))
    assert charger is not None and charger.pending_password_hash is None


async def test_a_rotated_password_is_in_the_answer_once_and_never_in_the_charger_view(
    api: Api,
) -> None:
    await add_charger_for(api.db, "CP1")
    answer = await api.operator.post("/api/chargers/CP1/password", json={})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    password = body["password"]
    assert len(password) == 20
    assert body["password_delivery"]["status"] == "waiting"  # offline: sent when it connects
    shown = await api.operator.get("/api/chargers/CP1")
    assert password not in shown.text
    assert shown.json()["password_state"] == "rotating"


async def test_bad_bodies_are_refused_with_what_is_wrong(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    for body in ({"profile": 4}, {"profile": 2, "downgrade": True}, {}):
        answer = await api.operator.post("/api/chargers/CP1/security-profile", json=body)
        assert answer.status_code == 422, (body, answer.text)
    answer = await api.operator.post("/api/chargers/CP1/password", json={"password": "short"})
    assert answer.status_code == 422
    assert "password" in answer.text
    missing = await api.operator.post("/api/chargers/NOPE/security-profile", json={"profile": 2})
    assert missing.status_code == 404 and "csms chargers list" in missing.json()["error"]
