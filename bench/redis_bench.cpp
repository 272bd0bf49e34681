// Decisions on a local redis-server (started here, on a free loopback port),
// with the server's ceiling measured beside them in the same run:
// redis-benchmark of an EVALSHA of similar size (the same key and arguments,
// the same HMGET + HSET + PEXPIRE, none of our Lua arithmetic), one at a time
// (-c 1 -P 1) and pipelined (-P 16).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include <leaksnek/asio.hpp>
#include <leaksnek/leaksnek.hpp>
#include <leaksnek/mutexes/redis_mutex.hpp>
#include <leaksnek/storages/aio/redis_storage.hpp>
#include <leaksnek/storages/redis_storage.hpp>

#include "redis_server.hpp"

namespace leaksnek {
namespace {

using namespace std::chrono_literals;

testing::RedisServer& server() {
  static testing::RedisServer instance;
  return instance;
}

redis::Options options() {
  redis::Options options = server().options();
  options.timeout = 2s;
  return options;
}

// The yardstick: the same Redis work as a decision, in a script of similar size.
const redis::Script& ceiling_script() {
  static const redis::Script script{
      "local v = redis.call('HMGET', KEYS[1], '1.l', '1.u') "
      "redis.call('HSET', KEYS[1], '1.l', ARGV[3], '1.u', ARGV[4]) "
      "redis.call('PEXPIRE', KEYS[1], 60000) "
      "return {'1', ARGV[7], '99', '0', '1000000', '0', ARGV[4]}"};
  return script;
}

// requests per second reported by redis-benchmark for `script` with a GCRA
// decision's key and arguments.
double redis_benchmark(const redis::Script& script, int pipeline) {
  redis::Client client{options()};
  std::string_view load[] = {"SCRIPT", "LOAD", script.text()};
  (void)client.command(load);
  std::string command = "redis-benchmark -p " + std::to_string(server().port()) + " -c 1 -n 100000 -P " +
                        std::to_string(pipeline) + " -q EVALSHA " + script.sha1() +
                        " 1 leaksnek:bench:ceiling decide '' 1 0 gcra 1 1000000000 1000000 1000000000 2>/dev/null";
  std::FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  pclose(pipe);
  // "EVALSHA ...: 41152.26 requests per second, p50=..." (the last \r-separated part)
  auto end = out.rfind(" requests per second");
  auto start = out.rfind(' ', end - 1);
  if (end == std::string::npos || start == std::string::npos) return 0;
  return std::stod(out.substr(start + 1, end - start - 1));
}

// The ceiling: the same Redis work as a decision without our Lua arithmetic.
void BM_RedisCeiling(benchmark::State& state) {
  double rps = 0;
  for (auto _ : state) rps = redis_benchmark(ceiling_script(), static_cast<int>(state.range(0)));
  state.counters["requests_per_s"] = rps;
  state.counters["us_per_request"] = rps > 0 ? 1e6 / rps : 0;
}
BENCHMARK(BM_RedisCeiling)->Arg(1)->Arg(16)->Iterations(1)->Unit(benchmark::kMillisecond);

// The decision script itself under redis-benchmark: what the server can do,
// so the client's own overhead shows against it.
void BM_RedisDecisionScript(benchmark::State& state) {
  double rps = 0;
  for (auto _ : state) rps = redis_benchmark(redis::decide_script(), static_cast<int>(state.range(0)));
  state.counters["requests_per_s"] = rps;
  state.counters["us_per_request"] = rps > 0 ? 1e6 / rps : 0;
}
BENCHMARK(BM_RedisDecisionScript)->Arg(1)->Arg(16)->Iterations(1)->Unit(benchmark::kMillisecond);

template <class A>
void BM_SyncTryAcquire(benchmark::State& state) {
  auto storage = std::make_shared<RedisStorage<std::string>>(options());
  Limiter<A, std::string> limiter{RateLimit{1'000'000'000, 1s}, storage};
  (void)limiter.try_acquire("warm");
  std::int64_t allowed = 0;
  for (auto _ : state) allowed += limiter.try_acquire("bench-key").allowed ? 1 : 0;
  state.SetItemsProcessed(state.iterations());
  state.counters["decisions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  benchmark::DoNotOptimize(allowed);
}
BENCHMARK(BM_SyncTryAcquire<Gcra>)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_SyncTryAcquire<FixedWindow>)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_SyncTryAcquire<SlidingWindow>)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_SyncTryAcquire<SlidingLog>)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Leases (issue 14): one hot key, one thread, a limit far above the demand
// (every decision allowed), with leases on RedisStorage (lease_max: the
// argument; 1000 by default), beside the same
// limiter over MemoryStorage in the same run; "calls/decision" counts the
// Redis calls. Then cold keys (each decision on a key not seen before, as a
// key at 1 request per second is): with leases and without.
void BM_LeasedHotKey(benchmark::State& state) {
  redis::Options leasing = options();
  leasing.lease.enabled = true;
  leasing.lease.max = state.range(0);
  auto storage = std::make_shared<RedisStorage<std::string>>(leasing);
  GcraLimiter<std::string> limiter{"leased", RateLimit{1'000'000'000, 1s}, storage};
  const auto calls = storage->statistics().calls;
  std::int64_t allowed = 0;
  for (auto _ : state) allowed += limiter.try_acquire("hot").allowed ? 1 : 0;
  const auto iterations = static_cast<double>(state.iterations());
  state.counters["calls/decision"] = static_cast<double>(storage->statistics().calls - calls) / iterations;
  state.counters["allowed"] = static_cast<double>(allowed) / iterations;
}
BENCHMARK(BM_LeasedHotKey)->Arg(1000)->Arg(10'000)->Unit(benchmark::kNanosecond)->UseRealTime();

void BM_MemoryHotKey(benchmark::State& state) {
  GcraLimiter<std::string> limiter{"leased", RateLimit{1'000'000'000, 1s},
                                   std::make_shared<MemoryStorage<std::string>>()};
  for (auto _ : state) benchmark::DoNotOptimize(limiter.try_acquire("hot"));
}
BENCHMARK(BM_MemoryHotKey)->Unit(benchmark::kNanosecond);

void BM_ColdKeys(benchmark::State& state) {
  redis::Options with = options();
  with.lease.enabled = state.range(0) == 1;
  auto storage = std::make_shared<RedisStorage<std::string>>(with);
  GcraLimiter<std::string> limiter{"cold", RateLimit{10, 1s}, storage};
  std::int64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(limiter.try_acquire("cold:" + std::to_string(i++)));
  state.SetLabel(with.lease.enabled ? "leases" : "no leases");
}
BENCHMARK(BM_ColdKeys)->Arg(0)->Arg(1)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// One connection, `in_flight` decisions outstanding at all times.
template <class A>
void BM_AsyncPipelined(benchmark::State& state) {
  const int in_flight = static_cast<int>(state.range(0));
  boost::asio::io_context context;
  auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), options());
  AsyncLimiter<A, std::string> limiter{context.get_executor(), RateLimit{1'000'000'000, 1s}, storage};
  const std::int64_t per_round = 20'000;
  std::int64_t total = 0;
  for (auto _ : state) {
    std::int64_t started = 0;
    std::int64_t finished = 0;
    std::function<void()> launch = [&] {
      ++started;
      limiter.try_acquire("bench-async", 1, [&](boost::system::error_code, Decision) {
        ++finished;
        if (started < per_round) launch();
      });
    };
    for (int i = 0; i < in_flight; ++i) launch();
    context.run();
    context.restart();
    total += finished;
  }
  state.SetItemsProcessed(total);
  state.counters["decisions_per_s"] = benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AsyncPipelined<Gcra>)->Arg(1)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AsyncPipelined<FixedWindow>)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AsyncPipelined<SlidingLog>)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

// The seed's path: RedisMutex lock, GET, SET PX, unlock: four round trips.
class PlainRedis : public RateStorage<std::string> {
 public:
  explicit PlainRedis(std::shared_ptr<RedisStorage<std::string>> redis) : redis_{std::move(redis)} {}
  Rate read(const std::string& key) override { return redis_->read(key); }
  void write(const std::string& key, const Rate& rate, Duration expires_after) override {
    redis_->write(key, rate, expires_after);
  }

 private:
  std::shared_ptr<RedisStorage<std::string>> redis_;
};

void BM_SeedPathLockReadWrite(benchmark::State& state) {
  auto redis = std::make_shared<RedisStorage<std::string>>(options());
  auto mutex = std::make_shared<RedisMutex<std::string>>(redis->client());
  GcraLimiter<std::string> limiter{RateLimit{1'000'000'000, 1s}, std::make_shared<PlainRedis>(redis), mutex};
  auto calls = redis->statistics().calls;
  for (auto _ : state) benchmark::DoNotOptimize(limiter.try_acquire("seed-key"));
  state.counters["round_trips_per_decision"] =
      static_cast<double>(redis->statistics().calls - calls) / static_cast<double>(state.iterations());
  state.counters["decisions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SeedPathLockReadWrite)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace leaksnek
