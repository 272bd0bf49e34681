// Leases (redis::LeaseOptions) against a real redis-server: hot keys spend
// capacity taken from Redis in one call, cold keys go straight to Redis, and
// what a lease holds is never spent twice nor lost for longer than its bound.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <leaksnek/leaksnek.hpp>
#include <leaksnek/redis/leases.hpp>
#include <leaksnek/storages/redis_storage.hpp>
#include <leaksnek/testing/manual_clock.hpp>

#include "redis_server.hpp"

namespace leaksnek {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<RedisStorage<std::string>> leasing(const testing::RedisServer& server, ClockRef clock = {},
                                                   OnStorageError on_error = OnStorageError::local) {
  redis::Options options = server.options();
  options.timeout = 10s;
  options.retry_interval = 100ms;
  options.on_error = on_error;
  options.lease.enabled = true;
  options.lease.clock = clock;
  return std::make_shared<RedisStorage<std::string>>(options);
}

std::shared_ptr<RedisStorage<std::string>> plain(const testing::RedisServer& server) {
  redis::Options options = server.options();
  options.timeout = 10s;
  return std::make_shared<RedisStorage<std::string>>(options);
}

// How many more `limit` allows on `key` now, through a storage without leases.
int left(const testing::RedisServer& server, const RateLimit& limit, const std::string& key) {
  GcraLimiter<std::string> limiter{"hot", limit, plain(server)};
  int allowed = 0;
  while (limiter.try_acquire(key).allowed) ++allowed;
  return allowed;
}

// Runs `body` in `count` processes forked at once and returns what each
// returned, in order. A child ends with _exit, leaving the test to its parent.
using Counts = std::array<std::int64_t, 2>;
std::vector<Counts> in_processes(int count, const std::function<Counts()>& body) {
  std::vector<pid_t> children;
  std::vector<int> pipes;
  for (int p = 0; p < count; ++p) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error{"pipe failed"};
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error{"fork failed"};
    if (pid == 0) {
      ::close(fds[0]);
      const Counts counts = body();
      (void)!::write(fds[1], counts.data(), sizeof counts);
      ::_exit(0);
    }
    ::close(fds[1]);
    children.push_back(pid);
    pipes.push_back(fds[0]);
  }
  std::vector<Counts> results(children.size());
  for (std::size_t p = 0; p < children.size(); ++p) {
    EXPECT_EQ(::read(pipes[p], results[p].data(), sizeof(Counts)), static_cast<ssize_t>(sizeof(Counts)));
    ::close(pipes[p]);
    int status = 0;
    ::waitpid(children[p], &status, 0);
  }
  return results;
}

// redis::Leases on its own (no Redis): what plan() asks for and what goes
// back, on a ManualClock; record() is told what a server would answer.
using Kind = redis::Leases::Plan::Kind;

redis::LeaseOptions lease_options(const ManualClock& clock, Duration ttl = 100ms) {
  redis::LeaseOptions options;
  options.enabled = true;
  options.ttl = ttl;
  options.clock = clock;
  return options;
}

// A server's answer: allowed, `granted` tokens taken at `at_us` (server time).
StorageOutcome granted(std::int64_t granted, std::int64_t at_us) {
  StorageOutcome outcome;
  outcome.reserved.decision.allowed = true;
  outcome.reserved.decision.limit = 1000;
  outcome.reserved.wait = Duration{granted};  // the lease mode's granted count
  outcome.reserved_at = at_us;
  return outcome;
}

// Makes `key` hot (a direct decision first) and returns the lease plan for
// its second decision, `cost` tokens, 1 ms later.
redis::Leases::Plan lease_plan(redis::Leases& leases, ManualClock& clock, const std::string& key,
                               std::int64_t cost = 1) {
  const redis::Leases::Plan first = leases.plan(key, 1);
  EXPECT_EQ(first.kind, Kind::direct);
  (void)leases.record(key, 1, first, granted(1, 0));
  clock.advance(1ms);
  redis::Leases::Plan second = leases.plan(key, cost);
  EXPECT_EQ(second.kind, Kind::lease);
  return second;
}

