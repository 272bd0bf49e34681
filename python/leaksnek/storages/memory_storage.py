"""MemoryStorage: keys' states in this process, decided in one step in C++ (the fast path)."""

from __future__ import annotations

import threading
import time
from typing import Any, TypeVar

from leaksnek import _leaksnek
from leaksnek.interfaces.storages.rate_store import RateStorage
from leaksnek.interfaces.values.rate import Rate

K = TypeVar("K")


class MemoryStorage(RateStorage[K]):
    """The C++ MemoryStorage: sharded, bounded, forgets idle keys that are back to full.

    A limiter over it decides each request in one C++ step, without a mutex (key_mutex is then
    not used). `max_keys` caps the keys tracked per policy (0: no cap; least recently used go first).
    Keys: str, bytes, int, float, None, Enum members, UUIDs, frozen dataclasses, and tuples and
    frozensets of them; others raise TypeError. Thread-safe.

    read() and write() are the seed's, on the limiters' own state: write() sets a key's state in
    every limiter's table that can read it (written before any limiter, in the first one bound),
    read() returns it from the last one bound that has the key (a Rate.default() when none has
    it), so that a test can seed or
    inspect a key as with the seed's MemoryStorage. Each takes the key's shard exclusively: for
    tests and tools, not for deciding. Only the one-limit leaky bucket's state fits the seed's
    operations and updated_at alone; other algorithms' Rates carry their state in Rate.state
    (operations is then 0). Without a limiter bound, a plain dict.
    """

    def __init__(self, max_keys: int = 0, shards: int = 64) -> None:
        self._core = _leaksnek.MemoryStorage(max_keys=max_keys, shards=shards)
        self._rates: dict[K, Rate] = {}  # written by hand before any limiter is bound
        self._rates_lock = threading.Lock()
        # (FastLimiter, codec, clock) of the limiters over it, one per policy table (the latest).
        self._bound: dict[Any, tuple[Any, Any, Any]] = {}

    def read(self, key: K) -> Rate:
        with self._rates_lock:
            bound = list(self._bound.values())
            rate = self._rates.get(key)
        if not bound:
            return Rate.default() if rate is None else rate
        for fast, codec, clock in reversed(bound):
            fields = fast.stored_fields(key)
            if fields is not None:
                now = time.monotonic_ns() if clock is None else clock.now_ns()
                return codec.rate(fields, now, 0)
        return Rate.default()

    def write(self, key: K, value: Rate) -> None:
        with self._rates_lock:
            bound = list(self._bound.values())
            if not bound:
                self._rates[key] = value
                return
        # Into every limiter's table that can read it (an algorithm's Rate.state
        # fits no other's); refused only when none can.
        refusals: list[ValueError] = []
        for fast, codec, _ in bound:
            try:
                fast.store_fields(key, codec.fields(value))
            except (ValueError, TypeError, OverflowError) as error:
                refusals.append(error)
        if len(refusals) == len(bound):
            raise refusals[0]

    def _bind(self, table: Any, fast: Any, codec: Any, clock: Any) -> None:
        """A limiter over this storage (`table`: what names its state, so that limiters made again and
        again keep one entry). What was written before any limiter reaches the first one bound (what
        it cannot read is dropped); later writes go to the tables alone."""
        with self._rates_lock:
            written = [] if self._bound else list(self._rates.items())
            self._rates.clear()
            self._bound.pop(table, None)
            self._bound[table] = (fast, codec, clock)
        for key, value in written:
            try:
                fast.store_fields(key, codec.fields(value))
            except (ValueError, TypeError, OverflowError):
                pass

    def statistics(self) -> dict[str, int]:
        """Keys tracked by limiters, evicted by the cap, forgotten once fresh."""
        return self._core.statistics()
