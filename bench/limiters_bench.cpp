// Keyed limiters over MemoryStorage, next to plain baselines measured in the
// same run (the targets are ratios to them; see bench/README.md).
#include <benchmark/benchmark.h>

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include <leaksnek/leaksnek.hpp>

#include "baselines.hpp"

namespace {

using namespace leaksnek;

using bench::emission_ns;
using bench::gcra_step;
using bench::make_keys;
using bench::steady_now;

// ---- Baselines: plain code that does the least a limiter must do ----------

// (a) one key: a GCRA step on one std::atomic<int64_t> with a CAS loop.
void BM_Baseline_AtomicGcra(benchmark::State& state, bool clock_read) {
  static std::atomic<std::int64_t> tat;
  if (state.thread_index() == 0) tat = 0;  // fresh per run; shared by the run's threads
  std::int64_t explicit_now = steady_now();
  for (auto _ : state) {
    std::int64_t now = clock_read ? steady_now() : (explicit_now += emission_ns);
    bool allowed = bench::atomic_gcra_step(tat, now);
    benchmark::DoNotOptimize(allowed);
  }
}
BENCHMARK_CAPTURE(BM_Baseline_AtomicGcra, clock, true);
BENCHMARK_CAPTURE(BM_Baseline_AtomicGcra, explicit_time, false);
// The hardware's price for one word shared by 2 cores, beside ours below.
BENCHMARK_CAPTURE(BM_Baseline_AtomicGcra, clock_2_threads, true)->Threads(2)->UseRealTime();

const std::vector<std::string>& million_keys() {
  static const std::vector<std::string> keys = make_keys(1'000'000);
  return keys;
}

// (b) many keys: the same step over a boost::unordered_flat_map<std::string,
// int64_t> of 1,000,000 keys, one thread, no locking, no eviction.
void BM_Baseline_FlatMapGcra_1M(benchmark::State& state, bool clock_read) {
  const auto& keys = million_keys();
  boost::unordered_flat_map<std::string, std::int64_t> tats;
  for (const auto& key : keys) tats.emplace(key, 0);
  std::size_t i = 0;
  std::int64_t explicit_now = steady_now();
  for (auto _ : state) {
    std::int64_t now = clock_read ? steady_now() : (explicit_now += emission_ns);
    bool allowed = gcra_step(tats[keys[i]], now);
    benchmark::DoNotOptimize(allowed);
    if (++i == keys.size()) i = 0;
  }
}
BENCHMARK_CAPTURE(BM_Baseline_FlatMapGcra_1M, clock, true);
BENCHMARK_CAPTURE(BM_Baseline_FlatMapGcra_1M, explicit_time, false);

// ---- leaksnek --------------------------------------------------------------

// A fresh limiter per run, shared by the run's threads: thread 0 builds it
// before its first iteration, and the others pick it up after the start barrier.
std::shared_ptr<GcraLimiter<std::string>>& shared_limiter() {
  static std::shared_ptr<GcraLimiter<std::string>> limiter;
  return limiter;
}

void build_shared_limiter(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_limiter() = std::make_shared<GcraLimiter<std::string>>(rl("1000000000/s").with_burst(100),
                                                                  std::make_shared<MemoryStorage<std::string>>());
  }
}

void BM_Gcra_OneKey(benchmark::State& state, bool clock_read) {
  build_shared_limiter(state);
  GcraLimiter<std::string>* limiter = nullptr;
  const std::string key = "user:0000042";
  Instant now = SteadyClock{}.now();
  for (auto _ : state) {
    if (limiter == nullptr) limiter = shared_limiter().get();
    Decision decision =
        clock_read ? limiter->try_acquire(key) : limiter->try_acquire_at(key, 1, now += Duration{emission_ns});
    benchmark::DoNotOptimize(decision);
  }
}
BENCHMARK_CAPTURE(BM_Gcra_OneKey, try_acquire, true);
BENCHMARK_CAPTURE(BM_Gcra_OneKey, try_acquire_at, false);
// One key shared by 2 threads: every decision contends for the same shard.
BENCHMARK_CAPTURE(BM_Gcra_OneKey, try_acquire_2_threads, true)->Threads(2)->UseRealTime();

