// One decision of each algorithm on a warm key: the pure step, no storage.
#include <benchmark/benchmark.h>

#include <leaksnek/leaksnek.hpp>

namespace {

using namespace leaksnek;

template <class A>
void BM_Decide(benchmark::State& bench) {
  A algorithm{rl("1000/s")};
  typename A::State state;
  std::int64_t now = 0;
  for (auto _ : bench) {
    now += 1'000'000;  // 1 ms apart: mostly allowed, the steady state of a busy key
    Decision decision = algorithm.decide(state, Instant{Duration{now}}, 1);
    benchmark::DoNotOptimize(decision);
  }
}

BENCHMARK(BM_Decide<Gcra>);
BENCHMARK(BM_Decide<TokenBucket>);
BENCHMARK(BM_Decide<LeakyBucket>);
BENCHMARK(BM_Decide<FixedWindow>);
BENCHMARK(BM_Decide<SlidingWindow>);
BENCHMARK(BM_Decide<SlidingLog>);

}  // namespace
