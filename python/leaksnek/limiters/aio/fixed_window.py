"""AsyncFixedWindowLimiter: Fixed window: operations per period, counted in windows aligned on the clock, for asyncio."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters.aio._limiter import AsyncLimiter

K = TypeVar("K")


class AsyncFixedWindowLimiter(AsyncLimiter[K]):
    """Fixed window: operations per period, counted in windows aligned on the clock, for asyncio. See AsyncLimiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "fixed-window"
