"""Storages and mutexes written in Python plug into the limiters; the leaky bucket writes the seed's Rate."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import pytest

from leaksnek.interfaces.mutexes.mutex import Mutex
from leaksnek.interfaces.storages.rate_store import RateStorage
from leaksnek.interfaces.values.rate import Rate
from leaksnek.limiters.fixed_window import FixedWindowLimiter
from leaksnek.limiters.gcra import GcraLimiter
from leaksnek.limiters.leaky_bucket import LeakyBucketLimiter
from leaksnek.limiters.sliding_log import SlidingLogLimiter
from leaksnek.limiters.sliding_window import SlidingWindowLimiter
from leaksnek.limiters.token_bucket import TokenBucketLimiter
from leaksnek.mutexes.memory_mutex import MemoryMutex
from leaksnek.shortcuts.rate_limit import rl
from leaksnek.testing import ManualClock

SECOND = 1_000_000_000


class DictStorage(RateStorage[str]):
    def __init__(self) -> None:
        self.rates: dict[str, Rate] = {}
        self.writes = 0

    def read(self, key: str) -> Rate:
        return self.rates.get(key, Rate.default())

    def write(self, key: str, value: Rate) -> None:
        self.writes += 1
        self.rates[key] = value


class CountingLock:
    """A lock that counts how often it was taken."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entered = 0

    def __enter__(self) -> None:
        self.lock.acquire()
        self.entered += 1

    def __exit__(self, *exc: Any) -> None:
        self.lock.release()


def memory_mutex() -> MemoryMutex[str, threading.Lock]:
    return MemoryMutex[str, threading.Lock](local_lock=threading.Lock(), lock_factory=lambda: threading.Lock())


def test_two_operations_written_30s_ago_at_2_per_minute_have_leaked_one() -> None:
    storage = DictStorage()
    storage.rates["k"] = Rate(operations=2, updated_at=time.monotonic() - 30)
    limiter = LeakyBucketLimiter[str](rate_limit=rl("2/m"), rate_storage=storage, key_mutex=memory_mutex())
    assert not limiter.limit_exceeded("k")
    assert limiter.limit_exceeded("k")
    written = storage.rates["k"]
    assert written.operations == 2
    assert written.state == ()
    assert abs(written.updated_at - time.monotonic()) < 5  # a time.monotonic() instant


def test_leaky_bucket_writes_integer_operations_and_moves_updated_at_back_exactly() -> None:
    clock = ManualClock(start=1000)
    storage = DictStorage()
    limiter = LeakyBucketLimiter[str](rate_limit=rl("2/m"), rate_storage=storage, key_mutex=memory_mutex(), clock=clock)
    assert not limiter.limit_exceeded("k")
    assert storage.rates["k"] == Rate(operations=1, updated_at=1000.0)
    clock.advance(10)  # a third of an operation leaked
    assert not limiter.limit_exceeded("k")
    # Level 2/3 + 1 now: written as 2 operations at 1000, when the bucket held exactly 2.
    assert storage.rates["k"] == Rate(operations=2, updated_at=1000.0)
    assert limiter.limit_exceeded("k")
    clock.advance(19.999)  # still short of one whole operation leaked
    assert limiter.limit_exceeded("k")
    clock.advance(0.001)
    assert not limiter.limit_exceeded("k")


def test_leaky_bucket_rate_round_trips_through_floats_to_the_nanosecond() -> None:
    clock = ManualClock(start=123456.789012345)
    storage = DictStorage()
    limiter = LeakyBucketLimiter[str](rate_limit=rl("3/7s"), rate_storage=storage, key_mutex=memory_mutex(), clock=clock)
    fast = LeakyBucketLimiter[str](rate_limit=rl("3/7s"), clock=clock)
    outcomes = []
    for step in [0, 1, 1, 0.3, 2.3333, 0.000000001, 5, 0.7, 0.1]:
        clock.advance(step)
        python_path = limiter.try_acquire("k")
        fast_path = fast.try_acquire("k")
        outcomes.append(python_path.allowed)
        assert python_path.allowed == fast_path.allowed
        assert python_path.remaining == fast_path.remaining
        # The moved-back time loses under a nanosecond of leak, never gives it away.
        assert 0 <= python_path.retry_after_ns - fast_path.retry_after_ns <= 1
    assert True in outcomes and False in outcomes


def test_seed_written_rate_with_no_operations_is_a_fresh_key() -> None:
    storage = DictStorage()
    storage.rates["k"] = Rate(operations=0, updated_at=time.monotonic())
    limiter = LeakyBucketLimiter[str](rate_limit=rl("3/h"), rate_storage=storage, key_mutex=memory_mutex())
    assert [limiter.limit_exceeded("k") for _ in range(4)] == [False, False, False, True]


