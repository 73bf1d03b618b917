"""A per-connection request rate limit shared by every thread of a process."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class RateLimiter:
    """At most ``burst`` requests in any window of ``burst / rate`` seconds, as the server sees them.

    A token bucket of capacity ``burst`` refilled at ``rate`` per second, kept as slots: a request holds its slot from
    the moment it is admitted until its response has arrived, and for one window after that. The server receives a
    request somewhere between those two moments, so however late a thread gets to send (scheduling, connection
    set-up) no window at the server ever holds more than ``burst`` requests. With the default ``burst = rate`` that
    is "never more than ``rate`` requests in any second"; the price is that slow responses lower the throughput.
    """

    def __init__(self, rate: float, burst: int | None = None, clock=time.monotonic, sleep=None):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = max(1, int(burst if burst is not None else max(1, int(rate))))
        self.window = self.burst / self.rate
        self._slots: list[list[float]] = []      # [released_at]; inf while the request is in flight
        self._changed = threading.Condition()
        self._clock = clock
        self._sleep = sleep                       # tests pass a fake clock's sleep; threads wait on the condition

    def _wait(self, seconds: float) -> None:
        if self._sleep is not None:
            self._changed.release()
            try:
                self._sleep(seconds)
            finally:
                self._changed.acquire()
        else:
            self._changed.wait(seconds)

    def acquire(self) -> list[float]:
        """Block until a request may be sent; returns its slot, to be passed to ``release``."""
        with self._changed:
            while True:
                now = self._clock()
                # the epsilon keeps float rounding from leaving a slot forever a hair inside the window
                self._slots = [s for s in self._slots if now - s[0] < self.window - 1e-9]
                if len(self._slots) < self.burst:
                    slot = [math.inf]
                    self._slots.append(slot)
                    return slot
                released = [s[0] for s in self._slots if s[0] != math.inf]
                self._wait(min(released) + self.window - now if released else 0.05)

    def release(self, slot: list[float]) -> None:
        """The request's response has arrived (or it failed): its window starts now."""
        with self._changed:
            slot[0] = self._clock()
            self._changed.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        held = self.acquire()
        try:
            yield
        finally:
            self.release(held)


_limiters: dict[tuple[str, float, int | None], RateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(key: str, rate: float, burst: int | None) -> RateLimiter:
    """The process-wide limiter of a connection (one per conn id and setting)."""
    with _registry_lock:
        limiter = _limiters.get((key, rate, burst))
        if limiter is None:
            limiter = _limiters[(key, rate, burst)] = RateLimiter(rate, burst)
        return limiter
