// RedisStorage, RedisMutex and limiters over them, against a real
// redis-server: scripts, TTLs, keys, errors, concurrency, faults.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <leaksnek/leaksnek.hpp>
#include <leaksnek/mutexes/redis_mutex.hpp>
#include <leaksnek/storages/redis_storage.hpp>

#include "changed_limits.hpp"
#include "redis_server.hpp"

namespace leaksnek {
namespace {

using namespace std::chrono_literals;
using redis::Reply;

// A busy machine (CI: 2 cores, sanitizers) can stall any call for a while:
// tests that do not measure the timeout give it plenty of room, and the
// bounds of those that do allow for a stall without missing a hang.
constexpr Duration generous_timeout = 10s;
constexpr Duration stall = 2s;

std::shared_ptr<RedisStorage<std::string>> storage_on(const testing::RedisServer& server,
                                                      OnStorageError on_error = OnStorageError::local,
                                                      Duration timeout = generous_timeout,
                                                      Duration retry_interval = 100ms) {
  redis::Options options = server.options();
  options.on_error = on_error;
  options.timeout = timeout;
  options.retry_interval = retry_interval;
  return std::make_shared<RedisStorage<std::string>>(options);
}

// The key of an unnamed policy's state (keys here hold no '%', '{' or '}').
std::string redis_key(std::string_view algorithm, const std::vector<RateLimit>& limits, std::string_view key,
                      std::string_view prefix = "leaksnek:") {
  std::string name{prefix};
  name.push_back('{');
  for (char c : default_policy_name(algorithm, limits)) {
    if (c == ':') {
      name.append("%3A");
    } else {
      name.push_back(c);
    }
  }
  name.append(":").append(key).append("}:").append(redis::policy_tag(algorithm, limits));
  return name;
}

// The same expectations as MemoryStorage's: a changed limit keeps a key's
// state on Redis exactly where it does in memory.
TEST(RedisStorage, KeepsStateAcrossChangedLimitsWhereItMeansTheSame) {
  testing::RedisServer server;
  testing::expect_changed_limits_keep_meaningful_state(storage_on(server));
}

// --- URLs -------------------------------------------------------------------

TEST(RedisUrl, ParsesHostPortDatabaseAndCredentials) {
  auto e = redis::Endpoint::parse("redis://alice:s%3Acret@cache.internal:6380/3");
  EXPECT_EQ(e.host, "cache.internal");
  EXPECT_EQ(e.port, 6380);
  EXPECT_EQ(e.db, 3);
  EXPECT_EQ(e.user, "alice");
  EXPECT_EQ(e.password, "s:cret");
  auto d = redis::Endpoint::parse("redis://localhost");
  EXPECT_EQ(d.host, "localhost");
  EXPECT_EQ(d.port, 6379);
  EXPECT_EQ(d.db, 0);
  EXPECT_EQ(redis::Endpoint::parse("redis://[::1]:7000/").host, "::1");
  EXPECT_EQ(redis::Endpoint::parse("redis://:pw@h:1").password, "pw");
}

TEST(RedisUrl, RejectsMalformedUrlsNamingTheProblem) {
  auto message = [](std::string_view url) {
    try {
      (void)redis::Endpoint::parse(url);
    } catch (const Error& e) {
      return std::string{e.what()};
    }
    return std::string{"accepted"};
  };
  EXPECT_NE(message("http://host").find("expected redis://"), std::string::npos);
  EXPECT_NE(message("rediss://host").find("TLS"), std::string::npos);
  EXPECT_NE(message("redis://host:0").find("port"), std::string::npos);
  EXPECT_NE(message("redis://host:70000").find("port"), std::string::npos);
  EXPECT_NE(message("redis://host:x").find("port"), std::string::npos);
  EXPECT_NE(message("redis://host/db").find("database"), std::string::npos);
  EXPECT_NE(message("redis://:6379").find("missing host"), std::string::npos);
  EXPECT_NE(message("redis://u:%zz@host").find("escape"), std::string::npos);
}

TEST(RedisUrl, LeaseParametersAfterTheUrl) {
  redis::Options options;
  options.set_url("redis://cache:6380/2?lease=on&lease_max=64&lease_ttl=250ms");
  EXPECT_EQ(options.endpoint.port, 6380);
  EXPECT_EQ(options.endpoint.db, 2);
  EXPECT_TRUE(options.lease.enabled);
  EXPECT_EQ(options.lease.max, 64);
  EXPECT_EQ(options.lease.ttl, 250ms);
  redis::Options cluster;
  cluster.set_url("redis-cluster://a:7000,b:7001?lease=on&lease_ttl=2s");
  EXPECT_EQ(cluster.cluster.size(), 2u);
  EXPECT_TRUE(cluster.lease.enabled);
  EXPECT_EQ(cluster.lease.ttl, 2s);
  redis::Options odd_password;  // a '?' before the '@' is the password's
  odd_password.set_url("redis://user:pa?ss@cache:6380?lease=on");
  EXPECT_EQ(odd_password.endpoint.password, "pa?ss");
  EXPECT_EQ(odd_password.endpoint.host, "cache");
  EXPECT_TRUE(odd_password.lease.enabled);
  auto message = [](std::string_view url) {
    try {
      redis::Options bad;
      bad.set_url(url);
    } catch (const Error& e) {
      return std::string{e.what()};
    }
    return std::string{"accepted"};
  };
  EXPECT_NE(message("redis://h?lease=yes").find("lease must be on or off"), std::string::npos);
  EXPECT_NE(message("redis://h?lease_max=0").find("lease_max"), std::string::npos);
  EXPECT_NE(message("redis://h?lease_ttl=5").find("ms or s"), std::string::npos);
  EXPECT_NE(message("redis://h?leese=on").find("unknown parameter \"leese\""), std::string::npos);
}

TEST(OnStoreErrorNames, ParseAndPrint) {
  EXPECT_EQ(parse_on_storage_error("fail-open"), OnStorageError::fail_open);
  EXPECT_EQ(parse_on_storage_error("fail-closed"), OnStorageError::fail_closed);
  EXPECT_EQ(parse_on_storage_error("local"), OnStorageError::local);
  EXPECT_EQ(to_string(OnStorageError::fail_closed), "fail-closed");
  EXPECT_THROW((void)parse_on_storage_error("open"), Error);
}

TEST(Sha1, MatchesKnownDigests) {
  EXPECT_EQ(redis::sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(redis::sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(redis::sha1_hex(std::string(1000, 'a')), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
}

TEST(RedisReplies, AMalformedDecisionReplyIsAStorageErrorNamingIt) {
  auto message = [](const Reply& reply) {
    try {
      (void)redis::parse_decision(reply);
    } catch (const StorageError& e) {
      return std::string{e.what()};
    }
    return std::string{"accepted"};
  };
  auto text = [](std::string value) { return Reply{Reply::Type::string, std::move(value), 0, {}}; };
  auto number = [](long long value) { return Reply{Reply::Type::integer, {}, value, {}}; };
  Reply good{Reply::Type::array,
             {},
             0,
             {number(1), number(10), number(9), number(0), text("100000000000"), number(0), number(5)}};
  EXPECT_EQ(message(good), "accepted");
  EXPECT_EQ(redis::parse_decision(good).reserved.decision.reset_after, 100s);
  EXPECT_NE(message(number(1)).find("expected an array of 7"), std::string::npos);
  Reply short_reply = good;
  short_reply.elements.pop_back();
  EXPECT_NE(message(short_reply).find("expected an array of 7"), std::string::npos);
  Reply not_a_number = good;
  not_a_number.elements[2] = text("12abc");
  EXPECT_NE(message(not_a_number).find("\"12abc\" is not an integer"), std::string::npos);
  Reply nil = good;
  nil.elements[3] = Reply{};
  EXPECT_NE(message(nil).find("neither an integer nor a string"), std::string::npos);
  Reply negative = good;
  negative.elements[2] = number(-5);
  EXPECT_NE(message(negative).find("negative"), std::string::npos);
  Reply huge = good;
  huge.elements[4] = text("99999999999999999999999");  // a duration beyond int64 saturates
  EXPECT_EQ(redis::parse_decision(huge).reserved.decision.reset_after, Duration::max());
  Reply never = good;
  never.elements[0] = number(0);
  never.elements[3] = number(-1);
  EXPECT_TRUE(redis::parse_decision(never).reserved.decision.never_allowed());
}

// --- The one-step path ------------------------------------------------------------

TEST(RedisStorage, OneRoundTripPerDecisionAndNoscriptRecovery) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  GcraLimiter<std::string> limiter{RateLimit{2, 1h}, storage};
  EXPECT_TRUE(limiter.try_acquire("k").allowed);  // the fresh server lacks the script: NOSCRIPT, load, retry
  EXPECT_EQ(storage->statistics().script_loads, 1u);
  auto calls = storage->statistics().calls;
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_EQ(storage->statistics().calls - calls, 1u);  // one EVALSHA
  EXPECT_EQ(storage->client()->command({"FUNCTION", "FLUSH"}).type, Reply::Type::status);
  Decision third = limiter.try_acquire("k");  // reloads transparently
  EXPECT_FALSE(third.allowed);
  EXPECT_GT(third.retry_after, 29min);  // on the server's clock, a little of the half hour has passed
  EXPECT_LE(third.retry_after, 30min);
  EXPECT_EQ(storage->statistics().script_loads, 2u);
  EXPECT_EQ(storage->statistics().failures, 0u);
}

TEST(RedisStorage, KeysLiveUnderThePrefixWithATtlUntilTheyAreFresh) {
  testing::RedisServer server;
  redis::Options options = server.options();
  options.prefix = "myapp:rl:";
  auto storage = std::make_shared<RedisStorage<std::string>>(options);
  auto pttl = [&](const std::string& name) { return storage->client()->command({"PTTL", name}).integer; };

  FixedWindowLimiter<std::string> fixed{RateLimit{5, 1h}, storage};
  (void)fixed.try_acquire("a");
  GcraLimiter<std::string> gcra{RateLimit{10, 1s}, storage};
  (void)gcra.try_acquire("a", 4);  // full again in 400 ms
  SlidingLogLimiter<std::string> log{RateLimit{3, 1min}, storage};
  (void)log.try_acquire("a");

  Reply keys = storage->client()->command({"KEYS", "*"});
  ASSERT_EQ(keys.elements.size(), 3u);  // (before "b" below)
  for (const Reply& key : keys.elements) EXPECT_TRUE(key.text.starts_with("myapp:rl:")) << key.text;
  // Set with as much again to spare, a second at least (re-armed only once a
  // state outlives it).
  long long gcra_ttl = pttl(redis_key("gcra", {RateLimit{10, 1s}}, "a", "myapp:rl:"));
  EXPECT_GT(gcra_ttl, 1'300);
  EXPECT_LE(gcra_ttl, 1'403);
  long long log_ttl = pttl(redis_key("sliding-log", {RateLimit{3, 1min}}, "a", "myapp:rl:"));
  EXPECT_GT(log_ttl, 59'000);
  EXPECT_LE(log_ttl, 60'002);
  long long fixed_ttl = pttl(redis_key("fixed-window", {RateLimit{5, 1h}}, "a", "myapp:rl:"));
  EXPECT_GT(fixed_ttl, 0);
  EXPECT_LE(fixed_ttl, 7'200'003);
  // A decision that the TTL already covers leaves it as it is; one that
  // outlives it sets it again.
  (void)gcra.try_acquire("a", 1);  // full again ~500 ms from now: covered
  EXPECT_LE(pttl(redis_key("gcra", {RateLimit{10, 1s}}, "a", "myapp:rl:")), gcra_ttl);
  GcraLimiter<std::string> slow{RateLimit{10, 10s}, storage};
  (void)slow.try_acquire("b", 4);  // full again in 4 s: a TTL of 8 s
  EXPECT_GT(pttl(redis_key("gcra", {RateLimit{10, 10s}}, "b", "myapp:rl:")), 7'000);
  (void)slow.try_acquire("b", 6);  // full again in 10 s: past the TTL, set to 20 s
  long long again = pttl(redis_key("gcra", {RateLimit{10, 10s}}, "b", "myapp:rl:"));
  EXPECT_GT(again, 19'000);
  EXPECT_LE(again, 20'003);
}

TEST(RedisStorage, AnIdleKeyDisappearsOnItsOwn) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  TokenBucketLimiter<std::string> limiter{RateLimit{1, 20ms}, storage};
  EXPECT_TRUE(limiter.try_acquire("idle").allowed);
  EXPECT_EQ(storage->client()->command({"DBSIZE"}).integer, 1);
  // Redis expires the key by its own clock; wait for it (the TTL is 21 ms).
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (storage->client()->command({"DBSIZE"}).integer != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(storage->client()->command({"DBSIZE"}).integer, 0);
}

TEST(RedisStorage, MultiLimitsAreOneCallAllOrNothing) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  SlidingWindowLimiter<std::string> limiter{{RateLimit{3, 1s}, RateLimit{4, 1h}}, storage};
  auto calls = storage->statistics().calls;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.try_acquire_at("k", 1, Instant{1'000'000s}).allowed);
  EXPECT_EQ(storage->statistics().calls - calls, 3u + 2u);  // + NOSCRIPT and SCRIPT LOAD on the fresh server
  Decision denied = limiter.try_acquire_at("k", 1, Instant{1'000'000s});
  EXPECT_FALSE(denied.allowed);
  // 2 more would pass the hourly limit: denied by it, and the per-second limit keeps its room.
  EXPECT_FALSE(limiter.try_acquire_at("k", 2, Instant{1'000'002s}).allowed);
  Decision one = limiter.try_acquire_at("k", 1, Instant{1'000'002s});
  EXPECT_TRUE(one.allowed);
  EXPECT_EQ(one.remaining, 0);
  EXPECT_EQ(storage->client()->command({"DBSIZE"}).integer, 1);  // both limits in one key
}

TEST(RedisStorage, BinaryKeysAreDistinctAndSafe) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  FixedWindowLimiter<std::string> limiter{RateLimit{1, 1h}, storage};
  const std::string keys[] = {"a b", std::string{"a\0b", 3}, "a\r\nSET x y\r\n", "\xff\xfe", ""};
  for (const std::string& key : keys) EXPECT_TRUE(limiter.try_acquire(key).allowed);
  for (const std::string& key : keys) EXPECT_FALSE(limiter.try_acquire(key).allowed);
  EXPECT_EQ(storage->client()->command({"DBSIZE"}).integer, 5);
}

// Regression: state was keyed by (algorithm, limits), so two policies with
// equal limits shared every key's state.
TEST(RedisStorage, PoliciesWithEqualLimitsAndDifferentNamesKeepSeparateState) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  FixedWindowLimiter<std::string> search{"search", RateLimit{2, 1h}, storage};
  FixedWindowLimiter<std::string> payments{"payments", RateLimit{2, 1h}, storage};
  EXPECT_TRUE(search.try_acquire("alice").allowed);
  EXPECT_TRUE(search.try_acquire("alice").allowed);
  EXPECT_FALSE(search.try_acquire("alice").allowed);
  EXPECT_TRUE(payments.try_acquire("alice").allowed);
  // One name is one policy, across limiter objects.
  FixedWindowLimiter<std::string> search_again{"search", RateLimit{2, 1h}, storage};
  EXPECT_FALSE(search_again.try_acquire("alice").allowed);
}

TEST(RedisStorage, EveryKeyOfADecisionHasOneHashTagAndBracesNeverCollide) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  GcraLimiter<std::string> api{"api", RateLimit{1, 1h}, storage};
  EXPECT_TRUE(api.try_acquire("a{b}%c:d").allowed);
  EXPECT_EQ(storage->client()->command({"EXISTS", "leaksnek:{api:a%7Bb%7D%25c:d}:gcra:1:1/3600000000000ns"}).integer,
            1);
  // A ':' in the name cannot move the border between name and key.
  GcraLimiter<std::string> ab{"a:b", RateLimit{1, 1h}, storage};
  GcraLimiter<std::string> a{"a", RateLimit{1, 1h}, storage};
  EXPECT_TRUE(ab.try_acquire("c").allowed);
  EXPECT_TRUE(a.try_acquire("b:c").allowed);
  // Nor can braces or escapes in a key reach another key.
  EXPECT_TRUE(api.try_acquire("a%7Bb%7D%25c:d").allowed);
  EXPECT_TRUE(api.try_acquire("a{b}").allowed);
  EXPECT_TRUE(api.try_acquire("a{b").allowed);
  EXPECT_FALSE(api.try_acquire("a{b}").allowed);
  Reply keys = storage->client()->command({"KEYS", "*"});
  for (const Reply& key : keys.elements) {
    std::size_t open = key.text.find('{');
    ASSERT_NE(open, std::string::npos) << key.text;
    EXPECT_EQ(key.text.find('{', open + 1), std::string::npos) << key.text;
    EXPECT_EQ(std::count(key.text.begin(), key.text.end(), '}'), 1) << key.text;
  }
  EXPECT_EQ(keys.elements.size(), 6u);
}

TEST(RedisStorage, IntegerKeys) {
  testing::RedisServer server;
  redis::Options options = server.options();
  auto storage = std::make_shared<RedisStorage<std::int64_t>>(options);
  GcraLimiter<std::int64_t> limiter{RateLimit{1, 1h}, storage};
  EXPECT_TRUE(limiter.try_acquire(42).allowed);
  EXPECT_FALSE(limiter.try_acquire(42).allowed);
  EXPECT_TRUE(limiter.try_acquire(-42).allowed);
}

TEST(RedisStorage, AKeyTooLongIsRefusedAndNothingIsStored) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  GcraLimiter<std::string> limiter{RateLimit{1, 1h}, storage};
  try {
    (void)limiter.try_acquire(std::string(513, 'k'));
    FAIL() << "accepted a 513-byte key";
  } catch (const KeyError& e) {
    EXPECT_NE(std::string{e.what()}.find("513 bytes"), std::string::npos);
  }
  EXPECT_TRUE(limiter.try_acquire(std::string(512, 'k')).allowed);
  EXPECT_EQ(storage->client()->command({"DBSIZE"}).integer, 1);
  EXPECT_THROW((void)limiter.try_acquire("k", 0), CostError);
}

TEST(RedisStorage, PeriodsMustBeWholeMicroseconds) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  EXPECT_THROW((GcraLimiter<std::string>{RateLimit{1, 1500ns}, storage}), RateError);
  EXPECT_NO_THROW((GcraLimiter<std::string>{RateLimit{1, 2us}, storage}));
}

TEST(RedisStorage, AWrongTypeKeyIsAStorageErrorAndTheFaultPolicyDecides) {
  testing::RedisServer server;
  auto storage = storage_on(server, OnStorageError::fail_closed);
  std::vector<RateLimit> limits{RateLimit{5, 1h}};
  std::string name = redis_key("gcra", limits, "taken");
  storage->client()->command({"SET", name, "someone else's"});
  const std::string policy = default_policy_name("gcra", limits);
  StorageRequest request{policy, "gcra", limits, 1, std::nullopt, Duration{0}};
  try {
    (void)storage->decide("taken", request);
    FAIL() << "decided on a string key";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string{e.what()}.find("WRONGTYPE"), std::string::npos) << e.what();
  }
  GcraLimiter<std::string> limiter{limits, storage};
  EXPECT_FALSE(limiter.try_acquire("taken").allowed);
  EXPECT_EQ(storage->statistics().failed_closed, 1u);
  EXPECT_EQ(storage->client()->command({"GET", name}).text, "someone else's");
  EXPECT_TRUE(limiter.try_acquire("other").allowed);  // the connection still serves
}

TEST(RedisStorage, MalformedStateIsAStorageErrorAndIsLeftAlone) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  std::vector<RateLimit> limits{RateLimit{5, 1h}};
  const std::string policy = default_policy_name("fixed-window", limits);
  StorageRequest request{policy, "fixed-window", limits, 1, std::nullopt, Duration{0}};
  (void)storage->decide("k", request);
  std::string name = redis_key("fixed-window", limits, "k");
  storage->client()->command({"HSET", name, "1.c", "lots"});
  EXPECT_THROW((void)storage->decide("k", request), StorageError);
  storage->client()->command({"HDEL", name, "1.w"});
  EXPECT_THROW((void)storage->decide("k", request), StorageError);
  EXPECT_EQ(storage->client()->command({"HGET", name, "1.c"}).text, "lots");
}

// --- Waiting and reservations ------------------------------------------------------

TEST(RedisStorage, AcquireBooksTheWaitAndLaterCallersQueueBehindIt) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  ManualClock clock;
  LeakyBucketLimiter<std::string> limiter{RateLimit{1, 1s}, storage, nullptr, clock};
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  auto reservation = limiter.reserve("k", 1, 5s);
  EXPECT_TRUE(reservation.decision.allowed);
  EXPECT_GT(reservation.wait, 900ms);
  EXPECT_LE(reservation.wait, 1s);
  EXPECT_TRUE(reservation.remote);
  auto second = limiter.reserve("k", 1, 5s);
  EXPECT_GT(second.wait, 1900ms);  // behind the first reservation
  limiter.cancel("k", second);
  auto third = limiter.reserve("k", 1, 5s);
  EXPECT_GT(third.wait, 1900ms);  // the cancelled slot is free again
  EXPECT_LE(third.wait, 2s);
  EXPECT_FALSE(limiter.reserve("k", 1, 100ms).decision.allowed);  // does not fit within the wait
}

TEST(RedisStorage, WindowsBookTheirNextWindow) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  FixedWindowLimiter<std::string> limiter{RateLimit{1, 1h}, storage};
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  auto booked = limiter.reserve("k", 1, 2h);
  EXPECT_TRUE(booked.decision.allowed);
  EXPECT_GT(booked.wait, 0s);
  Decision queued = limiter.try_acquire("k");
  EXPECT_FALSE(queued.allowed);
  EXPECT_GT(queued.retry_after, booked.wait);  // behind the booked window
}

