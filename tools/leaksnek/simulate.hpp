// `leaksnek simulate`: replay a trace against one policy (spec/simulate.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <leaksnek/values/rate_limit.hpp>

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

// Replays every event of `input` and writes one line per event, or the summary,
// to `output`. Memory: the per-key state only. Throws TraceError with the line
// number on a malformed line, after writing the lines before it.
void simulate(const SimulateOptions& options, LineReader& input, Output& output);

// The `simulate` subcommand: parses `args` (after "simulate"), runs, and
// returns the exit status (0, or 2 with a message on stderr).
int simulate_main(int argc, char** argv);

}  // namespace leaksnek::cli
