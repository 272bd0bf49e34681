// The six algorithms by name, as the command line, `serve`'s policies and
// the Redis script spell them: for programs that pick an algorithm at run time.
#pragma once

#include <string>
#include <string_view>

#include <leaksnek/algorithms/fixed_window.hpp>
#include <leaksnek/algorithms/gcra.hpp>
#include <leaksnek/algorithms/leaky_bucket.hpp>
#include <leaksnek/algorithms/sliding_log.hpp>
#include <leaksnek/algorithms/sliding_window.hpp>
#include <leaksnek/algorithms/token_bucket.hpp>
#include <leaksnek/error.hpp>

namespace leaksnek {

// The six algorithm names.
inline constexpr std::string_view algorithm_names[] = {"token-bucket", "gcra",           "leaky-bucket",
                                                       "fixed-window", "sliding-window", "sliding-log"};

// Calls run.template operator()<A>() with the algorithm named `name` and
// returns what it returns; throws Error for an unknown name. Each call site
// instantiates `run` for all six algorithms.
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

}  // namespace leaksnek