// A bucket refills while a lease is out: a cancel of the capacity that has
// come back would credit it twice, so only what has not refilled since the
// grant goes back. A window's or a log's unspent tokens all go back.
TEST(LeasePlans, ABucketGivesBackOnlyWhatHasNotRefilledSinceItsGrant) {
  for (const std::string algorithm : {"gcra", "token-bucket", "leaky-bucket", "sliding-window", "sliding-log"}) {
    SCOPED_TRACE(algorithm);
    ManualClock clock;
    redis::LeaseCounters counters;
    const std::array limits{RateLimit{1000, 1s}};
    redis::Leases leases{lease_options(clock), algorithm, limits, counters};
    const redis::Leases::Plan plan = lease_plan(leases, clock, "k");
    (void)leases.record("k", 1, plan, granted(200, 7'000'000));  // 199 held
    clock.advance(150ms);                                        // 150 tokens' worth of refill since the grant
    const redis::Leases::Plan next = leases.plan("k", 1);
    const bool bucket = algorithm.find("bucket") != std::string::npos || algorithm == "gcra";
    ASSERT_EQ(next.give_back.size(), 1u);
    EXPECT_EQ(next.give_back[0].tokens, bucket ? 50 : 199);
    EXPECT_EQ(next.give_back[0].granted_at, 7'000'000);
    EXPECT_EQ(counters.expired.load(), bucket ? 149u : 0u);
  }
  // Refilled entirely: nothing goes back.
  ManualClock clock;
  redis::LeaseCounters counters;
  const std::array limits{RateLimit{1000, 1s}, RateLimit{100'000, 1min}};
  redis::Leases leases{lease_options(clock, 1s), "gcra", limits, counters};
  (void)leases.record("k", 1, lease_plan(leases, clock, "k"), granted(200, 7'000'000));
  clock.advance(1s);
  EXPECT_TRUE(leases.drain().empty());
  EXPECT_EQ(counters.expired.load(), 199u);
}

// While one lease of a key is on its way, other decisions on it go direct;
// a lease that never comes back blocks leasing for one lifetime at most.
TEST(LeasePlans, OneLeasePerKeyIsInFlightAtATime) {
  ManualClock clock;
  redis::LeaseCounters counters;
  const std::array limits{RateLimit{1000, 1s}};
  redis::Leases leases{lease_options(clock), "gcra", limits, counters};
  const redis::Leases::Plan lease = lease_plan(leases, clock, "k");
  EXPECT_EQ(leases.plan("k", 1).kind, Kind::direct);
  EXPECT_EQ(leases.plan("k", 1).kind, Kind::direct);
  (void)leases.record("k", 1, lease, granted(2, 0));
  EXPECT_EQ(leases.plan("k", 1).kind, Kind::local);
  // Another lease is lost (its call failed): the next comes after a lifetime.
  const redis::Leases::Plan lost = leases.plan("k", 1);
  ASSERT_EQ(lost.kind, Kind::lease);
  clock.advance(50ms);
  EXPECT_EQ(leases.plan("k", 1).kind, Kind::direct);
  clock.advance(50ms);
  EXPECT_EQ(leases.plan("k", 1).kind, Kind::lease);
}

// With several fixed windows, a lease lasts until the first of them ends.
TEST(LeasePlans, AFixedWindowsLeaseEndsWithTheFirstOfItsWindowsToEnd) {
  ManualClock clock;
  redis::LeaseCounters counters;
  const std::array limits{RateLimit{100'000, 1min}, RateLimit{10'000, 1s}};
  redis::Leases leases{lease_options(clock, 1h), "fixed-window", limits, counters};
  // Granted 300 ms into a second (and into a minute): 700 ms left.
  (void)leases.record("k", 1, lease_plan(leases, clock, "k"), granted(100, 60'300'000));
  clock.advance(699ms);
  const redis::Leases::Plan before = leases.plan("k", 1);
  EXPECT_EQ(before.kind, Kind::local);
  EXPECT_TRUE(before.give_back.empty());
  clock.advance(1ms);
  const redis::Leases::Plan after = leases.plan("k", 1);
  EXPECT_NE(after.kind, Kind::local);
  ASSERT_EQ(after.give_back.size(), 1u);
  EXPECT_EQ(after.give_back[0].tokens, 98);
}

// Tokens left from a lease, fewer than a decision's cost, go back with their
// own grant's time; they do not join the next lease.
TEST(LeasePlans, TokensLeftGoBackWithTheirOwnGrant) {
  ManualClock clock;
  redis::LeaseCounters counters;
  const std::array limits{RateLimit{1000, 24h}};
  redis::Leases leases{lease_options(clock), "gcra", limits, counters};
  (void)leases.record("k", 3, lease_plan(leases, clock, "k", 3), granted(4, 5'000'000));  // 1 held
  const redis::Leases::Plan next = leases.plan("k", 3);
  ASSERT_EQ(next.kind, Kind::lease);
  ASSERT_EQ(next.give_back.size(), 1u);
  EXPECT_EQ(next.give_back[0].tokens, 1);
  EXPECT_EQ(next.give_back[0].granted_at, 5'000'000);
  const Decision decision = leases.record("k", 3, next, granted(8, 6'000'000));
  EXPECT_EQ(decision.remaining, 5);  // the new lease's 5 alone
  const std::vector<redis::GiveBack> rest = leases.drain();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].tokens, 5);
  EXPECT_EQ(rest[0].granted_at, 6'000'000);
}

