"""The 1.6 security extension messages a charge point sends besides SecurityEventNotification
(OCPP 1.6 Security Whitepaper edition 3): answered, not NotImplemented, and kept, over a
real WebSocket."""

from __future__ import annotations

import pytest

from storage.database import Database
from tests.gateway.conftest import RawCharger

T0 = "2026-11-22T10:00:00Z"


@pytest.mark.parametrize("status", ["Uploading", "Uploaded", "UploadFailure", "BadMessage"])
async def test_log_status_notification_is_answered_kept_and_sets_the_log_status(
    charger: RawCharger, sqlite_db: Database, status: str
) -> None:
    # Whitepaper N01 (Retrieve Log Information): the upload status of a GetLog request.
    await charger.boot()
    answer = await charger.call("LogStatusNotification", {"status": status, "requestId": 7})
    assert answer[0] == 3 and answer[2] == {}
    events = await sqlite_db.read(
        lambda uow: uow.charger_events.list("CP1", kind="LogStatusNotification")
    )
    assert [e.payload for e in events] == [{"status": status, "requestId": 7}]
    stored = await sqlite_db.read(lambda uow: uow.chargers.get("CP1"))
    assert stored is not None and stored.diagnostics_status == status


@pytest.mark.parametrize(
    "status", ["Downloading", "SignatureVerified", "InvalidSignature", "Installed"]
)
async def test_signed_firmware_status_notification_is_answered_kept_and_sets_firmware_status(
    charger: RawCharger, sqlite_db: Database, status: str
) -> None:
    # Whitepaper L01 (Secure Firmware Update): the progress of a SignedUpdateFirmware.
    await charger.boot()
    answer = await charger.call(
        "SignedFirmwareStatusNotification", {"status": status, "requestId": 3}
    )
    assert answer[0] == 3 and answer[2] == {}
    events = await sqlite_db.read(
        lambda uow: uow.charger_events.list("CP1", kind="SignedFirmwareStatusNotification")
    )
    assert [e.payload for e in events] == [{"status": status, "requestId": 3}]
    stored = await sqlite_db.read(lambda uow: uow.chargers.get("CP1"))
    assert stored is not None and stored.firmware_status == status


async def test_a_signed_firmware_status_outside_the_schema_is_a_schema_error_not_stored(
    charger: RawCharger, sqlite_db: Database
) -> None:
    await charger.boot()
    answer = await charger.call("SignedFirmwareStatusNotification", {"status": "Bogus"})
    assert answer[0] == 4
    stored = await sqlite_db.read(lambda uow: uow.chargers.get("CP1"))
    assert stored is not None and stored.firmware_status is None
