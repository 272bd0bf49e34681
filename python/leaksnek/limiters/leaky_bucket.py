"""LeakyBucketLimiter: Leaky bucket as a meter (the seed's); as a queue with acquire()."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters._limiter import Limiter

K = TypeVar("K")


class LeakyBucketLimiter(Limiter[K]):
    """Leaky bucket as a meter (the seed's); as a queue with acquire(). See Limiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "leaky-bucket"
