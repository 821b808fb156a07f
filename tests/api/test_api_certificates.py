"""``GET /api/certificates``: the certificates csms's CA issued, for operators (SPEC
"Security profiles and certificates": serial, charger_id, subject, not_after, fingerprint)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.database import Database
from tests.api.conftest import Api, add_charger_for

DAY = timedelta(days=1)


async def issue(db: Database, serial: str, charger_id: str, *, days_left: float) -> None:
    now = datetime.now(UTC)
    not_after = (now + timedelta(days=days_left)).replace(microsecond=0)
    await db.write(
        lambda uow: uow.issued_certificates.add(
            serial=serial,
            charger_id=charger_id,
            certificate_type="ChargingStationCertificate",
            subject=f"CN={charger_id},O=csms",
            not_before=now - DAY,
            not_after=not_after,
            fingerprint="C0FFEE" + "0" * 58,
            pem="-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
            issued_at=now - DAY,
        )
    )


async def fleet(api: Api) -> None:
    for charger_id in ("CP1", "CP2"):
        await add_charger_for(api.db, charger_id)
    await issue(api.db, "01", "CP1", days_left=10.5)  # CP1's old one, replaced
    await issue(api.db, "02", "CP2", days_left=20.5)
    await issue(api.db, "03", "CP1", days_left=364.5)


async def test_an_operator_lists_every_issued_certificate_newest_first_with_the_spec_fields(
    api: Api,
) -> None:
    await fleet(api)
    response = await api.operator.get("/api/certificates")
    assert response.status_code == 200
    rows = response.json()
    assert [r["serial"] for r in rows] == ["03", "02", "01"]
    first = rows[0]
    assert {"serial", "charger_id", "subject", "not_after", "fingerprint"} <= set(first)
    assert first["charger_id"] == "CP1"
    assert first["subject"] == "CN=CP1,O=csms"
    assert first["fingerprint"] == "C0FFEE" + "0" * 58
    assert first["certificate_type"] == "ChargingStationCertificate"
    assert first["not_after"].endswith("Z")
    assert first["expires_in_days"] == 364


async def test_charger_filters_one_chargers_certificates(api: Api) -> None:
    await fleet(api)
    rows = (await api.admin.get("/api/certificates", params={"charger": "CP1"})).json()
    assert [r["serial"] for r in rows] == ["03", "01"]


async def test_expiring_gives_the_certificates_in_use_within_the_days_soonest_first(
    api: Api,
) -> None:
    await fleet(api)
    rows = (await api.operator.get("/api/certificates", params={"expiring": 30})).json()
    # CP1's certificate 01 expires in 10 days but 03 replaced it: not listed.
    assert [(r["serial"], r["expires_in_days"]) for r in rows] == [("02", 20)]
    rows = (await api.operator.get("/api/certificates", params={"expiring": 400})).json()
    assert [r["serial"] for r in rows] == ["02", "03"]


async def test_a_negative_or_non_numeric_expiring_is_refused_with_422(api: Api) -> None:
    for bad in ("-1", "soon"):
        response = await api.operator.get("/api/certificates", params={"expiring": bad})
        assert response.status_code == 422
        assert "expiring" in response.json()["error"]


async def test_an_owner_token_cannot_list_certificates(api: Api) -> None:
    response = await api.owner.get("/api/certificates")
    assert response.status_code == 403
    assert (await api.anonymous.get("/api/certificates")).status_code == 401
