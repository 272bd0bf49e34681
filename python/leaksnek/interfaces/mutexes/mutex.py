"""Mutex: a lock per key (the seed's interface)."""

from __future__ import annotations

import abc
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

K = TypeVar("K")


class Mutex(abc.ABC, Generic[K]):
    """lock(key) is a context manager holding the key's lock."""

    @abc.abstractmethod
    def lock(self, key: K) -> AbstractContextManager[Any]:
        """Holds `key`'s lock inside the `with` block."""
