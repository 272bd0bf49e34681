// The rate shortcut: rl("10/m") at run time, "10/m"_rl checked at compile time.
//
// Grammar: COUNT "/" [MULTIPLIER] UNIT, nothing else (no spaces). COUNT and
// MULTIPLIER are positive integers; UNIT is one of ms, s, sec, second, seconds,
// m, minute, minutes, h, hour, hours, d, day, days. Examples: "10/m", "100/s",
// "5/10s", "20/500ms", "3/d", "10/minute".
#pragma once

#include <cstdint>
#include <string_view>

#include <leaksnek/values/rate_limit.hpp>

namespace leaksnek {

namespace detail {

enum class RateSyntax {
  ok,
  empty,
  missing_slash,
  bad_count,
  zero_count,
  count_too_large,
  missing_unit,
  zero_multiplier,
  unknown_unit,
  trailing_text,
  period_too_long,
};

// Where parsing stopped and why; `token` is the offending part of the input.
struct RateParse {
  RateSyntax syntax = RateSyntax::ok;
  std::string_view token;
  std::int64_t count = 0;
  Duration period{0};
};

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Nanoseconds per unit name, 0 when the name is not a unit.
constexpr std::int64_t unit_nanoseconds(std::string_view unit) {
  constexpr std::int64_t second = 1'000'000'000;
  if (unit == "ms") return 1'000'000;
  if (unit == "s" || unit == "sec" || unit == "second" || unit == "seconds") return second;
  if (unit == "m" || unit == "minute" || unit == "minutes") return 60 * second;
  if (unit == "h" || unit == "hour" || unit == "hours") return 3600 * second;
  if (unit == "d" || unit == "day" || unit == "days") return 86400 * second;
  return 0;
}

// Parses the rate grammar without throwing, so that the same code serves rl()
// (run time, throws with a message) and _rl (compile time).
constexpr RateParse parse_rate(std::string_view text) {
  if (text.empty()) return {RateSyntax::empty, text};
  std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return {RateSyntax::missing_slash, text};

  std::string_view count_text = text.substr(0, slash);
  if (count_text.empty()) return {RateSyntax::bad_count, count_text};
  std::int64_t count = 0;
  for (char c : count_text) {
    if (!is_digit(c)) return {RateSyntax::bad_count, count_text};
    count = count * 10 + (c - '0');
    if (count > RateLimit::max_count) return {RateSyntax::count_too_large, count_text};
  }
  if (count == 0) return {RateSyntax::zero_count, count_text};

  std::string_view period_text = text.substr(slash + 1);
  std::size_t pos = 0;
  std::int64_t multiplier = 1;
  if (pos < period_text.size() && is_digit(period_text[pos])) {
    multiplier = 0;
    constexpr std::int64_t max_multiplier = RateLimit::max_period.count();
    while (pos < period_text.size() && is_digit(period_text[pos])) {
      int digit = period_text[pos] - '0';
      if (multiplier > (max_multiplier - digit) / 10) return {RateSyntax::period_too_long, period_text};
      multiplier = multiplier * 10 + digit;
      ++pos;
    }
    if (multiplier == 0) return {RateSyntax::zero_multiplier, period_text.substr(0, pos)};
  }
  std::size_t unit_begin = pos;
  while (pos < period_text.size() && is_letter(period_text[pos])) ++pos;
  std::string_view unit = period_text.substr(unit_begin, pos - unit_begin);
  if (unit.empty()) {
    return {pos < period_text.size() ? RateSyntax::unknown_unit : RateSyntax::missing_unit,
            period_text.substr(unit_begin)};
  }
  std::int64_t unit_ns = unit_nanoseconds(unit);
  if (unit_ns == 0) return {RateSyntax::unknown_unit, unit};
  if (pos != period_text.size()) return {RateSyntax::trailing_text, period_text.substr(pos)};
  if (multiplier > RateLimit::max_period.count() / unit_ns) return {RateSyntax::period_too_long, period_text};
  return {RateSyntax::ok, {}, count, Duration{multiplier * unit_ns}};
}

// Each function names one way a rate literal can be malformed. They are not
// constexpr on purpose: calling one while evaluating "..."_rl at compile time
// fails the build with an error that carries the function's name.
void rate_literal_is_empty();
void rate_literal_lacks_slash_between_count_and_period();
void rate_literal_count_is_not_a_positive_integer();
void rate_literal_count_is_too_large();
void rate_literal_lacks_period_unit();
void rate_literal_period_multiplier_is_zero();
void rate_literal_has_unknown_unit();
void rate_literal_has_trailing_text();
void rate_literal_period_is_too_long();

}  // namespace detail

// Parses a rate such as "10/m" into a RateLimit (burst = count). Throws
// RateError naming the input and the problem, e.g. `invalid rate "10/x":
// unknown unit "x"`. Costs a few dozen nanoseconds; call it once, not per request.
RateLimit rl(std::string_view text);

inline namespace literals {

// "10/m"_rl: a RateLimit checked at compile time. A malformed literal does not
// compile; the error names the problem (e.g. rate_literal_has_unknown_unit).
consteval RateLimit operator""_rl(const char* text, std::size_t size) {
  detail::RateParse parsed = detail::parse_rate({text, size});
  switch (parsed.syntax) {
    case detail::RateSyntax::ok:
      break;
    case detail::RateSyntax::empty:
      detail::rate_literal_is_empty();
      break;
    case detail::RateSyntax::missing_slash:
      detail::rate_literal_lacks_slash_between_count_and_period();
      break;
    case detail::RateSyntax::bad_count:
    case detail::RateSyntax::zero_count:
      detail::rate_literal_count_is_not_a_positive_integer();
      break;
    case detail::RateSyntax::count_too_large:
      detail::rate_literal_count_is_too_large();
      break;
    case detail::RateSyntax::missing_unit:
      detail::rate_literal_lacks_period_unit();
      break;
    case detail::RateSyntax::zero_multiplier:
      detail::rate_literal_period_multiplier_is_zero();
      break;
    case detail::RateSyntax::unknown_unit:
      detail::rate_literal_has_unknown_unit();
      break;
    case detail::RateSyntax::trailing_text:
      detail::rate_literal_has_trailing_text();
      break;
    case detail::RateSyntax::period_too_long:
      detail::rate_literal_period_is_too_long();
      break;
  }
  return RateLimit{parsed.count, parsed.period};
}

}  // namespace literals

}  // namespace leaksnek
