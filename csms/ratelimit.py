"""Throttling guesses: token buckets per key (a source address, an account, a charger).

Pure and clock-injected: a :class:`RateLimiter` keeps one bucket per key in memory and
reads the time only through the ``clock`` it was given, so tests drive it without
sleeping. It is kept in memory on purpose: a limit on guesses only has to hold while the
guesses go on, a restart loses at most one window's worth of counts, and a database
write per wrong password would let the guesses load the database.

A :class:`Rate` of ``10/min`` is a bucket of 10 tokens refilled at 10 per minute: ten
attempts at once, then one every six seconds. :meth:`RateLimiter.take` spends a token and
says whether one was there; :meth:`RateLimiter.give_back` returns it (a login that turned
out right does not count as a guess). While a key's bucket is empty, :meth:`take` counts
the refused attempts in a row (``Decision.excess``), for delays that grow with them.

Rates are written ``N/PERIOD``: ``10/min``, ``5/s``, ``100/h``, ``30/10m``; ``0``,
``off``, ``none`` and ``false`` turn a limit off (:func:`parse_rate` returns ``None``).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["Decision", "GuessThrottle", "Rate", "RateLimiter", "growing_delay", "parse_rate"]

#: Keys kept at most per limiter; the least recently used go first (an evicted key has
#: at worst a full bucket again). Bounds memory whatever keys an attacker makes up.
MAX_KEYS = 50_000

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*")


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` attempts per ``period`` seconds (also the burst allowed at once)."""

    count: int
    period: float

    def __str__(self) -> str:
        for name, seconds in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
            if self.period == seconds:
                return f"{self.count}/{name}"
        return f"{self.count}/{self.period:g}s"


def parse_rate(text: str) -> Rate | None:
    """``"10/min"`` -> ``Rate(10, 60.0)``; ``"0"``/``"off"``/``"none"``/``"false"`` -> ``None``.

    Raises ``ValueError`` saying what is expected.
    """
    value = str(text).strip().lower()
    if value in ("0", "off", "none", "false"):
        return None
    match = _RATE.fullmatch(value)
    unit = _UNITS.get(match[3].removesuffix("s") or "s") if match else None
    if match is None or unit is None:
        raise ValueError(f"{text!r} is not a rate: use N/PERIOD (10/min, 5/s, 30/10m) or off")
    count = int(match[1])
    period = float(match[2] or 1) * unit
    if count <= 0 or period <= 0:
        raise ValueError(f"{text!r}: the count and the period must be above 0 (or use off)")
    return Rate(count, period)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of :meth:`RateLimiter.take`."""

    allowed: bool
    #: Seconds until the key has a token again (0 when allowed).
    retry_after: float
    #: Refused attempts in a row so far, this one included (0 when allowed).
    excess: int


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    excess: int = 0


class RateLimiter:
    """Token buckets at :class:`Rate` ``rate``, one per key, read against ``clock``."""

    def __init__(
        self,
        rate: Rate,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.rate = rate
        self._clock = clock
        self._max_keys = max_keys
        self._per_second = rate.count / rate.period
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _bucket(self, key: Hashable, *, create: bool) -> _Bucket | None:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if not create:
                return None
            bucket = self._buckets[key] = _Bucket(float(self.rate.count), now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(self.rate.count), bucket.tokens + elapsed * self._per_second)
            bucket.updated = now
        return bucket

    def _wait(self, bucket: _Bucket) -> float:
        return max(0.0, (1.0 - bucket.tokens) / self._per_second)

    def take(self, key: Hashable) -> Decision:
        """Spend one of ``key``'s tokens, if it has one."""
        bucket = self._bucket(key, create=True)
        assert bucket is not None
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.excess = 0
            return Decision(True, 0.0, 0)
        bucket.excess += 1
        return Decision(False, self._wait(bucket), bucket.excess)

    def give_back(self, key: Hashable) -> None:
        """Return a token spent by :meth:`take` (the attempt was not a guess after all)."""
        bucket = self._bucket(key, create=False)
        if bucket is not None:
            bucket.tokens = min(float(self.rate.count), bucket.tokens + 1.0)
            if bucket.tokens >= 1.0:
                bucket.excess = 0

    def retry_after(self, key: Hashable) -> float:
        """Seconds until ``key`` may try again (0: now), without spending anything."""
        bucket = self._bucket(key, create=False)
        return 0.0 if bucket is None or bucket.tokens >= 1.0 else self._wait(bucket)


def growing_delay(excess: int, *, base: float = 0.25, cap: float = 5.0) -> float:
    """How long to hold the answer to the ``excess``-th refused attempt in a row:
    ``base`` doubling each time, at most ``cap`` seconds (0 for ``excess`` 0)."""
    if excess <= 0:
        return 0.0
    return min(cap, base * 2.0 ** min(excess - 1, 30))


class GuessThrottle:
    """Failed attempts per source address and per account, over one :class:`Rate`.

    Used where a guess is checked (a login, a bearer token, a charger password): call
    :meth:`begin` before checking, :meth:`succeeded` after a right one (the attempt then
    does not count), or only :meth:`count_failure` after a wrong one where checking costs
    nothing. Spending at the start, not after a failure, keeps concurrent
    guesses from all slipping through before the first failure is counted.
    """

    def __init__(self, rate: Rate | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._limiter = RateLimiter(rate, clock=clock) if rate is not None else None

    def begin(self, *keys: Hashable) -> Decision:
        """Count an attempt under every key; refused if any key is over the rate."""
        limiter = self._limiter
        if limiter is None:
            return Decision(True, 0.0, 0)
        refused: list[Decision] = []
        for key in keys:
            decision = limiter.take(key)
            if not decision.allowed:
                refused.append(decision)
        if not refused:
            return Decision(True, 0.0, 0)
        return Decision(False, max(d.retry_after for d in refused), max(d.excess for d in refused))

    def succeeded(self, *keys: Hashable) -> None:
        """The attempt begun under ``keys`` was right: it was no guess."""
        if self._limiter is not None:
            for key in keys:
                self._limiter.give_back(key)

    def count_failure(self, *keys: Hashable) -> float:
        """Count a failure under every key (where checking costs nothing, so there is no
        need to begin first); returns :meth:`retry_after`."""
        if self._limiter is not None:
            for key in keys:
                self._limiter.take(key)
        return self.retry_after(*keys)

    def retry_after(self, *keys: Hashable) -> float:
        """Seconds until every key may try again (0: now)."""
        if self._limiter is None:
            return 0.0
        return max((self._limiter.retry_after(key) for key in keys), default=0.0)
