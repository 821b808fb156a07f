"""A password issued to a charger accepted from Pending, on both databases (issue 18 item 10)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from csms.domain.charging.stations import (
    PASSWORD_ACTIVE,
    PASSWORD_PENDING,
    confirm_password,
    issue_password,
    password_state,
    register_unknown_charger,
)
from csms.domain.errors import InvalidRequest
from csms.domain.model import RegistrationStatus
from csms.security import verify_password
from storage.database import Database
from storage.sql import tables as t

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


async def test_an_issued_password_is_kept_hashed_and_sealed_until_the_charger_has_it(
    db: Database,
) -> None:
    def issue(uow: object) -> str | None:
        register_unknown_charger(
            uow,  # type: ignore[arg-type]
            charger_id="CP-P",
            status=RegistrationStatus.PENDING,
            now=NOW,
        )
        return issue_password(uow, "CP-P", now=NOW)  # type: ignore[arg-type]

    password = await db.write(issue)
    assert password is not None and len(password) == 20
    charger = await db.read(lambda uow: uow.chargers.get("CP-P"))
    assert password_state(charger) == PASSWORD_PENDING and charger.password_hash is None
    assert verify_password(password, charger.pending_password_hash)
    raw = await db.read(
        lambda uow: uow.conn.execute(select(t.chargers.c.password_delivery_enc)).scalar()
    )
    assert raw is not None and password not in raw
    assert await db.read(lambda uow: uow.chargers.password_delivery("CP-P")) == password
    # Accepting again before the charger has it sends the same one; no new one is issued.
    assert await db.write(lambda uow: issue_password(uow, "CP-P", now=NOW)) is None

    assert await db.write(lambda uow: confirm_password(uow, "CP-P", now=NOW, detail="took it"))
    charger = await db.read(lambda uow: uow.chargers.get("CP-P"))
    assert password_state(charger) == PASSWORD_ACTIVE
    assert verify_password(password, charger.password_hash)
    assert await db.read(lambda uow: uow.chargers.password_delivery("CP-P")) is None
    with pytest.raises(InvalidRequest, match="already has a password"):
        await db.write(lambda uow: issue_password(uow, "CP-P", now=NOW, password="x" * 16))
