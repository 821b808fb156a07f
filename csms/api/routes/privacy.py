"""Personal data housekeeping: data keys (admin only) and retention (operators).

- ``GET /api/keys``: the data keys, newest first, and how many stored values each protects.
- ``POST /api/keys/rotate``: a new key, everything re-encrypted under it.
- ``POST /api/keys/{key_id}/retire``: drop a key nothing uses any more.
- ``POST /api/retention/run``: what the server also runs daily (csms.domain.people.retention).

Key ids are no secret; key material is never in an answer, except the one freshly
generated key a refused rotation offers when the keys come from ``CSMS_DATA_KEYS``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from csms.api.context import AdminContext, ApiContext, OperatorContext
from csms.api.errors import ApiError
from csms.api.schemas import DataKeyOut, KeyRetiredOut, KeyRotationOut, RetentionOut
from csms.domain.people.retention import run_retention_and_vacuum
from csms.domain.security.key_rotation import (
    KeyChangeRefused,
    key_usage,
    retire_data_key,
    rotate_data_keys,
)

__all__ = ["router"]

router = APIRouter(tags=["personal data"])


def _keys_from_environment(ctx: ApiContext) -> bool:
    return ctx.settings.privacy.data_keys is not None


@router.get("/api/keys", response_model=list[DataKeyOut])
async def list_keys(ctx: AdminContext) -> list[dict[str, Any]]:
    """The data keys, newest first; ``values`` counts the stored values (encrypted fields
    and keyed hashes) under each. A key with 0 can be retired."""
    usage = await key_usage(ctx.db, keys_from_environment=_keys_from_environment(ctx))
    return [
        {"key_id": k.key_id, "newest": k.newest, "values": k.values, "source": usage.key_source}
        for k in usage.keys
    ]


@router.post("/api/keys/rotate", response_model=KeyRotationOut)
async def rotate_keys(ctx: AdminContext) -> dict[str, Any]:
    """Encrypt everything under a new data key (written first in ``data.keys``). With
    ``CSMS_DATA_KEYS``: re-encrypts under its newest key, or answers 409 with a new key to
    put first in the variable when the data uses that key already."""
    try:
        report = await rotate_data_keys(
            ctx.db,
            home=ctx.settings.home,
            keys_from_environment=_keys_from_environment(ctx),
            now=ctx.now(),
        )
    except KeyChangeRefused as exc:
        raise ApiError(409, str(exc)) from None
    return {
        "key_source": report.key_source,
        "new_key_id": report.new_key_id,
        "newest_key_id": report.newest_key_id,
        "key_ids": report.key_ids,
        "reencrypted": report.reencrypted,
    }


@router.post("/api/keys/{key_id}/retire", response_model=KeyRetiredOut)
async def retire_key(key_id: str, ctx: AdminContext) -> dict[str, Any]:
    """Remove a data key that no stored value uses any more (409 while one does: rotate
    first; also for the newest key, and with ``CSMS_DATA_KEYS``, which csms cannot edit)."""
    try:
        left = await retire_data_key(
            ctx.db,
            key_id,
            home=ctx.settings.home,
            keys_from_environment=_keys_from_environment(ctx),
            now=ctx.now(),
        )
    except KeyChangeRefused as exc:
        raise ApiError(409, str(exc)) from None
    return {"key_id": key_id, "retired": True, "key_ids": left}


@router.post("/api/retention/run", response_model=RetentionOut)
async def run_retention_now(ctx: OperatorContext) -> dict[str, Any]:
    """Apply the retention rules now (the server also does this daily): connection
    addresses older than 21 days, expired logins, sessions past the retention period,
    events past CSMS_EVENT_RETENTION_DAYS; then VACUUM on PostgreSQL."""
    privacy = ctx.settings.privacy
    report = await run_retention_and_vacuum(
        ctx.db,
        now=ctx.now(),
        retention_years=privacy.retention_years,
        event_retention_days=privacy.event_retention_days,
    )
    return report.as_dict()
