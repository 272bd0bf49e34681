#include "acquire.hpp"

#include <cstdio>
#include <memory>
#include <string>

#include <leaksnek/leaksnek.hpp>
#include <leaksnek/storages/redis_storage.hpp>

#include "arguments.hpp"
#include "io.hpp"
#include "simulate.hpp"

namespace leaksnek::cli {

namespace {

constexpr std::string_view acquire_usage =
    "usage: leaksnek acquire [--storage memory|redis://[user:password@]host:port/db|redis-cluster://host:port,...]\n"
    "                        --algorithm ALGO"
    " --limit N/PERIOD [--burst B] [--cost C] [--count K] [--wait DURATION]\n"
    "                        [--timeout DURATION] [--on-storage-error fail-open|fail-closed|local] KEY\n"
    "  Makes K decisions (default 1) of cost C (default 1) for KEY and prints one line per\n"
    "  decision: KEY,COST,ALLOWED,REMAINING,RETRY_AFTER_MS. Exit status 0 when every decision\n"
    "  allowed, 1 when any was denied, 2 on bad arguments or a failed storage under fail-closed.\n"
    "  --storage: memory (this process only; the default) or a Redis shared by every caller\n"
    "  --wait DURATION: block until the request fits, for at most DURATION (e.g. 250ms, 2s, 1m)\n"
    "  --timeout DURATION: the longest a Redis call may take (default 250ms)\n"
    "  --on-storage-error: when Redis fails, allow (fail-open), deny and exit 2 (fail-closed),\n"
    "    or decide in this process's memory (local, the default)\n"
    "  (--store and --on-store-error: the old spellings of --storage and --on-storage-error)\n";

struct AcquireOptions {
  PolicyOptions policy;
  std::string storage = "memory";
  std::string key;
  std::string cost_text = "1";
  std::int64_t cost = 1;
  std::int64_t count = 1;
  Duration wait{0};
  Duration timeout = std::chrono::milliseconds{250};
  OnStorageError on_error = OnStorageError::local;
};

AcquireOptions parse_acquire_options(const Arguments& arguments) {
  AcquireOptions options;
  options.policy = parse_policy(arguments);
  if (auto storage = arguments.value("--storage", "--store")) options.storage = *storage;
  if (auto cost = arguments.value("--cost")) {
    options.cost = parse_positive("--cost", *cost, RateLimit::max_count);
    options.cost_text = *cost;
  }
  if (auto count = arguments.value("--count")) options.count = parse_positive("--count", *count, 1'000'000'000);
  if (auto wait = arguments.value("--wait")) options.wait = parse_duration("--wait", *wait);
  if (auto timeout = arguments.value("--timeout")) {
    options.timeout = parse_duration("--timeout", *timeout);
    if (options.timeout <= Duration{0}) throw UsageError{"--timeout: must be more than 0"};
  }
  if (auto policy = arguments.value("--on-storage-error", "--on-store-error")) {
    try {
      options.on_error = parse_on_storage_error(*policy);
    } catch (const Error& error) {
      throw UsageError{std::string{"--on-storage-error: "} + error.what()};
    }
  }
  if (arguments.positional().size() != 1) {
    throw UsageError{"expected one KEY, got " + std::to_string(arguments.positional().size())};
  }
  options.key = arguments.positional().front();
  return options;
}

std::shared_ptr<RateStorage<std::string>> open_storage(const AcquireOptions& options) {
  if (options.storage == "memory") return std::make_shared<MemoryStorage<std::string>>();
  redis::Options redis_options;
  try {
    redis_options.set_url(options.storage);
  } catch (const Error& error) {
    throw UsageError{std::string{"--storage: "} + error.what() + " (or 'memory')"};
  }
  redis_options.timeout = options.timeout;
  redis_options.on_error = options.on_error;
  return std::make_shared<RedisStorage<std::string>>(redis_options);
}

// Makes the decisions; returns the exit status.
template <Algorithm A>
int run(const AcquireOptions& options, std::shared_ptr<RateStorage<std::string>> storage, Output& output) {
  auto* redis = dynamic_cast<RedisStorage<std::string>*>(storage.get());
  Limiter<A, std::string> limiter{options.policy.limit, storage};
  int status = 0;
  for (std::int64_t i = 0; i < options.count; ++i) {
    const std::uint64_t closed_before = redis ? redis->statistics().failed_closed : 0;
    Decision decision = options.wait > Duration{0} ? limiter.acquire(options.key, options.cost, options.wait)
                                                   : limiter.try_acquire(options.key, options.cost);
    if (redis && redis->statistics().failed_closed != closed_before) {
      output.flush();
      std::fprintf(stderr, "leaksnek acquire: %s\n", redis->client()->last_failure().c_str());
      return 2;
    }
    output.append(options.key);
    output.append(',');
    output.append(options.cost_text);
    output.append(decision.allowed ? ",1," : ",0,");
    output.append_int(decision.remaining < 0 ? 0 : decision.remaining);
    output.append(',');
    output.append_int(retry_after_ms(decision));
    output.append('\n');
    if (!decision.allowed) status = 1;
  }
  output.flush();
  return status;
}

}  // namespace

int acquire_main(int argc, char** argv) {
  try {
    Arguments arguments{argc,
                        argv,
                        {"--storage", "--algorithm", "--limit", "--burst", "--cost", "--count", "--wait", "--timeout",
                         "--on-storage-error", "--store", "--on-store-error"},
                        {"--help"}};
    if (arguments.flag("--help")) {
      std::fputs(acquire_usage.data(), stdout);
      return 0;
    }
    AcquireOptions options = parse_acquire_options(arguments);
    auto storage = open_storage(options);
    Output output{stdout};
    return with_algorithm(options.policy.algorithm, [&]<Algorithm A>() {
      try {
        return run<A>(options, storage, output);
      } catch (const RateError& error) {
        throw UsageError{std::string{"--limit: "} + error.what()};
      }
    });
  } catch (const UsageError& error) {
    std::fprintf(stderr, "leaksnek acquire: %s\n%s", error.what(), acquire_usage.data());
    return 2;
  } catch (const std::exception& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "leaksnek acquire: %s\n", error.what());
    return 2;
  }
}

}  // namespace leaksnek::cli
