// AsyncRedisStorage, AsyncRedisMutex and AsyncLimiter over them, against a
// real redis-server: pipelined decisions, the seed's example, faults.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <leaksnek/asio.hpp>
#include <leaksnek/limiters/aio/leaky_bucket.hpp>
#include <leaksnek/mutexes/aio/redis_mutex.hpp>
#include <leaksnek/shortcuts/rate_limit.hpp>
#include <leaksnek/storages/aio/redis_storage.hpp>
#include <leaksnek/storages/redis_storage.hpp>

#include "redis_server.hpp"

namespace leaksnek {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A busy machine (CI: 2 cores, sanitizers) can stall any call for a while:
// tests that do not measure the timeout give it plenty of room, and the
// bounds of those that do allow for a stall without missing a hang.
constexpr Duration generous_timeout = 10s;
constexpr Duration stall = 2s;

redis::Options options_of(const testing::RedisServer& server, OnStorageError on_error = OnStorageError::local,
                          Duration timeout = generous_timeout) {
  redis::Options options = server.options();
  options.on_error = on_error;
  options.timeout = timeout;
  options.retry_interval = 100ms;
  return options;
}

template <class Body>
void run(asio::io_context& context, Body body) {
  bool finished = false;
  asio::co_spawn(context, body(), [&](const std::exception_ptr& error) {
    finished = true;
    if (error) std::rethrow_exception(error);
  });
  context.run();
  EXPECT_TRUE(finished);
}

template <class A>
class AsyncRedisExactness : public ::testing::Test {};
// The async client adds no algorithm (the script's are checked against the
// C++ ones in script_equivalence_test): one of each kind of state.
using Algorithms = ::testing::Types<Gcra, SlidingLog>;
TYPED_TEST_SUITE(AsyncRedisExactness, Algorithms);

TYPED_TEST(AsyncRedisExactness, ManyDecisionsInFlightOnOneConnectionGetExactlyTheLimit) {
  testing::RedisServer server;
  asio::io_context context;
  auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), options_of(server));
  AsyncLimiter<TypeParam, std::string> limiter{context.get_executor(), RateLimit{100, 1h}, storage};
  int allowed = 0;
  int done = 0;
  for (int i = 0; i < 300; ++i) {
    limiter.try_acquire("shared", 1, [&](boost::system::error_code error, Decision decision) {
      EXPECT_FALSE(error) << error.message();
      allowed += decision.allowed ? 1 : 0;
      ++done;
    });
  }
  context.run();
  EXPECT_EQ(done, 300);
  EXPECT_EQ(allowed, 100);
  EXPECT_EQ(storage->statistics().connects, 1u);  // all pipelined on one connection
  EXPECT_EQ(storage->statistics().failures, 0u);
}

TYPED_TEST(AsyncRedisExactness, TryAcquireAtDecidesAtTheGivenTimeLikeTheSyncFace) {
  testing::RedisServer server;
  asio::io_context context;
  auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), options_of(server));
  AsyncLimiter<TypeParam, std::string> limiter{context.get_executor(), RateLimit{2, 1s}, storage};
  Limiter<TypeParam, std::string> reference{RateLimit{2, 1s}, std::make_shared<MemoryStorage<std::string>>()};
  const std::vector<std::pair<Instant, std::int64_t>> events{
      {Instant{10s}, 1}, {Instant{10s}, 1}, {Instant{10s + 100ms}, 1}, {Instant{10s + 600ms}, 1}, {Instant{12s}, 2}};
  std::vector<Decision> got;
  run(context, [&]() -> asio::awaitable<void> {
    for (const auto& [at, cost] : events) got.push_back(co_await limiter.try_acquire_at("k", cost, at));
  });
  ASSERT_EQ(got.size(), events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(got[i], reference.try_acquire_at("k", events[i].second, events[i].first)) << i;
  }
}

TEST(AsyncRedis, TheSeedsExampleWorksOutOfTheBox) {
  testing::RedisServer server;
  asio::io_context context;
  auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), server.url());
  auto mutex = std::make_shared<AsyncRedisMutex<std::string>>(context.get_executor(), server.url());
  AsyncLeakyBucketLimiter<std::string> async_limiter{context.get_executor(), rl("10/m"), storage, mutex};
  int performed = 0;
  run(context, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 12; ++i) {
      if (!co_await async_limiter.limit_exceeded("my_key")) ++performed;  // Perform the operation
    }
  });
  EXPECT_EQ(performed, 10);
}

