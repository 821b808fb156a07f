"""Authorization of id tokens (RFID cards now; touchscreen PIN and app tokens build on it)."""

from __future__ import annotations

from datetime import datetime

from csms.domain.model import AuthorizationStatus, IdTokenInfo
from storage.ports import UnitOfWork

__all__ = ["authorize_id_tag"]


def authorize_id_tag(
    uow: UnitOfWork,
    id_tag: str,
    *,
    now: datetime,
    exclude_transaction_pk: int | None = None,
) -> IdTokenInfo:
    """The idTagInfo for ``id_tag`` (1.6 §4.1 Authorize, §7.15 AuthorizationStatus).

    Unknown → Invalid; blocked card → Blocked; past its expiry → Expired; a card already in
    a running transaction → ConcurrentTx (the transaction ``exclude_transaction_pk`` does not
    count, so a replayed StartTransaction is not refused by itself).
    """
    tag = uow.id_tags.by_uid(id_tag)
    if tag is None:
        return IdTokenInfo(AuthorizationStatus.INVALID)
    expiry = tag.expires_at
    parent = tag.parent_id_tag
    if tag.status == "blocked":
        return IdTokenInfo(AuthorizationStatus.BLOCKED, expiry, parent)
    if expiry is not None and expiry <= now:
        return IdTokenInfo(AuthorizationStatus.EXPIRED, expiry, parent)
    running = [
        tx for tx in uow.transactions.active_for_id_tag(id_tag) if tx.id != exclude_transaction_pk
    ]
    if running:
        return IdTokenInfo(AuthorizationStatus.CONCURRENT_TX, expiry, parent)
    return IdTokenInfo(AuthorizationStatus.ACCEPTED, expiry, parent)
