// One key decided from many cores: what each way of updating its state costs,
// at 1, 2, 4, ... threads, beside the one-word floor of leaksnek_scaling's hot
// key case. Every variant reads the steady clock and runs GCRA at 10^9/s,
// burst 100 (every decision allowed), so only the update differs:
//
//   word      one int64 compare-and-swap loop (the floor)
//   cas16     a 16-byte compare-and-swap loop on a 128-bit arrival time,
//             the decision's two divisions inside the loop
//   cas16-out the same, with the divisions after the swap succeeded
//   lock      a per-key spin lock word, the step and its divisions inside
//   lock-out  the same, with the divisions after the unlock
//
// Usage: leaksnek_hot_key_steps [seconds per case, default 0.3] [max threads]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <leaksnek/detail/arithmetic.hpp>
#include <leaksnek/detail/cas16.hpp>
#include <leaksnek/detail/spin_lock.hpp>

#include "baselines.hpp"

namespace {

using leaksnek::detail::int128;
using leaksnek::detail::Words;

volatile std::int64_t per_ns_source = 1'000'000'000;  // units per ns; one token is as many units
volatile std::int64_t burst_source = 100;

struct Scale {
  std::int64_t per_ns = per_ns_source;
  int128 capacity = int128{burst_source} * per_ns_source;
};

// The cheap part: the new arrival time, or none.
inline bool advance(const Scale& scale, int128& tat, int128 now_units) {
  int128 after = std::max(tat, now_units) - now_units + scale.per_ns;
  if (after > scale.capacity) return false;
  tat = now_units + after;
  return true;
}
// The rest of a decision: remaining and reset, two divisions.
inline std::int64_t report(const Scale& scale, int128 tat, int128 now_units) {
  auto used = static_cast<std::int64_t>(tat - now_units);
  auto capacity = static_cast<std::int64_t>(scale.capacity);
  std::int64_t remaining = (capacity - used) / scale.per_ns;
  std::int64_t reset = (used + scale.per_ns - 1) / scale.per_ns;
  return remaining + reset;
}

inline int128 to128(const Words& w) {
  return static_cast<int128>((static_cast<leaksnek::detail::uint128>(w.word[1]) << 64) | w.word[0]);
}
inline Words to_words(int128 v) {
  auto u = static_cast<leaksnek::detail::uint128>(v);
  return {{static_cast<std::uint64_t>(u), static_cast<std::uint64_t>(u >> 64)}};
}

struct alignas(64) Cell {
  Words words{};
  std::atomic<std::uint64_t> lock{0};
  int128 plain = 0;
  std::uint64_t key[2] = {42, 43};
};
struct alignas(64) Line {
  std::atomic<const void*> word{nullptr};
};

// About `n` dependent multiplications of work.
inline std::int64_t busy(std::int64_t x, int n) {
  for (int i = 0; i < n; ++i) x = x * 6364136223846793005LL + 1442695040888963407LL;
  return x;
}
volatile int extra_source = 20;

std::atomic<std::int64_t> sink{0};

template <class Decide>
double rate(int threads, double seconds, Decide decide) {
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(threads) * 16);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::uint64_t n = 0;
      std::int64_t acc = 0;
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 256; ++i) acc += decide();
        n += 256;
      }
      counts[static_cast<std::size_t>(t) * 16] = n;
      sink.fetch_add(acc);
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::uint64_t total = 0;
  for (int t = 0; t < threads; ++t) total += counts[static_cast<std::size_t>(t) * 16];
  return static_cast<double>(total) / elapsed / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.3;
  const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  const int max_threads = argc > 2 ? std::atoi(argv[2]) : cores;
  std::vector<int> counts;
  for (int t = 1; t < max_threads; t *= 2) counts.push_back(t);
  counts.push_back(max_threads);
  const Scale scale;
  const int extra = extra_source;
  std::printf("threads        word      cas16  cas16-out       lock   lock-out    keyread   window+   fence\n");
  for (int threads : counts) {
    Cell cell;
    std::atomic<std::int64_t> word{0};
    auto now_units = [&] { return int128{leaksnek::bench::steady_now()} * scale.per_ns; };
    double floor = rate(threads, seconds, [&]() -> std::int64_t {
      return leaksnek::bench::atomic_gcra_step(word, leaksnek::bench::steady_now()) ? 1 : 0;
    });
    // The 16-byte swap; `inside` is extra work between the load and the swap.
    auto swap = [&](int128 now, bool report_inside, int inside) -> std::int64_t {
      Words expected = leaksnek::detail::load_words(cell.words);
      for (;;) {
        int128 tat = to128(expected);
        if (!advance(scale, tat, now)) return 0;
        std::int64_t reported = report_inside ? report(scale, tat, now) : 0;
        if (inside > 0) reported += busy(static_cast<std::int64_t>(tat), inside);
        if (leaksnek::detail::cas16(cell.words, expected, to_words(tat))) {
          return report_inside ? reported : report(scale, tat, now);
        }
      }
    };
    double cas16 = rate(threads, seconds, [&] { return swap(now_units(), true, 0); });
    double cas16_out = rate(threads, seconds, [&] { return swap(now_units(), false, 0); });
    auto lock = [&] {
      for (int spins = 0;; ++spins) {
        std::uint64_t w = cell.lock.load(std::memory_order_relaxed);
        if ((w & 1) == 0 && cell.lock.compare_exchange_weak(w, w | 1, std::memory_order_acquire)) return;
        leaksnek::detail::spin_wait(spins);
      }
    };
    auto locked_step = [&](bool report_inside) -> std::int64_t {
      const int128 now = now_units();
      lock();
      int128 tat = cell.plain;
      const bool allowed = advance(scale, tat, now);
      const std::int64_t reported = report_inside && allowed ? report(scale, tat, now) : 0;
      cell.plain = tat;
      cell.lock.store(2, std::memory_order_release);
      if (report_inside) return reported;
      return allowed ? report(scale, tat, now) : 0;
    };
    double locked = rate(threads, seconds, [&] { return locked_step(true); });
    double locked_out = rate(threads, seconds, [&] { return locked_step(false); });
    // The key read from the state's line first, as a map lookup does.
    double keyread = rate(threads, seconds, [&]() -> std::int64_t {
      const int128 now = now_units();
      if (std::atomic_ref<std::uint64_t>{cell.key[0]}.load(std::memory_order_relaxed) != 42) return 0;
      return swap(now, true, 0);
    });
    // More work between the load and the swap (about `extra` multiplications).
    double window = rate(threads, seconds, [&] { return swap(now_units(), true, extra); });
    // A sequentially consistent store to the thread's own line first, as a
    // read of a shard announces itself.
    double fenced = rate(threads, seconds, [&]() -> std::int64_t {
      thread_local Line own;
      const int128 now = now_units();
      own.word.store(&cell, std::memory_order_seq_cst);
      const std::int64_t reported = swap(now, true, 0);
      own.word.store(nullptr, std::memory_order_release);
      return reported;
    });
    std::printf("%7d %8.1f %5.1f %.2f %5.1f %.2f %5.1f %.2f %5.1f %.2f %5.1f %.2f %5.1f %.2f %5.1f %.2f\n", threads,
                floor, cas16, cas16 / floor, cas16_out, cas16_out / floor, locked, locked / floor, locked_out,
                locked_out / floor, keyread, keyread / floor, window, window / floor, fenced, fenced / floor);
  }
  return 0;
}