// A user's own async storage on Redis (not deciding): lock, read, write.
class PlainAsyncRedis : public AsyncRateStorage<std::string> {
 public:
  explicit PlainAsyncRedis(std::shared_ptr<AsyncRedisStorage<std::string>> redis) : redis_{std::move(redis)} {}
  asio::awaitable<Rate> read(const std::string& key) override { co_return co_await redis_->read(key); }
  asio::awaitable<void> write(const std::string& key, const Rate& rate, Duration expires_after) override {
    co_await redis_->write(key, rate, expires_after);
  }

 private:
  std::shared_ptr<AsyncRedisStorage<std::string>> redis_;
};

TEST(AsyncRedis, TheSeedPathWithAsyncRedisMutexIsExact) {
  testing::RedisServer server;
  asio::io_context context;
  auto redis = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), options_of(server));
  auto mutex = std::make_shared<AsyncRedisMutex<std::string>>(redis->client());
  AsyncGcraLimiter<std::string> limiter{context.get_executor(), RateLimit{20, 1h},
                                        std::make_shared<PlainAsyncRedis>(redis), mutex};
  int allowed = 0;
  int done = 0;
  for (int i = 0; i < 30; ++i) {
    limiter.try_acquire("k", 1, [&](boost::system::error_code error, Decision decision) {
      EXPECT_FALSE(error) << error.message();
      allowed += decision.allowed ? 1 : 0;
      ++done;
    });
  }
  context.run();
  EXPECT_EQ(done, 30);
  EXPECT_EQ(allowed, 20);
}

TEST(AsyncRedis, AcquireWaitsAndACancelledWaitGivesItsSlotBack) {
  testing::RedisServer server;
  asio::io_context context;
  auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), options_of(server));
  AsyncGcraLimiter<std::string> limiter{context.get_executor(), RateLimit{50, 1s}.with_burst(1), storage};
  run(context, [&]() -> asio::awaitable<void> {
    Decision first = co_await limiter.try_acquire("k");
    EXPECT_TRUE(first.allowed);
    auto start = std::chrono::steady_clock::now();
    Decision waited = co_await limiter.acquire("k", 1, 1s);
    EXPECT_TRUE(waited.allowed);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 15ms);  // about 20 ms: one per 20 ms

    asio::cancellation_signal signal;
    boost::system::error_code cancelled_error;
    limiter.acquire("k", 1, 1s,
                    asio::bind_cancellation_slot(
                        signal.slot(), [&](boost::system::error_code error, Decision) { cancelled_error = error; }));
    asio::steady_timer pause{co_await asio::this_coro::executor, 5ms};
    co_await pause.async_wait(asio::use_awaitable);
    signal.emit(asio::cancellation_type::terminal);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!cancelled_error && std::chrono::steady_clock::now() < deadline) {
      pause.expires_after(5ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
    EXPECT_EQ(cancelled_error, asio::error::operation_aborted);
    // The cancelled slot was given back: the next request waits one interval, not two.
    Decision next = co_await limiter.acquire("k", 1, 1s);
    EXPECT_TRUE(next.allowed);
  });
}

class AsyncFaultPolicy : public ::testing::TestWithParam<OnStorageError> {};

