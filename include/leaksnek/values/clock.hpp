// Clocks: the one place leaksnek reads the time or waits for it. Everything
// else takes an Instant, so tests can pass literal instants or a ManualClock.
#pragma once

#include <chrono>
#include <concepts>
#include <thread>

#include <leaksnek/values/time.hpp>

namespace leaksnek {

// A clock has a now() that never goes backwards, and a sleep_until(t) that
// returns once now() >= t. Both are const and thread-safe.
template <class C>
concept Clock = requires(const C& clock, Instant until) {
  { clock.now() } -> std::same_as<Instant>;
  { clock.sleep_until(until) } -> std::same_as<void>;
};

// The process's monotonic clock (std::chrono::steady_clock). now() costs one
// clock_gettime (tens of nanoseconds on a VM). Thread-safe.
class SteadyClock {
 public:
  [[nodiscard]] Instant now() const noexcept {
    return Instant{std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch())};
  }

  // Blocks the calling thread until now() >= until.
  void sleep_until(Instant until) const {
    std::this_thread::sleep_until(std::chrono::steady_clock::time_point{
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(until.time_since_epoch())});
  }
};

// A reference to any Clock, so limiters need no clock template parameter. The
// clock must outlive the ClockRef. Default: a process-wide SteadyClock. Costs
// one indirect call per use. Thread-safe as the clock is.
class ClockRef {
 public:
  ClockRef() noexcept : ClockRef{steady_clock_} {}

  template <Clock C>
  ClockRef(const C& clock) noexcept  // NOLINT(google-explicit-constructor): a reference, passed as the clock
      : clock_{&clock},
        now_{[](const void* c) { return static_cast<const C*>(c)->now(); }},
        sleep_until_{[](const void* c, Instant until) { static_cast<const C*>(c)->sleep_until(until); }} {}

  // A ClockRef to a temporary would dangle.
  template <Clock C>
  ClockRef(const C&& clock) = delete;

  [[nodiscard]] Instant now() const { return now_(clock_); }
  void sleep_until(Instant until) const { sleep_until_(clock_, until); }

 private:
  static inline const SteadyClock steady_clock_{};

  const void* clock_;
  Instant (*now_)(const void*);
  void (*sleep_until_)(const void*, Instant);
};

}  // namespace leaksnek
