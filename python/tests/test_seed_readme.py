"""The seed's README examples, with only `leak_snek` replaced by `leaksnek`."""

from __future__ import annotations

import asyncio
import dataclasses  # the seed's example uses it without importing it
import typing

if not hasattr(typing, "override"):  # Python 3.11 lacks typing.override, which the seed imports

    def _override(function):  # type: ignore[no-untyped-def]
        return function

    typing.override = _override  # type: ignore[attr-defined]

# --- The seed's synchronous example, verbatim but for the import root.
from threading import Lock

from leaksnek.limiters.leaky_bucket import LeakyBucketLimiter
from leaksnek.mutexes.memory_mutex import MemoryMutex
from leaksnek.shortcuts.rate_limit import rl
from leaksnek.storages.memory_storage import MemoryStorage


def seed_sync_example() -> LeakyBucketLimiter[str]:
    limiter = LeakyBucketLimiter[str](
        rate_limit=rl("10/m"),
        rate_storage=MemoryStorage(),
        key_mutex=MemoryMutex(
            local_lock=Lock(),
            lock_factory=lambda: Lock(),
        ),
    )

    if not limiter.limit_exceeded("my_key"):
        ...  # Perform the operation
    return limiter


def test_sync_example_allows_ten_a_minute_on_the_fast_path() -> None:
    limiter = seed_sync_example()  # one request already made
    allowed = 1 + sum(not limiter.limit_exceeded("my_key") for _ in range(24))
    assert allowed == 10
    assert limiter._fast is not None  # MemoryStorage: decided in C++, no mutex taken
    assert limiter.key_mutex.key_locks == {}
    assert not limiter.limit_exceeded("another_key")


# --- The seed's asynchronous example, verbatim but for the import root.
from collections.abc import AsyncGenerator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, Self, cast, override

from redis.asyncio import Redis

from leaksnek.interfaces.mutexes.aio.mutex import AsyncMutex
from leaksnek.interfaces.storages.aio.rate_store import AsyncRateStorage
from leaksnek.interfaces.values.rate import Rate
from leaksnek.limiters.aio.leaky_bucket import AsyncLeakyBucketLimiter
from leaksnek.shortcuts.rate_limit import rl


@dataclasses.dataclass
class RedisAsyncRateStorage(AsyncRateStorage[str]):
    redis: Redis

    async def read(self: Self, key: str) -> Rate:
        if not await self.redis.exists(key):
            return Rate.default()

        rate_dict = await cast(Awaitable[dict[Any, Any]], self.redis.hgetall(name=key))

        return Rate(operations=int(rate_dict[b"operations"]), updated_at=float(rate_dict[b"updated_at"]))

    async def write(self: Self, key: str, value: Rate) -> None:
        await cast(
            Awaitable[int],
            self.redis.hset(name=key, mapping={"operations": value.operations, "updated_at": value.updated_at}),
        )


@dataclasses.dataclass
class RedisAsyncMutex(AsyncMutex[str]):
    redis: Redis

    @override
    @asynccontextmanager
    async def lock(self: Self, key: str) -> AsyncGenerator[None, None]:
        async with self.redis.lock(f"{key}_lock"):
            yield


def test_async_example_against_a_real_redis(redis_port: int) -> None:
    async def main() -> tuple[list[bool], dict[bytes, bytes]]:
        async_limiter = AsyncLeakyBucketLimiter(
            rate_limit=rl("10/m"),
            rate_storage=RedisAsyncRateStorage(redis=Redis(port=redis_port)),
            key_mutex=RedisAsyncMutex(redis=Redis(port=redis_port)),
        )
        await async_limiter.rate_storage.redis.delete("my_key")

        exceeded = [await async_limiter.limit_exceeded("my_key") for _ in range(12)]
        stored = await async_limiter.rate_storage.redis.hgetall("my_key")
        return exceeded, stored

    exceeded, stored = asyncio.run(main())
    assert exceeded == [False] * 10 + [True] * 2
    assert int(stored[b"operations"]) == 10  # the seed's Rate, as the seed's storage keeps it


def test_async_example_concurrent_requests_never_exceed_the_limit(redis_port: int) -> None:
    async def main() -> list[bool]:
        limiter = AsyncLeakyBucketLimiter(
            rate_limit=rl("5/h"),
            rate_storage=RedisAsyncRateStorage(redis=Redis(port=redis_port)),
            key_mutex=RedisAsyncMutex(redis=Redis(port=redis_port)),
        )
        await limiter.rate_storage.redis.delete("shared")
        return await asyncio.gather(*(limiter.limit_exceeded("shared") for _ in range(20)))

    exceeded = asyncio.run(main())
    assert exceeded.count(False) == 5
