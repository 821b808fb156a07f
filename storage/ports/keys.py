"""The port that counts what each personal-data key protects."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Protocol

__all__ = ["DataKeyRepository"]


class DataKeyRepository(Protocol):
    def usage(self, key_ids: Iterable[str]) -> tuple[Counter[str], int]:
        """(stored values per key id, values under none of ``key_ids``)."""
        ...
