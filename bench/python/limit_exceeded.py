"""limit_exceeded() from Python: leaksnek (C++ core, MemoryStorage) against the `limits` package
(Debian's python3-limits: memory storage, fixed window), in the same run.

    build/python-venv/bin/python bench/python/limit_exceeded.py   (after scripts/python_test.sh)

Each case makes the same decisions on both: one hot key, then 10,000 keys in turn, under a limit
that allows every request (the common case), then under one that denies. Prints ns per call and
the speedup; the best of 5 repeats.
"""

from __future__ import annotations

import sys
import timeit

import limits
import limits.storage
import limits.strategies

from leaksnek.limiters.fixed_window import FixedWindowLimiter
from leaksnek.limiters.gcra import GcraLimiter
from leaksnek.limiters.leaky_bucket import LeakyBucketLimiter
from leaksnek.shortcuts.rate_limit import rl
from leaksnek.storages.memory_storage import MemoryStorage

CALLS = 200_000
KEYS = [f"user:{i}" for i in range(10_000)]


def per_call_ns(statement) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(statement, number=CALLS, repeat=5)) / CALLS * 1e9


def hot_key(check) -> float:  # type: ignore[no-untyped-def]
    return per_call_ns(lambda: check("user:1"))


def many_keys(check) -> float:  # type: ignore[no-untyped-def]
    keys = KEYS
    count = len(keys)
    state = {"i": 0}

    def one() -> None:
        i = state["i"]
        check(keys[i])
        state["i"] = (i + 1) % count

    return per_call_ns(one)


def limits_check(rate: str):  # type: ignore[no-untyped-def]
    limiter = limits.strategies.FixedWindowRateLimiter(limits.storage.MemoryStorage())
    item = limits.parse(rate)
    return lambda key: not limiter.hit(item, key)


def main() -> int:
    print(f"Python {sys.version.split()[0]}, limits {limits.__version__}; ns per limit_exceeded() call")
    print(f"{'case':44} {'limits':>8} {'leaksnek':>9} {'speedup':>8}")
    worst = float("inf")
    print(f"(the harness alone, a no-op check: {hot_key(lambda key: False):.0f} ns hot key, "
          f"{many_keys(lambda key: False):.0f} ns over 10,000 keys; included in every figure)")
    for label, ours_rate, theirs_rate in [
        ("allowed", "1000000000/m", "1000000000/minute"),
        ("denied", "1/h", "1/hour"),
    ]:
        for shape, run in [("hot key", hot_key), ("10,000 keys", many_keys)]:
            theirs = run(limits_check(theirs_rate))
            for name, cls in [
                ("fixed window", FixedWindowLimiter),
                ("leaky bucket", LeakyBucketLimiter),
                ("gcra", GcraLimiter),
            ]:
                ours = run(cls[str](rate_limit=rl(ours_rate), rate_storage=MemoryStorage()).limit_exceeded)
                worst = min(worst, theirs / ours)
                print(f"{label + ', ' + shape + ', ' + name:44} {theirs:8.0f} {ours:9.0f} {theirs / ours:7.1f}x")
    print(f"slowest speedup: {worst:.1f}x (target: 5x)")
    return 0 if worst >= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
