#include "arguments.hpp"

#include <algorithm>

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
