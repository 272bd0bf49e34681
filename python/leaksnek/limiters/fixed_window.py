"""FixedWindowLimiter: Fixed window: operations per period, counted in windows aligned on the clock."""

from __future__ import annotations

from typing import TypeVar

from leaksnek.limiters._limiter import Limiter

K = TypeVar("K")


class FixedWindowLimiter(Limiter[K]):
    """Fixed window: operations per period, counted in windows aligned on the clock. See Limiter for the keywords (the seed's: rate_limit, rate_storage, key_mutex)."""

    algorithm = "fixed-window"
