"""RateLimiter: what users call (the seed's interface)."""

from __future__ import annotations

import abc
from typing import Generic, TypeVar

K = TypeVar("K")


class RateLimiter(abc.ABC, Generic[K]):
    """limit_exceeded(key): True when one more request for `key` is over the limit (nothing consumed)."""

    @abc.abstractmethod
    def limit_exceeded(self, key: K) -> bool:
        """True when over the limit; False when allowed (and consumed)."""
