"""The repository queries behind owner scoping, on SQLite and PostgreSQL."""

from __future__ import annotations

from csms.domain.charging.stations import record_status
from csms.domain.people.owners import add_owner
from csms.domain.security.tokens import create_token
from storage.database import Database
from tests.api.conftest import NOW, add_charger_for, add_session


async def test_sessions_and_connectors_filtered_by_owner(db: Database) -> None:
    owners = await db.write(
        lambda uow: [add_owner(uow, name=n, now=NOW).id for n in ("ACME", "Other")]
    )
    await add_charger_for(db, "CP-A", owner="ACME")
    await add_charger_for(db, "CP-B", owner="Other")
    mine = await add_session(db, "CP-A", id_tag="A")
    await add_session(db, "CP-B", id_tag="B")

    def statuses(uow: object) -> None:
        for charger in ("CP-A", "CP-B"):
            record_status(
                uow,  # type: ignore[arg-type]
                charger_id=charger,
                connector_id=1,
                status="Available",
                error_code="NoError",
                now=NOW,
            )

    await db.write(statuses)
    scoped = await db.read(lambda uow: uow.transactions.list(owner_id=owners[0]))
    assert [tx.id for tx in scoped] == [mine]
    assert len(await db.read(lambda uow: uow.transactions.list())) == 2
    connectors = await db.read(lambda uow: uow.connectors.list(owner_id=owners[0]))
    assert [c.charger_id for c in connectors] == ["CP-A"]
    assert len(await db.read(lambda uow: uow.connectors.list())) == 2


async def test_token_count_by_role(db: Database) -> None:
    await db.write(lambda uow: create_token(uow, name="ci", role="operator", now=NOW))
    assert await db.read(lambda uow: uow.api_tokens.count(role="admin")) == 0
    await db.write(lambda uow: create_token(uow, name="root", role="admin", now=NOW))
    assert await db.read(lambda uow: uow.api_tokens.count(role="admin")) == 1
    assert await db.read(lambda uow: uow.api_tokens.count()) == 2
