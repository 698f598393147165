"""Token buckets, pure: full when new, refilled at the rate up to the burst, never below zero."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from notify.ratelimit import next_token, refill, take
from notify.settings import RateLimit

NOW = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)
LIMIT = RateLimit(rate=10, per=timedelta(hours=1), burst=3)


def test_a_new_bucket_allows_the_burst_and_then_one_token_every_six_minutes() -> None:
    ok, bucket = take(None, LIMIT, NOW, 3)
    assert ok
    assert take(bucket, LIMIT, NOW)[0] is False
    assert next_token(bucket, LIMIT, NOW) == NOW + timedelta(minutes=6)
    assert take(bucket, LIMIT, NOW + timedelta(minutes=6))[0] is True
    assert refill(bucket, LIMIT, NOW + timedelta(days=1)).tokens == 3


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 600), st.integers(1, 4)), max_size=40))
def test_no_more_mails_pass_than_the_burst_plus_the_rate_over_the_time(steps: list[tuple[int, int]]) -> None:
    bucket, at, passed = None, NOW, 0
    for seconds, count in steps:
        at += timedelta(seconds=seconds)
        ok, bucket = take(bucket, LIMIT, at, count)
        passed += count if ok else 0
        assert bucket.tokens >= -1e-9
    assert passed <= LIMIT.capacity + LIMIT.rate * ((at - NOW) / LIMIT.per) + 1e-6
