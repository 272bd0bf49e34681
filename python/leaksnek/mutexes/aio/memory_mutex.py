"""AsyncMemoryMutex: an asyncio lock per key, for async storages within one process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Hashable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from leaksnek.interfaces.mutexes.aio.mutex import AsyncMutex

K = TypeVar("K", bound=Hashable)


class AsyncMemoryMutex(AsyncMutex[K]):
    """One lock per key (an asyncio.Lock, or what `lock_factory()` makes: an async context manager),
    dropped when nobody holds or awaits it; `local_lock`, when given (the seed's keyword), guards the
    table of keys' locks. One event loop."""

    def __init__(self, local_lock: Any | None = None, lock_factory: Callable[[], Any] | None = None) -> None:
        self.local_lock = local_lock
        self.lock_factory: Callable[[], Any] = asyncio.Lock if lock_factory is None else lock_factory
        self._locks: dict[K, tuple[Any, list[int]]] = {}

    def _enter(self, key: K) -> tuple[Any, list[int]]:
        entry = self._locks.get(key)
        if entry is None:
            entry = (self.lock_factory(), [0])
            self._locks[key] = entry
        entry[1][0] += 1
        return entry

    @asynccontextmanager
    async def lock(self, key: K) -> AsyncGenerator[None, None]:
        if self.local_lock is None:
            entry = self._enter(key)
        else:
            async with self.local_lock:
                entry = self._enter(key)
        try:
            async with entry[0]:
                yield
        finally:
            entry[1][0] -= 1
            if entry[1][0] == 0 and self._locks.get(key) is entry:
                del self._locks[key]
