"""The issued-certificates repository and the expiry rules over it, on SQLite and
PostgreSQL: every certificate csms's CA signed is kept; "expiring" means a charger's
newest certificate, of a charger in service, close to its not-after."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from csms.domain.charging.stations import add_charger, archive_charger
from csms.domain.security.issued_certificates import (
    certificate_view,
    expiring_certificates,
    expiry_warning,
    expiry_warnings,
)
from storage.database import Database
from storage.errors import StorageError
from storage.ports import UnitOfWork
from storage.records import IssuedCertificateRecord

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def add(
    uow: UnitOfWork, serial: str, charger_id: str, *, not_after: datetime
) -> IssuedCertificateRecord:
    return uow.issued_certificates.add(
        serial=serial,
        charger_id=charger_id,
        certificate_type="ChargingStationCertificate",
        subject=f"CN={charger_id},O=csms",
        not_before=not_after - 365 * DAY,
        not_after=not_after,
        fingerprint="AB" * 32,
        pem="-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
        issued_at=not_after - 365 * DAY,
    )


@pytest.fixture
async def chargers(db: Database) -> Database:
    for charger_id in ("CP1", "CP2", "CP3"):
        await db.write(
            lambda uow, cid=charger_id: add_charger(uow, charger_id=cid, now=NOW, password=None)
        )
    return db


async def test_a_certificate_is_kept_and_found_by_serial_and_charger(chargers: Database) -> None:
    db = chargers
    added = await db.write(lambda uow: add(uow, "0A1B", "CP1", not_after=NOW + 100 * DAY))
    assert await db.read(lambda uow: uow.issued_certificates.get("0A1B")) == added
    assert await db.read(lambda uow: uow.issued_certificates.get("FFFF")) is None
    assert added.not_after == NOW + 100 * DAY
    assert added.not_after.tzinfo is not None
    assert await db.read(lambda uow: uow.issued_certificates.list(charger_id="CP2")) == []


async def test_list_is_newest_first_filtered_by_charger_and_not_after(chargers: Database) -> None:
    db = chargers
    await db.write(lambda uow: add(uow, "01", "CP1", not_after=NOW + 10 * DAY))
    await db.write(lambda uow: add(uow, "02", "CP2", not_after=NOW + 50 * DAY))
    await db.write(lambda uow: add(uow, "03", "CP1", not_after=NOW + 300 * DAY))

    def serials(**filters: object) -> object:
        return db.read(
            lambda uow: [c.serial for c in uow.issued_certificates.list(**filters)]  # type: ignore[arg-type]
        )

    assert await serials() == ["03", "02", "01"]
    assert await serials(charger_id="CP1") == ["03", "01"]
    assert await serials(expiring_before=NOW + 60 * DAY) == ["02", "01"]
    assert await serials(charger_id="CP1", limit=1) == ["03"]
    assert await serials(newest_per_charger=True) == ["03", "02"]
    assert await serials(newest_per_charger=True, charger_id="CP2") == ["02"]
    assert await serials(newest_per_charger=True, expiring_before=NOW + 60 * DAY) == ["02"]


async def test_a_serial_is_kept_once(chargers: Database) -> None:
    await chargers.write(lambda uow: add(uow, "0A", "CP1", not_after=NOW + DAY))
    with pytest.raises(StorageError):
        await chargers.write(lambda uow: add(uow, "0A", "CP2", not_after=NOW + DAY))


async def test_expiring_is_each_chargers_newest_certificate_within_the_window(
    chargers: Database,
) -> None:
    db = chargers
    # CP1 renewed: its old certificate expires soon but is no longer the one in use.
    await db.write(lambda uow: add(uow, "0101", "CP1", not_after=NOW + 5 * DAY))
    await db.write(lambda uow: add(uow, "0102", "CP1", not_after=NOW + 365 * DAY))
    # CP2's newest expires in 20 days; CP3's expired yesterday.
    await db.write(lambda uow: add(uow, "0201", "CP2", not_after=NOW + 20 * DAY))
    await db.write(lambda uow: add(uow, "0301", "CP3", not_after=NOW - DAY))
    found = await db.read(
        lambda uow: expiring_certificates(uow, now=NOW, within=timedelta(days=30))
    )
    assert [c.serial for c in found] == ["0301", "0201"]  # soonest first
    found = await db.read(
        lambda uow: expiring_certificates(uow, now=NOW, within=timedelta(days=10))
    )
    assert [c.serial for c in found] == ["0301"]
    found = await db.read(
        lambda uow: expiring_certificates(uow, now=NOW, within=timedelta(days=30), charger_id="CP2")
    )
    assert [c.serial for c in found] == ["0201"]


async def test_an_archived_chargers_certificate_is_not_expiring_news(chargers: Database) -> None:
    db = chargers
    await db.write(lambda uow: add(uow, "0201", "CP2", not_after=NOW + 3 * DAY))
    await db.write(lambda uow: archive_charger(uow, "CP2", now=NOW))
    assert (
        await db.read(lambda uow: expiring_certificates(uow, now=NOW, within=timedelta(days=30)))
        == []
    )


async def test_one_warning_line_per_expiring_certificate_naming_charger_serial_and_renewal(
    chargers: Database, caplog: pytest.LogCaptureFixture
) -> None:
    db = chargers
    await db.write(lambda uow: add(uow, "0101", "CP1", not_after=NOW + 12 * DAY))
    await db.write(lambda uow: add(uow, "0201", "CP2", not_after=NOW + 200 * DAY))
    with caplog.at_level(logging.WARNING, logger="csms.domain.security.issued_certificates"):
        lines = await db.read(lambda uow: expiry_warnings(uow, now=NOW))
    assert lines == [
        "certificate expiring: charger CP1 serial 0101 not after 2026-12-04 10:00Z "
        "(12 days); renew with `csms chargers certificates renew CP1`"
    ]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == lines


def test_an_expired_certificate_warns_as_expired_with_the_days_since() -> None:
    record = IssuedCertificateRecord(
        id=1,
        serial="AB",
        charger_id="CP9",
        certificate_type="ChargingStationCertificate",
        subject="CN=CP9,O=csms",
        not_before=NOW - 400 * DAY,
        not_after=NOW - 2 * DAY,
        fingerprint="00" * 32,
        pem="",
        issued_at=NOW - 400 * DAY,
    )
    line = expiry_warning(record, now=NOW)
    assert line.startswith("certificate expired: charger CP9 serial AB not after 2026-11-20")
    assert "(2 days ago)" in line
    view = certificate_view(record, now=NOW)
    assert view["expires_in_days"] == -2
    assert view["not_after"] == "2026-11-20T10:00:00Z"
