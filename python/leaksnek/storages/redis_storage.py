"""RedisStorage: keys' states in Redis, each decision one round trip of a script on the server."""

from __future__ import annotations

from typing import TypeVar

from leaksnek import _leaksnek
from leaksnek.interfaces.storages.rate_store import RateStorage
from leaksnek.interfaces.values.rate import Rate

K = TypeVar("K")


class RedisStorage(RateStorage[K]):
    """The C++ RedisStorage (hiredis): a limiter over it decides each request in one FCALL of a Lua
    mirror of its algorithm, on the Redis server's clock, exact across processes; no key_mutex.

    `url`: redis://[user:password@]host[:port][/db] or redis-cluster://host:port[,host:port...].
    `prefix` starts every key written; `timeout` (seconds) bounds each call; `on_error` says what
    decides while Redis cannot be reached: "local" (this process's memory), "fail-open" or
    "fail-closed". The round trip runs with the GIL released; async limiters run it in a thread.
    Thread-safe.
    """

    def __init__(self, url: str = "redis://127.0.0.1:6379", *, prefix: str = "leaksnek:", timeout: float = 0.25,
                 on_error: str = "local") -> None:
        self._core = _leaksnek.RedisStorage(url, prefix, timeout, on_error)

    def read(self, key: K) -> Rate:
        raise NotImplementedError("RedisStorage decides on the server: use it through a limiter")

    def write(self, key: K, value: Rate) -> None:
        raise NotImplementedError("RedisStorage decides on the server: use it through a limiter")
