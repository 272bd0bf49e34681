#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <leaksnek/leaksnek.hpp>

#include "changed_limits.hpp"
#include "map_storage.hpp"
#include "numbered.hpp"

namespace leaksnek {
namespace {

using namespace std::chrono_literals;
using testing::MapStorage;
using testing::numbered;

template <class A>
class EveryLimiter : public ::testing::Test {};
using AllAlgorithms = ::testing::Types<Gcra, TokenBucket, LeakyBucket, FixedWindow, SlidingWindow, SlidingLog>;
TYPED_TEST_SUITE(EveryLimiter, AllAlgorithms);

TYPED_TEST(EveryLimiter, AllowsExactlyTheLimitOverMemoryStorage) {
  ManualClock clock{Instant{5s}};
  Limiter<TypeParam, std::string> limiter{rl("10/m"), std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  int allowed = 0;
  for (int i = 0; i < 25; ++i) allowed += limiter.limit_exceeded("my_key") ? 0 : 1;
  EXPECT_EQ(allowed, 10);
  Decision denied = limiter.try_acquire("my_key");
  EXPECT_FALSE(denied.allowed);
  EXPECT_GT(denied.retry_after, 0ns);
  EXPECT_TRUE(limiter.try_acquire("other_key").allowed) << "keys are independent";
  clock.advance(denied.retry_after);
  EXPECT_TRUE(limiter.try_acquire("my_key").allowed);
}

TYPED_TEST(EveryLimiter, BadCostThrowsAndChangesNothing) {
  auto storage = std::make_shared<MemoryStorage<std::string>>();
  ManualClock clock;
  Limiter<TypeParam, std::string> limiter{rl("2/s"), storage, nullptr, clock};
  EXPECT_THROW((void)limiter.try_acquire("k", 0), CostError);
  EXPECT_THROW((void)limiter.try_acquire("k", -1), CostError);
  EXPECT_THROW((void)limiter.acquire("k", -1, 1s), CostError);
  EXPECT_TRUE(limiter.try_acquire("k", 3).never_allowed());
  EXPECT_EQ(storage->statistics().keys, 0u) << "nothing stored for rejected requests";
  EXPECT_TRUE(limiter.try_acquire("k", 2).allowed);
}

// The seed's path (user storage + KeyMutex) and the one-step MemoryStorage
// path decide identically on the same random requests.
TYPED_TEST(EveryLimiter, UserStoragePathDecidesLikeMemoryStorage) {
  ManualClock clock;
  auto limits = std::vector<RateLimit>{RateLimit{5, 1s}.with_burst(7)};
  Limiter<TypeParam, std::string> fast{limits, std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  auto user_storage = std::make_shared<MapStorage>();
  Limiter<TypeParam, std::string> seed_path{limits, user_storage, std::make_shared<MemoryMutex<std::string>>(), clock};
  std::mt19937_64 random{11};
  for (int i = 0; i < 5000; ++i) {
    clock.advance(Duration{static_cast<std::int64_t>(random() % 150'000'000)});
    std::string key = numbered("k", static_cast<std::int64_t>(random() % 7));
    std::int64_t cost = 1 + static_cast<std::int64_t>(random() % 8);
    ASSERT_EQ(fast.try_acquire(key, cost), seed_path.try_acquire(key, cost)) << i;
  }
  EXPECT_GT(user_storage->writes, 0);
}

TYPED_TEST(EveryLimiter, StorageWithoutAMutexIsRefused) {
  EXPECT_THROW((Limiter<TypeParam, std::string>{rl("1/s"), std::make_shared<MapStorage>()}), Error);
  EXPECT_THROW((Limiter<TypeParam, std::string>{rl("1/s"), nullptr}), Error);
}

// A storage of your own that decides by itself plugs in as RedisStorage
// does: the limiter binds to it without a mutex, asks it each decision with
// the policy's name, and decides by its OnStorageError policy when it fails.
class CountingStorage final : public DecidingStorage<std::string> {
 public:
  Rate read(const std::string&) override { throw std::logic_error{"the one-step path never reads"}; }
  void write(const std::string&, const Rate&, Duration) override {
    throw std::logic_error{"the one-step path never writes"};
  }
  Outcome decide(const std::string& key, const Request& request) override {
    if (down) throw StorageError{"down"};
    policies.emplace_back(request.policy);
    const std::int64_t used = (counts[key] += request.cost);
    Outcome outcome;
    outcome.reserved.decision.allowed = used <= 2;
    outcome.reserved.decision.limit = 2;
    return outcome;
  }
  void cancel(const std::string&, const Request&, std::int64_t) override {}
  void validate(std::string_view, std::span<const RateLimit>) const override {}
  [[nodiscard]] OnStorageError on_storage_error() const noexcept override { return OnStorageError::fail_closed; }
  void count(OnStorageError) noexcept override { ++fallbacks; }
  [[nodiscard]] Duration retry_in() const noexcept override { return 1s; }

  bool down = false;
  int fallbacks = 0;
  std::map<std::string, std::int64_t> counts;
  std::vector<std::string> policies;
};

TEST(Binding, YourOwnDecidingStorageIsAskedEachDecisionWithThePolicyName) {
  auto storage = std::make_shared<CountingStorage>();
  GcraLimiter<std::string> limiter{"search", rl("100/s"), storage};  // no mutex: the storage decides
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_TRUE(limiter.try_acquire("k").allowed);
  EXPECT_FALSE(limiter.try_acquire("k").allowed) << "the storage's decision, not the limit's";
  EXPECT_EQ(storage->policies, (std::vector<std::string>{"search", "search", "search"}));
  storage->down = true;
  Decision failed = limiter.try_acquire("other");
  EXPECT_FALSE(failed.allowed) << "fail_closed";
  EXPECT_EQ(failed.retry_after, 1s);
  EXPECT_EQ(storage->fallbacks, 1);
}

// A policy whose limits change keeps each key's state in memory where it
// still means the same (README, "Changing a policy's limits").
TEST(ChangedLimits, MemoryStorageKeepsStateWhereItMeansTheSame) {
  testing::expect_changed_limits_keep_meaningful_state(std::make_shared<MemoryStorage<std::string>>());
}

TYPED_TEST(EveryLimiter, MalformedStoredStateIsAnErrorAndIsLeftAlone) {
  auto storage = std::make_shared<MapStorage>();
  Limiter<TypeParam, std::string> limiter{rl("3/s"), storage, std::make_shared<MemoryMutex<std::string>>()};
  storage->corrupt("k", Rate{{-5}});
  EXPECT_THROW((void)limiter.try_acquire("k"), StateError);
  EXPECT_EQ(storage->peek("k"), (Rate{{-5}}));
}

TYPED_TEST(EveryLimiter, StoredStateWithExtraFieldsIsAnErrorAndIsLeftAlone) {
  auto storage = std::make_shared<MapStorage>();
  Limiter<TypeParam, std::string> limiter{rl("3/s"), storage, std::make_shared<MemoryMutex<std::string>>()};
  ASSERT_TRUE(limiter.try_acquire("k").allowed);
  Rate longer = storage->peek("k");
  ASSERT_FALSE(longer.empty());
  longer.fields.push_back(7);
  storage->corrupt("k", longer);
  EXPECT_THROW((void)limiter.try_acquire("k"), StateError);
  EXPECT_EQ(storage->peek("k"), longer);
}

TYPED_TEST(EveryLimiter, AcquireWaitsOnTheClockAndNeverOversubscribes) {
  ManualClock clock;
  Limiter<TypeParam, std::string> limiter{rl("1/s"), std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  ASSERT_TRUE(limiter.acquire("k", 1, 0s).allowed);
  Decision refused = limiter.acquire("k", 1, 100ms);  // the wait exceeds max_wait: denied at once
  EXPECT_FALSE(refused.allowed);
  EXPECT_GT(refused.retry_after, 100ms);

  std::atomic<bool> done{false};
  Decision waited;
  std::thread waiter{[&] {
    waited = limiter.acquire("k", 1, 5s);
    done = true;
  }};
  while (clock.sleepers() == 0) std::this_thread::yield();
  // The waiter holds the next slot: nobody else gets it meanwhile.
  EXPECT_FALSE(limiter.try_acquire("k").allowed);
  clock.advance(refused.retry_after - 1ms);
  EXPECT_FALSE(done);
  EXPECT_FALSE(limiter.try_acquire("k").allowed);
  clock.advance(1ms);
  waiter.join();
  EXPECT_TRUE(waited.allowed);
  EXPECT_FALSE(limiter.try_acquire("k").allowed) << "the waiter used the slot it booked";
}

TYPED_TEST(EveryLimiter, WaitersAreServedInArrivalOrder) {
  ManualClock clock;
  Limiter<TypeParam, std::string> limiter{rl("1/s"), std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  ASSERT_TRUE(limiter.try_acquire("k").allowed);
  constexpr std::size_t waiters = 5;
  std::mutex mutex;
  std::vector<std::size_t> order;  // guarded by mutex
  std::vector<Instant> served_at;  // guarded by mutex
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < waiters; ++i) {
    threads.emplace_back([&, i] {
      Decision decision = limiter.acquire("k", 1, 1min);
      std::lock_guard lock{mutex};
      if (decision.allowed) order.push_back(i);
      served_at.push_back(clock.now());
    });
    // Thread i has booked its slot before thread i + 1 arrives.
    while (clock.sleepers() != i + 1) std::this_thread::yield();
  }
  for (;;) {
    {
      std::lock_guard lock{mutex};
      if (served_at.size() == waiters) break;
    }
    clock.advance(100ms);
    // Let every waiter whose time has come finish before moving on.
    for (;;) {
      std::lock_guard lock{mutex};
      if (served_at.size() + clock.sleepers() == waiters) break;
    }
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(order, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
  for (std::size_t i = 1; i < served_at.size(); ++i) {
    EXPECT_GT(served_at[i], served_at[i - 1]) << "one waiter at a time: 1/s is never oversubscribed";
  }
}

// Random try_acquire and booked waits (reserve, the step acquire() takes),
// some cancelled (cancel), with mixed costs: replaying every served request at the time it proceeds,
// in that order, through a fresh state must allow them all (nothing
// oversubscribed), and those times must follow arrival order (nobody jumps
// ahead of a booked wait).
template <class Policy>
void check_reservations(const Policy& policy, std::uint64_t seed) {
  std::mt19937_64 random{seed};
  typename Policy::State state{};
  struct Served {
    Instant at;
    std::int64_t cost;
  };
  std::vector<Served> served;
  Instant now{Duration{1'000'000'000'000}};
  for (int i = 0; i < 3000; ++i) {
    now += Duration{static_cast<std::int64_t>(random() % 300'000'000)};
    std::int64_t cost = 1 + static_cast<std::int64_t>(random() % 4);
    if (random() % 2 == 0) {
      Reserved grant = reserve(policy, state, now, cost, 5s);
      if (!grant.decision.allowed) continue;
      if (grant.wait > 0s && random() % 4 == 0) {
        policy.cancel(state, now + grant.wait, cost);  // cancelled while waiting
      } else {
        served.push_back({now + grant.wait, cost});
      }
    } else if (policy.decide(state, now, cost).allowed) {
      served.push_back({now, cost});
    }
  }
  ASSERT_GT(served.size(), 100u);
  typename Policy::State replay{};
  for (std::size_t i = 0; i < served.size(); ++i) {
    if (i > 0) {
      ASSERT_GE(served[i].at, served[i - 1].at) << "served out of arrival order at " << i;
    }
    ASSERT_TRUE(policy.decide(replay, served[i].at, served[i].cost).allowed) << "oversubscribed at " << i;
  }
}

TYPED_TEST(EveryLimiter, BookedWaitsNeverOversubscribeNorGetOvertaken) {
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    check_reservations(SinglePolicy<TypeParam>{rl("10/s")}, seed);
    check_reservations(MultiPolicy<TypeParam>{std::vector<RateLimit>{rl("10/s"), rl("25/5s")}}, seed);
  }
}

TEST(FixedWindowLimiter, NoRequestJumpsAheadOfABookedWait) {
  // The reviewer's case: a booked wait for the next window must not let a
  // later request through in the current, full window.
  ManualClock clock;
  FixedWindowLimiter<std::string> limiter{rl("10/m"), std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  ASSERT_TRUE(limiter.try_acquire("k", 10).allowed);
  clock.advance(30s);
  std::thread waiter{[&] { EXPECT_TRUE(limiter.acquire("k", 5, 1min).allowed); }};
  while (clock.sleepers() == 0) std::this_thread::yield();
  clock.advance(1s);
  Decision late = limiter.try_acquire("k", 5);
  EXPECT_FALSE(late.allowed);
  EXPECT_EQ(late.retry_after, 29s) << "behind the waiter, in the next window";
  clock.advance(29s);
  waiter.join();
}

// ---- Multi-limits ------------------------------------------------------------

TYPED_TEST(EveryLimiter, MultiLimitsAreAllOrNothing) {
  ManualClock clock;
  Limiter<TypeParam, std::string> limiter{
      {rl("3/s"), rl("5/m")}, std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.try_acquire("k").allowed);
  Decision per_second = limiter.try_acquire("k");
  EXPECT_FALSE(per_second.allowed);
  EXPECT_LT(per_second.retry_after, 2s) << "the per-second limit denies";
  clock.advance(2s);
  EXPECT_TRUE(limiter.try_acquire("k", 2).allowed);  // all 5 of the minute used now
  clock.advance(2s);
  Decision per_minute = limiter.try_acquire("k", 3);  // 3/s has room, 5/m does not
  EXPECT_FALSE(per_minute.allowed);
  EXPECT_EQ(per_minute.remaining, 0);
  EXPECT_GT(per_minute.retry_after, 2s) << "the per-minute limit's wait, the longer one";
  EXPECT_TRUE(limiter.try_acquire_at("k", 3, clock.now() + per_minute.retry_after).allowed)
      << "both limits fit after the longer wait";
}

TEST(MultiLimits, DenialConsumesNothingFromTheLimitsThatAllowed) {
  ManualClock clock;
  GcraLimiter<std::string> limiter{
      {rl("5/h"), rl("3/m")}, std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  ASSERT_TRUE(limiter.try_acquire("k", 3).allowed);                                // 5/h keeps 2, 3/m keeps 0
  for (int i = 0; i < 20; ++i) ASSERT_FALSE(limiter.try_acquire("k", 1).allowed);  // 3/m denies
  clock.advance(1min);
  // 3/m is full again; 5/h holds 2 and a twelfth. Had any denial taken from
  // it, 2 would not fit.
  Decision two = limiter.try_acquire("k", 2);
  EXPECT_TRUE(two.allowed);
  EXPECT_EQ(two.remaining, 0);
  EXPECT_THROW((GcraLimiter<std::string>{std::vector<RateLimit>{}, std::make_shared<MemoryStorage<std::string>>()}),
               Error);
  EXPECT_THROW(
      (GcraLimiter<std::string>{std::vector<RateLimit>(9, rl("1/s")), std::make_shared<MemoryStorage<std::string>>()}),
      Error);
}

TEST(MultiLimits, CombinedDecisionReportsTheTightestLimit) {
  ManualClock clock;
  SlidingLogLimiter<std::string> limiter{
      {rl("5/m"), rl("20/h")}, std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  Decision first = limiter.try_acquire("login");
  EXPECT_EQ(first.remaining, 4);
  EXPECT_EQ(first.limit, 5);
  EXPECT_EQ(first.reset_after, 1h);
}

// ---- MemoryStorage -------------------------------------------------------------

TEST(MemoryStorage, SharesStateBetweenLimitersOfOnePolicyOnly) {
  ManualClock clock;
  auto storage = std::make_shared<MemoryStorage<std::string>>();
  GcraLimiter<std::string> a{rl("2/s"), storage, nullptr, clock};
  GcraLimiter<std::string> b{rl("2/s"), storage, nullptr, clock};
  FixedWindowLimiter<std::string> other{rl("2/s"), storage, nullptr, clock};
  EXPECT_TRUE(a.try_acquire("k", 2).allowed);
  EXPECT_FALSE(b.try_acquire("k").allowed) << "same algorithm and limit: same keys";
  EXPECT_TRUE(other.try_acquire("k", 2).allowed) << "another policy keeps its own state";
}

// Regression: state was keyed by (algorithm, limits), so two named policies
// with equal limits shared every key's state.
TEST(MemoryStorage, PoliciesWithDifferentNamesNeverShareState) {
  ManualClock clock;
  auto storage = std::make_shared<MemoryStorage<std::string>>();
  FixedWindowLimiter<std::string> search{"search", rl("2/h"), storage, nullptr, clock};
  FixedWindowLimiter<std::string> payments{"payments", rl("2/h"), storage, nullptr, clock};
  FixedWindowLimiter<std::string> search_again{"search", rl("2/h"), storage, nullptr, clock};
  EXPECT_EQ(search.name(), "search");
  EXPECT_TRUE(search.try_acquire("alice", 2).allowed);
  EXPECT_FALSE(search_again.try_acquire("alice").allowed) << "one name, one policy";
  EXPECT_TRUE(payments.try_acquire("alice", 2).allowed) << "another name keeps its own state";
  // The same name with a larger count keeps the window's count; with another
  // period, the windows move and the state starts afresh.
  FixedWindowLimiter<std::string> search_wider{"search", rl("3/h"), storage, nullptr, clock};
  EXPECT_TRUE(search_wider.try_acquire("alice").allowed);
  EXPECT_FALSE(search_wider.try_acquire("alice").allowed);
  FixedWindowLimiter<std::string> search_daily{"search", rl("3/d"), storage, nullptr, clock};
  EXPECT_TRUE(search_daily.try_acquire("alice", 3).allowed);
  // Unnamed limiters are named after their algorithm and limits.
  GcraLimiter<std::string> unnamed{rl("2/s"), storage, nullptr, clock};
  EXPECT_EQ(unnamed.name(), "gcra:2/1000000000ns/2");
  EXPECT_THROW((GcraLimiter<std::string>{"", rl("2/s"), storage}), Error);
}

TEST(MemoryStorage, DropsFreshKeysWithoutChangingAnyDecision) {
  // Replays random traffic through a MemoryStorage and through plain per-key
  // states that are never dropped: decisions must be identical, while the
  // storage forgets keys whose buckets have refilled once they go idle. The
  // traffic moves on through 101,000 keys, 1,000 of them in use at a time.
  ManualClock clock;
  auto storage = std::make_shared<MemoryStorage<std::string>>(MemoryStorage<std::string>::Options{.shards = 4});
  GcraLimiter<std::string> limiter{rl("2/s"), storage, nullptr, clock};
  Gcra reference_algorithm{rl("2/s")};
  std::map<std::string, Gcra::State> reference;
  std::mt19937_64 random{5};
  for (int i = 0; i < 400'000; ++i) {
    clock.advance(Duration{static_cast<std::int64_t>(random() % 2'000'000)});
    std::string key = numbered("k", i / 4 + static_cast<std::int64_t>(random() % 1000));
    ASSERT_EQ(limiter.try_acquire(key), reference_algorithm.decide(reference[key], clock.now(), 1)) << i;
  }
  MemoryStorage<std::string>::Statistics statistics = storage->statistics();
  EXPECT_GT(statistics.forgotten, 0u);
  EXPECT_EQ(statistics.evicted, 0u);
  // Of 101,000 keys, 1,000 in use at a time: how many idle ones a shard still
  // holds depends on where its last growth fell, which the shards' random
  // seed moves (10,000-17,000 kept over runs).
  EXPECT_LT(statistics.keys, 25'000u) << "idle keys are dropped";
  EXPECT_GT(statistics.forgotten, 76'000u);
}

// A working set larger than a shard, each key fresh between its uses but back
// within a second: below the cap the shard grows instead of dropping keys that
// would only be inserted again (each insert takes the shard exclusively). Once
// they go idle for longer, the next sweeps drop them.
TEST(MemoryStorage, KeysBackWithinTheSweepIntervalAreKeptAndIdleOnesDropped) {
  ManualClock clock;
  auto storage = std::make_shared<MemoryStorage<std::string>>(MemoryStorage<std::string>::Options{.shards = 1});
  GcraLimiter<std::string> limiter{rl("1000/s"), storage, nullptr, clock};  // fresh 1 ms after a use
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 4000; ++i) {
      clock.advance(10us);  // each key back every 40 ms
      ASSERT_TRUE(limiter.try_acquire(numbered("k", i)).allowed);
    }
  }
  EXPECT_EQ(storage->statistics().forgotten, 0u);
  EXPECT_EQ(storage->statistics().keys, 4000u);
  clock.advance(2s);
  for (int i = 0; i < 60'000; ++i) {  // 6 s of new keys
    clock.advance(100us);
    ASSERT_TRUE(limiter.try_acquire(numbered("new", i)).allowed);
  }
  for (int i = 0; i < 4000; i += 500) EXPECT_TRUE(limiter.try_acquire(numbered("k", i)).allowed);
  EXPECT_GE(storage->statistics().forgotten, 4000u) << "the idle keys went";
  EXPECT_LT(storage->statistics().keys, 40'000u);
}

// Options::sweep_interval = 0: every full shard sweeps, as a clock that stands
// still would need to keep memory flat without a cap.
TEST(MemoryStorage, AZeroSweepIntervalSweepsWheneverFull) {
  ManualClock clock;
  auto storage = std::make_shared<MemoryStorage<std::string>>(
      MemoryStorage<std::string>::Options{.shards = 1, .sweep_interval = Duration{0}});
  GcraLimiter<std::string> limiter{rl("1000/s"), storage, nullptr, clock};
  for (int i = 0; i < 20'000; ++i) {
    clock.advance(10ms);  // every key fresh before the next decision
    ASSERT_TRUE(limiter.try_acquire(numbered("k", i)).allowed);
  }
  EXPECT_LT(storage->statistics().keys, 1000u);
  EXPECT_GT(storage->statistics().forgotten, 19'000u);
}

// The states of two words are swapped in without a lock where the processor
// has a 16-byte compare-and-swap; the others keep the key's lock.
TEST(MemoryStorage, TwoWordStatesAreDecidedWithoutALockOnX86_64) {
  using Storage = MemoryStorage<std::string>;
#if defined(__x86_64__) && !defined(LEAKSNEK_NO_CAS16)
  EXPECT_TRUE(Storage::Table<SinglePolicy<Gcra>>::lock_free);
  EXPECT_TRUE(Storage::Table<SinglePolicy<FixedWindow>>::lock_free);
#endif
  EXPECT_FALSE(Storage::Table<SinglePolicy<TokenBucket>>::lock_free);
  EXPECT_FALSE(Storage::Table<SinglePolicy<SlidingLog>>::lock_free);
  EXPECT_FALSE(Storage::Table<MultiPolicy<Gcra>>::lock_free);
}

TEST(MemoryStorage, CapEvictsTheLeastRecentlyUsedKeys) {
  ManualClock clock;
  auto storage =
      std::make_shared<MemoryStorage<std::string>>(MemoryStorage<std::string>::Options{.max_keys = 1024, .shards = 1});
  GcraLimiter<std::string> limiter{rl("1/h"), storage, nullptr, clock};  // nothing refills during the test
  for (int i = 0; i < 4096; ++i) ASSERT_TRUE(limiter.try_acquire(numbered("k", i)).allowed);
  MemoryStorage<std::string>::Statistics statistics = storage->statistics();
  EXPECT_LE(statistics.keys, 1024u);
  EXPECT_GE(statistics.keys, 1024u - 64u);
  EXPECT_EQ(statistics.evicted, 4096u - statistics.keys);
  EXPECT_EQ(statistics.forgotten, 0u);
  // The most recent keys are remembered (denied), the oldest were evicted
  // (allowed again: the one lossy case).
  for (int i = 4096 - 900; i < 4096; ++i) EXPECT_FALSE(limiter.try_acquire(numbered("k", i)).allowed) << i;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter.try_acquire(numbered("k", i)).allowed) << i;
}

// Which new keys share a victim key's shard (and so evict it at a shard's
// share of the cap) is not the same from one storage to the next: a client
// cannot aim keys at a shard by computing std::hash.
TEST(MemoryStorage, WhichKeysShareAShardDiffersBetweenStorages) {
  auto first_evictor = [] {
    ManualClock clock;
    auto storage =
        std::make_shared<MemoryStorage<std::string>>(MemoryStorage<std::string>::Options{.max_keys = 64, .shards = 64});
    GcraLimiter<std::string> limiter{rl("1/h"), storage, nullptr, clock};
    EXPECT_TRUE(limiter.try_acquire("victim").allowed);
    for (int i = 0; i < 10'000; ++i) {
      EXPECT_TRUE(limiter.try_acquire(numbered("k", i)).allowed);
      if (limiter.try_acquire("victim").allowed) return i;  // evicted: one key per shard
    }
    return -1;
  };
  std::set<int> evictors;
  for (int storage = 0; storage < 6; ++storage) evictors.insert(first_evictor());
  EXPECT_EQ(evictors.count(-1), 0u);
  EXPECT_GT(evictors.size(), 1u);  // the same key in six storages: about 1 in 64^5 by chance
}

// The seed's read and write on a table (what the Python MemoryStorage's
// read()/write() use): a key's state, and replacing or forgetting it.
TEST(MemoryStorage, AKeysStateIsReadAndReplacedThroughItsPolicy) {
  ManualClock clock;
  auto storage = std::make_shared<MemoryStorage<std::string>>();
  GcraLimiter<std::string> limiter{"p", rl("1/h"), storage, nullptr, clock};
  DecisionCore<Gcra, std::string> core{"p", {rl("1/h")}, ClockRef{clock}};
  const auto tables = core.tables_in(*storage);
  EXPECT_FALSE(core.stored(tables, "k"));
  ASSERT_TRUE(limiter.try_acquire("k").allowed);
  const std::optional<Rate> saved = core.stored(tables, "k");
  ASSERT_TRUE(saved);
  EXPECT_FALSE(limiter.try_acquire("k").allowed);
  core.store(tables, "k", Rate{});  // forgotten: a full allowance again
  EXPECT_FALSE(core.stored(tables, "k"));
  ASSERT_TRUE(limiter.try_acquire("k").allowed);
  core.store(tables, "k", Rate{});
  core.store(tables, "k", *saved);  // back as it was: spent
  EXPECT_FALSE(limiter.try_acquire("k").allowed);
  EXPECT_THROW(core.store(tables, "fresh", Rate{{1, 2, 3, 4, 5}}), StateError);
  EXPECT_FALSE(core.stored(tables, "fresh"));  // a refused state is not stored
  EXPECT_FALSE(limiter.try_acquire("k").allowed);
}

TEST(MemoryStorage, RecentlyUsedKeysSurviveTheCap) {
  ManualClock clock;
  auto storage =
      std::make_shared<MemoryStorage<std::string>>(MemoryStorage<std::string>::Options{.max_keys = 256, .shards = 1});
  TokenBucketLimiter<std::string> limiter{rl("3/h"), storage, nullptr, clock};
  ASSERT_TRUE(limiter.try_acquire("hot", 3).allowed);
  for (int i = 0; i < 10'000; ++i) {
    ASSERT_TRUE(limiter.try_acquire(numbered("cold", i)).allowed);
    if (i % 100 == 0) {
      ASSERT_FALSE(limiter.try_acquire("hot").allowed) << "hot key evicted at " << i;
    }
  }
}

// Regression: a shard whose map reached its load limit below the cap evicted
// live keys (lossy) as if at the cap.
TEST(MemoryStorage, NothingIsEvictedBelowTheCap) {
  ManualClock clock;
  auto storage =
      std::make_shared<MemoryStorage<std::string>>(MemoryStorage<std::string>::Options{.max_keys = 106, .shards = 1});
  GcraLimiter<std::string> limiter{rl("1/h"), storage, nullptr, clock};  // nothing refills, nothing is fresh
  for (int i = 0; i < 106; ++i) ASSERT_TRUE(limiter.try_acquire(numbered("k", i)).allowed) << i;
  EXPECT_EQ(storage->statistics().evicted, 0u);
  EXPECT_EQ(storage->statistics().keys, 106u);
  for (int i = 0; i < 106; ++i) EXPECT_FALSE(limiter.try_acquire(numbered("k", i)).allowed) << i;
  ASSERT_TRUE(limiter.try_acquire("one more").allowed);
  EXPECT_GT(storage->statistics().evicted, 0u) << "at the cap, the oldest go";
}

// Regression: stamps move only with new keys, so ages tie; eviction took tied
// keys in map order and could keep an older one.
TEST(MemoryStorage, EvictionTakesEveryOlderKeyBeforeTiedOnes) {
  ManualClock clock;
  auto storage =
      std::make_shared<MemoryStorage<std::string>>(MemoryStorage<std::string>::Options{.max_keys = 32, .shards = 1});
  GcraLimiter<std::string> limiter{rl("1/h"), storage, nullptr, clock};
  ASSERT_TRUE(limiter.try_acquire("oldest").allowed);
  ASSERT_TRUE(limiter.try_acquire("tied-1").allowed);
  ASSERT_TRUE(limiter.try_acquire("tied-2").allowed);
  ASSERT_TRUE(limiter.try_acquire("x").allowed);
  ASSERT_FALSE(limiter.try_acquire("tied-1").allowed);  // both now stamped alike, after "oldest"
  ASSERT_FALSE(limiter.try_acquire("tied-2").allowed);
  std::vector<std::string> rest{"x"};
  for (int i = 0; i < 28; ++i) {
    rest.push_back(numbered("k", i));
    ASSERT_TRUE(limiter.try_acquire(rest.back()).allowed);
  }
  for (const std::string& key : rest) ASSERT_FALSE(limiter.try_acquire(key).allowed);  // the most recent
  ASSERT_TRUE(limiter.try_acquire("new").allowed);                                     // at the cap: two go
  EXPECT_EQ(storage->statistics().evicted, 2u);
  const int tied_allowed =
      (limiter.try_acquire("tied-1").allowed ? 1 : 0) + (limiter.try_acquire("tied-2").allowed ? 1 : 0);
  EXPECT_EQ(tied_allowed, 1) << "one of the tied keys went";
  EXPECT_TRUE(limiter.try_acquire("oldest").allowed) << "the oldest went first";
}

TEST(MemoryStorage, SeedReadWriteRoundTrips) {
  MemoryStorage<std::string> storage;
  EXPECT_TRUE(storage.read("k").empty());
  storage.write("k", Rate{{1, 2}}, 1s);
  EXPECT_EQ(storage.read("k"), (Rate{{1, 2}}));
  storage.write("k", Rate{}, 1s);
  EXPECT_TRUE(storage.read("k").empty());
}

// ---- MemoryMutex ------------------------------------------------------------------

TEST(MemoryMutex, LeavesNoLockBehind) {
  MemoryMutex<std::string> mutex;
  for (int i = 0; i < 1'000'000; ++i) {
    KeyLock<std::string> lock = mutex.guard(numbered("key-", i));
  }
  EXPECT_EQ(mutex.size(), 0u);
}

TEST(MemoryMutex, ExcludesOnOneKeyOnly) {
  MemoryMutex<std::string> mutex;
  int counter = 0;  // guarded by mutex("shared"); tsan checks the claim
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        KeyLock<std::string> lock = mutex.guard("shared");
        ++counter;
      }
    });
  }
  {
    KeyLock<std::string> other = mutex.guard("other");  // never blocked by "shared"
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter, 40'000);
  EXPECT_EQ(mutex.size(), 0u);
}

}  // namespace
}  // namespace leaksnek
