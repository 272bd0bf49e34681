// Exact integer helpers shared by the algorithms. Values that can exceed 64
// bits (time scaled by a count) are carried in 128 bits; divisions take the
// 64-bit path whenever the operands fit, which is almost always.
#pragma once

#include <cstdint>
#include <limits>

namespace leaksnek::detail {

__extension__ using int128 = __int128;  // __extension__: no -Wpedantic warning
__extension__ using uint128 = unsigned __int128;

constexpr bool fits_int64(int128 v) { return v == static_cast<std::int64_t>(v); }

// A 128-bit integer stored as two 64-bit halves: 8-byte aligned, so a state
// holding one packs into 8-byte slots of a hash map (an int128 would force 16).
struct Packed128 {
  std::int64_t high = 0;
  std::uint64_t low = 0;

  constexpr Packed128() = default;
  constexpr Packed128(int128 value)  // NOLINT(google-explicit-constructor): stands in for an int128
      : high{static_cast<std::int64_t>(value >> 64)}, low{static_cast<std::uint64_t>(value)} {}
  constexpr operator int128() const {  // NOLINT(google-explicit-constructor)
    return static_cast<int128>((static_cast<uint128>(static_cast<std::uint64_t>(high)) << 64) | low);
  }
};

// The rare case of floor_div, out of line: operands beyond 64 bits.
[[gnu::noinline]] constexpr int128 floor_div_wide(int128 a, int128 b) {
  int128 q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// floor(a / b) for b > 0. One 64-bit division when both fit, as they almost
// always do; the decision path calls it twice, so it is forced inline.
[[gnu::always_inline]] constexpr int128 floor_div(int128 a, int128 b) {
  if (fits_int64(a) && fits_int64(b)) [[likely]] {
    auto a64 = static_cast<std::int64_t>(a);
    auto b64 = static_cast<std::int64_t>(b);
    std::int64_t q = a64 / b64;
    return (a64 % b64 != 0 && a64 < 0) ? q - 1 : q;
  }
  return floor_div_wide(a, b);
}

// ceil(a / b) for b > 0.
[[gnu::always_inline]] constexpr int128 ceil_div(int128 a, int128 b) { return -floor_div(-a, b); }

// Clamps to int64 (saturating), for durations reported to callers.
constexpr std::int64_t saturate(int128 v) {
  if (v > std::numeric_limits<std::int64_t>::max()) return std::numeric_limits<std::int64_t>::max();
  if (v < std::numeric_limits<std::int64_t>::min()) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(v);
}

}  // namespace leaksnek::detail
