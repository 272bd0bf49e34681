"""Decision: what try_acquire() and acquire() return (allowed, limit, remaining, retry_after, reset_after)."""

from leaksnek._leaksnek import Decision

__all__ = ["Decision"]
