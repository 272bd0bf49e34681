"""Test helpers shipped with leaksnek: a ManualClock."""

from leaksnek.testing.manual_clock import ManualClock

__all__ = ["ManualClock"]