TEST_P(AsyncFaultPolicy, DecidesWhileRedisIsDownWithinTheTimeoutAndReconnects) {
  testing::RedisServer server;
  asio::io_context context;
  auto storage =
      std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), options_of(server, GetParam(), 300ms));
  AsyncSlidingLogLimiter<std::string> limiter{context.get_executor(), RateLimit{2, 1h}, storage};
  run(context, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await limiter.try_acquire("k")).allowed);
    EXPECT_TRUE((co_await limiter.try_acquire("k")).allowed);
    EXPECT_FALSE((co_await limiter.try_acquire("k")).allowed);

    server.pause();  // slow: nothing answers
    auto start = std::chrono::steady_clock::now();
    Decision slow = co_await limiter.try_acquire("k");
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 250ms);
    EXPECT_LT(took, 300ms + stall);
    server.resume();
    server.kill();  // gone
    std::vector<Decision> down;
    for (int i = 0; i < 3; ++i) {
      start = std::chrono::steady_clock::now();
      down.push_back(co_await limiter.try_acquire("k"));
      EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms + stall);
    }
    down.insert(down.begin(), slow);
    auto stats = storage->statistics();
    switch (GetParam()) {
      case OnStorageError::fail_open:
        for (const Decision& d : down) EXPECT_TRUE(d.allowed);
        EXPECT_EQ(stats.failed_open, 4u);
        break;
      case OnStorageError::fail_closed:
        for (const Decision& d : down) EXPECT_FALSE(d.allowed);
        EXPECT_EQ(stats.failed_closed, 4u);
        break;
      case OnStorageError::local:
        EXPECT_TRUE(down[0].allowed);
        EXPECT_TRUE(down[1].allowed);
        EXPECT_FALSE(down[2].allowed);
        EXPECT_FALSE(down[3].allowed);
        EXPECT_EQ(stats.fell_back, 4u);
        break;
    }

    server.start();
    asio::steady_timer pause{co_await asio::this_coro::executor};
    bool remote = false;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!remote && std::chrono::steady_clock::now() < deadline) {
      auto before = storage->statistics();
      Decision d = co_await limiter.try_acquire("fresh");
      auto after = storage->statistics();
      remote = after.failed_open + after.failed_closed + after.fell_back ==
               before.failed_open + before.failed_closed + before.fell_back;
      if (remote) {
        EXPECT_TRUE(d.allowed);
      }
      pause.expires_after(20ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
    EXPECT_TRUE(remote) << "never reconnected";
  });
}

INSTANTIATE_TEST_SUITE_P(Policies, AsyncFaultPolicy,
                         ::testing::Values(OnStorageError::fail_open, OnStorageError::fail_closed,
                                           OnStorageError::local),
                         [](const auto& param_info) {
                           std::string name{to_string(param_info.param)};
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

// Regression: AUTH and SELECT were pipelined with the commands behind them,
// so when SELECT was refused the decisions ran on database 0 and came back as
// real decisions, under fail-closed too.
TEST(AsyncRedis, ADatabaseRedisRefusesIsAStorageFailureAndNothingIsWritten) {
  testing::RedisServer server;
  asio::io_context context;
  redis::Options options = options_of(server, OnStorageError::fail_closed);
  options.endpoint.db = 99;  // a default server has 16
  auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), options);
  AsyncGcraLimiter<std::string> limiter{context.get_executor(), RateLimit{5, 1h}, storage};
  int denied = 0;
  for (int i = 0; i < 3; ++i) {
    limiter.try_acquire("k", 1, [&](boost::system::error_code error, Decision decision) {
      EXPECT_FALSE(error) << error.message();
      denied += decision.allowed ? 0 : 1;
    });
  }
  context.run();
  EXPECT_EQ(denied, 3);
  EXPECT_EQ(storage->statistics().failed_closed, 3u);
  EXPECT_GE(storage->statistics().failures, 1u);
  EXPECT_NE(storage->client()->last_failure().find("refused SELECT"), std::string::npos)
      << storage->client()->last_failure();
  RedisStorage<std::string> database_zero{server.options()};
  EXPECT_EQ(database_zero.client()->command({"DBSIZE"}).integer, 0);
}

