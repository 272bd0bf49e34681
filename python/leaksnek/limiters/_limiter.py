"""The synchronous limiter of every algorithm: one class, the algorithm named by each subclass."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar, TypeVar

from leaksnek.interfaces.limiters.rate_limiter import RateLimiter
from leaksnek.interfaces.mutexes.mutex import Mutex
from leaksnek.interfaces.storages.rate_store import RateStorage
from leaksnek.interfaces.values.decision import Decision
from leaksnek.interfaces.values.rate_limit import RateLimit
from leaksnek.limiters._state import bind, limits_of, now_ns, wait_ns
from leaksnek.storages.memory_storage import MemoryStorage
from leaksnek.testing.manual_clock import ManualClock

K = TypeVar("K")


class Limiter(RateLimiter[K]):
    """A limiter: `rate_limit` (one RateLimit or a list: several limits per key, all-or-nothing) for
    every key of `rate_storage`.

    Over a MemoryStorage (the default) each decision is one step in C++, and `key_mutex` is not
    needed. Over a storage written in Python (a RateStorage) the limiter holds `key_mutex.lock(key)`
    while it reads the key's Rate, decides in C++ and writes the Rate back, as the seed does.
    `name` keeps a policy's state apart from other policies' in a MemoryStorage (default: the
    algorithm and limits, so equal unnamed limiters on one storage share state, as the seed's do).
    `clock`: a leaksnek.testing.ManualClock for tests (default: time.monotonic()'s clock).
    Thread-safe.
    """

    algorithm: ClassVar[str]

    def __init__(
        self,
        rate_limit: RateLimit | Sequence[RateLimit],
        rate_storage: RateStorage[K] | None = None,
        key_mutex: Mutex[K] | None = None,
        *,
        name: str | None = None,
        clock: ManualClock | None = None,
    ) -> None:
        self._limits = limits_of(rate_limit)
        self.rate_limit = rate_limit
        self.rate_storage: RateStorage[K] = MemoryStorage() if rate_storage is None else rate_storage
        self.key_mutex = key_mutex
        self.clock = clock
        binding = bind(self.algorithm, self._limits, self.rate_storage, key_mutex, name, clock, "e.g. MemoryMutex")
        self._fast = binding.fast
        self._stepper = binding.stepper
        self._codec = binding.codec
        self.name: str = binding.name
        if self._fast is not None:
            # The C++ methods themselves, so that a call runs no Python code;
            # not where a subclass (or a mock patched onto the class before
            # this instance was made) replaces them.
            own_try_acquire = type(self).try_acquire is Limiter.try_acquire
            if own_try_acquire:
                self.try_acquire = self._fast.try_acquire  # type: ignore[method-assign]
            if own_try_acquire and type(self).limit_exceeded is Limiter.limit_exceeded:
                self.limit_exceeded = self._fast.limit_exceeded  # type: ignore[method-assign]

    @property
    def limits(self) -> list[RateLimit]:
        return list(self._limits)

    def limit_exceeded(self, key: K) -> bool:
        """The seed's call: True when one more request is over the limit (nothing consumed then)."""
        return not self.try_acquire(key, 1).allowed

    def try_acquire(self, key: K, cost: int = 1) -> Decision:
        """Decides now whether `key` may spend `cost`; consumes it if so. Never waits."""
        if self._fast is not None:
            return self._fast.try_acquire(key, cost)
        return self._step(key, cost, None, 0)[0]

    def try_acquire_at(self, key: K, cost: int, at_ns: int) -> Decision:
        """try_acquire at an explicit time: nanoseconds on the limiter's clock, or over a RedisStorage
        on the Redis server's clock (Unix time, as time.time_ns()), the clock its other decisions use."""
        if self._fast is not None:
            return self._fast.try_acquire_at(key, cost, at_ns)
        return self._step(key, cost, at_ns, 0)[0]

    def acquire(self, key: K, cost: int = 1, max_wait: float | timedelta = 0) -> Decision:
        """Like try_acquire, but when denied and the request fits within `max_wait` (seconds or a
        timedelta), books it and blocks until then, the GIL released (waiters on a key are served in
        arrival order). Returns a denial at once when the wait would be longer. An exception raised
        while it waits (KeyboardInterrupt, a signal handler's) gives the booking back (on the real
        clock; a ManualClock's wait, for tests, ends only when the clock is moved)."""
        if self._fast is not None:
            reservation = None
            try:
                reservation = self._fast.reserve(key, cost, wait_ns(max_wait))
                if reservation.wait_ns > 0:
                    self._sleep_until(reservation.until_ns)
            except BaseException:
                if reservation is not None and reservation.wait_ns > 0:
                    self._fast.cancel(key, reservation)
                raise
            return reservation.decision
        decision, wait, now = self._step(key, cost, None, wait_ns(max_wait))
        if wait > 0:
            try:
                self._sleep_until(now + wait)
            except BaseException:
                self._cancel(key, cost, now + wait)
                raise
        return decision

    def _step(self, key: K, cost: int, at: int | None, max_wait: int) -> tuple[Decision, int, int]:
        assert self.key_mutex is not None
        with self.key_mutex.lock(key):
            rate = self.rate_storage.read(key)
            now = now_ns(self.clock) if at is None else at
            decision, wait, fields, _ = self._stepper.step(self._codec.fields(rate), now, cost, max_wait)
            if fields is not None:
                in_use = decision.limit - decision.remaining
                self.rate_storage.write(key=key, value=self._codec.rate(fields, now, in_use))
        return decision, wait, now

    def _cancel(self, key: K, cost: int, until: int) -> None:
        assert self.key_mutex is not None
        with self.key_mutex.lock(key):
            rate = self.rate_storage.read(key)
            fields = self._stepper.cancel(self._codec.fields(rate), until, cost)
            self.rate_storage.write(key=key, value=self._codec.rate(fields, now_ns(self.clock), 0))

    def _sleep_until(self, until: int) -> None:
        # In Python, not in C++: a signal's exception (KeyboardInterrupt) ends the wait at once.
        if self.clock is not None:
            self.clock.sleep_until_ns(until)
            return
        while (left := until - time.monotonic_ns()) > 0:
            time.sleep(left / 1e9)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rate_limit={self.rate_limit!r}, name={self.name!r})"
