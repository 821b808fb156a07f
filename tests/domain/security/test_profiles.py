"""What a connection must show for a charger's security profile (the SPEC table; 1.6
security whitepaper, 2.0.1 part 2 A00) and raising a pending profile (2.0.1 A05), on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from csms.domain.charging.stations import add_charger
from csms.domain.security.profiles import (
    PROFILE_RAISED_EVENT,
    profile_refusal,
    raise_security_profile,
)
from storage.database import Database

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("profile", "tls", "cn", "refused"),
    [
        (1, False, None, None),
        (1, True, None, None),
        (2, True, None, None),
        (2, False, None, "profile 2 requires TLS (wss://)"),
        (3, True, "CP1", None),
        (3, False, "CP1", "profile 3 requires TLS (wss://)"),
        (3, True, None, "profile 3 requires a client certificate"),
        (3, True, "CP2", "profile 3: the client certificate is for 'CP2', not for this charger"),
        (3, True, "cp1", "profile 3: the client certificate is for 'cp1', not for this charger"),
    ],
)
def test_each_profile_needs_what_the_spec_table_says(
    profile: int, tls: bool, cn: str | None, refused: str | None
) -> None:
    assert profile_refusal(profile, tls=tls, certificate_identity=cn, identity="CP1") == refused


async def test_raising_makes_the_pending_profile_the_required_one_and_records_it(
    db: Database,
) -> None:
    await db.write(lambda uow: add_charger(uow, charger_id="CP1", now=NOW))
    await db.write(lambda uow: uow.chargers.update("CP1", pending_security_profile=3))
    assert await db.write(lambda uow: raise_security_profile(uow, "CP1", to=3, now=NOW))
    charger = await db.read(lambda uow: uow.chargers.get("CP1"))
    assert charger is not None
    assert (charger.security_profile, charger.pending_security_profile) == (3, None)
    (event,) = await db.read(lambda uow: uow.security_events.list(kind=PROFILE_RAISED_EVENT))
    assert (event.charger_id, event.details) == ("CP1", {"from": 1, "to": 3})


async def test_raising_to_a_profile_that_is_no_longer_pending_changes_nothing(
    db: Database,
) -> None:
    """An operator changed the pending profile while the charger was connecting."""
    await db.write(lambda uow: add_charger(uow, charger_id="CP1", now=NOW))
    await db.write(lambda uow: uow.chargers.update("CP1", pending_security_profile=2))
    assert not await db.write(lambda uow: raise_security_profile(uow, "CP1", to=3, now=NOW))
    charger = await db.read(lambda uow: uow.chargers.get("CP1"))
    assert charger is not None
    assert (charger.security_profile, charger.pending_security_profile) == (1, 2)
    assert await db.read(lambda uow: uow.security_events.list()) == []
