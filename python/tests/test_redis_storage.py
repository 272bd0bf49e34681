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
