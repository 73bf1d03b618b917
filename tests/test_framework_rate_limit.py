"""The per-connection rate limit: exact with a fake clock, and observed by a real server under a threaded burst."""

import json

from cryptoflow.hooks.rate_limit import RateLimiter
from tests.framework_support import TEST_KEY, ExampleHook


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def max_in_window(times, window):
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_limiter_never_admits_more_than_the_rate_in_any_second():
    clock = FakeClock()
    limiter = RateLimiter(rate=10, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(200):
        limiter.acquire()
        sent.append(clock.now)
    assert max_in_window(sent, 1.0) == 10
    assert sent[-1] >= 19.0          # 200 requests at 10/s take 19+ seconds
    assert sent[-1] <= 19.0 * 1.1    # and not much more: the safety margin is 10%


def test_burst_smaller_than_rate_spreads_requests():
    clock = FakeClock()
    limiter = RateLimiter(rate=2, burst=1, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(10):
        limiter.acquire()
        sent.append(clock.now)
    assert all(b - a >= 0.5 * 1.1 - 1e-9 for a, b in zip(sent, sent[1:], strict=False))


def test_burst_of_200_threaded_requests_respects_the_rate_at_the_server(monkeypatch, replay_server):
    rate = 50
    monkeypatch.setenv("AIRFLOW_CONN_EXAMPLE", json.dumps({
        "conn_type": "http", "host": replay_server.url, "password": TEST_KEY,
        "extra": {"rate_limit_per_s": rate, "max_workers": 8}}))
    replay_server.add("/v1/ping", json={"ok": True})
    hook = ExampleHook()
    results = hook.map_concurrently(lambda i: hook.get_json("/v1/ping", {"i": i}), range(200))
    assert len(results) == 200 and hook.stats.api_calls == 200
    arrivals = [r.received_at for r in replay_server.requests]
    assert len(arrivals) == 200
    assert max_in_window(arrivals, 1.0) <= rate
    assert max(arrivals) - min(arrivals) >= (200 - rate) / rate
