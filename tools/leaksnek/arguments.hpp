// A small command line parser: `--name value`, `--name=value`, flags and
// positional arguments, with errors that name the argument.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <leaksnek/error.hpp>
#include <leaksnek/values/time.hpp>

namespace leaksnek::cli {

class UsageError : public Error {
 public:
  using Error::Error;
};

class Arguments {
 public:
  // `valued` options take a value; `flags` do not. Throws UsageError on an
  // unknown option or a missing value.
  Arguments(int argc, char** argv, std::vector<std::string_view> valued, std::vector<std::string_view> flags);

  [[nodiscard]] std::optional<std::string> value(std::string_view option) const;
  // The value of `option` or of its `old_spelling` (an alias kept for
  // scripts); throws UsageError when both are given.
  [[nodiscard]] std::optional<std::string> value(std::string_view option, std::string_view old_spelling) const;
  // Every value of `option`, in the order given (an option given more than once).
  [[nodiscard]] std::vector<std::string> values(std::string_view option) const;
  [[nodiscard]] bool flag(std::string_view option) const;
  [[nodiscard]] const std::vector<std::string>& positional() const noexcept { return positional_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::string> flags_;
  std::vector<std::string> positional_;
};

// A positive integer argument; throws UsageError naming `option` otherwise.
std::int64_t parse_positive(std::string_view option, std::string_view text, std::int64_t max);

}  // namespace leaksnek::cli

namespace leaksnek::cli {

// A duration: a non-negative number (up to 6 decimals) and a unit, ns, us,
// ms, s, m or h: "250ms", "2s", "1.5m"; "0" alone is zero. Throws UsageError
// naming `option` otherwise.
Duration parse_duration(std::string_view option, std::string_view text);

}  // namespace leaksnek::cli
