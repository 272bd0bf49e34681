// A clock that only moves when told to: inject it instead of SteadyClock in
// tests so that no test sleeps to let a limit pass.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <mutex>
#include <set>

#include <leaksnek/values/time.hpp>

namespace leaksnek {

// A Clock whose time is set by hand. Starts at `start` (default: the epoch).
// sleep_until() blocks until another thread moves the clock far enough, so a
// test of waiting advances time instead of sleeping. Thread-safe.
class ManualClock {
 public:
  explicit ManualClock(Instant start = Instant{}) noexcept : now_ns_{detail::nanos(start)} {}

  // The current time. Thread-safe, lock-free.
  [[nodiscard]] Instant now() const noexcept { return Instant{Duration{now_ns_.load(std::memory_order_acquire)}}; }

  // Moves the clock by `by` (a negative `by` moves it back, for tests of clocks
  // that misbehave) and wakes the sleepers whose time has come. Thread-safe.
  void advance(Duration by) {
    std::lock_guard lock{mutex_};
    now_ns_.fetch_add(by.count(), std::memory_order_acq_rel);
    woken_.notify_all();
  }

  // Sets the clock to `to` and wakes the sleepers whose time has come. Thread-safe.
  void set(Instant to) {
    std::lock_guard lock{mutex_};
    now_ns_.store(detail::nanos(to), std::memory_order_release);
    woken_.notify_all();
  }

  // Blocks until the clock reads at least `until`. Thread-safe.
  void sleep_until(Instant until) const {
    std::unique_lock lock{mutex_};
    auto deadline = deadlines_.insert(until);
    woken_.wait(lock, [&] { return now() >= until; });
    deadlines_.erase(deadline);
  }

  // How many threads are blocked in sleep_until() for a time still to come.
  // A test waits on it to know its waiters are in place before it moves the
  // clock, and that all whose time came have woken before it moves it again.
  // Thread-safe.
  [[nodiscard]] std::size_t sleepers() const {
    std::lock_guard lock{mutex_};
    return static_cast<std::size_t>(std::distance(deadlines_.upper_bound(now()), deadlines_.end()));
  }

 private:
  std::atomic<std::int64_t> now_ns_;
  mutable std::mutex mutex_;
  mutable std::condition_variable woken_;
  mutable std::multiset<Instant> deadlines_;
};

}  // namespace leaksnek
