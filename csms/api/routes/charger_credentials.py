"""``/api/chargers/{id}/password`` and ``/security-profile``: rotating a charger's Basic
auth password and changing the security profile it must connect with (SPEC "Security
profiles and certificates")."""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from csms.adapters.password_delivery import deliver_password
from csms.adapters.security_profile import raise_security_profile
from csms.api.context import ApiContext, OperatorContext
from csms.api.errors import ApiError
from csms.api.routes.chargers import load_charger
from csms.api.schemas import ChargerOut, PasswordDeliveryOut
from csms.domain.charging.remote_commands import UnsupportedCommand
from csms.domain.charging.stations import rotate_password, security_profile_change
from csms.domain.views import charger_view
from csms.routing import ChargerNotConnected, CommandError, CommandTimeout

__all__ = ["router"]

router = APIRouter(prefix="/api/chargers", tags=["chargers"])


class PasswordRotate(BaseModel):
    model_config = {"extra": "forbid"}

    password: str | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        description="the new password (default: generated); 16 to 20 bytes for OCPP 1.6 "
        "(AuthorizationKey), 16 to 40 characters for 2.0.1 (BasicAuthPassword)",
    )


class PasswordRotated(ChargerOut):
    password: str = Field(description="the new password; shown only this once")
    password_delivery: PasswordDeliveryOut


class SecurityProfileSet(BaseModel):
    model_config = {"extra": "forbid"}

    profile: Literal[1, 2, 3]
    allow_downgrade: bool = Field(
        default=False, description="lower the required profile (weaker protection) at once"
    )
    force: bool = Field(
        default=False,
        description="raise to 3 although csms has issued the charger no certificate",
    )
    url: str | None = Field(
        default=None,
        max_length=512,
        description="2.0.1: the wss:// URL the station is told (default CSMS_OCPP_PUBLIC_URL)",
    )
    slot: int | None = Field(
        default=None, ge=0, description="2.0.1: the configuration slot for the new profile"
    )


class ProfileStepOut(BaseModel):
    action: str | None = None
    status: str | None = None
    reason: str | None = None


class SecurityProfileChanged(ChargerOut):
    change: Literal["same", "lowered", "pending", "refused"] = Field(
        description="same: nothing to do; lowered: required from now on; pending: the "
        "charger accepted the higher profile, required once it connects with it; refused: "
        "the charger said no, nothing changed"
    )
    detail: str
    steps: list[ProfileStepOut] = Field(
        default_factory=list, description="the commands sent and the charger's answers"
    )


async def _charger(ctx: ApiContext, charger_id: str) -> dict[str, Any]:
    charger, connectors, owner = await load_charger(ctx, charger_id)
    connected = ctx.router.is_connected(charger_id)
    return charger_view(
        charger,
        connectors,
        connected=connected,
        ocpp_version=ctx.router.ocpp_version(charger_id) if connected else None,
        owner=owner,
    )


@router.post("/{charger_id}/password", response_model=PasswordRotated)
async def rotate(
    charger_id: str, ctx: OperatorContext, body: PasswordRotate | None = None
) -> dict[str, Any]:
    """Give the charger a new Basic auth password (``password`` in the answer, shown only
    this once), sent now if it is connected (1.6 ChangeConfiguration AuthorizationKey,
    2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword, A01), else at its next
    connection. Its current password stays valid until it has connected once with the
    new one; a charger that refuses the new one keeps its current one. Refused for
    profile 3 chargers (client certificates, no password)."""
    await load_charger(ctx, charger_id)
    chosen = body.password if body is not None else None
    now = ctx.now()
    password = await ctx.db.write(
        lambda uow: rotate_password(uow, charger_id, now=now, password=chosen)
    )
    delivery = await deliver_password(ctx.db, ctx.router, charger_id)
    answer = await _charger(ctx, charger_id)
    answer["password"] = password
    answer["password_delivery"] = {
        "status": delivery.status,
        "detail": delivery.detail,
        "answer": delivery.answer,
    }
    return answer


@router.post("/{charger_id}/security-profile", response_model=SecurityProfileChanged)
async def set_profile(
    charger_id: str, body: SecurityProfileSet, ctx: OperatorContext
) -> dict[str, Any]:
    """Set the security profile the charger must connect with. Lowering it is refused
    without ``allow_downgrade`` and then done at once. Raising it tells the connected
    charger (1.6 ChangeConfiguration SecurityProfile; 2.0.1 A05: SetNetworkProfile,
    NetworkConfigurationPriority, Reset OnIdle); once it accepted, the profile is
    pending (``pending_security_profile``) and required from its first connection with
    it. Raising to 3 needs a certificate csms issued to the charger (or ``force``)."""
    await load_charger(ctx, charger_id)
    now = ctx.now()
    decision = await ctx.db.write(
        lambda uow: security_profile_change(
            uow,
            charger_id,
            profile=body.profile,
            now=now,
            allow_downgrade=body.allow_downgrade,
            force=body.force,
        )
    )
    if decision == "same":
        answer = await _charger(ctx, charger_id)
        answer.update(
            change="same",
            detail=f"charger {charger_id} already requires security profile {body.profile}",
            steps=[],
        )
        return answer
    if decision == "lowered":
        answer = await _charger(ctx, charger_id)
        detail = f"charger {charger_id} now requires security profile {body.profile}"
        if answer["password_state"] == "none" and body.profile < 3:
            detail += (
                "; it has no password, so any connection is let in: give it one with "
                f"`csms chargers rotate-password {charger_id}`"
            )
        answer.update(change="lowered", detail=detail, steps=[])
        return answer
    url = body.url if body.url is not None else ctx.settings.ocpp.public_url
    try:
        outcome = await raise_security_profile(
            ctx.db,
            ctx.router,
            charger_id,
            profile=body.profile,
            csms_url=url,
            message_timeout=max(1, math.ceil(ctx.settings.ocpp.call_timeout)),
            slot=body.slot,
        )
    except UnsupportedCommand as exc:
        raise ApiError(501, str(exc)) from None
    except ChargerNotConnected as exc:
        raise ApiError(503, str(exc)) from None
    except CommandTimeout as exc:
        raise ApiError(504, f"{exc}; nothing was changed") from None
    except CommandError as exc:
        raise ApiError(502, f"{exc}; nothing was changed") from None
    answer = await _charger(ctx, charger_id)
    answer.update(change=outcome.status, detail=outcome.detail, steps=outcome.steps)
    return answer
