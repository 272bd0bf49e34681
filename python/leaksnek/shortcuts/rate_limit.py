"""rl("10/m"): a RateLimit from text, parsed by the C++ core.

Grammar: COUNT "/" [MULTIPLIER] UNIT, no spaces; MULTIPLIER an integer or decimal ("1/1.5m" is one
per 90 seconds, exactly); UNIT one of ms, s, sec, second(s), m, minute(s), h, hour(s), d, day(s).
A malformed text raises ValueError starting with the seed's phrase ("Unexpected end of rate limit
string." or "Unknown character at position N:", N from 0) and then naming the problem.
"""

from leaksnek import _leaksnek
from leaksnek.interfaces.values.rate_limit import RateLimit


def rl(rate_limit: str) -> RateLimit:
    """Parses "10/m" into RateLimit(operations=10, period=timedelta(minutes=1))."""
    count, nanoseconds = _leaksnek.parse_rate(rate_limit)
    return RateLimit._exact(count, nanoseconds)
