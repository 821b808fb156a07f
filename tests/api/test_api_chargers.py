"""``/api/chargers``: provisioning, views, removal."""

from __future__ import annotations

from csms.domain.charging.stations import record_boot, record_status, register_unknown_charger
from csms.domain.model import BootInfo, RegistrationStatus
from csms.security import verify_password
from tests.api.conftest import NOW, Api, add_charger_for, add_session

SPEC_CHARGER_FIELDS = {
    "id",
    "connected",
    "ocpp_version",
    "status",
    "vendor",
    "model",
    "firmware_version",
    "last_seen",
    "connectors",
}


async def test_add_returns_the_charger_and_its_password_once(api: Api) -> None:
    response = await api.operator.post(
        "/api/chargers", json={"id": "CP1", "security_profile": 2, "name": "Gate"}
    )
    assert response.status_code == 201
    created = response.json()
    assert created["id"] == "CP1" and created["security_profile"] == 2
    assert created["name"] == "Gate" and created["connected"] is False
    stored = await api.db.read(lambda uow: uow.chargers.get("CP1"))
    assert stored is not None and stored.password_hash is not None
    assert verify_password(created["password"], stored.password_hash)
    shown = (await api.operator.get("/api/chargers/CP1")).json()
    assert "password" not in shown


async def test_add_with_chosen_password_and_owner(api: Api) -> None:
    response = await api.operator.post(
        "/api/chargers", json={"id": "CP1", "password": "s3cret-pass", "owner": "ACME"}
    )
    assert response.status_code == 201
    assert response.json()["password"] == "s3cret-pass"
    assert response.json()["owner"] == "ACME"


async def test_add_twice_is_409(api: Api) -> None:
    await api.operator.post("/api/chargers", json={"id": "CP1"})
    response = await api.operator.post("/api/chargers", json={"id": "CP1"})
    assert response.status_code == 409
    assert "already exists" in response.json()["error"]


async def test_add_with_invalid_identity_says_why(api: Api) -> None:
    response = await api.operator.post("/api/chargers", json={"id": "CP:1"})
    assert response.status_code == 400
    assert "contains ':'" in response.json()["error"]


async def test_add_with_unknown_owner_says_how_to_add_it(api: Api) -> None:
    response = await api.operator.post("/api/chargers", json={"id": "CP1", "owner": "Nobody"})
    assert response.status_code == 404
    assert "csms owners add Nobody" in response.json()["error"]


async def test_add_with_bad_security_profile_names_the_field(api: Api) -> None:
    response = await api.operator.post("/api/chargers", json={"id": "CP1", "security_profile": 4})
    assert response.status_code == 422
    assert response.json()["error"].startswith("invalid request: security_profile:")


async def test_add_with_misspelt_field_is_refused(api: Api) -> None:
    response = await api.operator.post("/api/chargers", json={"id": "CP1", "passwrd": "x" * 10})
    assert response.status_code == 422
    assert "passwrd: unknown field" in response.json()["error"]


async def test_malformed_json_is_422_not_500(api: Api) -> None:
    response = await api.operator.post(
        "/api/chargers", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "invalid request" in response.json()["error"]


async def test_list_shows_spec_fields(api: Api) -> None:
    await add_charger_for(api.db, "CP2")
    await add_charger_for(api.db, "CP1")
    listed = (await api.operator.get("/api/chargers")).json()
    assert [c["id"] for c in listed] == ["CP1", "CP2"]
    assert set(listed[0]) >= SPEC_CHARGER_FIELDS


async def test_show_unknown_charger_is_404_with_hint(api: Api) -> None:
    response = await api.operator.get("/api/chargers/NOPE")
    assert response.status_code == 404
    assert response.json() == {"error": "charger NOPE not found: see `csms chargers list`"}


async def test_connected_charger_shows_connector_zero_status_and_connectors(api: Api) -> None:
    await add_charger_for(api.db, "CP1")

    def report(uow: object) -> None:
        record_boot(
            uow,  # type: ignore[arg-type]
            charger_id="CP1",
            info=BootInfo(vendor="Acme", model="W1", ocpp_version="1.6", firmware_version="9"),
            now=NOW,
        )
        for connector, status in ((0, "Available"), (1, "Charging"), (2, "Faulted")):
            record_status(
                uow,  # type: ignore[arg-type]
                charger_id="CP1",
                connector_id=connector,
                status=status,
                error_code="GroundFailure" if status == "Faulted" else "NoError",
                now=NOW,
            )

    await api.db.write(report)
    api.router.connected["CP1"] = "ocpp1.6"
    shown = (await api.operator.get("/api/chargers/CP1")).json()
    assert shown["connected"] is True
    # connector 0 says Available, but connector 1 charges (issue 18 item 13)
    assert shown["status"] == "Charging"
    assert shown["ocpp_version"] == "1.6"
    assert (shown["vendor"], shown["model"], shown["firmware_version"]) == ("Acme", "W1", "9")
    assert shown["last_seen"] == "2026-11-22T10:00:00Z"
    assert [(c["id"], c["status"], c["error_code"]) for c in shown["connectors"]] == [
        (1, "Charging", "NoError"),
        (2, "Faulted", "GroundFailure"),
    ]
    del api.router.connected["CP1"]
    offline = (await api.operator.get("/api/chargers/CP1")).json()
    assert offline["connected"] is False and offline["status"] == "Offline"
    assert offline["ocpp_version"] == "1.6"  # the last known one


async def test_connected_charger_without_reported_status_is_unknown(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    api.router.connected["CP1"] = "ocpp1.6"
    assert (await api.operator.get("/api/chargers/CP1")).json()["status"] == "Unknown"


async def test_accept_makes_a_pending_charger_accepted(api: Api) -> None:
    await api.db.write(
        lambda uow: register_unknown_charger(
            uow, charger_id="NEW1", status=RegistrationStatus.PENDING, now=NOW
        )
    )
    before = (await api.operator.get("/api/chargers/NEW1")).json()
    assert before["registration_status"] == "Pending"
    response = await api.operator.post("/api/chargers/NEW1/accept")
    assert response.status_code == 200
    assert response.json()["registration_status"] == "Accepted"


async def test_accept_unknown_charger_is_404(api: Api) -> None:
    assert (await api.operator.post("/api/chargers/NOPE/accept")).status_code == 404


async def test_remove_deletes_the_charger(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    response = await api.operator.delete("/api/chargers/CP1")
    assert response.status_code == 200
    assert response.json() == {"id": "CP1", "removed": True}
    assert (await api.operator.get("/api/chargers/CP1")).status_code == 404


async def test_remove_charger_with_sessions_is_409(api: Api) -> None:
    await add_charger_for(api.db, "CP1")
    await add_session(api.db, "CP1")
    response = await api.operator.delete("/api/chargers/CP1")
    assert response.status_code == 409
    assert "billing history" in response.json()["error"]


async def test_unknown_endpoint_is_404_json(api: Api) -> None:
    response = await api.operator.get("/api/nothing-here")
    assert response.status_code == 404
    assert "no such API endpoint" in response.json()["error"]
