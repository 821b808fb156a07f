"""The server warns at start (then daily) about each certificate in use that expires
within 30 days: one WARNING line an operator can grep for, naming the renewal command."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from csms.config import Settings
from csms.domain.charging.stations import add_charger
from csms.server import running_server
from storage.database import Database
from storage.migrate import upgrade
from tests.api.test_api_certificates import issue
from tests.waiting import eventually


async def test_a_certificate_expiring_within_30_days_is_warned_about_at_start(
    settings_factory: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_factory()
    settings.home.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade, settings.database.url)
    db = Database(settings.database.url)
    now = datetime.now(UTC)
    try:
        for charger_id in ("CP1", "CP2"):
            await db.write(lambda uow, cid=charger_id: add_charger(uow, charger_id=cid, now=now))
        await issue(db, "0A01", "CP1", days_left=12.5)
        await issue(db, "0B01", "CP2", days_left=5.5)  # replaced by the next one
        await issue(db, "0B02", "CP2", days_left=300.5)
    finally:
        await db.close()
    caplog.set_level(logging.WARNING)
    async with running_server(settings):
        await eventually(lambda: "certificate expiring:" in caplog.text)
    warnings = [r.getMessage() for r in caplog.records if "certificate expir" in r.getMessage()]
    not_after = f"{now + timedelta(days=12.5):%Y-%m-%d}"
    assert len(warnings) == 1
    assert warnings[0].startswith(
        f"certificate expiring: charger CP1 serial 0A01 not after {not_after}"
    )
    assert warnings[0].endswith("(12 days); renew with `csms chargers certificates renew CP1`")
    assert all(r.levelno == logging.WARNING for r in caplog.records if "0A01" in r.getMessage())
