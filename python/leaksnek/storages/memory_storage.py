"""MemoryStorage: keys' states in this process, decided in one step in C++ (the fast path)."""

from __future__ import annotations

import threading
from typing import TypeVar

from leaksnek import _leaksnek
from leaksnek.interfaces.storages.rate_store import RateStorage
from leaksnek.interfaces.values.rate import Rate

K = TypeVar("K")


class MemoryStorage(RateStorage[K]):
    """The C++ MemoryStorage: sharded, bounded, forgets idle keys that are back to full.

    A limiter over it decides each request in one C++ step, without a mutex (key_mutex is then
    not used). `max_keys` caps the keys tracked per policy (0: no cap; least recently used go first).
    Keys: str, bytes, int, float, None, tuples and frozensets of them, and values whose type defines
    __repr__ (keyed by type and repr); others raise TypeError. Thread-safe.

    read() and write() are the seed's, for code that drives a storage by hand; limiters do not use them.
    """

    def __init__(self, max_keys: int = 0, shards: int = 64) -> None:
        self._core = _leaksnek.MemoryStorage(max_keys=max_keys, shards=shards)
        self._rates: dict[K, Rate] = {}
        self._rates_lock = threading.Lock()

    def read(self, key: K) -> Rate:
        with self._rates_lock:
            rate = self._rates.get(key)
        return Rate.default() if rate is None else rate

    def write(self, key: K, value: Rate) -> None:
        with self._rates_lock:
            self._rates[key] = value

    def statistics(self) -> dict[str, int]:
        """Keys tracked by limiters, evicted by the cap, forgotten once fresh."""
        return self._core.statistics()