// --- Concurrency -----------------------------------------------------------------

template <class A>
class RedisExactness : public ::testing::Test {};
using Algorithms = ::testing::Types<Gcra, TokenBucket, LeakyBucket, FixedWindow, SlidingWindow, SlidingLog>;
TYPED_TEST_SUITE(RedisExactness, Algorithms);

TYPED_TEST(RedisExactness, FourThreadsOnOneKeyGetExactlyTheLimit) {
  testing::RedisServer server;
  auto storage = storage_on(server);
  Limiter<TypeParam, std::string> limiter{RateLimit{1000, 1h}, storage};
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) allowed += limiter.try_acquire("shared").allowed ? 1 : 0;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 1000);
  EXPECT_EQ(storage->statistics().failures, 0u);
  EXPECT_LE(storage->statistics().connects, 4u);  // the pool reuses connections
}

// --- The seed's pattern: RedisMutex and read/write ------------------------------------

// A user's own storage on Redis (not deciding): the limiter must lock, read, write.
class PlainRedisStorage : public RateStorage<std::string> {
 public:
  explicit PlainRedisStorage(std::shared_ptr<RedisStorage<std::string>> redis) : redis_{std::move(redis)} {}
  Rate read(const std::string& key) override { return redis_->read(key); }
  void write(const std::string& key, const Rate& rate, Duration expires_after) override {
    redis_->write(key, rate, expires_after);
  }

