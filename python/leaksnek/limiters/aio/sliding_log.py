"""AsyncSlidingLogLimiter: Sliding log: exact, one timestamp per operation within the period, for asyncio."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters.aio._limiter import AsyncLimiter

K = TypeVar("K")


class AsyncSlidingLogLimiter(AsyncLimiter[K]):
    """Sliding log: exact, one timestamp per operation within the period, for asyncio. See AsyncLimiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "sliding-log"
