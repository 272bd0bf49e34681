#include <leaksnek/shortcuts/rate_limit.hpp>

#include <string>

namespace leaksnek {

namespace {

std::string describe(detail::RateSyntax syntax, std::string_view token) {
  using detail::RateSyntax;
  std::string quoted = "\"" + std::string{token} + "\"";
  switch (syntax) {
    case RateSyntax::ok:
      return {};
    case RateSyntax::empty:
      return "empty rate (expected COUNT/PERIOD, e.g. 10/m)";
    case RateSyntax::missing_slash:
      return "missing '/' between count and period (expected COUNT/PERIOD, e.g. 10/m)";
    case RateSyntax::bad_count:
      return "count " + quoted + " is not a positive integer";
    case RateSyntax::zero_count:
      return "count must be positive, got " + quoted;
    case RateSyntax::count_too_large:
      return "count " + quoted + " is too large (at most 10^15)";
    case RateSyntax::missing_unit:
      return "missing period unit (one of ms, s, m, h, d)";
    case RateSyntax::zero_multiplier:
      return "period multiplier must be positive, got " + quoted;
    case RateSyntax::unknown_unit:
      return "unknown unit " + quoted + " (expected ms, s, sec, second(s), m, minute(s), h, hour(s), d, day(s))";
    case RateSyntax::trailing_text:
      return "unexpected text " + quoted + " after the period";
    case RateSyntax::period_too_long:
      return "period " + quoted + " is too long (at most 100 years)";
    case RateSyntax::bad_multiplier:
      return "period multiplier " + quoted + " is not a number";
    case RateSyntax::period_not_whole_nanoseconds:
      return "period multiplier " + quoted + " does not give a whole number of nanoseconds";
  }
  return "malformed";
}

}  // namespace

RateLimit rl(std::string_view text) {
  detail::RateParse parsed = detail::parse_rate(text);
  if (parsed.syntax != detail::RateSyntax::ok) {
    throw RateError{"invalid rate \"" + std::string{text} + "\": " + describe(parsed.syntax, parsed.token)};
  }
  return RateLimit{parsed.count, parsed.period};
}

}  // namespace leaksnek
