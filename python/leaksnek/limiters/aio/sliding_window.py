"""AsyncSlidingWindowLimiter: Sliding window counter: the current window plus the previous one weighted, for asyncio."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters.aio._limiter import AsyncLimiter

K = TypeVar("K")


class AsyncSlidingWindowLimiter(AsyncLimiter[K]):
    """Sliding window counter: the current window plus the previous one weighted, for asyncio. See AsyncLimiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "sliding-window"
