"""RateStorage: where keys' states live (the seed's interface). Subclass it to keep state anywhere."""

from __future__ import annotations

import abc
from typing import Generic, TypeVar

from leaksnek.interfaces.values.rate import Rate

K = TypeVar("K")


class RateStorage(abc.ABC, Generic[K]):
    """read() and write() a key's Rate. A limiter over it locks the key with a Mutex around them."""

    @abc.abstractmethod
    def read(self, key: K) -> Rate:
        """The key's state; Rate.default() (or any Rate with operations 0 and no state) when never seen."""

    @abc.abstractmethod
    def write(self, key: K, value: Rate) -> None:
        """Stores the key's state."""
