"""SlidingLogLimiter: Sliding log: exact, one timestamp per operation within the period."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters._limiter import Limiter

K = TypeVar("K")


class SlidingLogLimiter(Limiter[K]):
    """Sliding log: exact, one timestamp per operation within the period. See Limiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "sliding-log"
