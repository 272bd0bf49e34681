#include "simulate.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include <leaksnek/leaksnek.hpp>

#include "arguments.hpp"
#include "trace.hpp"

namespace leaksnek::cli {

namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

template <class State>
struct KeySlot {
  State state;
  std::int64_t allowed = 0;
  std::int64_t denied = 0;
};

void write_event(Output& output, const TraceEvent& event, const Decision& decision) {
  output.append(event.time_text);
  output.append(',');
  output.append(event.key);
  output.append(',');
  if (event.cost_text.empty()) {
    output.append('1');
  } else {
    output.append(event.cost_text);
  }
  output.append(decision.allowed ? ",1," : ",0,");
  output.append_int(decision.remaining < 0 ? 0 : decision.remaining);
  output.append(',');
  output.append_int(retry_after_ms(decision));
  output.append('\n');
}

// "5/10s" for 5 per 10 seconds: the period in the largest unit that divides it.
std::string describe_rate(const RateLimit& limit) {
  constexpr std::pair<std::int64_t, const char*> units[] = {{86'400'000'000'000, "d"}, {3'600'000'000'000, "h"},
                                                            {60'000'000'000, "m"},     {1'000'000'000, "s"},
                                                            {1'000'000, "ms"},         {1, "ns"}};
  std::int64_t period = limit.period().count();
  for (auto [size, name] : units) {
    if (period % size != 0) continue;
    std::int64_t multiple = period / size;
    return std::to_string(limit.count()) + "/" + (multiple == 1 ? "" : std::to_string(multiple)) + name;
  }
  return {};
}

template <class Slots>
void write_summary(const SimulateOptions& options, const Slots& slots, Output& output) {
  std::int64_t allowed = 0;
  std::int64_t denied = 0;
  std::vector<std::pair<const std::string*, const typename Slots::mapped_type*>> denied_keys;
  for (const auto& [key, slot] : slots) {
    allowed += slot.allowed;
    denied += slot.denied;
    if (slot.denied > 0) denied_keys.emplace_back(&key, &slot);
  }
  constexpr std::size_t top = 10;
  auto by_most_denied = [](const auto& a, const auto& b) {
    return a.second->denied != b.second->denied ? a.second->denied > b.second->denied : *a.first < *b.first;
  };
  std::size_t shown = std::min(top, denied_keys.size());
  std::partial_sort(denied_keys.begin(), denied_keys.begin() + static_cast<std::ptrdiff_t>(shown), denied_keys.end(),
                    by_most_denied);

  auto percent = [](std::int64_t part, std::int64_t whole) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f%%",
                  whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole));
    return std::string{text};
  };
  char line[256];
  const RateLimit& limit = options.limit;
  std::string policy = "policy: " + options.algorithm + " " + describe_rate(limit);
  if (options.algorithm == Gcra::name || options.algorithm == TokenBucket::name ||
      options.algorithm == LeakyBucket::name) {
    policy += " burst " + std::to_string(limit.burst());
  }
  output.append(policy);
  output.append('\n');
  std::int64_t total = allowed + denied;
  std::snprintf(line, sizeof line, "events: %lld  allowed: %lld (%s)  denied: %lld (%s)  keys: %zu  keys denied: %zu\n",
                static_cast<long long>(total), static_cast<long long>(allowed), percent(allowed, total).c_str(),
                static_cast<long long>(denied), percent(denied, total).c_str(), slots.size(), denied_keys.size());
  output.append(line);
  if (shown == 0) return;
  std::snprintf(line, sizeof line, "most denied keys (top %zu):\n%12s %12s %8s  %s\n", shown, "denied", "allowed",
                "denied%", "key");
  output.append(line);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& slot = *denied_keys[i].second;
    std::snprintf(line, sizeof line, "%12lld %12lld %8s  ", static_cast<long long>(slot.denied),
                  static_cast<long long>(slot.allowed), percent(slot.denied, slot.allowed + slot.denied).c_str());
    output.append(line);
    output.append(*denied_keys[i].first);
    output.append('\n');
  }
}

template <Algorithm A>
void replay(const A& algorithm, const SimulateOptions& options, LineReader& input, Output& output) {
  std::unordered_map<std::string, KeySlot<typename A::State>, StringHash, std::equal_to<>> slots;
  std::string_view line;
  std::int64_t line_number = 0;
  std::int64_t previous_ns = 0;
  while (input.next(line)) {
    ++line_number;
    if (is_skipped_line(line)) continue;
    TraceEvent event;
    try {
      event = parse_trace_line(line);
      if (event.time_ns < previous_ns) {
        throw TraceError{"time " + std::string{event.time_text} +
                         " is before the previous event's time (times must never decrease)"};
      }
    } catch (const TraceError& error) {
      output.flush();
      throw TraceError{"line " + std::to_string(line_number) + ": " + error.what()};
    }
    previous_ns = event.time_ns;
    auto slot = slots.find(event.key);
    if (slot == slots.end()) slot = slots.try_emplace(std::string{event.key}).first;
    Decision decision = algorithm.decide(slot->second.state, Instant{Duration{event.time_ns}}, event.cost);
    ++(decision.allowed ? slot->second.allowed : slot->second.denied);
    if (!options.summary) write_event(output, event, decision);
  }
  if (options.summary) write_summary(options, slots, output);
  output.flush();
}

