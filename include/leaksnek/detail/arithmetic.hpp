// Exact integer helpers shared by the algorithms. Values that can exceed 64
// bits (time scaled by a count) are carried in 128 bits; divisions take the
// 64-bit path whenever the operands fit, which is almost always.
#pragma once

#include <cstdint>
#include <limits>

namespace leaksnek::detail {

__extension__ using int128 = __int128;  // __extension__: no -Wpedantic warning

constexpr bool fits_int64(int128 v) {
  return v >= std::numeric_limits<std::int64_t>::min() && v <= std::numeric_limits<std::int64_t>::max();
}

// floor(a / b) for b > 0.
constexpr int128 floor_div(int128 a, int128 b) {
  if (fits_int64(a) && fits_int64(b)) {
    auto a64 = static_cast<std::int64_t>(a);
    auto b64 = static_cast<std::int64_t>(b);
    std::int64_t q = a64 / b64;
    return (a64 % b64 != 0 && a64 < 0) ? q - 1 : q;
  }
  int128 q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// ceil(a / b) for b > 0.
constexpr int128 ceil_div(int128 a, int128 b) { return -floor_div(-a, b); }

// Clamps to int64 (saturating), for durations reported to callers.
constexpr std::int64_t saturate(int128 v) {
  if (v > std::numeric_limits<std::int64_t>::max()) return std::numeric_limits<std::int64_t>::max();
  if (v < std::numeric_limits<std::int64_t>::min()) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(v);
}

}  // namespace leaksnek::detail
