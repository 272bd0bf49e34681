"""rl(), RateLimit, Rate, Decision: the seed's values and their errors."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leaksnek.interfaces.values.rate import Rate
from leaksnek.interfaces.values.rate_limit import RateLimit
from leaksnek.shortcuts.rate_limit import rl


def test_rl_equals_the_seeds_rate_limit() -> None:
    assert rl("1/1.5m") == RateLimit(operations=1, period=timedelta(minutes=1.5))
    assert rl("10/m") == RateLimit(operations=10, period=timedelta(minutes=1))
    assert rl("100/5m") == RateLimit(operations=100, period=timedelta(seconds=300))
    assert rl("100/1.5h") == RateLimit(operations=100, period=timedelta(seconds=5400))
    assert rl("3/d").period == timedelta(days=1)
    assert rl("20/500ms").period == timedelta(milliseconds=500)
    assert rl("10/m") != rl("10/s")
    assert hash(rl("1/1.5m")) == hash(RateLimit(operations=1, period=timedelta(seconds=90)))


def test_rate_limit_repr_reads_as_the_seeds() -> None:
    assert repr(rl("100/m")) == "RateLimit(operations=100, period=datetime.timedelta(seconds=60))"


def test_rl_keeps_periods_finer_than_a_timedelta() -> None:
    assert rl("1/0.0000001s").period_ns == 100
    assert rl("1/0.0000001s") != rl("1/0.0000002s")


def test_rate_limit_is_immutable_and_validated() -> None:
    limit = rl("10/m")
    with pytest.raises(AttributeError):
        limit.operations = 5  # type: ignore[misc]
    with pytest.raises(ValueError, match="count must be a positive integer"):
        RateLimit(operations=0, period=timedelta(seconds=1))
    with pytest.raises(ValueError, match="period must be positive"):
        RateLimit(operations=1, period=timedelta(0))
    assert limit.with_burst(20).burst == 20
    assert limit.with_burst(20) != limit


@pytest.mark.parametrize(
    ("text", "seed", "ours"),
    [
        ("", "Unexpected end of rate limit string.", "empty rate"),
        ("10", "Unexpected end of rate limit string.", "missing '/'"),
        ("10/", "Unexpected end of rate limit string.", "missing period unit"),
        ("10/5", "Unexpected end of rate limit string.", "missing period unit"),
        ("10/x", "Unknown character at position 3:", 'unknown unit "x"'),
        ("1a/m", "Unknown character at position 1:", 'count "1a" is not a positive integer'),
        ("/m", "Unknown character at position 0:", "is not a positive integer"),
        ("10m", "Unknown character at position 2:", "missing '/'"),
        ("10/m!", "Unknown character at position 4:", 'unexpected text "!"'),
        ("0/m", "Unknown character at position 0:", "count must be positive"),
        ("1/0m", "Unknown character at position 2:", "multiplier must be positive"),
        # The seed's own failing cases, and where its scan stops: its phrase and position exactly.
        ("/", "Unexpected end of rate limit string.", 'count "" is not a positive integer'),
        ("1/", "Unexpected end of rate limit string.", "missing period unit"),
        ("1m", "Unknown character at position 1:", "missing '/'"),
        ("1/y", "Unknown character at position 2:", 'unknown unit "y"'),
        ("1/1.5.5m", "Unknown character at position 5:", 'unknown unit ".5m"'),
    ],
)
def test_rl_errors_start_with_the_seeds_phrase_and_name_the_problem(text: str, seed: str, ours: str) -> None:
    with pytest.raises(ValueError) as error:
        rl(text)
    message = str(error.value)
    assert message.startswith(seed)
    assert ours in message
    assert f'invalid rate "{text}"' in message


def test_rate_default_is_a_key_never_seen() -> None:
    rate = Rate.default()
    assert rate.operations == 0
    assert rate.state == ()
    assert Rate(operations=2, updated_at=1.5) == Rate(operations=2, updated_at=1.5)


def test_rate_limit_copies_and_pickles_as_the_seeds_dataclass() -> None:
    import copy
    import pickle

    limit = rl("3/1.5m").with_burst(5)
    assert copy.copy(limit) == limit
    assert copy.deepcopy(limit) == limit
    assert pickle.loads(pickle.dumps(limit)) == limit
    assert pickle.loads(pickle.dumps(limit)).burst == 5