 private:
  std::shared_ptr<RedisStorage<std::string>> redis_;
};

TEST(RedisMutex, TheSeedPathIsExactAcrossThreadsAndCostsFourRoundTrips) {
  testing::RedisServer server;
  auto redis = storage_on(server);
  auto mutex = std::make_shared<RedisMutex<std::string>>(redis->client());
  LeakyBucketLimiter<std::string> limiter{RateLimit{100, 1h}, std::make_shared<PlainRedisStorage>(redis), mutex};
  auto calls = redis->statistics().calls;
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  // SET NX (lock), GET (read), SET PX (write), EVALSHA + NOSCRIPT load + EVALSHA (first unlock).
  EXPECT_EQ(redis->statistics().calls - calls, 6u);
  calls = redis->statistics().calls;
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_EQ(redis->statistics().calls - calls, 4u);

  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 60; ++i) allowed += limiter.try_acquire("k").allowed ? 1 : 0;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 98);
  EXPECT_GT(redis->client()->command({"PTTL", "leaksnek:rate:k"}).integer, 0);
}

TEST(RedisMutex, OnlyTheOwnerReleasesAndALeaseFreesACrashedHolder) {
  testing::RedisServer server;
  auto redis = storage_on(server);
  auto& client = *redis->client();
  redis::MutexOptions short_lease{50ms, 2s};
  redis::lock(client, "lease", "crashed-holder", short_lease);  // never released
  redis::unlock(client, "lease", "someone-else");               // not the owner: no effect
  EXPECT_EQ(client.command({"GET", "lease"}).text, "crashed-holder");
  auto start = std::chrono::steady_clock::now();
  redis::lock(client, "lease", "next", short_lease);  // waits out the 50 ms lease
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_EQ(client.command({"GET", "lease"}).text, "next");
  redis::unlock(client, "lease", "next");
  EXPECT_EQ(client.command({"EXISTS", "lease"}).integer, 0);
  redis::lock(client, "held", "a", redis::MutexOptions{1h, 2s});
  EXPECT_THROW(redis::lock(client, "held", "b", redis::MutexOptions{10s, 20ms}), StorageError);  // wait runs out
}