TEST(Leases, AHotKeySpendsItsLeaseWithoutCallsAndAColdKeyGoesStraightToRedis) {
  testing::RedisServer server;
  ManualClock clock;
  auto storage = leasing(server, clock);
  GcraLimiter<std::string> limiter{"hot", RateLimit{1000, 24h}, storage};
  for (int i = 0; i < 900; ++i) ASSERT_TRUE(limiter.try_acquire("hot").allowed) << i;
  redis::Statistics stats = storage->statistics();
  EXPECT_LT(stats.calls, 30u) << "the lease doubles up to a quarter of the burst";
  EXPECT_GT(stats.lease_spent, 850u);
  // A key seen once a second (longer than a lease lasts) never leases.
  const auto leases = stats.leases;
  for (int i = 0; i < 5; ++i) {
    clock.advance(1s);
    const auto calls = storage->statistics().calls;
    ASSERT_TRUE(limiter.try_acquire("cold").allowed);
    EXPECT_EQ(storage->statistics().calls, calls + 1);
  }
  EXPECT_EQ(storage->statistics().leases, leases);
}

TEST(Leases, UnspentCapacityGoesBackWhenTheLimiterGoes) {
  testing::RedisServer server;
  ManualClock clock;
  const RateLimit limit{1000, 24h};
  auto storage = leasing(server, clock);
  {
    GcraLimiter<std::string> limiter{"hot", limit, storage};
    // Direct, then leases of 2, 4 and 8 (each spent at once): 15 taken, 10 spent.
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.try_acquire("k").allowed);
    EXPECT_EQ(storage->statistics().leased, 14u);
  }
  EXPECT_EQ(storage->statistics().given_back, 5u);
  EXPECT_EQ(left(server, limit, "k"), 990);
}

TEST(Leases, AnExpiredLeaseGoesBackAtTheKeysNextDecision) {
  testing::RedisServer server;
  ManualClock clock;
  const RateLimit limit{1000, 24h};
  auto storage = leasing(server, clock);
  GcraLimiter<std::string> limiter{"hot", limit, storage};
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.try_acquire("k").allowed);
  clock.advance(150ms);  // past the 100 ms lifetime
  ASSERT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_EQ(storage->statistics().given_back, 5u);
  EXPECT_EQ(left(server, limit, "k"), 989);
}

TEST(Leases, AKeyThatGoesQuietHasItsLeaseReturnedByTheNextSweep) {
  testing::RedisServer server;
  ManualClock clock;
  const RateLimit limit{1000, 24h};
  auto storage = leasing(server, clock);
  GcraLimiter<std::string> limiter{"hot", limit, storage};
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.try_acquire("quiet").allowed);
  clock.advance(150ms);
  // "quiet" is never decided again; decisions on other keys sweep every shard.
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(limiter.try_acquire("other-" + std::to_string(i)).allowed);
  EXPECT_EQ(storage->statistics().given_back, 5u);
  EXPECT_EQ(left(server, limit, "quiet"), 990);
}

