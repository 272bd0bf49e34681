"""ManualClock: a clock that moves only when told, for tests that never sleep."""

from __future__ import annotations

import asyncio
import math
import threading
from datetime import timedelta

from leaksnek import _leaksnek


_FOREVER_NS = (1 << 63) - 1


def nanoseconds(value: float | int | timedelta) -> int:
    """Seconds (a number) or a timedelta, in whole nanoseconds (infinity: the most there is)."""
    if isinstance(value, timedelta):
        return (value // timedelta(microseconds=1)) * 1000
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError("a time in seconds must be a number, not NaN")
        if math.isinf(value):
            return _FOREVER_NS if value > 0 else -_FOREVER_NS
    return max(-_FOREVER_NS, min(_FOREVER_NS, round(value * 1_000_000_000)))


class ManualClock(_leaksnek.ManualClock):
    """Pass as `clock=` to a limiter. Its time starts at `start` seconds; advance() moves it.

    A sync acquire() blocks until another thread moves the clock far enough; an async acquire()
    awaits it without blocking the loop. Thread-safe.
    """

    def __init__(self, start: float | int | timedelta = 0) -> None:
        super().__init__(nanoseconds(start))
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._waiters_lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the clock's epoch."""
        return self.now_ns() / 1e9

    def advance(self, by: float | int | timedelta) -> None:
        """Moves the clock by `by` (seconds or a timedelta) and wakes whoever waits until then."""
        self.advance_ns(nanoseconds(by))
        self._wake()

    def set(self, to: float | int | timedelta) -> None:
        self.set_ns(nanoseconds(to))
        self._wake()

    async def wait_until_ns(self, until_ns: int) -> None:
        """Returns once the clock reads at least `until_ns`, awaiting (the loop runs meanwhile)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._waiters_lock:
            if self.now_ns() >= until_ns:
                return
            self._waiters.append((until_ns, loop, future))
        try:
            await future
        finally:
            # Cancelled (or its loop gone): no longer a waiter, so that moving the
            # clock later never calls into a loop that has closed.
            with self._waiters_lock:
                self._waiters = [w for w in self._waiters if w[2] is not future]

    def async_waiters(self) -> int:
        """Coroutines awaiting a time still to come."""
        with self._waiters_lock:
            return sum(1 for _, _, future in self._waiters if not future.done())

    def _wake(self) -> None:
        now = self.now_ns()
        with self._waiters_lock:
            due = [w for w in self._waiters if w[0] <= now]
            self._waiters = [w for w in self._waiters if w[0] > now]
        for _, loop, future in due:
            if future.done() or loop.is_closed():
                continue
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # the loop closed meanwhile: nobody awaits it
                pass


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
