"""Data key rotation: a new key for personal data, everything re-encrypted under it, old
keys retired once nothing uses them (SPEC "Configuration": ``CSMS_DATA_KEYS``, newest first).

``rotate_data_keys``
    With the keys in ``$CSMS_HOME/data.keys``: a new key is generated, written first in the
    file (before anything is encrypted under it, so a crash cannot leave data under a key
    that is nowhere on disk), put to use, and every encrypted value and keyed hash is
    re-encrypted under it in one unit of work. With ``CSMS_DATA_KEYS`` csms cannot add the
    key itself: when the variable's newest key is not yet used by all data, rotation just
    re-encrypts; otherwise it is refused with a freshly generated key to put first in the
    variable (the only time key material is ever shown).

``retire_data_key``
    Removes a key from ``data.keys`` once no stored value uses it any more. Refused for the
    newest key, the only key, and a key that still protects data (rotate first).

``key_usage``
    How many stored values (encrypted columns and keyed hashes) each key protects, counted
    by the ``KEYID.`` prefix every token and hash carries.

Key operations on one database run one at a time (a lock per ``DataKeyHolder``: the
``Database``). Other csms processes on the same database (a second node) learn of a new key
only when restarted: rotate on one node, then restart the others before retiring the old key.
The key ids and counts are no secret; key material is never returned, raised or logged
(except the one freshly generated key a refused ``CSMS_DATA_KEYS`` rotation offers).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from csms.domain.errors import DomainError, NotFound
from csms.domain.units_of_work import DataKeyHolder
from storage.crypto import KEY_FILE_NAME, DataKey, KeyRing
from storage.crypto import save_key_ring as _save_key_ring
from storage.ports import UnitOfWork

__all__ = [
    "KeyChangeRefused",
    "KeyUsage",
    "KeyUsageReport",
    "RotationReport",
    "count_values_by_key",
    "key_usage",
    "reencrypt_all",
    "retire_data_key",
    "rotate_data_keys",
]


class KeyChangeRefused(DomainError):
    """A key operation that cannot be done now; the message says what to do instead."""


@dataclass(frozen=True, slots=True)
class KeyUsage:
    key_id: str
    newest: bool
    values: int


@dataclass(frozen=True, slots=True)
class KeyUsageReport:
    """The keys in use, newest first, with what each protects; ``unknown_key_values``
    counts values under a key that is not in the ring (they cannot be read)."""

    key_source: str
    keys: list[KeyUsage]
    unknown_key_values: int = 0

    def values_under(self, key_id: str) -> int:
        return next((k.values for k in self.keys if k.key_id == key_id), 0)

    @property
    def stale_values(self) -> int:
        """Values under an older key of the ring (what a rotation re-encrypts)."""
        return sum(k.values for k in self.keys if not k.newest)


@dataclass(frozen=True, slots=True)
class RotationReport:
    """``new_key_id`` is None when the newest key was there already (CSMS_DATA_KEYS)."""

    key_source: str
    new_key_id: str | None
    newest_key_id: str
    key_ids: list[str]
    reencrypted: dict[str, int] = field(default_factory=dict)


def _source(keys_from_environment: bool) -> str:
    return "CSMS_DATA_KEYS" if keys_from_environment else KEY_FILE_NAME


def count_values_by_key(uow: UnitOfWork, key_ids: Iterable[str]) -> tuple[Counter[str], int]:
    """(values per key id, values under none of ``key_ids``): see ``DataKeyRepository``."""
    return uow.data_keys.usage(key_ids)


def reencrypt_all(uow: UnitOfWork) -> dict[str, int]:
    """Re-encrypt (and re-hash) every value not under the unit of work's newest key; the
    rows changed per table."""
    return {
        "customers": uow.customers.rotate(),
        "id_tags": uow.id_tags.rotate(),
        "transactions": uow.transactions.rotate(),
        "transaction_events": uow.transaction_events.rotate(),
        "meter_values": uow.meter_samples.rotate(),
        "unreconciled_messages": uow.unreconciled.rotate(),
        "charger_events": uow.charger_events.rotate(),
        "payment_methods": uow.payment_methods.rotate(),
        "chargers": uow.chargers.rotate(),
    }


_LOCKS: weakref.WeakKeyDictionary[DataKeyHolder, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock(units: DataKeyHolder) -> asyncio.Lock:
    lock = _LOCKS.get(units)
    if lock is None:
        lock = _LOCKS[units] = asyncio.Lock()
    return lock


async def _usage(
    units: DataKeyHolder, ring: KeyRing, *, keys_from_environment: bool
) -> KeyUsageReport:
    ids = ring.key_ids
    counts, unknown = await units.read(lambda uow: count_values_by_key(uow, ids))
    return KeyUsageReport(
        key_source=_source(keys_from_environment),
        keys=[KeyUsage(key_id, i == 0, counts[key_id]) for i, key_id in enumerate(ids)],
        unknown_key_values=unknown,
    )


async def key_usage(units: DataKeyHolder, *, keys_from_environment: bool) -> KeyUsageReport:
    """The keys in use, newest first, and how many stored values each protects."""
    return await _usage(units, units.vault.ring, keys_from_environment=keys_from_environment)


def _new_key(ring: KeyRing) -> DataKey:
    while True:  # a generated id can repeat one of today's (4 random hex digits)
        key = KeyRing.generate()
        if ring.get(key.key_id) is None:
            return key


def _environment_refusal(ring: KeyRing) -> KeyChangeRefused:
    fresh = KeyRing([_new_key(ring)]).format()
    kept = ",".join(f"{key_id}:<its key>" for key_id in ring.key_ids)
    return KeyChangeRefused(
        "the data keys come from CSMS_DATA_KEYS, which csms cannot change, and every "
        f"stored value is already under its newest key {ring.newest.key_id!r}. Put a new key "
        f"first in CSMS_DATA_KEYS, for example this freshly generated one: {fresh} (so that "
        f"it reads {fresh},{kept}, keeping the keys you have), restart csms, then run "
        "`csms keys rotate` again to re-encrypt the data under it"
    )


async def rotate_data_keys(
    units: DataKeyHolder, *, home: Path, keys_from_environment: bool, now: datetime
) -> RotationReport:
    """Rotate to a new data key and re-encrypt everything (see the module doc)."""
    async with _lock(units):
        ring = units.vault.ring
        new_key_id: str | None = None
        usage = await _usage(units, ring, keys_from_environment=keys_from_environment)
        if usage.unknown_key_values:
            raise KeyChangeRefused(
                f"{usage.unknown_key_values} stored values are encrypted under a key that is "
                f"not in {_source(keys_from_environment)}, so they cannot be re-encrypted: "
                "add the key they were encrypted under back and try again"
            )
        if keys_from_environment:
            if usage.stale_values == 0:
                raise _environment_refusal(ring)
        else:
            key = _new_key(ring)
            ring = ring.with_new_key(key)
            # On disk before anything is encrypted under it.
            await asyncio.to_thread(_save_key_ring, ring, home)
            units.set_keys(ring)
            new_key_id = key.key_id
        key_ids = ring.key_ids

        def reencrypt(uow: UnitOfWork) -> dict[str, int]:
            changed = reencrypt_all(uow)
            uow.security_events.add(
                kind="DataKeyRotated",
                details={
                    "new_key_id": new_key_id,
                    "newest_key_id": key_ids[0],
                    "key_source": _source(keys_from_environment),
                    "reencrypted": changed,
                },
                created_at=now,
            )
            return changed

        changed = await units.write(reencrypt)
        return RotationReport(
            key_source=_source(keys_from_environment),
            new_key_id=new_key_id,
            newest_key_id=key_ids[0],
            key_ids=key_ids,
            reencrypted=changed,
        )


async def retire_data_key(
    units: DataKeyHolder, key_id: str, *, home: Path, keys_from_environment: bool, now: datetime
) -> list[str]:
    """Remove ``key_id`` from ``data.keys`` once no stored value uses it; the key ids left."""
    async with _lock(units):
        ring = units.vault.ring
        if ring.get(key_id) is None:
            raise NotFound(f"data key {key_id!r} is not in use: see `csms keys list`")
        if len(ring) == 1:
            raise KeyChangeRefused(
                f"data key {key_id!r} is the only key: everything is encrypted under it. "
                "Run `csms keys rotate` to move the data to a new key first"
            )
        if ring.newest.key_id == key_id:
            raise KeyChangeRefused(
                f"data key {key_id!r} is the newest key: new data is encrypted under it. "
                "Run `csms keys rotate` to move the data to a new key first"
            )
        usage = await _usage(units, ring, keys_from_environment=keys_from_environment)
        still = usage.values_under(key_id)
        if still:
            raise KeyChangeRefused(
                f"{still} stored values are still encrypted under data key {key_id!r}: run "
                "`csms keys rotate` first, then retire it"
            )
        if keys_from_environment:
            raise KeyChangeRefused(
                f"data key {key_id!r} protects no stored data any more, but the keys come from "
                "CSMS_DATA_KEYS, which csms cannot change: remove that entry from "
                "CSMS_DATA_KEYS (keep the others, newest first) and restart csms"
            )
        remaining = ring.without(key_id)
        await asyncio.to_thread(_save_key_ring, remaining, home)
        units.set_keys(remaining)
        left = remaining.key_ids
        await units.write(
            lambda uow: uow.security_events.add(
                kind="DataKeyRetired",
                details={"key_id": key_id, "key_ids": left, "key_source": KEY_FILE_NAME},
                created_at=now,
            )
        )
        return left