TEST(RedisMutex, ExcludesAcrossInstances) {
  testing::RedisServer server;
  RedisMutex<std::string> first{server.url()};
  RedisMutex<std::string> second{server.url()};
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  auto worker = [&](RedisMutex<std::string>& mutex) {
    for (int i = 0; i < 50; ++i) {
      KeyLock<std::string> lock = mutex.guard("k");
      if (++inside > 1) ++overlaps;
      --inside;
    }
  };
  std::thread a{worker, std::ref(first)};
  std::thread b{worker, std::ref(second)};
  a.join();
  b.join();
  EXPECT_EQ(overlaps.load(), 0);
}

// --- Faults -----------------------------------------------------------------------

Duration timed(const std::function<void()>& call) {
  auto start = std::chrono::steady_clock::now();
  call();
  return std::chrono::steady_clock::now() - start;
}

class FaultPolicy : public ::testing::TestWithParam<OnStorageError> {};

TEST_P(FaultPolicy, DecidesWhileRedisIsDownAndReconnectsWhenItIsBack) {
  testing::RedisServer server;
  auto storage = storage_on(server, GetParam());
  GcraLimiter<std::string> limiter{RateLimit{2, 1h}, storage};
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_FALSE(limiter.try_acquire("k").allowed);  // Redis holds the key full

  server.kill();
  std::vector<Decision> while_down;
  for (int i = 0; i < 4; ++i) {
    Duration took = timed([&] { while_down.push_back(limiter.try_acquire("k")); });
    EXPECT_LT(took, stall);  // refused at once, never the 10 s timeout
  }
  auto stats = storage->statistics();
  EXPECT_GE(stats.failures, 1u);
  switch (GetParam()) {
    case OnStorageError::fail_open:
      for (const Decision& d : while_down) EXPECT_TRUE(d.allowed);
      EXPECT_EQ(stats.failed_open, 4u);
      break;
    case OnStorageError::fail_closed:
      for (const Decision& d : while_down) {
        EXPECT_FALSE(d.allowed);
        EXPECT_GT(d.retry_after, 0ns);
        EXPECT_LE(d.retry_after, 100ms);
      }
      EXPECT_EQ(stats.failed_closed, 4u);
      break;
    case OnStorageError::local:  // a limiter in memory: 2 allowed, then denied
      EXPECT_TRUE(while_down[0].allowed);
      EXPECT_TRUE(while_down[1].allowed);
      EXPECT_FALSE(while_down[2].allowed);
      EXPECT_FALSE(while_down[3].allowed);
      EXPECT_EQ(stats.fell_back, 4u);
      break;
  }

  server.start();  // an empty server on the same port
  auto deadline = std::chrono::steady_clock::now() + 10s;
  Decision back;
  while (std::chrono::steady_clock::now() < deadline) {
    auto before = storage->statistics();
    back = limiter.try_acquire("fresh");
    auto after = storage->statistics();
    if (after.failed_open + after.failed_closed + after.fell_back ==
        before.failed_open + before.failed_closed + before.fell_back) {
      break;  // decided by Redis
    }
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(back.allowed);
  EXPECT_EQ(storage->client()->command({"DBSIZE"}).integer, 1);  // "fresh" lives in the new server
}

TEST_P(FaultPolicy, ASlowServerCostsNoMoreThanTheTimeout) {
  testing::RedisServer server;
  // A retry interval far longer than the test: the second call must fail fast.
  auto storage = storage_on(server, GetParam(), 300ms, 1h);
  SlidingLogLimiter<std::string> limiter{RateLimit{5, 1h}, storage};
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  server.pause();
  Duration took = timed([&] { (void)limiter.try_acquire("k"); });
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 300ms + stall);
  auto before = storage->statistics();
  (void)limiter.try_acquire("k");  // fails fast while the retry interval runs: nothing sent, nothing opened
  auto after = storage->statistics();
  EXPECT_EQ(after.calls, before.calls);
  EXPECT_EQ(after.connects, before.connects);
  EXPECT_EQ(after.failed_open + after.failed_closed + after.fell_back,
            before.failed_open + before.failed_closed + before.fell_back + 1);
  server.resume();
}

