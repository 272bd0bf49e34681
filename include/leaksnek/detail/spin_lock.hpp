// A small test-and-test-and-set lock for critical sections of a few dozen
// nanoseconds (one hash-map step). Yields to the scheduler after a short spin,
// so a preempted holder on a 2-core machine does not burn the other core.
#pragma once

#include <atomic>
#include <thread>

namespace leaksnek::detail {

class SpinLock {
 public:
  void lock() noexcept {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire);) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          std::this_thread::yield();
        }
      }
    }
  }

  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace leaksnek::detail
