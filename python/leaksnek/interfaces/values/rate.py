"""Rate: a key's state in a storage (the seed's value: operations and updated_at)."""

from __future__ import annotations

import dataclasses
import time
from typing import Self


@dataclasses.dataclass
class Rate:
    """A key's state as a storage keeps it.

    The leaky bucket (one limit) writes the seed's state: `operations`, the bucket's level in whole
    operations, and `updated_at`, the `time.monotonic()` instant at which it held that level (moved
    back by any part of a leak not yet worth a whole operation, so nothing is lost). Every other
    algorithm, and a leaky bucket with several limits, keeps its exact state in `state` (integers to
    store as they are); `operations` then holds the units in use and `updated_at` the time of writing,
    for people to read.
    """

    operations: int
    updated_at: float
    state: tuple[int, ...] = ()

    @classmethod
    def default(cls: type[Self]) -> Self:
        """A key never seen: no operations, now."""
        return cls(operations=0, updated_at=time.monotonic())