TEST(RedisStorage, ADatabaseRedisRefusesIsAStorageFailureAndNothingIsWritten) {
  testing::RedisServer server;
  redis::Options options = server.options();
  options.endpoint.db = 99;  // a default server has 16
  options.on_error = OnStorageError::fail_closed;
  auto storage = std::make_shared<RedisStorage<std::string>>(options);
  GcraLimiter<std::string> limiter{RateLimit{5, 1h}, storage};
  EXPECT_FALSE(limiter.try_acquire("k").allowed);
  EXPECT_EQ(storage->statistics().failed_closed, 1u);
  EXPECT_EQ(storage->statistics().failures, 1u);  // a failed connection: calls fail fast for the retry interval
  EXPECT_NE(storage->client()->last_failure().find("refused SELECT"), std::string::npos)
      << storage->client()->last_failure();
  RedisStorage<std::string> database_zero{server.options()};
  EXPECT_EQ(database_zero.client()->command({"DBSIZE"}).integer, 0);
}

// Regression: the local fallback kept every key it saw while Redis was down.
TEST(RedisStorage, TheLocalFallbackIsBoundedByLocalMaxKeys) {
  testing::RedisServer server;
  redis::Options options = server.options();
  options.local_max_keys = 64;  // one per shard
  options.retry_interval = 1h;
  auto storage = std::make_shared<RedisStorage<std::string>>(options);
  FixedWindowLimiter<std::string> limiter{RateLimit{1, 1h}, storage};
  server.kill();
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_FALSE(limiter.try_acquire("k").allowed);  // decided locally, and remembered
  for (int i = 0; i < 2000; ++i) (void)limiter.try_acquire("other-" + std::to_string(i));
  EXPECT_TRUE(limiter.try_acquire("k").allowed);  // evicted: the table stayed within its cap
  EXPECT_EQ(storage->statistics().fell_back, 2003u);
}

TEST(RedisStorage, ARestartBetweenCallsIsNotAFailure) {
  testing::RedisServer server;
  auto storage = storage_on(server, OnStorageError::fail_closed);
  GcraLimiter<std::string> limiter{RateLimit{5, 1h}, storage};
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  server.kill();
  server.start();  // the pooled connection is closed by now: detected, replaced, not a failure
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_EQ(storage->statistics().failures, 0u);
  EXPECT_EQ(storage->statistics().failed_closed, 0u);
}

INSTANTIATE_TEST_SUITE_P(Policies, FaultPolicy,
                         ::testing::Values(OnStorageError::fail_open, OnStorageError::fail_closed,
                                           OnStorageError::local),
                         [](const auto& param_info) {
                           std::string name{to_string(param_info.param)};
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace leaksnek
