// `leaksnek simulate`: replay a trace against one policy (spec/simulate.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <leaksnek/algorithms/registry.hpp>
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
