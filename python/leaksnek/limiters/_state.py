"""What the limiters share: limits to the core's form, a key's state as a Rate and back."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NamedTuple

from leaksnek import _leaksnek
from leaksnek.interfaces.values.rate import Rate
from leaksnek.interfaces.values.rate_limit import RateLimit
from leaksnek.storages.memory_storage import MemoryStorage
from leaksnek.storages.redis_storage import RedisStorage
from leaksnek.testing.manual_clock import ManualClock, nanoseconds

_MASK64 = (1 << 64) - 1
_NS = 1_000_000_000


def limits_of(rate_limit: RateLimit | Sequence[RateLimit]) -> list[RateLimit]:
    """One RateLimit, or several on each key (1 to 8, all-or-nothing)."""
    limits = [rate_limit] if isinstance(rate_limit, RateLimit) else list(rate_limit)
    for limit in limits:
        if not isinstance(limit, RateLimit):
            raise TypeError(f"rate_limit must be a RateLimit (e.g. rl('10/m')) or a list of them, got {limit!r}")
    return limits


def raw_limits(limits: list[RateLimit]) -> list[tuple[int, int, int]]:
    return [(limit.operations, limit.period_ns, limit.burst) for limit in limits]


def wait_ns(max_wait: float | int | timedelta) -> int:
    """max_wait in seconds or a timedelta, as nanoseconds (not negative)."""
    return max(0, nanoseconds(max_wait))


def now_ns(clock: ManualClock | None) -> int:
    """The limiter's time: the ManualClock's, or time.monotonic_ns() (the C++ steady clock)."""
    return time.monotonic_ns() if clock is None else clock.now_ns()


def seconds_to_ns(seconds: float) -> int:
    """A time.monotonic() instant in whole nanoseconds, rounded from the float's exact value."""
    numerator, denominator = float(seconds).as_integer_ratio()
    return (2 * numerator * _NS + denominator) // (2 * denominator)


class FieldsCodec:
    """Any algorithm's exact state in Rate.state; operations and updated_at only for people to read."""

    def fields(self, rate: Rate | None) -> list[int]:
        if rate is None:
            return []
        if rate.operations > 0 and not rate.state:
            # A storage that dropped Rate.state (keeping only the seed's two
            # fields) would make every key look new: never limited. Refused.
            raise ValueError(
                "the stored Rate has operations but no state: this algorithm keeps its exact state in "
                "Rate.state, which the storage must keep (only the one-limit leaky bucket fits the seed's "
                "operations and updated_at alone)"
            )
        return list(rate.state)

    def rate(self, fields: list[int], now: int, in_use: int) -> Rate:
        return Rate(operations=in_use, updated_at=now / _NS, state=tuple(fields))


class SeedBucketCodec(FieldsCodec):
    """The leaky bucket with one limit, in the seed's Rate(operations, updated_at).

    The core's level is exact (a request is `period_ns` units, and the bucket leaks `operations`
    units a nanosecond). Written as a whole number of operations at an updated_at moved back by the
    leak that part of an operation has had: read back, the level is what it was, up to less than a
    nanosecond of leak (kept, never given away). A Rate with operations 0 is a key never seen.
    """

    def __init__(self, limit: RateLimit) -> None:
        self._unit = limit.period_ns  # units per operation
        self._leak = limit.operations  # units leaked per nanosecond
        self._burst = limit.burst

    def fields(self, rate: Rate | None) -> list[int]:
        if rate is None:
            return []
        if rate.state:
            return list(rate.state)
        operations = int(rate.operations)
        if operations <= 0:
            return []
        level = min(operations, self._burst) * self._unit
        low = level & _MASK64
        if low >= 1 << 63:
            low -= 1 << 64
        return [level >> 64, low, seconds_to_ns(rate.updated_at)]

    def rate(self, fields: list[int], now: int, in_use: int) -> Rate:
        high, low, updated = fields
        level = (high << 64) | (low & _MASK64)
        operations = -(-level // self._unit)
        moved_back = (operations * self._unit - level) // self._leak
        return Rate(operations=operations, updated_at=(updated - moved_back) / _NS)


def codec_for(algorithm: str, limits: list[RateLimit]) -> FieldsCodec:
    if algorithm == "leaky-bucket" and len(limits) == 1:
        return SeedBucketCodec(limits[0])
    return FieldsCodec()


class Binding(NamedTuple):
    """How a limiter decides: `fast` (one C++ step, over MemoryStorage or RedisStorage), or `stepper`
    and `codec` (the pure step on a Rate read from and written to a storage written in Python)."""

    fast: Any | None
    stepper: Any | None
    codec: FieldsCodec | None
    name: str


def bind(
    algorithm: str, limits: list[RateLimit], storage: object, key_mutex: object, name: str | None,
    clock: ManualClock | None, mutex_kind: str
) -> Binding:
    """The sync and the async limiter's shared construction; `mutex_kind` names the mutex a storage
    written in Python needs, for the error when there is none."""
    raw = raw_limits(limits)
    if isinstance(storage, (MemoryStorage, RedisStorage)):
        fast = _leaksnek.FastLimiter(algorithm, raw, storage._core, name, clock)
        if isinstance(storage, MemoryStorage):
            storage._bind((algorithm, fast.name, tuple(raw)), fast, codec_for(algorithm, limits), clock)
        return Binding(fast, None, None, fast.name)
    if key_mutex is None:
        raise ValueError(f"a limiter over a storage of your own needs key_mutex ({mutex_kind})")
    stepper = _leaksnek.Stepper(algorithm, raw, name)
    return Binding(None, stepper, codec_for(algorithm, limits), stepper.name)
