// `leaksnek simulate` end to end minus the terminal: parse a 1,000,000-event
// trace over 10,000 keys from memory, decide, format every output line.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>

#include <leaksnek/leaksnek.hpp>

#include "io.hpp"
#include "simulate.hpp"

namespace {

using namespace leaksnek;

const std::string& million_event_trace() {
  static const std::string trace = [] {
    std::mt19937_64 random{2026};
    std::string text;
    text.reserve(24 * 1'000'000);
    std::int64_t micros = 0;
    for (int i = 0; i < 1'000'000; ++i) {
      micros += static_cast<std::int64_t>(random() % 200);  // ~10,000 events per second
      text += std::to_string(micros / 1000) + "." + std::to_string(1000 + micros % 1000).substr(1) + ",key-" +
              std::to_string(random() % 10'000);
      if (random() % 8 == 0) text += ",3";
      text += '\n';
    }
    return text;
  }();
  return trace;
}

void BM_Simulate(benchmark::State& bench, const char* algorithm) {
  const std::string& trace = million_event_trace();
  cli::SimulateOptions options{algorithm, rl("1/s").with_burst(5), false};
  std::size_t bytes = 0;
  for (auto _ : bench) {
    cli::LineReader input{trace};
    cli::Output output{cli::Output::Mode::discard};
    cli::simulate(options, input, output);
    bytes = output.bytes();
  }
  bench.counters["events/s"] = benchmark::Counter(1'000'000.0, benchmark::Counter::kIsIterationInvariantRate);
  bench.counters["output_bytes"] = static_cast<double>(bytes);
}

BENCHMARK_CAPTURE(BM_Simulate, gcra, "gcra")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Simulate, token_bucket, "token-bucket")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Simulate, leaky_bucket, "leaky-bucket")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Simulate, fixed_window, "fixed-window")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Simulate, sliding_window, "sliding-window")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Simulate, sliding_log, "sliding-log")->Unit(benchmark::kMillisecond);

}  // namespace