template <Algorithm A>
void replay_with(const SimulateOptions& options, LineReader& input, Output& output) {
  replay(A{options.limit}, options, input, output);
}

}  // namespace

void simulate(const SimulateOptions& options, LineReader& input, Output& output) {
  with_algorithm(options.algorithm, [&]<Algorithm A>() { replay_with<A>(options, input, output); });
}

PolicyOptions parse_policy(const Arguments& arguments) {
  PolicyOptions options;
  std::optional<std::string> algorithm = arguments.value("--algorithm");
  if (!algorithm) throw UsageError{"missing --algorithm ALGO"};
  if (std::find(std::begin(algorithm_names), std::end(algorithm_names), *algorithm) == std::end(algorithm_names)) {
    throw UsageError{"--algorithm: unknown algorithm '" + *algorithm +
                     "' (expected token-bucket, gcra, leaky-bucket, fixed-window, sliding-window or sliding-log)"};
  }
  options.algorithm = *algorithm;
  std::optional<std::string> limit = arguments.value("--limit");
  if (!limit) throw UsageError{"missing --limit N/PERIOD"};
  try {
    options.limit = rl(*limit);
  } catch (const RateError& error) {
    throw UsageError{std::string{"--limit: "} + error.what()};
  }
  if (std::optional<std::string> burst = arguments.value("--burst")) {
    options.limit = options.limit.with_burst(parse_positive("--burst", *burst, RateLimit::max_count));
  }
  try {
    (void)Gcra{options.limit};  // the bucket family refuses a burst that would take centuries to refill
  } catch (const RateError& error) {
    if (options.algorithm == Gcra::name || options.algorithm == TokenBucket::name ||
        options.algorithm == LeakyBucket::name) {
      throw UsageError{std::string{"--burst: "} + error.what()};
    }
  }
  return options;
}

std::int64_t retry_after_ms(const Decision& decision) {
  if (decision.never_allowed()) return -1;
  // ceil(ceil(x) / 10^6) == ceil(x / 10^6): a retry rounded up to the
  // nanosecond rounds up to the same millisecond as the exact one.
  std::int64_t ns = decision.retry_after.count();
  return ns / 1'000'000 + (ns % 1'000'000 != 0 ? 1 : 0);
}

}  // namespace leaksnek::cli

namespace leaksnek::cli {

namespace {

constexpr std::string_view simulate_usage =
    "usage: leaksnek simulate --algorithm ALGO --limit N/PERIOD [--burst B] [--summary] [FILE]\n"
    "  Replays a trace (lines TIME_MS,KEY[,COST]; FILE or standard input) on a virtual clock\n"
    "  and prints TIME_MS,KEY,COST,ALLOWED,REMAINING,RETRY_AFTER_MS for each event, or with\n"
    "  --summary the allowed and denied counts overall and for the 10 most denied keys.\n"
    "  ALGO: token-bucket | gcra | leaky-bucket | fixed-window | sliding-window | sliding-log\n"
    "  N/PERIOD: e.g. 10/m, 100/s, 5/10s, 20/500ms, 3/d, 10/minute\n"
    "  --burst B: capacity of the bucket algorithms (default N)\n";

SimulateOptions parse_simulate_options(const Arguments& arguments) {
  SimulateOptions options;
  PolicyOptions policy = parse_policy(arguments);
  options.algorithm = std::move(policy.algorithm);
  options.limit = policy.limit;
  options.summary = arguments.flag("--summary");
  if (arguments.positional().size() > 1)
    throw UsageError{"expected at most one FILE, got " + std::to_string(arguments.positional().size())};
  return options;
}

}  // namespace

int simulate_main(int argc, char** argv) {
  int fd = STDIN_FILENO;
  try {
    Arguments arguments{argc, argv, {"--algorithm", "--limit", "--burst"}, {"--summary", "--help"}};
    if (arguments.flag("--help")) {
      std::fputs(simulate_usage.data(), stdout);
      return 0;
    }
    SimulateOptions options = parse_simulate_options(arguments);
    if (!arguments.positional().empty() && arguments.positional()[0] != "-") {
      const std::string& path = arguments.positional()[0];
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw UsageError{"cannot open '" + path + "': " + std::strerror(errno)};
    }
    LineReader input{fd};
    Output output{stdout};
    simulate(options, input, output);
  } catch (const UsageError& error) {
    std::fprintf(stderr, "leaksnek simulate: %s\n%s", error.what(), simulate_usage.data());
    return 2;
  } catch (const std::exception& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "leaksnek simulate: %s\n", error.what());
    return 2;
  }
  if (fd != STDIN_FILENO) ::close(fd);
  return 0;
}

}  // namespace leaksnek::cli
