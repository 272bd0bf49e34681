"""The six algorithms, Decision, acquire() (the GIL released while it waits), several limits, keys."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from leaksnek import ALGORITHMS
from leaksnek.interfaces.limiters.rate_limiter import RateLimiter
from leaksnek.limiters.fixed_window import FixedWindowLimiter
from leaksnek.limiters.gcra import GcraLimiter
from leaksnek.limiters.leaky_bucket import LeakyBucketLimiter
from leaksnek.limiters.sliding_log import SlidingLogLimiter
from leaksnek.limiters.sliding_window import SlidingWindowLimiter
from leaksnek.limiters.token_bucket import TokenBucketLimiter
from leaksnek.shortcuts.rate_limit import rl
from leaksnek.storages.memory_storage import MemoryStorage
from leaksnek.testing import ManualClock

SECOND = 1_000_000_000
ALL = [LeakyBucketLimiter, GcraLimiter, TokenBucketLimiter, FixedWindowLimiter, SlidingWindowLimiter, SlidingLogLimiter]


def test_every_algorithm_has_a_limiter() -> None:
    assert sorted(cls.algorithm for cls in ALL) == sorted(ALGORITHMS)
    assert all(issubclass(cls, RateLimiter) for cls in ALL)


@pytest.mark.parametrize("limiter_class", ALL)
def test_each_algorithm_allows_its_count_then_denies_then_recovers(limiter_class: type) -> None:
    clock = ManualClock(start=60)
    limiter = limiter_class[str](rate_limit=rl("5/m"), rate_storage=MemoryStorage(), clock=clock)
    decisions = [limiter.try_acquire("k") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[0].limit == 5
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    denied = decisions[5]
    assert denied.retry_after > 0 and not denied.never_allowed
    assert limiter.limit_exceeded("k")
    clock.advance(denied.retry_after_ns / SECOND)
    assert limiter.try_acquire("k").allowed


def test_decision_reports_waits_in_seconds_and_nanoseconds() -> None:
    clock = ManualClock()
    limiter = GcraLimiter[str](rate_limit=rl("2/s"), clock=clock)
    assert limiter.try_acquire("k", 2).allowed
    denied = limiter.try_acquire("k")
    assert not denied.allowed
    assert denied.retry_after_ns == 500_000_000
    assert denied.retry_after == 0.5
    assert denied.reset_after_ns == SECOND
    never = limiter.try_acquire("k", 3)
    assert never.never_allowed and never.retry_after == float("inf")
    assert "allowed=False" in repr(denied)


def test_cost_must_be_positive() -> None:
    limiter = GcraLimiter[str](rate_limit=rl("2/s"))
    with pytest.raises(ValueError, match="cost must be a positive integer"):
        limiter.try_acquire("k", 0)


def test_try_acquire_at_decides_at_an_explicit_time() -> None:
    limiter = TokenBucketLimiter[str](rate_limit=rl("1/s"))
    assert limiter.try_acquire_at("k", 1, 10 * SECOND).allowed
    assert not limiter.try_acquire_at("k", 1, 10 * SECOND + SECOND // 2).allowed
    assert limiter.try_acquire_at("k", 1, 11 * SECOND).allowed


def test_several_limits_per_key_all_or_nothing() -> None:
    clock = ManualClock()
    limiter = GcraLimiter[str](rate_limit=[rl("2/s"), rl("3/m")], clock=clock)
    assert [limiter.limit_exceeded("k") for _ in range(3)] == [False, False, True]
    clock.advance(1)
    assert not limiter.limit_exceeded("k")  # the third of the minute
    clock.advance(1)
    denied = limiter.try_acquire("k")
    assert not denied.allowed  # the minute's limit, though the second's allows
    assert denied.retry_after_ns == 18 * SECOND  # 3/m refills one every 20 s
    assert denied.limit == 3
    clock.advance(18)
    assert limiter.try_acquire("k").allowed  # the denial consumed nothing


def test_keys_are_apart_and_of_any_hashable_type() -> None:
    limiter = FixedWindowLimiter(rate_limit=rl("1/h"))
    keys = ["1", 1, b"1", ("1",), "é"]
    assert [limiter.limit_exceeded(key) for key in keys] == [False] * 5
    assert [limiter.limit_exceeded(key) for key in keys] == [True] * 5
    with pytest.raises(TypeError):
        limiter.limit_exceeded(["unhashable"])


def test_keys_equal_as_dict_keys_are_one_key_and_objects_are_refused() -> None:
    limiter = FixedWindowLimiter(rate_limit=rl("1/h"), rate_storage=MemoryStorage())
    assert not limiter.limit_exceeded(1)
    assert limiter.limit_exceeded(True)  # True == 1, as in a dict
    assert limiter.limit_exceeded(1.0)
    assert not limiter.limit_exceeded(1.5)
    assert not limiter.limit_exceeded((1, "a"))
    assert limiter.limit_exceeded((True, "a"))

    class Anything:
        pass

    with pytest.raises(TypeError, match="a key is a str"):
        limiter.limit_exceeded(Anything())  # its repr names an address a later object may reuse


def test_enum_uuid_frozen_dataclass_and_frozenset_values_are_keys() -> None:
    import dataclasses
    import enum
    import uuid

    class Tier(enum.Enum):
        FREE = 1
        PAID = 2

    @dataclasses.dataclass(frozen=True)
    class Tenant:
        id: int

    limiter = FixedWindowLimiter(rate_limit=rl("1/h"), rate_storage=MemoryStorage())
    user = uuid.UUID(int=42)
    keys = [Tier.FREE, Tier.PAID, user, Tenant(1), Tenant(2), frozenset({"a", "b"}), "\ud800", "\ud801"]
    assert [limiter.limit_exceeded(key) for key in keys] == [False] * len(keys)
    # Equal values are one key: a fresh UUID, a fresh dataclass, a set built in another order.
    again = [Tier.FREE, uuid.UUID(int=42), Tenant(1), frozenset(["b", "a"]), "\ud800"]
    assert [limiter.limit_exceeded(key) for key in again] == [True] * len(again)
    assert not limiter.limit_exceeded(str(user))  # a str is not the UUID

    @dataclasses.dataclass(eq=False)  # hashed by identity
    class Mutable:
        id: int

    for identity_only in (lambda: None, Mutable(1), threading.Lock()):
        with pytest.raises(TypeError, match="a key is a str"):
            limiter.limit_exceeded(identity_only)  # type: ignore[arg-type]

    # Flag members without a name are apart by value.
    class Bits(enum.Flag, boundary=enum.KEEP):
        A = 1

    assert not limiter.limit_exceeded(Bits(0)) and not limiter.limit_exceeded(Bits(2))
    assert limiter.limit_exceeded(Bits(2))

    # A key nested past Python's recursion limit (or cyclic) is a RecursionError, not a crash.
    @dataclasses.dataclass(frozen=True)
    class Node:
        id: int
        next: object = dataclasses.field(default=None, hash=False)

    chain = None
    for i in range(100_000):
        chain = Node(i, chain)
    with pytest.raises(RecursionError):
        limiter.limit_exceeded(chain)


def test_a_subclass_override_is_called_over_memory_storage() -> None:
    calls: list[str] = []

    class Logged(GcraLimiter[str]):
        def try_acquire(self, key, cost=1):  # type: ignore[no-untyped-def]
            calls.append(key)
            return super().try_acquire(key, cost)

    limiter = Logged(rate_limit=rl("1/h"))
    assert not limiter.limit_exceeded("k")  # the base limit_exceeded goes through the override
    assert not limiter.try_acquire("k").allowed
    assert calls == ["k", "k"]


def test_unnamed_equal_limiters_on_one_storage_share_state_named_ones_do_not() -> None:
    storage = MemoryStorage()
    first = LeakyBucketLimiter[str](rate_limit=rl("1/h"), rate_storage=storage)
    second = LeakyBucketLimiter[str](rate_limit=rl("1/h"), rate_storage=storage)
    named = LeakyBucketLimiter[str](rate_limit=rl("1/h"), rate_storage=storage, name="search")
    assert not first.limit_exceeded("k")
    assert second.limit_exceeded("k")
    assert not named.limit_exceeded("k")
    assert named.name == "search"
    assert storage.statistics()["keys"] == 2


def test_acquire_waits_on_the_clock_with_the_gil_released() -> None:
    clock = ManualClock()
    limiter = LeakyBucketLimiter[str](rate_limit=rl("1/s"), clock=clock)
    assert limiter.acquire("k", 1, max_wait=0).allowed
    results = []
    waiter = threading.Thread(target=lambda: results.append(limiter.acquire("k", 1, max_wait=timedelta(seconds=2))))
    waiter.start()
    deadline = time.monotonic() + 10
    while clock.sleepers() == 0 and time.monotonic() < deadline:
        time.sleep(0.001)  # this thread runs Python while the waiter blocks: the GIL is free
    assert clock.sleepers() == 1
    assert not results
    assert not limiter.acquire("k", 1, max_wait=0.5).allowed  # queued behind the waiter, past 0.5 s
    clock.advance(1)
    waiter.join(10)
    assert results and results[0].allowed


def test_acquire_denies_at_once_when_the_wait_is_too_long() -> None:
    clock = ManualClock()
    limiter = GcraLimiter[str](rate_limit=rl("1/m"), clock=clock)
    assert limiter.acquire("k").allowed
    denied = limiter.acquire("k", 1, max_wait=30)
    assert not denied.allowed
    assert clock.sleepers() == 0


def test_memory_storage_caps_its_keys() -> None:
    storage = MemoryStorage(max_keys=64, shards=1)
    limiter = FixedWindowLimiter[int](rate_limit=rl("1/h"), rate_storage=storage)
    for key in range(1000):
        limiter.limit_exceeded(key)
    assert storage.statistics()["keys"] <= 64
    assert storage.statistics()["evicted"] > 0


class _Interrupted(Exception):
    pass


@pytest.mark.parametrize("storage_kind", ["memory", "python"])
def test_an_interrupted_acquire_gives_its_booking_back(storage_kind: str) -> None:
    # A signal handler's exception (as KeyboardInterrupt) ends a long wait at once, and the booked
    # request is given back: the next one waits 20 s, not 40. The real clock, as a user's program.
    import signal

    from test_python_storage import DictStorage, memory_mutex

    if storage_kind == "memory":
        limiter = GcraLimiter[str](rate_limit=rl("1/20s"))
    else:
        limiter = GcraLimiter[str](rate_limit=rl("1/20s"), rate_storage=DictStorage(), key_mutex=memory_mutex())
    assert limiter.acquire("k").allowed

    def interrupt(signum: int, frame: object) -> None:
        raise _Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    started = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)  # well after the booking, even on a busy machine
        with pytest.raises(_Interrupted):
            limiter.acquire("k", 1, max_wait=30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 15  # interrupted, not woken by the limit after 20 s
    denied = limiter.try_acquire("k")
    assert not denied.allowed
    assert 15 < denied.retry_after <= 20


def test_memory_storage_read_and_write_are_the_limiters_own_state() -> None:
    # The seed's pattern: seed a key's state through the storage, then decide.
    from leaksnek.interfaces.values.rate import Rate
    from leaksnek.interfaces.values.rate_limit import RateLimit

    clock = ManualClock(1000)
    storage = MemoryStorage()
    limit = RateLimit(operations=2, period=timedelta(minutes=1))
    limiter = LeakyBucketLimiter[str](rate_limit=limit, rate_storage=storage, clock=clock)
    storage.write("k", Rate(operations=2, updated_at=clock.now() - 30))  # 30 s ago: one of the two has leaked
    assert [limiter.limit_exceeded("k") for _ in range(3)] == [False, True, True]
    assert storage.read("k").operations == 2
    assert storage.read("never").operations == 0 and not storage.read("never").state
    storage.write("k", Rate.default())  # forgets the key: a full allowance again
    assert [limiter.limit_exceeded("k") for _ in range(3)] == [False, False, True]
    # Another limiter of the same policy, made later, leaves the key as it is.
    assert LeakyBucketLimiter[str](rate_limit=limit, rate_storage=storage, clock=clock).limit_exceeded("k")
    # A Rate no limiter over the storage can read is refused, and nothing changes.
    with pytest.raises(ValueError):
        storage.write("k", Rate(operations=0, updated_at=0, state=(1, 2, 3, 4, 5, 6)))
    assert limiter.limit_exceeded("k")
    # Written before any limiter: a limiter bound later starts from it.
    early = MemoryStorage()
    early.write("j", Rate(operations=2, updated_at=clock.now()))
    assert LeakyBucketLimiter[str](rate_limit=limit, rate_storage=early, clock=clock).limit_exceeded("j")
    # Another algorithm: its state round-trips through Rate.state.
    gcra = GcraLimiter[str](rate_limit=rl("1/h"), rate_storage=storage, clock=clock)
    assert not gcra.limit_exceeded("g")
    saved = storage.read("g")
    assert saved.state
    storage.write("g", Rate.default())
    assert not gcra.limit_exceeded("g")
    storage.write("g", saved)
    assert gcra.limit_exceeded("g")


def test_numbers_out_of_range_are_value_errors_and_an_infinite_wait_waits() -> None:
    from leaksnek.interfaces.values.rate_limit import RateLimit

    limiter = GcraLimiter[str](rate_limit=rl("1/s"))
    for call in (
        lambda: limiter.try_acquire("k", 2**63),
        lambda: limiter.try_acquire_at("k", 1, 2**63),
        lambda: limiter.acquire("k", 2**63, max_wait=1),
        lambda: RateLimit(operations=10**30, period=timedelta(seconds=1)),
        lambda: RateLimit(operations=1, period=timedelta.max),
    ):
        with pytest.raises(ValueError, match="out of range"):
            call()
    with pytest.raises(TypeError, match="cost must be an int"):
        limiter.try_acquire("k", 1.5)
    with pytest.raises(ValueError, match="NaN"):
        limiter.acquire("k", 1, max_wait=float("nan"))
    clock = ManualClock()
    patient = GcraLimiter[str](rate_limit=rl("1/s"), clock=clock)
    assert patient.try_acquire("k").allowed
    results = []
    waiter = threading.Thread(target=lambda: results.append(patient.acquire("k", 1, max_wait=float("inf"))))
    waiter.start()
    deadline = time.monotonic() + 10
    while clock.sleepers() == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    clock.advance(1)
    waiter.join(10)
    assert results and results[0].allowed
