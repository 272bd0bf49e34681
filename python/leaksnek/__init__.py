"""leaksnek: rate limiting with the Leak Snek API (leak_snek's modules and keywords) on a C++20 core.

    from leaksnek.limiters.leaky_bucket import LeakyBucketLimiter
    from leaksnek.shortcuts.rate_limit import rl
    from leaksnek.storages.memory_storage import MemoryStorage

    limiter = LeakyBucketLimiter[str](rate_limit=rl("10/m"), rate_storage=MemoryStorage())
    if not limiter.limit_exceeded("my_key"):
        ...
"""

from leaksnek._leaksnek import ALGORITHMS

__all__ = ["ALGORITHMS"]
