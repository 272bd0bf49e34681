// Exactness under threads: with the clock frozen, N threads hammering one key
// (or thousands of keys) with limit L get exactly L allowed per key, for every
// algorithm, over MemoryStorage and over a user storage with a KeyMutex. Run
// under the tsan preset as well.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <leaksnek/leaksnek.hpp>

#include "map_storage.hpp"
#include "numbered.hpp"

namespace leaksnek {
namespace {

template <class A>
class Concurrency : public ::testing::Test {};
using AllAlgorithms = ::testing::Types<Gcra, TokenBucket, LeakyBucket, FixedWindow, SlidingWindow, SlidingLog>;
TYPED_TEST_SUITE(Concurrency, AllAlgorithms);

constexpr int threads = 4;

template <class Limiter>
std::int64_t hammer(Limiter& limiter, const std::vector<std::string>& keys, int rounds) {
  std::atomic<std::int64_t> allowed{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      while (!go) std::this_thread::yield();
      std::int64_t mine = 0;
      for (int round = 0; round < rounds; ++round) {
        for (std::size_t i = 0; i < keys.size(); ++i) {
          // Each thread walks the keys from its own offset, so threads collide.
          mine += limiter.try_acquire(keys[(i + static_cast<std::size_t>(t) * 7) % keys.size()]).allowed ? 1 : 0;
        }
      }
      allowed += mine;
    });
  }
  go = true;
  for (auto& worker : workers) worker.join();
  return allowed;
}

TYPED_TEST(Concurrency, OneKeyGetsExactlyTheLimit) {
  ManualClock clock;
  Limiter<TypeParam, std::string> limiter{rl("1000/h"), std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  EXPECT_EQ(hammer(limiter, {"hot"}, 5000), 1000);
}

TYPED_TEST(Concurrency, ThousandsOfKeysEachGetExactlyTheLimit) {
  ManualClock clock;
  Limiter<TypeParam, std::string> limiter{rl("3/h"), std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back(testing::numbered("key-", i));
  EXPECT_EQ(hammer(limiter, keys, 2), 3 * 3000);
}

TYPED_TEST(Concurrency, UserStorageWithKeyMutexGetsExactlyTheLimit) {
  ManualClock clock;
  Limiter<TypeParam, std::string> limiter{rl("100/h"), std::make_shared<testing::MapStorage>(),
                                          std::make_shared<MemoryMutex<std::string>>(), clock};
  EXPECT_EQ(hammer(limiter, {"a", "b", "c"}, 200), 300);
}

TYPED_TEST(Concurrency, MultiLimitsStayExact) {
  ManualClock clock;
  Limiter<TypeParam, std::string> limiter{
      {rl("50/s"), rl("70/h")}, std::make_shared<MemoryStorage<std::string>>(), nullptr, clock};
  EXPECT_EQ(hammer(limiter, {"k"}, 500), 50);
  clock.advance(std::chrono::seconds{2});
  EXPECT_EQ(hammer(limiter, {"k"}, 500), 20);
}

// Keys already present are decided under a read of their shard while another
// thread inserts: the map grows (rehashes) and, with a cap, evicts under the
// readers. One shard, so every insert lands where the readers read.
template <class A>
void churn_beside_present_keys(std::size_t max_keys) {
  ManualClock clock;
  auto storage = std::make_shared<MemoryStorage<std::string>>(
      MemoryStorage<std::string>::Options{.max_keys = max_keys, .shards = 1});
  Limiter<A, std::string> limiter{rl("5/h"), storage, nullptr, clock};
  std::vector<std::string> present;
  for (int i = 0; i < 8; ++i) present.push_back(testing::numbered("present-", i));
  for (const std::string& key : present) ASSERT_TRUE(limiter.try_acquire(key).allowed);
  std::atomic<bool> churning{true};
  std::thread churn{[&] {
    for (int i = 0; i < 20'000; ++i) (void)limiter.try_acquire(testing::numbered("new-", i));
    churning = false;
  }};
  std::atomic<std::int64_t> allowed{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      std::int64_t mine = 0;
      for (std::size_t i = 0; churning || i < 1000; ++i) mine += limiter.try_acquire(present[i % 8]).allowed ? 1 : 0;
      allowed += mine;
    });
  }
  churn.join();
  for (auto& reader : readers) reader.join();
  MemoryStorage<std::string>::Statistics statistics = storage->statistics();
  if (max_keys == 0) {
    EXPECT_EQ(allowed, 4 * 8) << "each present key: exactly its limit";
    EXPECT_EQ(statistics.keys, 8u + 20'000u);
    EXPECT_EQ(statistics.evicted, 0u);
  } else {
    EXPECT_LE(statistics.keys, max_keys);
    EXPECT_GT(statistics.evicted, 0u);
    EXPECT_GE(allowed, 4 * 8) << "an evicted key starts over; none gets less";
  }
}

TYPED_TEST(Concurrency, PresentKeysStayExactWhileTheirShardGrows) { churn_beside_present_keys<TypeParam>(0); }

TYPED_TEST(Concurrency, PresentKeysAreReadSafelyWhileTheirShardEvicts) { churn_beside_present_keys<TypeParam>(1024); }

}  // namespace
}  // namespace leaksnek
