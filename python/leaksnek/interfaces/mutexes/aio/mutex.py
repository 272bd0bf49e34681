"""AsyncMutex: an asynchronous lock per key (the seed's interface)."""

from __future__ import annotations

import abc
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, TypeVar

K = TypeVar("K")


class AsyncMutex(abc.ABC, Generic[K]):
    """lock(key) is an async context manager holding the key's lock."""

    @abc.abstractmethod
    def lock(self, key: K) -> AbstractAsyncContextManager[Any]:
        """Holds `key`'s lock inside the `async with` block."""
