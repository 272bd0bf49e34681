// libFuzzer target: `leaksnek serve`'s configuration parser. Any input must
// either parse into a checked configuration or throw ConfigError; nothing
// else (no crash, no other exception, no sanitizer report).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "serve/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  try {
    auto config = leaksnek::cli::parse_serve_config(text, "fuzz.toml");
    if (config.policies.empty()) __builtin_trap();  // a parsed configuration has policies
  } catch (const leaksnek::cli::ConfigError&) {
  }
  return 0;
}
