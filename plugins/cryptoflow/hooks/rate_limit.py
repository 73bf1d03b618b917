"""A per-connection request rate limit shared by every thread of a process."""

from __future__ import annotations

import threading
import time
from collections import deque


class RateLimiter:
    """At most ``burst`` requests in any window of ``burst / rate`` seconds (plus a safety margin).

    A token bucket refilled at ``rate`` per second with capacity ``burst``, kept as a log of send times so that it
    never admits more than ``burst`` in one window, even at window edges. With the default ``burst = rate`` no
    one-second window ever holds more than ``rate`` requests. The window is stretched by ``margin`` because the
    time a thread is admitted is not the time its request reaches the server (thread scheduling, connection set-up):
    without it the server can see ``rate + 1`` requests in one second, and that is what providers ban for.
    """

    def __init__(self, rate: float, burst: int | None = None, margin: float = 0.1, clock=time.monotonic,
                 sleep=time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = max(1, int(burst if burst is not None else max(1, int(rate))))
        self.window = self.burst / self.rate * (1 + margin)
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.window:
                    self._sent.popleft()
                if len(self._sent) < self.burst:
                    self._sent.append(now)
                    return waited
                delay = self.window - (now - self._sent[0])
            self._sleep(delay)
            waited += delay


_limiters: dict[tuple[str, float, int | None], RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(key: str, rate: float, burst: int | None) -> RateLimiter:
    """The process-wide limiter of a connection (one per conn id and setting)."""
    with _registry_lock:
        limiter = _limiters.get((key, rate, burst))
        if limiter is None:
            limiter = _limiters[(key, rate, burst)] = RateLimiter(rate, burst)
        return limiter
