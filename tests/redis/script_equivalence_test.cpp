// The Lua script (src/redis/decide.lua) against the C++ algorithms: random
// traces, replayed through a real redis-server at explicit times and through
// the algorithm in process, must give identical decisions, field by field.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
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

TYPED_TEST(ScriptEquivalence, RandomTracesDecideAsTheAlgorithm) {
  using A = TypeParam;
  testing::RedisServer server;
  RedisStorage<std::string> storage{server.options()};
  std::mt19937_64 random{20261128};
  int case_number = 0;
  for (const Case& c : cases()) {
    ++case_number;
    std::optional<SinglePolicy<A>> single;
    std::optional<MultiPolicy<A>> multi;
    if (c.limits.size() == 1) {
      single.emplace(c.limits.front());
    } else {
      multi.emplace(c.limits);
    }
    std::map<std::string, typename MultiPolicy<A>::State> multi_states;
    std::map<std::string, typename SinglePolicy<A>::State> single_states;
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

      Decision expected =
          single ? single->decide(single_states[key], now, cost) : multi->decide(multi_states[key], now, cost);
      StoreRequest request{A::name, c.limits, cost, now, Duration{0}};
      Decision actual = storage.decide(key, request).grant.decision;
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

}  // namespace
}  // namespace leaksnek
