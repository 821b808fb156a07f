"""csms.ratelimit: token buckets driven by an injected clock (no sleeping)."""

from __future__ import annotations

import pytest

from csms.ratelimit import GuessThrottle, Rate, RateLimiter, growing_delay, parse_rate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_rate_passes_and_the_next_attempt_waits_for_a_token() -> None:
    clock = Clock()
    limiter = RateLimiter(Rate(10, 60.0), clock=clock)
    assert all(limiter.take("ip").allowed for _ in range(10))
    refused = limiter.take("ip")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(6.0)
    assert refused.excess == 1
    assert limiter.take("ip").excess == 2
    assert limiter.take("other").allowed  # keys are independent
    clock.now += 6.0
    assert limiter.take("ip").allowed  # one token back after 60/10 s
    assert not limiter.take("ip").allowed


def test_a_token_given_back_is_not_counted() -> None:
    limiter = RateLimiter(Rate(2, 60.0), clock=Clock())
    for _ in range(5):
        assert limiter.take("k").allowed
        limiter.give_back("k")
    assert limiter.retry_after("k") == 0.0


def test_keys_are_bounded_least_recently_used_first() -> None:
    limiter = RateLimiter(Rate(1, 60.0), clock=Clock(), max_keys=3)
    for key in "abcd":
        limiter.take(key)
    assert len(limiter) == 3
    assert limiter.retry_after("a") == 0.0  # evicted: a full bucket again
    assert limiter.retry_after("d") > 0


def test_a_guess_throttle_counts_every_key_and_refuses_when_any_is_over() -> None:
    throttle = GuessThrottle(Rate(3, 60.0), clock=Clock())
    for account in ("a", "b", "c"):
        assert throttle.begin("ip", account).allowed
    refused = throttle.begin("ip", "d")  # the source is over, the account is not
    assert not refused.allowed and refused.retry_after > 0
    assert throttle.retry_after("ip") > 0 and throttle.retry_after("d") == 0.0


def test_a_right_answer_gives_the_attempt_back() -> None:
    throttle = GuessThrottle(Rate(1, 60.0), clock=Clock())
    for _ in range(5):
        assert throttle.begin("ip").allowed
        throttle.succeeded("ip")


def test_an_unset_rate_never_refuses() -> None:
    throttle = GuessThrottle(None)
    assert all(throttle.begin("ip").allowed for _ in range(1000))
    assert throttle.count_failure("ip") == 0.0


def test_the_delay_grows_and_is_capped() -> None:
    assert [growing_delay(n) for n in range(7)] == [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 5.0]
    assert growing_delay(10_000) == 5.0


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/min", Rate(10, 60.0)),
        ("10/minute", Rate(10, 60.0)),
        ("5/s", Rate(5, 1.0)),
        ("100/h", Rate(100, 3600.0)),
        ("30/10m", Rate(30, 600.0)),
        ("0", None),
        ("off", None),
        ("OFF", None),
    ],
)
def test_rates_are_read_as_count_per_period(text: str, rate: Rate | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["10", "ten/min", "10/fortnight", "0/min", "-1/min", ""])
def test_a_bad_rate_says_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match=r"N/PERIOD|above 0"):
        parse_rate(text)
