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
        with limiter.slot():
            sent.append(clock.now)
    assert max_in_window(sent, 1.0) == 10
    assert 19.0 <= sent[-1] <= 19.0 + 1e-6   # 200 requests at 10/s: no slower than needed either


def test_burst_smaller_than_rate_spreads_requests():
    clock = FakeClock()
    limiter = RateLimiter(rate=2, burst=1, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(10):
        with limiter.slot():
            sent.append(clock.now)
    assert all(b - a >= 0.5 - 1e-9 for a, b in zip(sent, sent[1:], strict=False))


def test_a_slot_is_held_until_the_response_arrives():
    # a request admitted at 0 but answered at 0.8 keeps its slot until 1.8: a slow send cannot crowd the next window
    clock = FakeClock()
    limiter = RateLimiter(rate=1, clock=clock, sleep=clock.sleep)
    slot = limiter.acquire()
    clock.now = 0.8
    limiter.release(slot)
    limiter.acquire()
    assert clock.now == 1.8


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
