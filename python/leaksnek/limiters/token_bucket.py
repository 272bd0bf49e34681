"""TokenBucketLimiter: Token bucket: burst tokens, refilled continuously."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters._limiter import Limiter

K = TypeVar("K")


class TokenBucketLimiter(Limiter[K]):
    """Token bucket: burst tokens, refilled continuously. See Limiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "token-bucket"
