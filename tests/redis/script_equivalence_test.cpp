// The Lua script (src/redis/script/) against the C++ algorithms: random
// traces, replayed through a real redis-server at explicit times and through
// the algorithm in process, must give identical decisions, field by field.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <leaksnek/leaksnek.hpp>
#include <leaksnek/storages/redis_storage.hpp>

#include "redis_server.hpp"

namespace leaksnek {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

template <class A>
class ScriptEquivalence : public ::testing::Test {};

using Algorithms = ::testing::Types<Gcra, TokenBucket, LeakyBucket, FixedWindow, SlidingWindow, SlidingLog>;
TYPED_TEST_SUITE(ScriptEquivalence, Algorithms);

struct Case {
  std::vector<RateLimit> limits;
  std::int64_t max_cost;  // costs are drawn from 1..max_cost (and now and then beyond the capacity)
  std::int64_t max_step;  // microseconds between events
};

std::vector<Case> cases() {
  const RateLimit huge = RateLimit{999'999'999'999'989, hours{24 * 365 * 3}}.with_burst(1'000'000'000'000'000);
  return {
      {{RateLimit{10, seconds{1}}}, 3, 150'000},
      {{RateLimit{7, seconds{3}}.with_burst(12)}, 4, 700'000},
      {{RateLimit{5, std::chrono::minutes{1}}, RateLimit{20, hours{1}}.with_burst(25)}, 2, 9'000'000},
      {{RateLimit{3, milliseconds{1}}}, 2, 700},
      // Beyond 2^53 everywhere: the script's exact big-number path.
      {{huge}, 200'000'000'000'000, 20'000'000'000'000},
  };
}

// The C++ side: the policy of a case (one limit or several) and its keys' states.
template <class A>
class Reference {
 public:
  explicit Reference(const std::vector<RateLimit>& limits) {
    if (limits.size() == 1) {
      single_.emplace(limits.front());
    } else {
      multi_.emplace(limits);
    }
  }
  Decision decide(const std::string& key, Instant at, std::int64_t cost) {
    return single_ ? single_->decide(single_states_[key], at, cost) : multi_->decide(multi_states_[key], at, cost);
  }
  void cancel(const std::string& key, Instant at, std::int64_t cost) {
    if (single_) single_->cancel(single_states_[key], at, cost);
    if (multi_) multi_->cancel(multi_states_[key], at, cost);
  }
  // Entries in a single limit's sliding log.
  std::size_t size(const std::string& key) requires std::is_same_v<A, SlidingLog> { return single_states_[key].size(); }

 private:
  std::optional<SinglePolicy<A>> single_;
  std::optional<MultiPolicy<A>> multi_;
  std::map<std::string, typename SinglePolicy<A>::State> single_states_;
  std::map<std::string, typename MultiPolicy<A>::State> multi_states_;
};

TYPED_TEST(ScriptEquivalence, RandomTracesDecideAsTheAlgorithm) {
  using A = TypeParam;
  testing::RedisServer server;
  RedisStorage<std::string> storage{server.options()};
  std::mt19937_64 random{20261128};
  int case_number = 0;
  for (const Case& c : cases()) {
    ++case_number;
    // Each case its own policy: a sliding log's state outlives a change of limits.
    const std::string policy = "p" + std::to_string(case_number);
    Reference<A> reference{c.limits};
    std::int64_t now_us = 1'790'000'000'000'000;
    std::uniform_int_distribution<std::int64_t> step{0, c.max_step};
    std::uniform_int_distribution<std::int64_t> cost_of{1, c.max_cost};
    std::uniform_int_distribution<int> percent{0, 99};
    for (int event = 0; event < 400; ++event) {
      const int roll = percent(random);
      if (roll < 4) {
        now_us -= std::min<std::int64_t>(1'000'000, step(random));  // the clock goes back
      } else if (roll >= 15) {
        now_us += step(random);  // else: the same instant again
      }
      std::string key = "k" + std::to_string(percent(random) % 3);
      std::int64_t cost = percent(random) < 2 ? c.max_cost * 1000 : cost_of(random);
      Instant now{Duration{now_us * 1000}};

      Decision expected = reference.decide(key, now, cost);
      StorageRequest request{policy, A::name, c.limits, cost, now, Duration{0}};
      Decision actual = storage.decide(key, request).reserved.decision;
      ASSERT_EQ(actual.allowed, expected.allowed) << "case " << case_number << " event " << event;
      ASSERT_EQ(actual.limit, expected.limit) << "case " << case_number << " event " << event;
      ASSERT_EQ(actual.remaining, expected.remaining) << "case " << case_number << " event " << event;
      ASSERT_EQ(actual.retry_after.count(), expected.retry_after.count())
          << "case " << case_number << " event " << event;
      ASSERT_EQ(actual.reset_after.count(), expected.reset_after.count())
          << "case " << case_number << " event " << event;
    }
  }
}

// Waits booked by reserve (rounded up to Redis's microsecond) and given back
// by cancellations, mixed with plain decisions.
TYPED_TEST(ScriptEquivalence, ReservationsAndGiveBacksDecideAsTheAlgorithm) {
  using A = TypeParam;
  testing::RedisServer server;
  RedisStorage<std::string> storage{server.options()};
  std::mt19937_64 random{7};
  // The leaky bucket keeps 1 unit (1/N ns of leak) after a give-back in memory, 0 in Redis.
  const bool gives = !std::is_same_v<A, LeakyBucket>;
  int case_number = 0;
  for (const Case& c : cases()) {
    ++case_number;
    if (c.limits.size() != 1 && std::is_same_v<A, SlidingLog>) continue;  // see the note on MultiPolicy's revert
    const std::string policy = "p" + std::to_string(case_number);         // each case its own state
    Reference<A> reference{c.limits};
    struct Booked {
      std::string key;
      std::int64_t at_us;
      std::int64_t cost;
    };
    std::vector<Booked> booked;
    std::int64_t now_us = 1'790'000'000'000'000;
    std::uniform_int_distribution<std::int64_t> step{0, c.max_step};
    std::uniform_int_distribution<std::int64_t> cost_of{1, c.max_cost};
    std::uniform_int_distribution<int> percent{0, 99};
    for (int event = 0; event < 300; ++event) {
      if (percent(random) >= 20) now_us += step(random);
      std::string key = "k" + std::to_string(percent(random) % 2);
      std::int64_t cost = cost_of(random);
      const int roll = percent(random);
      if (gives && roll < 15 && !booked.empty()) {
        Booked b = booked[static_cast<std::size_t>(percent(random)) % booked.size()];
        reference.cancel(b.key, Instant{Duration{b.at_us * 1000}}, b.cost);
        StorageRequest request{policy, A::name, c.limits, b.cost, std::nullopt, Duration{0}};
        storage.cancel(b.key, request, b.at_us);
        continue;
      }
      Duration max_wait = roll < 60 ? Duration{(step(random) * 4) * 1000} : Duration{0};
      Instant now{Duration{now_us * 1000}};
      Decision expected = reference.decide(key, now, cost);
      std::int64_t wait_us = 0;
      if (!expected.allowed && !expected.never_allowed() && max_wait > Duration{0} &&
          expected.retry_after <= max_wait) {
        wait_us = (expected.retry_after.count() + 999) / 1000;
        expected = reference.decide(key, now + std::chrono::microseconds{wait_us}, cost);
        if (expected.allowed) booked.push_back({key, now_us + wait_us, cost});
      }
      StorageRequest request{policy, A::name, c.limits, cost, now, max_wait};
      StorageOutcome actual = storage.decide(key, request);
      const Decision& d = actual.reserved.decision;
      ASSERT_EQ(d.allowed, expected.allowed) << "event " << event;
      ASSERT_EQ(d.remaining, expected.remaining) << "event " << event;
      ASSERT_EQ(d.retry_after.count(), expected.retry_after.count()) << "event " << event;
      ASSERT_EQ(d.reset_after.count(), expected.reset_after.count()) << "event " << event;
      ASSERT_EQ(actual.reserved.wait.count(), wait_us * 1000) << "event " << event;
      if (wait_us > 0 && d.allowed) {
        ASSERT_EQ(actual.reserved_at, now_us + wait_us);
      }
    }
  }
}

// The sliding log at thousands of entries, which the script searches rather
// than walks: long runs of requests, jumps that expire many entries at once,
// costs worth thousands of entries, reservations and give-backs; the second
// case's cumulative costs pass 2^53.
TEST(ScriptEquivalenceLargeLog, ThousandsOfEntriesDecideAsTheAlgorithm) {
  struct LogCase {
    RateLimit limit;
    std::int64_t max_cost;
    std::int64_t max_step;  // microseconds between events
    int events;
    std::size_t entries;  // the log reaches at least this many
  };
  const std::vector<LogCase> log_cases{
      {RateLimit{1'000'000'000, seconds{1}}, 20'000, 400, 6000, 2000},
      {RateLimit{1'000'000'000'000'000, milliseconds{10}}, 20'000'000'000'000, 100, 3000, 50},
  };
  testing::RedisServer server;
  RedisStorage<std::string> storage{server.options()};
  std::mt19937_64 random{53};
  int case_number = 0;
  for (const LogCase& c : log_cases) {
    ++case_number;
    const std::string policy = "log" + std::to_string(case_number);
    const std::vector<RateLimit> limits{c.limit};
    const std::int64_t period_us = c.limit.period().count() / 1000;
    Reference<SlidingLog> reference{limits};
    struct Booked {
      std::int64_t at_us;
      std::int64_t cost;
    };
    std::vector<Booked> booked;
    std::int64_t now_us = 1'790'000'000'000'000;
    std::uniform_int_distribution<std::int64_t> step{0, c.max_step};
    std::uniform_int_distribution<std::int64_t> cost_of{1, c.max_cost};
    std::uniform_int_distribution<int> percent{0, 99};
    std::size_t largest = 0;
    for (int event = 0; event < c.events; ++event) {
      const int roll = percent(random);
      now_us += event % 2500 == 2499 ? period_us / 2 + step(random) * 500 : step(random);  // many expire at once
      if (roll >= 95 && !booked.empty()) {
        const Booked b = booked[static_cast<std::size_t>(percent(random)) % booked.size()];
        reference.cancel("k", Instant{Duration{b.at_us * 1000}}, b.cost);
        storage.cancel("k", StorageRequest{policy, SlidingLog::name, limits, b.cost, std::nullopt, Duration{0}},
                       b.at_us);
        continue;
      }
      const std::int64_t cost = roll < 4 ? c.max_cost * (1 + percent(random) * 700) : cost_of(random);
      const Duration max_wait = roll < 40 ? Duration{step(random) * 2'000'000} : Duration{0};
      const Instant now{Duration{now_us * 1000}};
      Decision expected = reference.decide("k", now, cost);
      std::int64_t wait_us = 0;
      if (!expected.allowed && !expected.never_allowed() && max_wait > Duration{0} &&
          expected.retry_after <= max_wait) {
        wait_us = (expected.retry_after.count() + 999) / 1000;
        expected = reference.decide("k", now + std::chrono::microseconds{wait_us}, cost);
        if (expected.allowed) booked.push_back({now_us + wait_us, cost});
      }
      StorageOutcome actual =
          storage.decide("k", StorageRequest{policy, SlidingLog::name, limits, cost, now, max_wait});
      const Decision& d = actual.reserved.decision;
      ASSERT_EQ(d.allowed, expected.allowed) << "case " << case_number << " event " << event;
      ASSERT_EQ(d.remaining, expected.remaining) << "case " << case_number << " event " << event;
      ASSERT_EQ(d.retry_after.count(), expected.retry_after.count()) << "case " << case_number << " event " << event;
      ASSERT_EQ(d.reset_after.count(), expected.reset_after.count()) << "case " << case_number << " event " << event;
      ASSERT_EQ(actual.reserved.wait.count(), wait_us * 1000) << "case " << case_number << " event " << event;
      largest = std::max(largest, reference.size("k"));
    }
    EXPECT_GE(largest, c.entries) << "case " << case_number;
  }
}

}  // namespace
}  // namespace leaksnek