// 1,000,000 distinct keys round-robin; with 2 threads each walks its own half.
void BM_Gcra_MillionKeys(benchmark::State& state, bool clock_read) {
  const auto& keys = million_keys();
  build_shared_limiter(state);
  if (state.thread_index() == 0) {
    for (const auto& key : keys) (void)shared_limiter()->try_acquire(key);  // warm: every key present
  }
  GcraLimiter<std::string>* limiter = nullptr;
  const std::size_t begin =
      keys.size() / static_cast<std::size_t>(state.threads()) * static_cast<std::size_t>(state.thread_index());
  const std::size_t end = begin + keys.size() / static_cast<std::size_t>(state.threads());
  std::size_t i = begin;
  Instant now = SteadyClock{}.now();
  for (auto _ : state) {
    if (limiter == nullptr) limiter = shared_limiter().get();
    Decision decision =
        clock_read ? limiter->try_acquire(keys[i]) : limiter->try_acquire_at(keys[i], 1, now += Duration{emission_ns});
    benchmark::DoNotOptimize(decision);
    if (++i == end) i = begin;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_Gcra_MillionKeys, try_acquire, true)->UseRealTime();
BENCHMARK_CAPTURE(BM_Gcra_MillionKeys, try_acquire_at, false)->UseRealTime();
BENCHMARK_CAPTURE(BM_Gcra_MillionKeys, try_acquire, true)->Threads(2)->UseRealTime();

// The seed's shape: LeakyBucketLimiter over MemoryStorage + MemoryMutex.
void BM_SeedShape_LeakyBucket(benchmark::State& state) {
  auto limiter = LeakyBucketLimiter<std::string>{
      rl("10/m"),
      std::make_shared<MemoryStorage<std::string>>(),
      std::make_shared<MemoryMutex<std::string>>(),
  };
  const std::string key = "my_key";
  for (auto _ : state) benchmark::DoNotOptimize(limiter.limit_exceeded(key));
}
BENCHMARK(BM_SeedShape_LeakyBucket);

// ---- Memory ------------------------------------------------------------------

std::int64_t resident_bytes() {
  long pages = 0;
  long resident = 0;
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(statm);
  }
  return static_cast<std::int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

// Bytes of resident memory per tracked GCRA key, 1,000,000 keys of 12 bytes
// (short enough to live inside the std::string object: no heap of their own).
void BM_Memory_GcraBytesPerKey(benchmark::State& state) {
  const auto& keys = million_keys();
  for (auto _ : state) {
    std::int64_t before = resident_bytes();
    auto storage = std::make_shared<MemoryStorage<std::string>>();
    GcraLimiter<std::string> limiter{rl("1/h"), storage};
    for (const auto& key : keys) (void)limiter.try_acquire(key);
    std::int64_t after = resident_bytes();
    state.counters["bytes_per_key"] = static_cast<double>(after - before) / static_cast<double>(keys.size());
    state.counters["beyond_key_object"] =
        static_cast<double>(after - before) / static_cast<double>(keys.size()) - sizeof(std::string);
    state.counters["keys"] = static_cast<double>(storage->statistics().keys);
  }
}
BENCHMARK(BM_Memory_GcraBytesPerKey)->Iterations(1)->Unit(benchmark::kMillisecond);

// 10,000,000 distinct keys through a storage capped at 1,000,000: resident
// memory after the first million and after all ten must be about the same.
void BM_Memory_CappedTenMillionKeys(benchmark::State& state) {
  for (auto _ : state) {
    auto storage =
        std::make_shared<MemoryStorage<std::string>>(MemoryStorage<std::string>::Options{.max_keys = 1'000'000});
    GcraLimiter<std::string> limiter{rl("1/h"), storage};
    char text[32];
    std::int64_t after_first_million = 0;
    for (std::size_t i = 0; i < 10'000'000; ++i) {
      std::snprintf(text, sizeof text, "user:%08zu", i);
      (void)limiter.try_acquire(std::string{text});
      if (i + 1 == 1'000'000) after_first_million = resident_bytes();
    }
    std::int64_t after_ten_million = resident_bytes();
    state.counters["rss_MB_after_1M"] = static_cast<double>(after_first_million) / 1e6;
    state.counters["rss_MB_after_10M"] = static_cast<double>(after_ten_million) / 1e6;
    state.counters["keys"] = static_cast<double>(storage->statistics().keys);
    state.counters["evicted"] = static_cast<double>(storage->statistics().evicted);
  }
}
BENCHMARK(BM_Memory_CappedTenMillionKeys)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
