// Clocks: the one place leaksnek reads the time. Everything else takes an
// Instant, so tests can pass literal instants or a ManualClock.
#pragma once

#include <chrono>
#include <concepts>

#include <leaksnek/values/time.hpp>

namespace leaksnek {

// A clock has a now() returning the current Instant, never going backwards.
template <class C>
concept Clock = requires(const C& clock) {
  { clock.now() } -> std::same_as<Instant>;
};

// The process's monotonic clock (std::chrono::steady_clock). Costs one
// clock_gettime (tens of nanoseconds on a VM). Thread-safe.
class SteadyClock {
 public:
  [[nodiscard]] Instant now() const noexcept {
    return Instant{std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch())};
  }
};

}  // namespace leaksnek
