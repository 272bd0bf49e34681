"""asyncio limiters: their waits never block the event loop; storages and mutexes written in Python."""

from __future__ import annotations

import asyncio

import pytest

from leaksnek.decorators.aio.rate_limit import async_rate_limit
from leaksnek.decorators.rate_limit import rate_limit
from leaksnek.interfaces.storages.aio.rate_store import AsyncRateStorage
from leaksnek.interfaces.values.rate import Rate
from leaksnek.limiters.aio.gcra import AsyncGcraLimiter
from leaksnek.limiters.aio.leaky_bucket import AsyncLeakyBucketLimiter
from leaksnek.limiters.aio.sliding_log import AsyncSlidingLogLimiter
from leaksnek.limiters.leaky_bucket import LeakyBucketLimiter
from leaksnek.mutexes.aio.memory_mutex import AsyncMemoryMutex
from leaksnek.shortcuts.rate_limit import rl
from leaksnek.storages.memory_storage import MemoryStorage
from leaksnek.testing import ManualClock


class AsyncDictStorage(AsyncRateStorage[str]):
    def __init__(self) -> None:
        self.rates: dict[str, Rate] = {}

    async def read(self, key: str) -> Rate:
        await asyncio.sleep(0)  # yields to the loop, as a network storage would
        return self.rates.get(key, Rate.default())

    async def write(self, key: str, value: Rate) -> None:
        await asyncio.sleep(0)
        self.rates[key] = value


