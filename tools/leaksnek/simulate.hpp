// `leaksnek simulate`: replay a trace against one policy (spec/simulate.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <leaksnek/algorithms/fixed_window.hpp>
#include <leaksnek/algorithms/gcra.hpp>
#include <leaksnek/algorithms/leaky_bucket.hpp>
#include <leaksnek/algorithms/sliding_log.hpp>
#include <leaksnek/algorithms/sliding_window.hpp>
#include <leaksnek/algorithms/token_bucket.hpp>
#include <leaksnek/values/decision.hpp>
#include <leaksnek/values/rate_limit.hpp>

#include "arguments.hpp"
#include "io.hpp"

namespace leaksnek::cli {

struct SimulateOptions {
  std::string algorithm;  // one of algorithm_names
  RateLimit limit{1, std::chrono::seconds{1}};
  bool summary = false;
};

// The six algorithm names, as the command line spells them.
inline constexpr std::string_view algorithm_names[] = {"token-bucket", "gcra",           "leaky-bucket",
                                                       "fixed-window", "sliding-window", "sliding-log"};

// Calls run.template operator()<A>() with the algorithm named `name`; throws
// Error for an unknown name.
template <class Run>
decltype(auto) with_algorithm(std::string_view name, Run&& run) {
  if (name == Gcra::name) return run.template operator()<Gcra>();
  if (name == TokenBucket::name) return run.template operator()<TokenBucket>();
  if (name == LeakyBucket::name) return run.template operator()<LeakyBucket>();
  if (name == FixedWindow::name) return run.template operator()<FixedWindow>();
  if (name == SlidingWindow::name) return run.template operator()<SlidingWindow>();
  if (name == SlidingLog::name) return run.template operator()<SlidingLog>();
  throw Error{"unknown algorithm '" + std::string{name} + "'"};
}

// --algorithm, --limit and --burst, checked; throws UsageError naming the option.
struct PolicyOptions {
  std::string algorithm;
  RateLimit limit{1, std::chrono::seconds{1}};
};
PolicyOptions parse_policy(const Arguments& arguments);

// The RETRY_AFTER_MS column: milliseconds rounded up, -1 for never.
std::int64_t retry_after_ms(const Decision& decision);

// Replays every event of `input` and writes one line per event, or the summary,
// to `output`. Memory: the per-key state only. Throws TraceError with the line
// number on a malformed line, after writing the lines before it.
void simulate(const SimulateOptions& options, LineReader& input, Output& output);

// The `simulate` subcommand: parses `args` (after "simulate"), runs, and
// returns the exit status (0, or 2 with a message on stderr).
int simulate_main(int argc, char** argv);

}  // namespace leaksnek::cli
