"""rate_limit(): the seed's decorator, returning `default` instead of calling when over the limit."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from leaksnek.interfaces.limiters.rate_limiter import RateLimiter

T = TypeVar("T")
K = TypeVar("K")
P = ParamSpec("P")


def rate_limit(
    rate_limiter: RateLimiter[K], key: Callable[P, K], default: T
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Wraps a function: `key(*args, **kwargs)` names the call's key; over the limit, the function
    is not called and `default` is returned."""

    def decorator(function: Callable[P, T]) -> Callable[P, T]:
        @wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            if rate_limiter.limit_exceeded(key(*args, **kwargs)):
                return default
            return function(*args, **kwargs)

        return wrapper

    return decorator
