// The asynchronous face on one io_context thread: the price of going through
// Asio for a decision, and shaping many coroutines' traffic without threads.
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <leaksnek/asio.hpp>

namespace {

namespace net = boost::asio;
using namespace leaksnek;

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// `co_await limiter.try_acquire(key)` in a coroutine, against the sync call
// below: the per-call overhead of the asynchronous face.
void BM_Async_CoAwaitTryAcquire(benchmark::State& state) {
  net::io_context io{1};
  AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("1000000000/s").with_burst(100),
                                        std::make_shared<MemoryStorage<std::string>>()};
  net::co_spawn(
      io,
      [&]() -> net::awaitable<void> {
        const std::string key = "user:0000042";
        for (auto _ : state) {
          Decision decision = co_await limiter.try_acquire(key, 1, net::use_awaitable);
          benchmark::DoNotOptimize(decision);
        }
      },
      net::detached);
  io.run();
}
BENCHMARK(BM_Async_CoAwaitTryAcquire);

void BM_Async_SyncTryAcquireForComparison(benchmark::State& state) {
  GcraLimiter<std::string> limiter{rl("1000000000/s").with_burst(100), std::make_shared<MemoryStorage<std::string>>()};
  const std::string key = "user:0000042";
  for (auto _ : state) benchmark::DoNotOptimize(limiter.try_acquire(key));
}
BENCHMARK(BM_Async_SyncTryAcquireForComparison);

// 10,000 coroutines call acquire() in a loop on 100 keys shaped at 1,000/s
// each (burst 1) for 2 seconds, on one io_context thread: the achieved rate
// should be 100,000/s, and the process should mostly sleep.
void BM_Async_Shaping10kCoroutines(benchmark::State& state) {
  constexpr int coroutines = 10'000;
  constexpr int keys = 100;
  constexpr auto run_for = std::chrono::seconds{2};
  for (auto _ : state) {
    net::io_context io{1};
    AsyncGcraLimiter<std::string> limiter{io.get_executor(), rl("1000/s").with_burst(1),
                                          std::make_shared<MemoryStorage<std::string>>()};
    std::vector<std::string> names;
    for (int k = 0; k < keys; ++k) names.push_back("key-" + std::to_string(k));
    std::int64_t served = 0;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + run_for;
    const double cpu_before = cpu_seconds();
    for (int c = 0; c < coroutines; ++c) {
      net::co_spawn(
          io,
          [&, key = names[static_cast<std::size_t>(c % keys)]]() -> net::awaitable<void> {
            while (std::chrono::steady_clock::now() < deadline) {
              Decision decision = co_await limiter.acquire(key, 1, std::chrono::seconds{10}, net::use_awaitable);
              if (decision.allowed && std::chrono::steady_clock::now() <= deadline) ++served;
            }
          },
          net::detached);
    }
    io.run();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = cpu_seconds() - cpu_before;
    const double seconds = std::chrono::duration<double>(run_for).count();
    state.counters["achieved_per_s"] = static_cast<double>(served) / seconds;
    state.counters["target_per_s"] = 1000.0 * keys;
    state.counters["cpu_fraction_of_wall"] = cpu / wall;
  }
}
BENCHMARK(BM_Async_Shaping10kCoroutines)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
