"""async_rate_limit(): the seed's decorator for coroutine functions and async limiters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from leaksnek.interfaces.limiters.aio.rate_limiter import AsyncRateLimiter

T = TypeVar("T")
K = TypeVar("K")
P = ParamSpec("P")


def async_rate_limit(
    rate_limiter: AsyncRateLimiter[K], key: Callable[P, K], default: T
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Wraps a coroutine function: over the limit it is not awaited and `default` is returned."""

    def decorator(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @wraps(function)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            if await rate_limiter.limit_exceeded(key(*args, **kwargs)):
                return default
            return await function(*args, **kwargs)

        return wrapper

    return decorator
