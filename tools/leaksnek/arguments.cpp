#include "arguments.hpp"

#include <algorithm>
#include <utility>

#include <leaksnek/detail/arithmetic.hpp>
#include <leaksnek/values/rate_limit.hpp>

namespace leaksnek::cli {

Arguments::Arguments(int argc, char** argv, std::vector<std::string_view> valued, std::vector<std::string_view> flags) {
  bool options_done = false;
  for (int i = 0; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (options_done || arg == "-" || !arg.starts_with("-")) {
      positional_.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string_view name = arg.substr(0, arg.find('='));
    bool has_inline_value = name.size() != arg.size();
    if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
      if (has_inline_value) throw UsageError{"option " + std::string{name} + " takes no value"};
      flags_.emplace_back(name);
    } else if (std::find(valued.begin(), valued.end(), name) != valued.end()) {
      if (has_inline_value) {
        values_.emplace_back(name, arg.substr(name.size() + 1));
      } else if (i + 1 < argc) {
        values_.emplace_back(name, argv[++i]);
      } else {
        throw UsageError{"option " + std::string{name} + " needs a value"};
      }
    } else {
      throw UsageError{"unknown option '" + std::string{arg} + "'"};
    }
  }
}

std::optional<std::string> Arguments::value(std::string_view option) const {
  std::optional<std::string> found;
  for (const auto& [name, value] : values_) {
    if (name == option) found = value;  // the last one given wins
  }
  return found;
}

std::vector<std::string> Arguments::values(std::string_view option) const {
  std::vector<std::string> found;
  for (const auto& [name, value] : values_) {
    if (name == option) found.push_back(value);
  }
  return found;
}

std::optional<std::string> Arguments::value(std::string_view option, std::string_view old_spelling) const {
  std::optional<std::string> given = value(option);
  std::optional<std::string> old = value(old_spelling);
  if (given && old) {
    throw UsageError{"give " + std::string{option} + " only (" + std::string{old_spelling} + " is its old spelling)"};
  }
  return given ? given : old;
}

bool Arguments::flag(std::string_view option) const {
  return std::find(flags_.begin(), flags_.end(), option) != flags_.end();
}

std::int64_t parse_positive(std::string_view option, std::string_view text, std::int64_t max) {
  std::int64_t value = 0;
  bool ok = !text.empty();
  for (char c : text) {
    if (c < '0' || c > '9' || value > (max - (c - '0')) / 10) {
      ok = false;
      break;
    }
    value = value * 10 + (c - '0');
  }
  if (!ok || value == 0) {
    throw UsageError{std::string{option} + ": '" + std::string{text} + "' is not a positive integer (at most " +
                     std::to_string(max) + ")"};
  }
  return value;
}

}  // namespace leaksnek::cli

namespace leaksnek::cli {

Duration parse_duration(std::string_view option, std::string_view text) {
  auto bad = [&]() -> UsageError {
    return UsageError{std::string{option} + ": '" + std::string{text} +
                      "' is not a duration (a number and a unit: 250ms, 2s, 1m; units ns, us, ms, s, m, h)"};
  };
  if (text == "0") return Duration{0};
  std::size_t digits = 0;
  while (digits < text.size() && ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.')) ++digits;
  std::string_view number = text.substr(0, digits);
  std::string_view unit = text.substr(digits);
  constexpr std::pair<std::string_view, std::int64_t> units[] = {{"ns", 1},
                                                                 {"us", 1'000},
                                                                 {"ms", 1'000'000},
                                                                 {"s", 1'000'000'000},
                                                                 {"m", 60'000'000'000},
                                                                 {"h", 3'600'000'000'000}};
  std::int64_t scale = 0;
  for (auto [name, size] : units) {
    if (unit == name) scale = size;
  }
  std::size_t dot = number.find('.');
  std::string_view whole = number.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : number.substr(dot + 1);
  if (scale == 0 || whole.empty() || whole.size() > 9 || fraction.size() > 6 ||
      (dot != std::string_view::npos && fraction.empty()) || fraction.find('.') != std::string_view::npos) {
    throw bad();
  }
  detail::int128 value = 0;
  for (char c : whole) value = value * 10 + (c - '0');
  detail::int128 scaled = value * scale;
  detail::int128 part = 0;
  for (char c : fraction) part = part * 10 + (c - '0');
  for (std::size_t i = fraction.size(); i < 6; ++i) part *= 10;
  scaled += part * scale / 1'000'000;
  if (scaled > detail::int128{RateLimit::max_period.count()}) throw bad();
  return Duration{static_cast<std::int64_t>(scaled)};
}

}  // namespace leaksnek::cli