TEST(Leases, ADeniedKeyCostsRedisNothingUntilItsRetryAfter) {
  testing::RedisServer server;
  ManualClock clock;
  auto storage = leasing(server, clock);
  GcraLimiter<std::string> limiter{"hot", RateLimit{2, 1h}, storage};
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  Decision denied = limiter.try_acquire("k");
  ASSERT_FALSE(denied.allowed);
  EXPECT_GT(denied.retry_after, 29min);
  const auto calls = storage->statistics().calls;
  for (int i = 0; i < 100; ++i) {
    clock.advance(1s);
    Decision again = limiter.try_acquire("k");
    ASSERT_FALSE(again.allowed);
    EXPECT_LE(again.retry_after, denied.retry_after - Duration{std::chrono::seconds{i + 1}} + 1ms);
  }
  EXPECT_EQ(storage->statistics().calls, calls);
  EXPECT_EQ(storage->statistics().denied_cached, 100u);
}

TEST(Leases, AFixedWindowsLeaseEndsWithItsWindow) {
  testing::RedisServer server;
  ManualClock clock;
  redis::Options options = server.options();
  options.timeout = 10s;
  options.lease.enabled = true;
  options.lease.ttl = 1h;  // only the window ends the lease
  options.lease.clock = clock;
  auto storage = std::make_shared<RedisStorage<std::string>>(options);
  FixedWindowLimiter<std::string> limiter{"window", RateLimit{1000, 1s}, storage};
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_GT(storage->statistics().lease_spent, 0u);
  clock.advance(1s);  // the window the lease came from has ended
  const auto calls = storage->statistics().calls;
  ASSERT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_GT(storage->statistics().calls, calls) << "not from the old window's lease";
}

TEST(Leases, WhenRedisGoesTheLeaseIsSpentThenTheFaultPolicyDecides) {
  testing::RedisServer server;
  ManualClock clock;
  auto storage = leasing(server, clock, OnStorageError::fail_closed);
  GcraLimiter<std::string> limiter{"hot", RateLimit{1000, 24h}, storage};
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.try_acquire("k").allowed);  // 5 of a lease of 8 left
  server.kill();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.try_acquire("k").allowed) << i;
  EXPECT_FALSE(limiter.try_acquire("k").allowed);
  EXPECT_EQ(storage->statistics().failed_closed, 1u);
}

template <class A>
class LeaseEveryAlgorithm : public ::testing::Test {};
using Algorithms = ::testing::Types<Gcra, TokenBucket, LeakyBucket, FixedWindow, SlidingWindow, SlidingLog>;
TYPED_TEST_SUITE(LeaseEveryAlgorithm, Algorithms);

// Every algorithm leases through the script's lease mode (which takes what is
// there, down to the request's cost), one limit or several all-or-nothing,
// and what a lease held goes back when the limiter goes.
TYPED_TEST(LeaseEveryAlgorithm, LeasesAreExactAndGoBack) {
  testing::RedisServer server;
  ManualClock clock;
  auto storage = leasing(server, clock);
  const std::vector<RateLimit> limits{RateLimit{100, 24h}, RateLimit{60, 24h}};
  for (std::size_t count : {std::size_t{1}, std::size_t{2}}) {
    const std::string key = "k" + std::to_string(count);
    std::vector<RateLimit> policy(limits.begin(), limits.begin() + static_cast<std::ptrdiff_t>(count));
    int allowed = 0;
    {
      Limiter<TypeParam, std::string> limiter{"p", policy, storage};
      for (int i = 0; i < 30; ++i) allowed += limiter.try_acquire(key).allowed ? 1 : 0;
    }
    EXPECT_EQ(allowed, 30);
    EXPECT_GT(storage->statistics().lease_spent, 0u);
    Limiter<TypeParam, std::string> again{"p", policy, storage};  // leases anew, all spent below
    for (int i = 0; i < 200; ++i) allowed += again.try_acquire(key).allowed ? 1 : 0;
    EXPECT_EQ(allowed, count == 1 ? 100 : 60) << "exactly the smallest limit";
  }
}

