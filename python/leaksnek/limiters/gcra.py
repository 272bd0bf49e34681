"""GcraLimiter: GCRA: the generic cell rate algorithm, deciding as the leaky bucket does with one time per key."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters._limiter import Limiter

K = TypeVar("K")


class GcraLimiter(Limiter[K]):
    """GCRA: the generic cell rate algorithm, deciding as the leaky bucket does with one time per key. See Limiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "gcra"
