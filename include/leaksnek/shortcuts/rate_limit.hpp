// The rate shortcut: rl("10/m") at run time, "10/m"_rl checked at compile time.
//
// Grammar: COUNT "/" [MULTIPLIER] UNIT, nothing else (no spaces). COUNT is a
// positive integer; MULTIPLIER is a positive integer or decimal, as in the
// seed ("1/1.5m" is one per 90 seconds), taken exactly: the period must be a
// whole number of nanoseconds. UNIT is one of ms, s, sec, second, seconds, m,
// minute, minutes, h, hour, hours, d, day, days. Examples: "10/m", "100/s",
// "5/10s", "20/500ms", "3/d", "10/minute", "3/0.5s".
#pragma once

#include <cstdint>
#include <string_view>

#include <leaksnek/detail/arithmetic.hpp>
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
  bad_multiplier,
  period_not_whole_nanoseconds,
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
  // The multiplier: whole part, then an optional fraction (digits after a point).
  std::int64_t whole = 1;
  std::string_view fraction;
  bool has_multiplier = false;
  if (pos < period_text.size() && (is_digit(period_text[pos]) || period_text[pos] == '.')) {
    has_multiplier = true;
    whole = 0;
    constexpr std::int64_t max_whole = RateLimit::max_period.count();
    while (pos < period_text.size() && is_digit(period_text[pos])) {
      int digit = period_text[pos] - '0';
      if (whole > (max_whole - digit) / 10) return {RateSyntax::period_too_long, period_text};
      whole = whole * 10 + digit;
      ++pos;
    }
    bool digits_before_point = pos > 0;
    if (pos < period_text.size() && period_text[pos] == '.') {
      std::size_t begin = ++pos;
      while (pos < period_text.size() && is_digit(period_text[pos])) ++pos;
      fraction = period_text.substr(begin, pos - begin);
      if (!digits_before_point && fraction.empty()) return {RateSyntax::bad_multiplier, period_text.substr(0, pos)};
    }
    while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  }
  std::string_view multiplier_text = period_text.substr(0, pos);
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
  if (whole > RateLimit::max_period.count() / unit_ns) return {RateSyntax::period_too_long, period_text};
  // The fraction's nanoseconds, exactly: digits * unit / 10^digits must be
  // whole. No unit is divisible by 10^12, so more than 18 significant fraction
  // digits can never give whole nanoseconds.
  std::int64_t fraction_ns = 0;
  if (!fraction.empty()) {
    if (fraction.size() > 18) return {RateSyntax::period_not_whole_nanoseconds, multiplier_text};
    detail::int128 digits = 0;
    detail::int128 scale = 1;
    for (char c : fraction) {
      digits = digits * 10 + (c - '0');
      scale *= 10;
    }
    detail::int128 scaled = digits * unit_ns;
    if (scaled % scale != 0) return {RateSyntax::period_not_whole_nanoseconds, multiplier_text};
    fraction_ns = static_cast<std::int64_t>(scaled / scale);
  }
  if (has_multiplier && whole == 0 && fraction_ns == 0) return {RateSyntax::zero_multiplier, multiplier_text};
  std::int64_t period = whole * unit_ns;
  if (fraction_ns > RateLimit::max_period.count() - period) return {RateSyntax::period_too_long, period_text};
  return {RateSyntax::ok, {}, count, Duration{period + fraction_ns}};
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
void rate_literal_multiplier_is_not_a_number();
void rate_literal_period_is_not_whole_nanoseconds();

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
    case detail::RateSyntax::bad_multiplier:
      detail::rate_literal_multiplier_is_not_a_number();
      break;
    case detail::RateSyntax::period_not_whole_nanoseconds:
      detail::rate_literal_period_is_not_whole_nanoseconds();
      break;
  }
  return RateLimit{parsed.count, parsed.period};
}

}  // namespace literals

}  // namespace leaksnek
