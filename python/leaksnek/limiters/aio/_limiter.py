"""The asyncio limiter of every algorithm. Its waits never block the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar, TypeVar

from leaksnek import _leaksnek
from leaksnek.interfaces.limiters.aio.rate_limiter import AsyncRateLimiter
from leaksnek.interfaces.mutexes.aio.mutex import AsyncMutex
from leaksnek.interfaces.storages.aio.rate_store import AsyncRateStorage
from leaksnek.interfaces.values.decision import Decision
from leaksnek.interfaces.values.rate_limit import RateLimit
from leaksnek.limiters._state import codec_for, limits_of, now_ns, raw_limits, wait_ns
from leaksnek.storages.memory_storage import MemoryStorage
from leaksnek.storages.redis_storage import RedisStorage
from leaksnek.testing.manual_clock import ManualClock

K = TypeVar("K")


class AsyncLimiter(AsyncRateLimiter[K]):
    """A limiter for asyncio: `rate_limit` (one RateLimit or a list) for every key of `rate_storage`.

    Over an AsyncRateStorage written in Python (the seed's Redis example) it holds
    `key_mutex.lock(key)` (an AsyncMutex) while it awaits the read, decides in C++ and awaits the
    write. Over a MemoryStorage (the default) each decision is one C++ step that never blocks, and
    `key_mutex` is not needed. acquire() waits with asyncio (or on a ManualClock's time) and gives
    the capacity back when cancelled. `name` and `clock` as for the synchronous Limiter.
    """

    algorithm: ClassVar[str]

    def __init__(
        self,
        rate_limit: RateLimit | Sequence[RateLimit],
        rate_storage: AsyncRateStorage[K] | MemoryStorage[K] | RedisStorage[K] | None = None,
        key_mutex: AsyncMutex[K] | None = None,
        *,
        name: str | None = None,
        clock: ManualClock | None = None,
    ) -> None:
        self._limits = limits_of(rate_limit)
        self.rate_limit = rate_limit
        self.rate_storage = MemoryStorage() if rate_storage is None else rate_storage
        self.key_mutex = key_mutex
        self.clock = clock
        raw = raw_limits(self._limits)
        self._fast = None
        self._blocking = isinstance(self.rate_storage, RedisStorage)  # a round trip: run in a thread
        if isinstance(self.rate_storage, (MemoryStorage, RedisStorage)):
            self._fast = _leaksnek.FastLimiter(self.algorithm, raw, self.rate_storage._core, name, clock)
            self.name: str = self._fast.name
        else:
            if key_mutex is None:
                raise ValueError("an async limiter over a storage of your own needs key_mutex (an AsyncMutex)")
            self._stepper = _leaksnek.Stepper(self.algorithm, raw, name)
            self._codec = codec_for(self.algorithm, self._limits)
            self.name = self._stepper.name

    @property
    def limits(self) -> list[RateLimit]:
        return list(self._limits)

    async def limit_exceeded(self, key: K) -> bool:
        """The seed's call: True when one more request is over the limit (nothing consumed then)."""
        if self._fast is not None:
            if self._blocking:
                return await asyncio.to_thread(self._fast.limit_exceeded, key)
            return self._fast.limit_exceeded(key)
        return not (await self.try_acquire(key, 1)).allowed

    async def try_acquire(self, key: K, cost: int = 1) -> Decision:
        """Decides now whether `key` may spend `cost`; consumes it if so. Never waits."""
        if self._fast is not None:
            if self._blocking:
                return await asyncio.to_thread(self._fast.try_acquire, key, cost)
            return self._fast.try_acquire(key, cost)
        return (await self._step(key, cost, 0))[0]

    async def acquire(self, key: K, cost: int = 1, max_wait: float | timedelta = 0) -> Decision:
        """Like try_acquire, but when denied and the request fits within `max_wait` (seconds or a
        timedelta), books it and awaits until then; cancelled, it gives the booking back."""
        if self._fast is not None:
            if self._blocking:
                reservation = await asyncio.to_thread(self._fast.reserve, key, cost, wait_ns(max_wait))
            else:
                reservation = self._fast.reserve(key, cost, wait_ns(max_wait))
            if reservation.wait_ns > 0:
                try:
                    await self._sleep_until(reservation.until_ns)
                except asyncio.CancelledError:
                    if self._blocking:
                        await asyncio.shield(asyncio.to_thread(self._fast.cancel, key, reservation))
                    else:
                        self._fast.cancel(key, reservation)
                    raise
            return reservation.decision
        decision, wait, now = await self._step(key, cost, wait_ns(max_wait))
        if wait > 0:
            try:
                await self._sleep_until(now + wait)
            except asyncio.CancelledError:
                await asyncio.shield(self._cancel(key, cost, now + wait))
                raise
        return decision

    async def _step(self, key: K, cost: int, max_wait: int) -> tuple[Decision, int, int]:
        assert self.key_mutex is not None
        async with self.key_mutex.lock(key):
            rate = await self.rate_storage.read(key)  # type: ignore[misc]
            now = now_ns(self.clock)
            decision, wait, fields, _ = self._stepper.step(self._codec.fields(rate), now, cost, max_wait)
            if fields is not None:
                in_use = decision.limit - decision.remaining
                await self.rate_storage.write(key=key, value=self._codec.rate(fields, now, in_use))  # type: ignore[misc]
        return decision, wait, now

    async def _cancel(self, key: K, cost: int, until: int) -> None:
        assert self.key_mutex is not None
        async with self.key_mutex.lock(key):
            rate = await self.rate_storage.read(key)  # type: ignore[misc]
            fields = self._stepper.cancel(self._codec.fields(rate), until, cost)
            now = now_ns(self.clock)
            await self.rate_storage.write(key=key, value=self._codec.rate(fields, now, 0))  # type: ignore[misc]

    async def _sleep_until(self, until: int) -> None:
        if self.clock is not None:
            await self.clock.wait_until_ns(until)
            return
        while (left := until - time.monotonic_ns()) > 0:
            await asyncio.sleep(left / 1e9)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rate_limit={self.rate_limit!r}, name={self.name!r})"