def test_memory_mutex_locks_with_the_locks_it_is_given() -> None:
    local = CountingLock()
    made: list[CountingLock] = []

    def factory() -> CountingLock:
        made.append(CountingLock())
        return made[-1]

    mutex = MemoryMutex[str, CountingLock](local_lock=local, lock_factory=factory)
    with mutex.lock("a"):
        assert made[0].lock.locked()
    with mutex.lock("a"):
        pass
    with mutex.lock("b"):
        pass
    assert local.entered == 3
    assert [lock.entered for lock in made] == [2, 1]

    limiter = LeakyBucketLimiter[str](rate_limit=rl("1/h"), rate_storage=DictStorage(), key_mutex=mutex)
    limiter.limit_exceeded("a")
    assert made[0].entered == 3  # a Python storage: the limiter holds the key's lock


def test_a_mutex_written_in_python_serializes_threads_on_one_key() -> None:
    class TrackingMutex(Mutex[str]):
        def __init__(self) -> None:
            self.inner = threading.Lock()
            self.holders = 0
            self.max_holders = 0

        @contextmanager
        def lock(self, key: str) -> Iterator[None]:
            with self.inner:
                self.holders += 1
                self.max_holders = max(self.max_holders, self.holders)
                yield
                self.holders -= 1

    mutex = TrackingMutex()
    limiter = LeakyBucketLimiter[str](rate_limit=rl("50/h"), rate_storage=DictStorage(), key_mutex=mutex)
    allowed = []

    def work() -> None:
        allowed.append(sum(not limiter.limit_exceeded("k") for _ in range(40)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 50
    assert mutex.max_holders == 1


@pytest.mark.parametrize(
    "limiter_class",
    [GcraLimiter, TokenBucketLimiter, FixedWindowLimiter, SlidingWindowLimiter, SlidingLogLimiter],
)
def test_other_algorithms_keep_their_exact_state_in_rate_state(limiter_class: type) -> None:
    clock = ManualClock(start=50)
    storage = DictStorage()
    limiter = limiter_class(rate_limit=rl("3/m"), rate_storage=storage, key_mutex=memory_mutex(), clock=clock)
    fast = limiter_class(rate_limit=rl("3/m"), clock=clock)
    for _ in range(5):
        python_path = limiter.try_acquire("k")
        assert python_path == fast.try_acquire("k")
        clock.advance(7)
    assert storage.rates["k"].state != ()
    assert storage.rates["k"].operations == 3
    clock.advance(120)
    assert limiter.try_acquire("k") == fast.try_acquire("k")


def test_a_python_storage_without_a_mutex_is_refused() -> None:
    with pytest.raises(ValueError, match="key_mutex"):
        LeakyBucketLimiter[str](rate_limit=rl("1/s"), rate_storage=DictStorage())


def test_a_stored_state_with_extra_fields_raises_and_writes_nothing() -> None:
    storage = DictStorage()
    limiter = GcraLimiter[str](rate_limit=rl("1/s"), rate_storage=storage, key_mutex=memory_mutex())
    assert limiter.try_acquire("k").allowed
    written = storage.rates["k"]
    storage.rates["k"] = Rate(operations=written.operations, updated_at=written.updated_at, state=(*written.state, 7))
    writes = storage.writes
    with pytest.raises(ValueError, match="extra fields"):
        limiter.try_acquire("k")
    assert storage.writes == writes


def test_a_corrupt_stored_state_raises_and_writes_nothing() -> None:
    storage = DictStorage()
    storage.rates["k"] = Rate(operations=0, updated_at=0.0, state=(1,))
    limiter = GcraLimiter[str](rate_limit=rl("1/s"), rate_storage=storage, key_mutex=memory_mutex())
    with pytest.raises(ValueError, match="stored rate state"):
        limiter.try_acquire("k")
    assert storage.writes == 0


class SeedFieldsStorage(DictStorage):
    """Keeps only the seed's two fields, as the seed's Redis example does."""

    def write(self, key: str, value: Rate) -> None:
        super().write(key, Rate(operations=value.operations, updated_at=value.updated_at))


def test_a_storage_that_drops_the_state_is_refused_not_silently_unlimited() -> None:
    storage = SeedFieldsStorage()
    limiter = GcraLimiter[str](rate_limit=rl("1/h"), rate_storage=storage, key_mutex=memory_mutex())
    assert limiter.try_acquire("k").allowed
    with pytest.raises(ValueError, match="Rate.state"):
        limiter.try_acquire("k")
    # The one-limit leaky bucket fits the seed's fields alone.
    bucket = LeakyBucketLimiter[str](rate_limit=rl("1/h"), rate_storage=SeedFieldsStorage(), key_mutex=memory_mutex())
    assert not bucket.limit_exceeded("k")
    assert bucket.limit_exceeded("k")
