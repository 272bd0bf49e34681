"""RateLimit: `operations` per `period` (the seed's value), with an optional burst."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from leaksnek import _leaksnek

_NS_PER_US = 1000


class RateLimit:
    """`operations` per `period` (a timedelta); `burst` is the bucket family's capacity (default: operations).

    Equal when operations, period and burst are equal: rl("1/1.5m") == RateLimit(operations=1,
    period=timedelta(minutes=1.5)). Immutable and hashable. Raises ValueError for a limit leaksnek
    refuses (operations not in [1, 10^15], period not in (0, 100 years]).
    """

    __slots__ = ("_operations", "_period", "_burst", "_nanoseconds")

    def __init__(self, operations: int, period: timedelta, burst: int | None = None) -> None:
        if not isinstance(period, timedelta):
            raise TypeError(f"period must be a datetime.timedelta, got {type(period).__name__}")
        nanoseconds = (period // timedelta(microseconds=1)) * _NS_PER_US
        self._init(int(operations), period, burst, nanoseconds)

    @classmethod
    def _exact(cls, operations: int, nanoseconds: int, burst: int | None = None) -> RateLimit:
        # A period in nanoseconds; `period` is then the nearest timedelta (it holds microseconds).
        limit = cls.__new__(cls)
        limit._init(operations, timedelta(microseconds=round(nanoseconds / _NS_PER_US)), burst, nanoseconds)
        return limit

    def _init(self, operations: int, period: timedelta, burst: int | None, nanoseconds: int) -> None:
        burst = operations if burst is None else int(burst)
        _leaksnek.check_limit(operations, nanoseconds, burst)
        object.__setattr__(self, "_operations", operations)
        object.__setattr__(self, "_period", period)
        object.__setattr__(self, "_burst", burst)
        object.__setattr__(self, "_nanoseconds", nanoseconds)

    @property
    def operations(self) -> int:
        return self._operations

    @property
    def period(self) -> timedelta:
        return self._period

    @property
    def burst(self) -> int:
        return self._burst

    @property
    def period_ns(self) -> int:
        """The period in nanoseconds, exactly (a timedelta holds only microseconds)."""
        return self._nanoseconds

    def with_burst(self, burst: int) -> RateLimit:
        """The same rate with capacity `burst` for the bucket family (ignored by the window algorithms)."""
        return RateLimit._exact(self._operations, self._nanoseconds, burst)

    def _key(self) -> tuple[int, int, int]:
        return (self._operations, self._nanoseconds, self._burst)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("RateLimit is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        # copy, deepcopy and pickle, as the seed's dataclass allows
        return (RateLimit._exact, self._key())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RateLimit):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        burst = "" if self._burst == self._operations else f", burst={self._burst}"
        return f"RateLimit(operations={self._operations}, period={self._period!r}{burst})"