// Four processes, each with its own storage and leases, hammer one key of a
// limit that does not refill during the test, wanting far more than it
// allows, and Redis sees far fewer calls than decisions.
TEST(Leases, FourProcessesOnOneHotKeyGetExactlyTheLimit) {
  testing::RedisServer server;
  const RateLimit limit{2000, 24h};
  std::int64_t allowed = 0;
  std::int64_t calls = 0;
  for (const Counts& counts : in_processes(4, [&] {
         Counts mine{0, 0};
         auto storage = leasing(server);
         {
           GcraLimiter<std::string> limiter{"hot", limit, storage};
           for (int i = 0; i < 5000; ++i) mine[0] += limiter.try_acquire("hot").allowed ? 1 : 0;
         }
         mine[1] = static_cast<std::int64_t>(storage->statistics().calls);
         return mine;
       })) {
    allowed += counts[0];
    calls += counts[1];
  }
  // Never over: what was allowed and what is left make the limit exactly
  // (every unspent lease went back when its process ended). Never under by
  // more than the leases outstanding: one per process, at most.
  EXPECT_EQ(allowed + left(server, limit, "hot"), 2000);
  EXPECT_GE(allowed, 2000 - 4 * 500);
  EXPECT_LT(calls, 4 * 5000 / 10) << "most decisions made from leases";
}

// Four processes, each with its own storage and leases, hammer one hot key of
// a refilling limit (GCRA 1000/s, burst 100) for two seconds of real time:
// together they never get more than the limit allows over the run, and no
// less than it by more than the leases outstanding (4 of 25 at most), a
// lease's lifetime of refill and a little for cached denials.
TEST(Leases, FourProcessesForTwoSecondsStayWithinTheStatedBounds) {
  testing::RedisServer server;
  const RateLimit limit = RateLimit{1000, 1s}.with_burst(100);
  const auto start = std::chrono::steady_clock::now();
  std::int64_t allowed = 0;
  for (const Counts& counts : in_processes(4, [&] {
         Counts mine{0, 0};
         GcraLimiter<std::string> limiter{"hot", limit, leasing(server)};
         const auto until = std::chrono::steady_clock::now() + 2s;
         while (std::chrono::steady_clock::now() < until) mine[0] += limiter.try_acquire("hot").allowed ? 1 : 0;
         return mine;
       })) {
    allowed += counts[0];
  }
  const double span = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LE(static_cast<double>(allowed), 100 + 1000 * span + 1) << "never over the run's allowance";
  EXPECT_GE(allowed, 1000 * 2 - 4 * 25 - 100 - 100) << "held back no more than the stated bound";
}

// A process killed holding a lease strands at most that lease.
TEST(Leases, AKilledProcessStrandsAtMostItsLease) {
  testing::RedisServer server;
  const RateLimit limit{2000, 24h};
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto storage = leasing(server);
    GcraLimiter<std::string> limiter{"hot", limit, storage};
    std::int64_t allowed = 0;
    for (int i = 0; i < 100; ++i) allowed += limiter.try_acquire("hot").allowed ? 1 : 0;
    (void)!::write(fds[1], &allowed, sizeof allowed);
    ::pause();  // holding its lease until killed
    ::_exit(0);
  }
  ::close(fds[1]);
  std::int64_t allowed = 0;
  ASSERT_EQ(::read(fds[0], &allowed, sizeof allowed), static_cast<ssize_t>(sizeof allowed));
  ::close(fds[0]);
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(allowed, 100);
  const int stranded = 2000 - 100 - left(server, limit, "hot");
  EXPECT_GT(stranded, 0) << "it held a lease";
  EXPECT_LE(stranded, 2000 / 4) << "at most one lease (a quarter of the burst at most)";
}

}  // namespace
}  // namespace leaksnek
