"""The token bucket's pace, the waits answers ask for, and the verdict on each answer."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.generic_rest.connector import ErrorRule
from adapters.generic_rest.limits import TokenBucket, wait_asked
from adapters.generic_rest.rules import judge


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_bucket_allows_its_burst_then_paces_calls_at_the_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(2.0, burst=2, clock=t.clock, sleep=t.sleep)
    waits = [bucket.take() for _ in range(6)]
    assert waits[:2] == [0.0, 0.0]
    assert all(abs(w - 0.5) < 1e-9 for w in waits[2:])
    assert abs(t.now - 2.0) < 1e-9  # 6 calls at 2/s after a burst of 2: 2 s
    t.now += 10  # idle: the bucket refills to its burst, no more
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.5]


def test_a_pause_holds_every_caller_for_the_time_asked() -> None:
    t = FakeTime()
    bucket = TokenBucket(7.0, clock=t.clock, sleep=t.sleep)
    bucket.pause(3.0)
    waited = bucket.take()
    assert 3.0 <= waited <= 3.0 + 1 / 7 + 1e-9


def test_waits_come_from_retry_after_or_the_rate_limit_reset() -> None:
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert wait_asked({"Retry-After": "7"}) == 7.0
    assert wait_asked({"retry-after": "Mon, 07 Dec 2026 10:00:30 GMT"}, now) == 30.0
    assert wait_asked({"RateLimit-Reset": "2"}) == 2.0
    assert wait_asked({"X-RateLimit-Reset": str(int(now.timestamp()) + 12)}, now) == 12.0
    assert wait_asked({"Retry-After": "86400"}) == 3600.0  # capped
    assert wait_asked({}) is None


BITRIX = [ErrorRule(status=[503], body_contains="QUERY_LIMIT_EXCEEDED", action="retry", wait=1.0),
          ErrorRule.model_validate({"json": {"error": "expired_token"}, "action": "reauth"}),
          ErrorRule(status=[403], action="fail", say="the credential is missing")]


def test_the_connectors_rules_come_first() -> None:
    limit = judge(503, {}, '{"error":"QUERY_LIMIT_EXCEEDED","error_description":"Too many requests"}', BITRIX)
    assert (limit.action, limit.wait) == ("retry", 1.0)
    assert limit.reason == "HTTP 503: Too many requests"
    expired = judge(400, {}, '{"error":"expired_token","error_description":"The access token provided has expired."}', BITRIX)
    assert expired.action == "reauth"
    assert judge(403, {}, "{}", BITRIX).reason == "HTTP 403: the credential is missing"


def test_the_defaults_retry_429_and_5xx_log_in_again_on_401_and_fail_other_4xx() -> None:
    assert judge(429, {}, "", []).action == "retry"
    assert judge(502, {}, "<html>Bad gateway</html>", []).action == "retry"
    assert judge(401, {}, '{"title":"Unauthorized"}', []).reason == "HTTP 401: Unauthorized"
    assert judge(401, {}, "", []).action == "reauth"
    failed = judge(422, {}, '{"message":"Поле NAME обязательно"}', [])
    assert (failed.action, failed.reason) == ("fail", "HTTP 422: Поле NAME обязательно")


def test_a_2xx_html_page_is_not_data() -> None:
    page = judge(200, {"Content-Type": "text/html"}, "<html><body>Log in</body></html>", [])
    assert page.action == "retry"
    assert "not JSON" in page.reason
    assert judge(200, {"Content-Type": "application/json"}, '{"result": []}', []).body == {"result": []}
