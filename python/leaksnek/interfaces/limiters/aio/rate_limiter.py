"""AsyncRateLimiter: the seed's asynchronous limiter interface."""

from __future__ import annotations

import abc
from typing import Generic, TypeVar

K = TypeVar("K")


class AsyncRateLimiter(abc.ABC, Generic[K]):
    """await limit_exceeded(key): True when one more request for `key` is over the limit."""

    @abc.abstractmethod
    async def limit_exceeded(self, key: K) -> bool:
        """True when over the limit; False when allowed (and consumed)."""
