#include <gtest/gtest.h>

#include <cctype>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <leaksnek/leaksnek.hpp>

#include "param_name.hpp"

namespace leaksnek {
namespace {

using namespace std::chrono_literals;

struct GoodRate {
  const char* text;
  std::int64_t count;
  Duration period;
};

class RlAccepts : public ::testing::TestWithParam<GoodRate> {};

TEST_P(RlAccepts, ParsesCountAndPeriod) {
  const GoodRate& rate = GetParam();
  RateLimit limit = rl(rate.text);
  EXPECT_EQ(limit.count(), rate.count);
  EXPECT_EQ(limit.period(), rate.period);
  EXPECT_EQ(limit.burst(), rate.count);
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, RlAccepts,
    ::testing::Values(GoodRate{"10/m", 10, 1min}, GoodRate{"100/s", 100, 1s}, GoodRate{"5/10s", 5, 10s},
                      GoodRate{"1000/h", 1000, 1h}, GoodRate{"3/d", 3, 24h},
                      // The seed read this as 500 minutes.
                      GoodRate{"20/500ms", 20, 500ms}, GoodRate{"10/minute", 10, 1min},
                      GoodRate{"10/minutes", 10, 1min}, GoodRate{"7/sec", 7, 1s}, GoodRate{"7/second", 7, 1s},
                      GoodRate{"7/seconds", 7, 1s}, GoodRate{"2/hour", 2, 1h}, GoodRate{"2/hours", 2, 1h},
                      GoodRate{"1/day", 1, 24h}, GoodRate{"1/days", 1, 24h}, GoodRate{"1/365d", 1, 24h * 365},
                      GoodRate{"1000000000/h", 1'000'000'000, 1h}, GoodRate{"1/1ms", 1, 1ms},
                      // The seed's decimal multiplier, exact.
                      GoodRate{"1/1.5m", 1, 90s}, GoodRate{"3/0.5s", 3, 500ms}, GoodRate{"2/.25h", 2, 15min},
                      GoodRate{"1/1.m", 1, 1min}, GoodRate{"1/0.000001ms", 1, 1ns},
                      GoodRate{"1/1.500000000000000000000000s", 1, 1500ms}, GoodRate{"1/0.1d", 1, 144min},
                      GoodRate{"1/36500.0d", 1, RateLimit::max_period}),
    leaksnek::testing::ParamName<&GoodRate::text>{});

struct BadRate {
  const char* text;
  const char* problem;  // must appear in the message
};

class RlRejects : public ::testing::TestWithParam<BadRate> {};

TEST_P(RlRejects, ThrowsRateErrorNamingTheProblem) {
  const BadRate& rate = GetParam();
  try {
    (void)rl(rate.text);
    FAIL() << "accepted '" << rate.text << "'";
  } catch (const Error& error) {  // RateError derives from Error
    EXPECT_NE(dynamic_cast<const RateError*>(&error), nullptr);
    std::string message = error.what();
    EXPECT_NE(message.find(rate.problem), std::string::npos) << message;
    EXPECT_NE(message.find(std::string{"\""} + rate.text + "\""), std::string::npos) << message;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, RlRejects,
    ::testing::Values(BadRate{"", "empty"}, BadRate{"10", "missing '/'"}, BadRate{"10/x", "unknown unit \"x\""},
                      BadRate{"0/s", "count must be positive"},
                      BadRate{"-1/s", "count \"-1\" is not a positive integer"},
                      BadRate{"10/0s", "multiplier must be positive"},
                      BadRate{"10/m junk", "unexpected text \" junk\""}, BadRate{"10/", "missing period unit"},
                      BadRate{"10/5", "missing period unit"}, BadRate{"/s", "count \"\" is not a positive integer"},
                      BadRate{"10/s/s", "unexpected text \"/s\""}, BadRate{" 10/s", "not a positive integer"},
                      BadRate{"10/M", "unknown unit \"M\""}, BadRate{"1.5/s", "not a positive integer"},
                      BadRate{"99999999999999999999/s", "too large"}, BadRate{"1000000000000001/s", "too large"},
                      BadRate{"1/99999999999999999999d", "too long"}, BadRate{"1/36501d", "too long"},
                      BadRate{"1/0.0s", "multiplier must be positive, got \"0.0\""},
                      BadRate{"1/0.0000001ms", "\"0.0000001\" does not give a whole number of nanoseconds"},
                      BadRate{"1/1.0000000000000000001s", "not give a whole number of nanoseconds"},
                      BadRate{"1/.s", "multiplier \".\" is not a number"}, BadRate{"1/1.5.5s", "unknown unit"},
                      BadRate{"1/36500.5d", "too long"}, BadRate{"1/1,5m", "unknown unit"}),
    leaksnek::testing::ParamName<&BadRate::text>{});

TEST(RateLimit, BurstDefaultsToCountAndCanBeSet) {
  RateLimit limit = rl("7/s").with_burst(3);
  EXPECT_EQ(limit.count(), 7);
  EXPECT_EQ(limit.burst(), 3);
  EXPECT_EQ(rl("7/s").burst(), 7);
}

TEST(RateLimit, ConstructorValidates) {
  EXPECT_THROW(RateLimit(0, 1s), RateError);
  EXPECT_THROW(RateLimit(-5, 1s), RateError);
  EXPECT_THROW(RateLimit(1, 0s), RateError);
  EXPECT_THROW(RateLimit(1, -1s), RateError);
  EXPECT_THROW(RateLimit(RateLimit::max_count + 1, 1s), RateError);
  EXPECT_THROW(RateLimit(1, RateLimit::max_period + 1ns), RateError);
  EXPECT_THROW((void)rl("1/s").with_burst(0), RateError);
  EXPECT_THROW((void)rl("1/s").with_burst(-2), RateError);
  EXPECT_NO_THROW(RateLimit(RateLimit::max_count, RateLimit::max_period));
}

TEST(RateLiteral, IsAConstantExpression) {
  using namespace leaksnek::literals;
  constexpr RateLimit limit = "20/500ms"_rl;
  static_assert(limit.count() == 20);
  static_assert(limit.period() == 500ms);
  static_assert("10/minute"_rl == RateLimit{10, 1min});
  EXPECT_EQ("3/d"_rl, rl("3/d"));
}

TEST(Decision, NeverAllowedOnlyWhenRetryIsNever) {
  Decision denied{.allowed = false, .limit = 3, .remaining = 0, .retry_after = 5ms, .reset_after = 5ms};
  EXPECT_FALSE(denied.never_allowed());
  denied.retry_after = Decision::never;
  EXPECT_TRUE(denied.never_allowed());
}

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock clock{Instant{5s}};
  EXPECT_EQ(clock.now(), Instant{5s});
  clock.advance(250ms);
  EXPECT_EQ(clock.now(), Instant{5250ms});
  clock.set(Instant{1s});
  EXPECT_EQ(clock.now(), Instant{1s});
  static_assert(Clock<ManualClock>);
  static_assert(Clock<SteadyClock>);
}

TEST(ManualClock, AdvancesFromManyThreadsWithoutLosingTime) {
  ManualClock clock;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) clock.advance(1ns);
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(clock.now(), Instant{4000ns});
}

TEST(SteadyClock, NeverGoesBackwards) {
  SteadyClock clock;
  Instant previous = clock.now();
  for (int i = 0; i < 1000; ++i) {
    Instant now = clock.now();
    EXPECT_GE(now, previous);
    previous = now;
  }
}

}  // namespace
}  // namespace leaksnek
