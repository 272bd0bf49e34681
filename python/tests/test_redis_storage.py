"""RedisStorage: the one-step C++ path over a real redis-server, sync and asyncio."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from leaksnek.limiters.aio.gcra import AsyncGcraLimiter
from leaksnek.limiters.fixed_window import FixedWindowLimiter
from leaksnek.limiters.leaky_bucket import LeakyBucketLimiter
from leaksnek.limiters.sliding_log import SlidingLogLimiter
from leaksnek.shortcuts.rate_limit import rl
from leaksnek.storages.redis_storage import RedisStorage


@pytest.mark.parametrize("limiter_class", [LeakyBucketLimiter, FixedWindowLimiter, SlidingLogLimiter])
def test_limiters_over_redis_share_one_exact_limit(redis_port: int, limiter_class: type) -> None:
    url = f"redis://127.0.0.1:{redis_port}"
    key = str(uuid.uuid4())
    first = limiter_class[str](rate_limit=rl("3/h"), rate_storage=RedisStorage(url))
    second = limiter_class[str](rate_limit=rl("3/h"), rate_storage=RedisStorage(url))  # another "process"
    outcomes = [limiter.limit_exceeded(key) for limiter in [first, second] * 3]
    assert outcomes == [False, False, False, True, True, True]
    denied = first.try_acquire(key)
    assert not denied.allowed and denied.retry_after > 0 and denied.limit == 3


def test_redis_unreachable_fails_closed_when_told() -> None:
    storage = RedisStorage("redis://127.0.0.1:1", timeout=0.05, on_error="fail-closed")
    limiter = LeakyBucketLimiter[str](rate_limit=rl("3/h"), rate_storage=storage)
    assert limiter.limit_exceeded("k")


def test_async_limiter_over_redis(redis_port: int) -> None:
    async def main() -> list[bool]:
        limiter = AsyncGcraLimiter[str](
            rate_limit=rl("2/h"), rate_storage=RedisStorage(f"redis://127.0.0.1:{redis_port}")
        )
        key = str(uuid.uuid4())
        return [await limiter.limit_exceeded(key) for _ in range(3)]

    assert asyncio.run(main()) == [False, False, True]


def test_a_bad_url_is_refused() -> None:
    with pytest.raises(RuntimeError, match="redis"):
        RedisStorage("http://nowhere")


def test_async_acquire_cancelled_during_the_round_trip_gives_the_booking_back(redis_port: int) -> None:
    async def main() -> float:
        limiter = AsyncGcraLimiter[str](rate_limit=rl("1/20s"), rate_storage=RedisStorage(f"redis://127.0.0.1:{redis_port}"))
        key = str(uuid.uuid4())
        assert (await limiter.try_acquire(key)).allowed
        waiter = asyncio.create_task(limiter.acquire(key, 1, max_wait=30))
        await asyncio.sleep(0)  # the reservation is on its way to Redis
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        denied = await limiter.try_acquire(key)
        assert not denied.allowed
        return denied.retry_after

    assert 15 < asyncio.run(main()) <= 20  # 20 s: one request ahead, not two


def test_try_acquire_at_over_redis_is_on_the_servers_clock(redis_port: int) -> None:
    import time

    limiter = FixedWindowLimiter[str](rate_limit=rl("2/h"), rate_storage=RedisStorage(f"redis://127.0.0.1:{redis_port}"))
    key = str(uuid.uuid4())
    now = time.time_ns()
    assert limiter.try_acquire(key).allowed  # on the server's clock
    assert limiter.try_acquire_at(key, 1, now).allowed  # the same window
    assert not limiter.try_acquire_at(key, 1, now + 1_000_000).allowed
    assert limiter.try_acquire_at(key, 1, now + 3_700_000_000_000).allowed  # the next hour's window
