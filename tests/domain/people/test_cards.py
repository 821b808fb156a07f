"""RFID cards: add, block, unblock, expiry, customer link (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.domain.charging.authorization import authorize_id_tag
from csms.domain.errors import AlreadyExists, InvalidRequest, NotFound
from csms.domain.model import AuthorizationStatus
from csms.domain.people.cards import (
    CardState,
    add_card,
    block_card,
    card_state,
    get_card,
    list_cards,
    parse_expiry,
    unblock_card,
    validate_uid,
)
from csms.domain.people.customers import add_customer
from storage.database import Database

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def test_card_added_for_a_customer_with_expiry(db: Database) -> None:
    expiry = NOW + timedelta(days=365)

    def run(uow: object) -> tuple[int, int | None]:
        customer = add_customer(uow, name="Ann", email="ann@example.com", now=NOW)  # type: ignore[arg-type]
        card = add_card(
            uow,  # type: ignore[arg-type]
            uid="04A1B2C3",
            customer_number=customer.customer_number,
            expires_at=expiry,
            now=NOW,
        )
        return customer.id, card.customer_id

    customer_id, card_customer = await db.write(run)
    assert card_customer == customer_id
    stored = await db.read(lambda uow: get_card(uow, "04A1B2C3"))
    assert (stored.status, stored.expires_at) == ("active", expiry)
    info = await db.read(lambda uow: authorize_id_tag(uow, "04A1B2C3", now=NOW))
    assert info.status is AuthorizationStatus.ACCEPTED


async def test_blocked_card_is_refused_until_unblocked(db: Database) -> None:
    await db.write(lambda uow: add_card(uow, uid="C1", now=NOW))
    await db.write(lambda uow: block_card(uow, "C1"))
    info = await db.read(lambda uow: authorize_id_tag(uow, "C1", now=NOW))
    assert info.status is AuthorizationStatus.BLOCKED
    # Blocking twice is harmless.
    again = await db.write(lambda uow: block_card(uow, "C1"))
    assert again.status == "blocked"
    await db.write(lambda uow: unblock_card(uow, "C1"))
    info = await db.read(lambda uow: authorize_id_tag(uow, "C1", now=NOW))
    assert info.status is AuthorizationStatus.ACCEPTED


async def test_same_uid_twice_is_refused(db: Database) -> None:
    await db.write(lambda uow: add_card(uow, uid="C1", now=NOW))
    with pytest.raises(AlreadyExists, match="csms cards list"):
        await db.write(lambda uow: add_card(uow, uid="C1", now=NOW))


async def test_card_for_unknown_customer_is_refused_and_not_stored(db: Database) -> None:
    with pytest.raises(NotFound, match="customer 12345678"):
        await db.write(lambda uow: add_card(uow, uid="C1", customer_number=12345678, now=NOW))
    assert await db.read(lambda uow: uow.id_tags.by_uid("C1")) is None


async def test_expiry_in_the_past_is_refused(db: Database) -> None:
    with pytest.raises(InvalidRequest, match="in the past"):
        await db.write(
            lambda uow: add_card(uow, uid="C1", expires_at=NOW - timedelta(seconds=1), now=NOW)
        )


async def test_block_unknown_card_says_where_to_look(db: Database) -> None:
    with pytest.raises(NotFound, match="csms cards list"):
        await db.write(lambda uow: block_card(uow, "NOPE"))


async def test_list_by_customer(db: Database) -> None:
    def run(uow: object) -> int:
        ann = add_customer(uow, name="Ann", email="ann@example.com", now=NOW)  # type: ignore[arg-type]
        add_card(uow, uid="ANN-2", customer_number=ann.customer_number, now=NOW)  # type: ignore[arg-type]
        add_card(uow, uid="ANN-1", customer_number=ann.customer_number, now=NOW)  # type: ignore[arg-type]
        add_card(uow, uid="LOOSE", now=NOW)  # type: ignore[arg-type]
        return ann.customer_number

    number = await db.write(run)
    assert [c.uid for c in await db.read(lambda uow: list_cards(uow, customer_number=number))] == [
        "ANN-1",
        "ANN-2",
    ]
    assert len(await db.read(list_cards)) == 3


async def test_state_derives_expired_from_the_expiry(db: Database) -> None:
    card = await db.write(
        lambda uow: add_card(uow, uid="C1", expires_at=NOW + timedelta(hours=1), now=NOW)
    )
    assert card_state(card, now=NOW) is CardState.ACTIVE
    assert card_state(card, now=NOW + timedelta(hours=2)) is CardState.EXPIRED
    blocked = await db.write(lambda uow: block_card(uow, "C1"))
    assert card_state(blocked, now=NOW + timedelta(hours=2)) is CardState.BLOCKED


@pytest.mark.parametrize(
    ("uid", "problem"),
    [
        ("", "empty"),
        ("X" * 37, "longer than 36"),
        ("AB CD", "spaces"),
        ("AB\x00", "control"),
        ("A/B", "'/'"),
    ],
)
def test_invalid_uids_say_why(uid: str, problem: str) -> None:
    reason = validate_uid(uid)
    assert reason is not None and problem in reason


def test_expiry_date_means_through_the_end_of_that_day_utc() -> None:
    assert parse_expiry("2030-12-31") == datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert parse_expiry("2030-12-31T08:00:00+02:00") == datetime(2030, 12, 31, 6, tzinfo=UTC)
    assert parse_expiry("2030-12-31T08:00:00Z") == datetime(2030, 12, 31, 8, tzinfo=UTC)
    assert parse_expiry("2030-12-31T08:00:00") == datetime(2030, 12, 31, 8, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="YYYY-MM-DD"):
        parse_expiry("next year")


async def test_card_group_is_answered_as_parent_id_tag(db: Database) -> None:
    """1.6 §7.14 IdTagInfo.parentIdTag / 2.0.1 groupIdToken: the group a card belongs to."""
    await db.write(lambda uow: add_card(uow, uid="04FLEET1", group="FLEET-7", now=NOW))
    info = await db.read(lambda uow: authorize_id_tag(uow, "04FLEET1", now=NOW))
    assert (info.status, info.parent_id_tag) == (AuthorizationStatus.ACCEPTED, "FLEET-7")


@pytest.mark.parametrize("group", ["", "has space", "G" * 21])
async def test_unusable_group_id_is_refused(db: Database, group: str) -> None:
    with pytest.raises(InvalidRequest, match="group id"):
        await db.write(lambda uow: add_card(uow, uid="04FLEET2", group=group, now=NOW))
