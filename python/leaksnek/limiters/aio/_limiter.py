"""The asyncio limiter of every algorithm. Its waits never block the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import ClassVar, NamedTuple, TypeVar

from leaksnek import _leaksnek
from leaksnek.interfaces.limiters.aio.rate_limiter import AsyncRateLimiter
from leaksnek.interfaces.mutexes.aio.mutex import AsyncMutex
from leaksnek.interfaces.storages.aio.rate_store import AsyncRateStorage
from leaksnek.interfaces.values.decision import Decision
from leaksnek.interfaces.values.rate_limit import RateLimit
from leaksnek.limiters._state import bind, limits_of, now_ns, wait_ns
from leaksnek.storages.memory_storage import MemoryStorage
from leaksnek.storages.redis_storage import RedisStorage
from leaksnek.testing.manual_clock import ManualClock

K = TypeVar("K")


class _Booking(NamedTuple):
    """A decision; `until`: when a booked wait ends (None: no wait); `undo`: gives the request back
    (None: nothing to give back)."""

    decision: Decision
    until: int | None
    undo: Callable[[], Awaitable[None]] | None


async def _settled(task: asyncio.Future[_Booking]) -> _Booking | None:
    """The task's booking once it has finished, however often the caller is cancelled meanwhile (so
    a cancellation waits for a booking on its way: at most the storage's own timeout)."""
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - the booking failed: nothing to give back
            return None
    if task.cancelled() or task.exception() is not None:
        return None
    return task.result()


# Give-backs still running after a second cancellation: held here until done (the loop keeps only
# weak references to tasks).
_giving_back: set[asyncio.Future[None]] = set()


def _given_back(task: asyncio.Future[None]) -> None:
    _giving_back.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a failure here was already reported to the awaiting caller


async def _give_back(undo: Callable[[], Awaitable[None]], cancelled: asyncio.CancelledError) -> None:
    """Runs `undo` to its end even if cancelled again; a failure of it is chained to `cancelled`, which
    is what the caller sees (a cancelled acquire() always raises CancelledError)."""
    task = asyncio.ensure_future(undo())
    _giving_back.add(task)
    task.add_done_callback(_given_back)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        raise cancelled from error


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
        self._blocking = isinstance(self.rate_storage, RedisStorage)  # a round trip: run in a thread
        binding = bind(self.algorithm, self._limits, self.rate_storage, key_mutex, name, clock, "an AsyncMutex")
        self._fast = binding.fast
        self._stepper = binding.stepper
        self._codec = binding.codec
        self.name: str = binding.name

    @property
    def limits(self) -> list[RateLimit]:
        return list(self._limits)

    async def limit_exceeded(self, key: K) -> bool:
        """The seed's call: True when one more request is over the limit (nothing consumed then)."""
        # The C++ call unless a subclass replaced try_acquire, which then decides.
        if self._fast is not None and type(self).try_acquire is AsyncLimiter.try_acquire:
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
        timedelta), books it and awaits until then. Cancelled while it waits, it gives the booking
        back. Cancelled while the booking is on its way (to Redis, or to a storage written in Python),
        it lets the booking finish, then gives it back; there a request allowed at once is given back
        too, except over Redis, where it stays counted as a request the server decided."""
        if self._fast is not None and not self._blocking:
            booked = self._fast_booking(self._fast.reserve(key, cost, wait_ns(max_wait)), key)
        else:
            task = asyncio.ensure_future(self._book(key, cost, wait_ns(max_wait)))
            try:
                booked = await asyncio.shield(task)
            except asyncio.CancelledError as cancelled:
                late = await _settled(task)
                if late is not None and late.undo is not None:
                    await _give_back(late.undo, cancelled)
                raise
        if booked.until is not None:
            try:
                await self._sleep_until(booked.until)
            except asyncio.CancelledError as cancelled:
                assert booked.undo is not None
                await _give_back(booked.undo, cancelled)
                raise
        return booked.decision

    async def _book(self, key: K, cost: int, max_wait: int) -> _Booking:
        if self._fast is not None:
            reservation = await asyncio.to_thread(self._fast.reserve, key, cost, max_wait)
            return self._fast_booking(reservation, key)
        decision, wait, now = await self._step(key, cost, max_wait)
        if not decision.allowed:
            return _Booking(decision, None, None)
        until = now + wait  # wait is 0 for a request allowed at once
        return _Booking(decision, until if wait > 0 else None, lambda: self._cancel(key, cost, until))

    def _fast_booking(self, reservation: _leaksnek.Reservation, key: K) -> _Booking:
        if reservation.wait_ns <= 0:
            return _Booking(reservation.decision, None, None)
        fast = self._fast
        assert fast is not None
        if self._blocking:
            return _Booking(
                reservation.decision, reservation.until_ns, lambda: asyncio.to_thread(fast.cancel, key, reservation)
            )

        async def undo() -> None:
            fast.cancel(key, reservation)

        return _Booking(reservation.decision, reservation.until_ns, undo)

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