// One Session under both clients: a script's error reply and a flushed
// script mean the same in each (tests/redis/session_test.cpp has every step).
TEST(AsyncRedis, BothClientsMapAScriptErrorAndRecoverFromAFlushAlike) {
  testing::RedisServer server;
  asio::io_context context;
  redis::AsyncClient async_client{context.get_executor(), options_of(server)};
  redis::Client sync_client{options_of(server)};
  const redis::Script failing{"return redis.error_reply('boom')"};
  const redis::Script echo{"return ARGV[1]"};
  std::string_view no_keys[1];
  std::string_view one_arg[] = {"x"};

  std::string sync_failure;
  try {
    (void)sync_client.eval(failing, std::span{no_keys, 0}, std::span{no_keys, 0});
  } catch (const StorageError& error) {
    sync_failure = error.what();
  }
  std::string async_failure;
  boost::system::error_code async_error;
  async_client.eval(failing, {}, {}, [&](boost::system::error_code error, const redis::Reply& reply) {
    async_error = error;
    async_failure = reply.text;
  });
  context.run();
  context.restart();
  EXPECT_EQ(async_error, make_error_code(errc::storage_failed));
  EXPECT_NE(sync_failure.find(": failed the script: "), std::string::npos) << sync_failure;
  EXPECT_NE(sync_failure.find("boom"), std::string::npos) << sync_failure;
  EXPECT_EQ(async_failure, sync_failure);
  EXPECT_FALSE(sync_client.down()) << "an error reply is no outage";
  EXPECT_EQ(async_client.retry_in(), Duration{0});

  // After a flush, each client loads the script it calls, once.
  (void)sync_client.command({"SCRIPT", "FLUSH"});
  EXPECT_EQ(sync_client.eval(echo, std::span{no_keys, 0}, one_arg).text, "x");
  (void)sync_client.command({"SCRIPT", "FLUSH"});
  std::string echoed;
  async_client.eval(echo, {}, {"y"}, [&](boost::system::error_code error, const redis::Reply& reply) {
    EXPECT_FALSE(error) << reply.text;
    echoed = reply.text;
  });
  context.run();
  EXPECT_EQ(echoed, "y");
  EXPECT_EQ(sync_client.statistics().script_loads, 2u);   // the failing script, then echo
  EXPECT_EQ(async_client.statistics().script_loads, 1u);  // echo (the sync client had loaded the failing one)
}

TEST(AsyncRedis, ARestartBetweenCallsIsNotAFailure) {
  testing::RedisServer server;
  asio::io_context context;
  auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(),
                                                                  options_of(server, OnStorageError::fail_closed));
  AsyncGcraLimiter<std::string> limiter{context.get_executor(), RateLimit{5, 1h}, storage};
  run(context, [&]() -> asio::awaitable<void> {
    EXPECT_TRUE((co_await limiter.try_acquire("k")).allowed);
    server.kill();
    server.start();
    EXPECT_TRUE((co_await limiter.try_acquire("k")).allowed);
  });
  EXPECT_EQ(storage->statistics().failures, 0u);
  EXPECT_EQ(storage->statistics().failed_closed, 0u);
}

TEST(AsyncRedis, DestroyingTheStorageWithDecisionsInFlightIsSafe) {
  testing::RedisServer server;
  asio::io_context context;
  int done = 0;
  {
    auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), options_of(server));
    AsyncGcraLimiter<std::string> limiter{context.get_executor(), RateLimit{5, 1h}, storage};
    for (int i = 0; i < 20; ++i) limiter.try_acquire("k", 1, [&](boost::system::error_code, Decision) { ++done; });
  }
  context.run();
  EXPECT_EQ(done, 20);
}

}  // namespace
}  // namespace leaksnek

namespace leaksnek {
namespace {

// AsyncRedisStorage leases as RedisStorage does: a hot key's decisions come
// from leases (far fewer calls), the total is exact, and what is unspent goes
// back when the limiter goes.
TEST(AsyncLeases, AHotKeyLeasesExactlyAndGivesBackWhatIsUnspent) {
  testing::RedisServer server;
  ManualClock clock;
  const RateLimit limit{1000, 24h};
  {
    asio::io_context context;
    redis::Options options = options_of(server);
    options.lease.enabled = true;
    options.lease.clock = clock;
    auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), options);
    {
      AsyncGcraLimiter<std::string> limiter{context.get_executor(), "hot", limit, storage};
      run(context, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 10; ++i) EXPECT_TRUE((co_await limiter.try_acquire("k", 1, asio::use_awaitable)).allowed);
      });
      EXPECT_EQ(storage->statistics().leased, 14u);  // leases of 2, 4 and 8 after a direct call
      EXPECT_EQ(storage->statistics().lease_spent, 6u);
    }
    context.restart();
    context.run();  // the give-back
    EXPECT_EQ(storage->statistics().given_back, 5u);
  }
  asio::io_context context;
  auto storage = std::make_shared<AsyncRedisStorage<std::string>>(context.get_executor(), options_of(server));
  AsyncGcraLimiter<std::string> check{context.get_executor(), "hot", limit, storage};
  run(context, [&]() -> asio::awaitable<void> {
    EXPECT_EQ((co_await check.try_acquire("k", 1, asio::use_awaitable)).remaining, 989);
  });
}

}  // namespace
}  // namespace leaksnek
