"""``/api/certificates``: the certificates csms's CA issued to chargers (SignCertificate →
CertificateSigned), for operators: all of them newest first, or the ones in use that
expire soon (csms.domain.security.issued_certificates)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from csms.api.context import OperatorContext
from csms.domain.security.issued_certificates import (
    certificate_views,
    expiring_certificates,
    list_certificates,
)
from storage.ports import UnitOfWork
from storage.records import IssuedCertificateRecord

__all__ = ["IssuedCertificateOut", "router"]

router = APIRouter(prefix="/api/certificates", tags=["certificates"])

#: The longest ``expiring`` window asked for (a CA signs for years, not centuries).
MAX_EXPIRING_DAYS = 36500


class IssuedCertificateOut(BaseModel):
    serial: str
    charger_id: str
    certificate_type: str
    subject: str
    not_before: str
    not_after: str
    fingerprint: str
    issued_at: str
    #: Whole days until not_after (negative: expired that many days ago).
    expires_in_days: int


@router.get("", response_model=list[IssuedCertificateOut])
async def list_issued(
    ctx: OperatorContext,
    charger: Annotated[str | None, Query(description="only this charger's certificates")] = None,
    expiring: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_EXPIRING_DAYS,
            description="only the certificates in use (each charger's newest) that expire "
            "within this many days, expired ones included, soonest first",
        ),
    ] = None,
) -> list[dict[str, Any]]:
    """Certificates issued by csms's CA, newest first (``expiring``: soonest first)."""
    now = ctx.now()

    def load(uow: UnitOfWork) -> list[IssuedCertificateRecord]:
        if expiring is None:
            return list_certificates(uow, charger_id=charger)
        return expiring_certificates(
            uow, now=now, within=timedelta(days=expiring), charger_id=charger
        )

    return certificate_views(await ctx.db.read(load), now=now)
