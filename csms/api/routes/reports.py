"""``/api/reports``: station owners' reports. Admin and operator tokens may ask for any
owner's, or leave the owner out for every charger's; an owner token for its own owner
only. Rows carry the customer number, never who the driver is (csms.domain.billing.reports)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from csms.api.context import AnyRoleContext
from csms.api.errors import ApiError
from csms.api.schemas import SessionReportRow
from csms.domain.billing.reports import parse_report_bound, session_report, session_report_csv
from csms.domain.people.owners import get_owner
from storage.ports import UnitOfWork

__all__ = ["router"]

router = APIRouter(prefix="/api/reports", tags=["reports"])

_OTHER_OWNER = (
    "an owner token sees its own owner's report only: leave out owner, or ask an operator"
)


@router.get(
    "/sessions",
    response_model=list[SessionReportRow],
    responses={200: {"content": {"text/csv": {}}, "description": "JSON rows, or CSV"}},
)
async def sessions_report(
    ctx: AnyRoleContext,
    owner: Annotated[
        str | None,
        Query(
            description="owner name; left out: every owner's chargers (admin and operator "
            "tokens), its own (an owner token)"
        ),
    ] = None,
    start: Annotated[
        str | None,
        Query(alias="from", description="YYYY-MM-DD (from midnight UTC) or ISO 8601"),
    ] = None,
    end: Annotated[
        str | None,
        Query(alias="to", description="YYYY-MM-DD (through that day, UTC) or ISO 8601, excluded"),
    ] = None,
    report_format: Annotated[
        Literal["json", "csv"], Query(alias="format", description="json (default) or csv")
    ] = "json",
) -> Response:
    """The sessions on an owner's chargers that started in the period, oldest first: times,
    energy, amount collected (empty until billing) and the customer number."""
    caller = ctx.caller
    since = parse_report_bound(start, end=False) if start else None
    until = parse_report_bound(end, end=True) if end else None

    def load(uow: UnitOfWork) -> list[dict[str, Any]]:
        if caller.is_owner:
            assert caller.owner_id is not None
            if owner is not None:
                named = uow.owners.by_name(owner)
                if named is None or named.id != caller.owner_id:
                    raise ApiError(403, _OTHER_OWNER)
            owner_id = caller.owner_id
        elif owner is None:
            owner_id = None  # every charger's sessions, with or without an owner
        else:
            owner_id = get_owner(uow, owner).id
        return session_report(uow, owner_id=owner_id, start=since, end=until)

    rows = await ctx.db.read(load)
    if report_format == "csv":
        return Response(session_report_csv(rows), media_type="text/csv; charset=utf-8")
    return JSONResponse(rows)
