// "k" + std::to_string(n) without the operator+ that trips GCC 12's
// -Wrestrict false positive at -O2 and above.
#pragma once

#include <cstdint>
#include <string>

namespace leaksnek::testing {

inline std::string numbered(std::string prefix, std::int64_t n) {
  prefix.append(std::to_string(n));
  return prefix;
}

}  // namespace leaksnek::testing
