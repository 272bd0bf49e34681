"""MemoryMutex: a lock per key in this process, made by `lock_factory` (the seed's)."""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Generic, TypeVar

from leaksnek.interfaces.mutexes.mutex import Mutex

K = TypeVar("K", bound=Hashable)
L = TypeVar("L", bound=AbstractContextManager[Any])


class MemoryMutex(Mutex[K], Generic[K, L]):
    """`local_lock` guards the table of keys' locks; `lock_factory()` makes a key's lock on first use.

    Used with a Python storage, a limiter holds lock(key) around read and write. A limiter over
    MemoryStorage needs no mutex: it decides in one C++ step, and does not use this one.
    """

    def __init__(self, local_lock: L, lock_factory: Callable[[], L]) -> None:
        self.local_lock = local_lock
        self.lock_factory = lock_factory
        self.key_locks: dict[K, L] = {}

    @contextmanager
    def lock(self, key: K) -> Generator[None, None, None]:
        with self.local_lock:
            key_lock = self.key_locks.get(key)
            if key_lock is None:
                key_lock = self.lock_factory()
                self.key_locks[key] = key_lock
        with key_lock:
            yield
