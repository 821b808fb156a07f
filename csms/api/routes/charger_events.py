"""``/api/chargers/{id}/events``: a charger's security events (reported by it and recorded
by csms) and its connections, newest first (:mod:`csms.domain.security.charger_timeline`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from csms.api.context import OperatorContext
from csms.api.routes.chargers import load_charger
from csms.domain.security.charger_timeline import (
    MAX_LIMIT,
    Cursor,
    TimelineEntry,
    charger_timeline,
    parse_cursor,
    parse_since,
)
from storage.ports import UnitOfWork

__all__ = ["NEXT_PAGE_HEADER", "ChargerEventOut", "router"]

router = APIRouter(prefix="/api/chargers", tags=["chargers"])

#: Response header naming the ``before`` cursor of the next page, when more events match.
NEXT_PAGE_HEADER = "X-Next-Before"


class ChargerEventOut(BaseModel):
    at: str = Field(description="when csms received or recorded it (ISO 8601, UTC)")
    kind: Literal["security", "connection"]
    type: str = Field(description="the OCPP security event type, or csms's event kind")
    detail: str | None = Field(description="techInfo, or a short text; never a secret")
    source: Literal["charger", "csms"] = Field(description="who reported it")
    reported_at: str | None = Field(
        default=None, description="the charger's own timestamp of an event it reported"
    )


@router.get("/{charger_id}/events", response_model=list[ChargerEventOut])
async def charger_events(
    charger_id: str,
    ctx: OperatorContext,
    response: Response,
    security: Annotated[bool, Query(description="only security events")] = False,
    since: Annotated[
        str | None, Query(description="from this moment: YYYY-MM-DD (midnight UTC) or ISO 8601")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    before: Annotated[
        str | None,
        Query(
            max_length=60,
            description=f"a cursor: the events listed after it (the {NEXT_PAGE_HEADER} header "
            "of the previous page)",
        ),
    ] = None,
) -> list[dict[str, Any]]:
    """The charger's security events (SecurityEventNotification, and what csms recorded:
    refused or throttled connections, rejected CSRs, ...) and connections, newest first,
    ``limit`` of them. When more match, the ``X-Next-Before`` header gives the ``before``
    cursor of the next page (and ``Link`` its URL, ``rel="next"``)."""
    await load_charger(ctx, charger_id)
    moment = parse_since(since) if since else None
    cursor = parse_cursor(before) if before else None

    def load(uow: UnitOfWork) -> tuple[list[TimelineEntry], Cursor | None]:
        return charger_timeline(
            uow, charger_id, security_only=security, since=moment, before=cursor, limit=limit
        )

    entries, next_page = await ctx.db.read(load)
    if next_page is not None:
        response.headers[NEXT_PAGE_HEADER] = str(next_page)
        params = {
            k: v
            for k, v in {
                "security": "true" if security else None,
                "since": since,
                "limit": limit,
                "before": str(next_page),
            }.items()
            if v is not None
        }
        path = f"/api/chargers/{quote(charger_id, safe='')}/events"
        response.headers["Link"] = f'<{path}?{urlencode(params)}>; rel="next"'
    return [entry.view() for entry in entries]