async def _until(condition, loop_turns: int = 1000) -> None:  # type: ignore[no-untyped-def]
    for _ in range(loop_turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never met")


@pytest.mark.parametrize("storage_kind", ["memory", "python"])
def test_async_acquire_awaits_without_blocking_the_loop(storage_kind: str) -> None:
    async def main() -> None:
        clock = ManualClock()
        if storage_kind == "memory":
            limiter = AsyncLeakyBucketLimiter[str](rate_limit=rl("1/s"), rate_storage=MemoryStorage(), clock=clock)
        else:
            limiter = AsyncLeakyBucketLimiter[str](
                rate_limit=rl("1/s"), rate_storage=AsyncDictStorage(), key_mutex=AsyncMemoryMutex(), clock=clock
            )
        assert (await limiter.acquire("k")).allowed
        waiter = asyncio.create_task(limiter.acquire("k", 1, max_wait=2))
        await _until(lambda: clock.async_waiters() == 1)
        ticks = 0
        for _ in range(10):  # the loop runs other work while the waiter waits
            await asyncio.sleep(0)
            ticks += 1
        assert ticks == 10 and not waiter.done()
        assert await limiter.limit_exceeded("k")
        clock.advance(1)
        decision = await asyncio.wait_for(waiter, 10)
        assert decision.allowed

    asyncio.run(main())


@pytest.mark.parametrize("storage_kind", ["memory", "python"])
def test_a_cancelled_async_wait_gives_its_capacity_back(storage_kind: str) -> None:
    async def main() -> None:
        clock = ManualClock()
        storage = MemoryStorage() if storage_kind == "memory" else AsyncDictStorage()
        limiter = AsyncGcraLimiter[str](rate_limit=rl("1/s"), rate_storage=storage, key_mutex=AsyncMemoryMutex(), clock=clock)
        assert (await limiter.try_acquire("k")).allowed
        waiter = asyncio.create_task(limiter.acquire("k", 1, max_wait=5))
        await _until(lambda: clock.async_waiters() == 1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        clock.advance(1)
        assert (await limiter.try_acquire("k")).allowed  # not queued behind the cancelled wait

    asyncio.run(main())


def test_moving_the_clock_after_a_cancelled_wait_on_a_closed_loop() -> None:
    # A clock that outlives the test's loop (a pytest fixture): a wait that
    # was cancelled leaves no waiter behind, so advance() never calls into a
    # closed loop, and waiters on a live loop are still woken.
    clock = ManualClock()
    limiter = AsyncGcraLimiter[str](rate_limit=rl("1/s"), clock=clock)

    async def cancelled_wait() -> None:
        assert (await limiter.try_acquire("q")).allowed
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(limiter.acquire("q", 1, max_wait=10), 0.05)

    asyncio.run(cancelled_wait())
    assert clock._waiters == []
    clock.advance(5)

    async def woken() -> None:
        assert (await limiter.try_acquire("r")).allowed
        waiter = asyncio.create_task(limiter.acquire("r", 1, max_wait=10))
        await _until(lambda: clock.async_waiters() == 1)
        clock.advance(1)
        assert (await asyncio.wait_for(waiter, 10)).allowed

    asyncio.run(woken())


class AckAfterWriteStorage(AsyncDictStorage):
    """Its write lands at once and is acknowledged when `ack` is set, as a network storage's does."""

    def __init__(self) -> None:
        super().__init__()
        self.ack = asyncio.Event()
        self.writing = 0

    async def write(self, key: str, value: Rate) -> None:
        self.rates[key] = value
        self.writing += 1
        await self.ack.wait()


def test_cancelled_while_booking_gives_the_booking_back() -> None:
    async def main() -> None:
        clock = ManualClock()
        storage = AckAfterWriteStorage()
        storage.ack.set()
        limiter = AsyncGcraLimiter[str](rate_limit=rl("1/s"), rate_storage=storage, key_mutex=AsyncMemoryMutex(), clock=clock)
        assert (await limiter.try_acquire("k")).allowed
        storage.ack.clear()
        waiter = asyncio.create_task(limiter.acquire("k", 1, max_wait=5))
        await _until(lambda: storage.writing == 2)  # the booking is written, not yet acknowledged
        waiter.cancel()
        await asyncio.sleep(0)
        storage.ack.set()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        clock.advance(1)
        assert (await limiter.try_acquire("k")).allowed  # the booking was given back

    asyncio.run(main())


def test_cancelled_while_booking_a_request_allowed_at_once_gives_it_back() -> None:
    async def main() -> None:
        clock = ManualClock()
        storage = AckAfterWriteStorage()
        limiter = AsyncGcraLimiter[str](rate_limit=rl("1/s"), rate_storage=storage, key_mutex=AsyncMemoryMutex(), clock=clock)
        waiter = asyncio.create_task(limiter.acquire("k"))
        await _until(lambda: storage.writing == 1)  # allowed and written, not yet acknowledged
        waiter.cancel()
        await asyncio.sleep(0)
        storage.ack.set()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (await limiter.try_acquire("k")).allowed  # the caller never used it: given back

    asyncio.run(main())


class FailingWriteStorage(AsyncDictStorage):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    async def write(self, key: str, value: Rate) -> None:
        if self.fail:
            raise ConnectionError("storage down")
        await super().write(key, value)


def test_a_cancelled_wait_whose_give_back_fails_still_raises_cancelled() -> None:
    async def main() -> None:
        clock = ManualClock()
        storage = FailingWriteStorage()
        limiter = AsyncGcraLimiter[str](rate_limit=rl("1/s"), rate_storage=storage, key_mutex=AsyncMemoryMutex(), clock=clock)
        assert (await limiter.try_acquire("k")).allowed
        waiter = asyncio.create_task(limiter.acquire("k", 1, max_wait=5))
        await _until(lambda: clock.async_waiters() == 1)
        storage.fail = True
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError) as raised:
            await waiter
        assert isinstance(raised.value.__cause__, ConnectionError)

    asyncio.run(main())


def test_async_python_storage_keeps_other_algorithms_state() -> None:
    async def main() -> None:
        clock = ManualClock(start=5)
        storage = AsyncDictStorage()
        limiter = AsyncSlidingLogLimiter[str](
            rate_limit=rl("2/m"), rate_storage=storage, key_mutex=AsyncMemoryMutex(), clock=clock
        )
        results = await asyncio.gather(*(limiter.limit_exceeded("k") for _ in range(5)))
        assert results.count(False) == 2
        assert storage.rates["k"].state != ()

    asyncio.run(main())


def test_decorators_return_the_default_without_calling() -> None:
    calls = []
    limiter = LeakyBucketLimiter[str](rate_limit=rl("2/h"))

    @rate_limit(limiter, key=lambda user, **_: user, default="busy")
    def handle(user: str, payload: int = 0) -> str:
        calls.append(payload)
        return f"ok {payload}"

    assert [handle("a", payload=i) for i in range(3)] == ["ok 0", "ok 1", "busy"]
    assert handle("b") == "ok 0"
    assert calls == [0, 1, 0]
    assert handle.__name__ == "handle"

    async def main() -> list[str | None]:
        async_limiter = AsyncLeakyBucketLimiter[str](rate_limit=rl("1/h"))

        @async_rate_limit(async_limiter, key=lambda user: user, default=None)
        async def fetch(user: str) -> str:
            return user.upper()

        return [await fetch("x"), await fetch("x"), await fetch("y")]

    assert asyncio.run(main()) == ["X", None, "Y"]


def test_async_memory_mutex_takes_the_seeds_keywords_and_stays_exact() -> None:
    async def main() -> None:
        mutex = AsyncMemoryMutex[str](local_lock=asyncio.Lock(), lock_factory=lambda: asyncio.Lock())
        limiter = AsyncLeakyBucketLimiter[str](
            rate_limit=rl("10/h"), rate_storage=AsyncDictStorage(), key_mutex=mutex, clock=ManualClock()
        )
        exceeded = await asyncio.gather(*(limiter.limit_exceeded("k") for _ in range(30)))
        assert exceeded.count(False) == 10
        assert not mutex._locks  # every key's lock dropped once unused

    asyncio.run(main())
