"""``chargers.has_issued_certificate``: whether csms's CA issued a charger a certificate it
can connect with in profile 3 (``csms chargers set-profile ID 3`` asks), on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.database import Database
from storage.sql import tables as t

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def _issue(
    db: Database, serial: str, charger_id: str, kind: str, not_before: datetime, not_after: datetime
) -> None:
    await db.write(
        lambda uow: uow.conn.execute(
            t.issued_certificates.insert().values(
                serial=serial,
                charger_id=charger_id,
                certificate_type=kind,
                subject=f"CN={charger_id},O=csms",
                not_before=not_before,
                not_after=not_after,
                fingerprint="CD" * 32,
                pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
                issued_at=not_before,
            )
        )
    )


async def test_only_a_charging_station_certificate_valid_now_counts(db: Database) -> None:
    day = timedelta(days=1)
    await _issue(db, "01", "CP1", "ChargingStationCertificate", NOW - 10 * day, NOW - day)
    await _issue(db, "02", "CP1", "V2GCertificate", NOW - day, NOW + 10 * day)
    await _issue(db, "03", "CP1", "ChargingStationCertificate", NOW + day, NOW + 10 * day)
    await _issue(db, "04", "CP2", "ChargingStationCertificate", NOW - day, NOW + 10 * day)

    assert (
        await db.read(lambda uow: uow.chargers.has_issued_certificate("CP1", valid_at=NOW)) is False
    )
    assert (
        await db.read(lambda uow: uow.chargers.has_issued_certificate("CP2", valid_at=NOW)) is True
    )
    assert (
        await db.read(
            lambda uow: uow.chargers.has_issued_certificate("CP1", valid_at=NOW + 2 * day)
        )
        is True
    )
    assert (
        await db.read(lambda uow: uow.chargers.has_issued_certificate("CP3", valid_at=NOW)) is False
    )
