// A clock that only moves when told to: inject it instead of SteadyClock in
// tests so that no test sleeps to let a limit pass.
#pragma once

#include <atomic>
#include <cstdint>

#include <leaksnek/values/time.hpp>

namespace leaksnek {

// A Clock whose time is set by hand. Starts at `start` (default 0). Thread-safe:
// the time is one atomic, so other threads may read it while a test advances it.
class ManualClock {
 public:
  explicit ManualClock(Instant start = Instant{}) noexcept : now_ns_{detail::nanos(start)} {}

  // The current time. Thread-safe.
  [[nodiscard]] Instant now() const noexcept { return Instant{Duration{now_ns_.load(std::memory_order_acquire)}}; }

  // Moves the clock forward by `by` (a negative `by` moves it back, for tests of
  // clocks that misbehave). Thread-safe.
  void advance(Duration by) noexcept { now_ns_.fetch_add(by.count(), std::memory_order_acq_rel); }

  // Sets the clock to `to`. Thread-safe.
  void set(Instant to) noexcept { now_ns_.store(detail::nanos(to), std::memory_order_release); }

 private:
  std::atomic<std::int64_t> now_ns_;
};

}  // namespace leaksnek
