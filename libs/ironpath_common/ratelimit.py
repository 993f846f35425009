"""Per-user rate limits: a token bucket per (verified user, gRPC service) in each process.

Keyed on the token's `sub`, never the client address: behind Envoy every caller has the
gateway's address, and one lifter on many devices is still one lifter. A bucket holds at most
`burst` tokens and refills at `per_minute / 60` tokens a second; a call takes one token or is
refused with how long until the next one.

Memory stays bounded: a bucket left idle long enough to refill completely is the same as a
new one, so it is dropped; and past `max_buckets` the least recently used bucket goes first.
Each replica counts on its own, so N replicas allow up to N times the rate (Envoy's local
limit bounds the total).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ironpath_common.settings import RateLimitSettings

Clock = Callable[[], float]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, clock: Clock = time.monotonic) -> None:
        self._rate = settings.per_minute / 60.0
        self._burst = float(settings.burst)
        self._max_buckets = settings.max_buckets
        self._clock = clock
        # Oldest use first: idle buckets are found at the front.
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        # A bucket idle this long is full again.
        self._refill_seconds = self._burst / self._rate if self._rate else 0.0

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def acquire(self, user_id: str, service: str) -> float:
        """Takes one token for this user on this service: 0.0 when allowed, else the seconds
        until a token is available (the call is refused and takes nothing)."""
        if not self.enabled:
            return 0.0
        now = self._clock()
        self._evict_idle(now)
        key = (user_id, service)
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
        else:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        self._buckets[key] = bucket  # now the most recently used
        if len(self._buckets) > self._max_buckets:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def _evict_idle(self, now: float) -> None:
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if now - oldest.updated < self._refill_seconds:
                return
            buckets.popitem(last=False)
