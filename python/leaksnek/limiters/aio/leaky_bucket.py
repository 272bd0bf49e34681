"""AsyncLeakyBucketLimiter: Leaky bucket as a meter (the seed's); as a queue with acquire(), for asyncio."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters.aio._limiter import AsyncLimiter

K = TypeVar("K")


class AsyncLeakyBucketLimiter(AsyncLimiter[K]):
    """Leaky bucket as a meter (the seed's); as a queue with acquire(), for asyncio. See AsyncLimiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "leaky-bucket"
