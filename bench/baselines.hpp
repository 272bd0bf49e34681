// What the benchmarks compare leaksnek with: the least a limiter must do, in
// plain code measured in the same run.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace leaksnek::bench {

// 10^9 per second, burst 100: every request is allowed (a write each time),
// whether time comes from the clock or advances 1 ns per call.
constexpr std::int64_t emission_ns = 1;
constexpr std::int64_t tolerance_ns = 100;

inline std::int64_t steady_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The textbook GCRA step on one word: allowed iff max(tat, now) + T - now <= tau.
inline bool gcra_step(std::int64_t& tat, std::int64_t now) {
  std::int64_t next = std::max(tat, now) + emission_ns;
  if (next - now > tolerance_ns) return false;
  tat = next;
  return true;
}

// The same step on one shared word, with a compare-and-swap loop: the floor
// for one key decided from several threads.
inline bool atomic_gcra_step(std::atomic<std::int64_t>& tat, std::int64_t now) {
  std::int64_t expected = tat.load(std::memory_order_relaxed);
  for (;;) {
    std::int64_t desired = expected;
    if (!gcra_step(desired, now)) return false;
    if (tat.compare_exchange_weak(expected, desired, std::memory_order_acq_rel)) return true;
  }
}

// `count` keys of 12 bytes ("user:0000042"): inside the std::string itself.
inline std::vector<std::string> make_keys(std::size_t count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  char text[32];
  for (std::size_t i = 0; i < count; ++i) {
    std::snprintf(text, sizeof text, "user:%07zu", i);
    keys.emplace_back(text);
  }
  return keys;
}

}  // namespace leaksnek::bench
