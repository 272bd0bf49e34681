"""SlidingWindowLimiter: Sliding window counter: the current window plus the previous one weighted."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters._limiter import Limiter

K = TypeVar("K")


class SlidingWindowLimiter(Limiter[K]):
    """Sliding window counter: the current window plus the previous one weighted. See Limiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "sliding-window"
