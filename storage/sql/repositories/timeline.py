"""Newest-first pages of one charger's rows of a table (its events, its connections), for
the charger's event list (``csms chargers events``), which merges several tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, Table, and_, or_, select

__all__ = ["Before", "newest_for_charger"]

#: A page bound: the rows after (moment, row id) in newest-first order; with no row id,
#: the rows of that moment or older.
Before = tuple[datetime, int | None]


def newest_for_charger(
    table: Table,
    at: ColumnElement[datetime],
    *,
    charger_id: str,
    since: datetime | None,
    before: Before | None,
    limit: int,
) -> Select[tuple[object, ...]]:
    """``table``'s rows of ``charger_id`` newest first (by ``at``, then id), from
    ``since`` on (inclusive) and after ``before`` (:data:`Before`); ``limit`` of them."""
    pk = table.c.id
    query = (
        select(table)
        .where(table.c.charger_id == charger_id)
        .order_by(at.desc(), pk.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(at >= since)
    if before is not None:
        moment, row_id = before
        if row_id is None:
            query = query.where(at <= moment)
        else:
            query = query.where(or_(at < moment, and_(at == moment, pk < row_id)))
    return query
