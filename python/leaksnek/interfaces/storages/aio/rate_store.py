"""AsyncRateStorage: the seed's asynchronous storage interface."""

from __future__ import annotations

import abc
from typing import Generic, TypeVar

from leaksnek.interfaces.values.rate import Rate

K = TypeVar("K")


class AsyncRateStorage(abc.ABC, Generic[K]):
    """Awaitable read() and write() of a key's Rate, under an AsyncMutex."""

    @abc.abstractmethod
    async def read(self, key: K) -> Rate:
        """The key's state; Rate.default() when never seen."""

    @abc.abstractmethod
    async def write(self, key: K, value: Rate) -> None:
        """Stores the key's state."""
