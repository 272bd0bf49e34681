// A small test-and-test-and-set lock for critical sections of a few dozen
// nanoseconds (one hash-map step). Yields to the scheduler after a short spin,
// so a preempted holder on a 2-core machine does not burn the other core.
#pragma once

#include <atomic>
#include <thread>

namespace leaksnek::detail {

// One step of a wait on another core: a pause for the first 64 steps, then a
// yield, so that a preempted holder on a small machine gets the core back.
inline void spin_wait(int step) noexcept {
  if (step < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    std::this_thread::yield();
  }
}

class SpinLock {
 public:
  void lock() noexcept {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire);) {
      while (locked_.load(std::memory_order_relaxed)) spin_wait(++spins);
    }
  }

  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace leaksnek::detail
