"""The per-user token bucket on its own, with a hand-driven clock, and its settings."""

from __future__ import annotations

import pytest

from ironpath_common.ratelimit import RateLimiter
from ironpath_common.settings import ConfigError, RateLimitSettings

SERVICE = "ironpath.progress.v1.ProgressService"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(per_minute: int = 60, burst: int = 3, max_buckets: int = 100) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(RateLimitSettings(per_minute, burst, max_buckets), clock), clock


def test_a_user_gets_the_burst_at_once_then_waits_for_the_sustained_rate():
    bucket, clock = limiter(per_minute=60, burst=3)
    assert [bucket.acquire("alice", SERVICE) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire("alice", SERVICE) == pytest.approx(1.0)  # one token a second
    clock.now += 0.5
    assert bucket.acquire("alice", SERVICE) == pytest.approx(0.5)  # a refused call takes nothing
    clock.now += 0.5
    assert bucket.acquire("alice", SERVICE) == 0.0
    assert bucket.acquire("alice", SERVICE) > 0


def test_one_user_at_the_limit_leaves_another_user_and_another_service_untouched():
    bucket, _ = limiter(burst=2)
    for _ in range(2):
        bucket.acquire("alice", SERVICE)
    assert bucket.acquire("alice", SERVICE) > 0
    assert bucket.acquire("bob", SERVICE) == 0.0
    assert bucket.acquire("alice", "ironpath.feedback.v1.FeedbackService") == 0.0


def test_a_bucket_never_holds_more_than_the_burst():
    bucket, clock = limiter(per_minute=60, burst=2)
    bucket.acquire("alice", SERVICE)
    clock.now += 3600
    assert [bucket.acquire("alice", SERVICE) for _ in range(2)] == [0.0, 0.0]
    assert bucket.acquire("alice", SERVICE) > 0


def test_idle_buckets_are_dropped_once_they_would_be_full_again():
    bucket, clock = limiter(per_minute=60, burst=3)  # refills completely in 3 s
    for user in ("a", "b", "c"):
        bucket.acquire(user, SERVICE)
    clock.now += 2
    bucket.acquire("d", SERVICE)
    assert len(bucket) == 4
    clock.now += 1.5  # a, b, c idle 3.5 s; d 1.5 s
    bucket.acquire("d", SERVICE)
    assert len(bucket) == 1


def test_memory_is_capped_by_dropping_the_least_recently_used_bucket():
    bucket, _ = limiter(per_minute=1, burst=1, max_buckets=3)
    for user in ("a", "b", "c", "d", "e"):
        assert bucket.acquire(user, SERVICE) == 0.0
    assert len(bucket) == 3


def test_a_rate_of_zero_turns_the_limit_off():
    bucket, _ = limiter(per_minute=0, burst=1)
    assert not bucket.enabled
    assert all(bucket.acquire("alice", SERVICE) == 0.0 for _ in range(1000))
    assert len(bucket) == 0


def test_settings_default_high_enough_for_a_busy_lifter_and_refuse_nonsense():
    defaults = RateLimitSettings.from_env({})
    assert (defaults.per_minute, defaults.burst) == (600, 120)
    assert RateLimitSettings.from_env({"IRONPATH_RATE_LIMIT_PER_MINUTE": "5"}).per_minute == 5
    for env in (
        {"IRONPATH_RATE_LIMIT_PER_MINUTE": "-1"},
        {"IRONPATH_RATE_LIMIT_BURST": "0"},
        {"IRONPATH_RATE_LIMIT_BURST": "many"},
    ):
        with pytest.raises(ConfigError):
            RateLimitSettings.from_env(env)
