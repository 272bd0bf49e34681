"""AsyncMemoryMutex: an asyncio lock per key, for async storages within one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Hashable
from contextlib import asynccontextmanager
from typing import TypeVar

from leaksnek.interfaces.mutexes.aio.mutex import AsyncMutex

K = TypeVar("K", bound=Hashable)


class AsyncMemoryMutex(AsyncMutex[K]):
    """One asyncio.Lock per key, dropped when nobody holds or awaits it. One event loop."""

    def __init__(self) -> None:
        self._locks: dict[K, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def lock(self, key: K) -> AsyncGenerator[None, None]:
        entry = self._locks.get(key)
        if entry is None:
            entry = (asyncio.Lock(), [0])
            self._locks[key] = entry
        entry[1][0] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1][0] -= 1
            if entry[1][0] == 0:
                del self._locks[key]
