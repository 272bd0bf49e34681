"""AsyncGcraLimiter: GCRA: the generic cell rate algorithm, deciding as the leaky bucket does with one time per key, for asyncio."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters.aio._limiter import AsyncLimiter

K = TypeVar("K")


class AsyncGcraLimiter(AsyncLimiter[K]):
    """GCRA: the generic cell rate algorithm, deciding as the leaky bucket does with one time per key, for asyncio. See AsyncLimiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "gcra"
