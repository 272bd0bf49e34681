"""AsyncTokenBucketLimiter: Token bucket: burst tokens, refilled continuously, for asyncio."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters.aio._limiter import AsyncLimiter

K = TypeVar("K")


class AsyncTokenBucketLimiter(AsyncLimiter[K]):
    """Token bucket: burst tokens, refilled continuously, for asyncio. See AsyncLimiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "token-bucket"
