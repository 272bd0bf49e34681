#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>

#include <leaksnek/leaksnek.hpp>

namespace leaksnek {
namespace {

using namespace std::chrono_literals;

constexpr Instant at(Duration d) { return Instant{d}; }

// ---- Properties every algorithm shares -------------------------------------

template <class A>
class EveryAlgorithm : public ::testing::Test {};
using AllAlgorithms = ::testing::Types<Gcra, TokenBucket, LeakyBucket, FixedWindow, SlidingWindow, SlidingLog>;
TYPED_TEST_SUITE(EveryAlgorithm, AllAlgorithms);

TYPED_TEST(EveryAlgorithm, SatisfiesTheConcept) { static_assert(Algorithm<TypeParam>); }

TYPED_TEST(EveryAlgorithm, AllowsExactlyTheLimitAtOneInstant) {
  TypeParam algorithm{rl("5/s")};
  typename TypeParam::State state;
  for (int i = 0; i < 5; ++i) {
    Decision decision = algorithm.decide(state, at(3s), 1);
    EXPECT_TRUE(decision.allowed) << i;
    EXPECT_EQ(decision.remaining, 4 - i);
    EXPECT_EQ(decision.limit, 5);
    EXPECT_EQ(decision.retry_after, 0ns);
  }
  Decision denied = algorithm.decide(state, at(3s), 1);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.remaining, 0);
  EXPECT_GT(denied.retry_after, 0ns);
  EXPECT_FALSE(denied.never_allowed());
}

TYPED_TEST(EveryAlgorithm, CostAboveCapacityCanNeverBeAllowed) {
  TypeParam algorithm{rl("5/s")};
  typename TypeParam::State state;
  Decision decision = algorithm.decide(state, at(0s), 6);
  EXPECT_FALSE(decision.allowed);
  EXPECT_TRUE(decision.never_allowed());
  EXPECT_EQ(decision.remaining, 5);
  EXPECT_TRUE(algorithm.is_fresh(state, at(0s)));  // nothing consumed
  EXPECT_TRUE(algorithm.decide(state, at(0s), 5).allowed);
}

TYPED_TEST(EveryAlgorithm, NonPositiveCostThrowsAndChangesNothing) {
  TypeParam algorithm{rl("5/s")};
  typename TypeParam::State state;
  EXPECT_THROW((void)algorithm.decide(state, at(0s), 0), CostError);
  EXPECT_THROW((void)algorithm.decide(state, at(0s), -3), CostError);
  EXPECT_TRUE(algorithm.is_fresh(state, at(0s)));
}

TYPED_TEST(EveryAlgorithm, DeniedRequestLeavesNoTrace) {
  TypeParam algorithm{rl("3/s")};
  typename TypeParam::State once;
  typename TypeParam::State twice;
  (void)algorithm.decide(once, at(0s), 3);
  (void)algorithm.decide(twice, at(0s), 3);
  ASSERT_FALSE(algorithm.decide(twice, at(100ms), 2).allowed);
  // Both states decide the same from here on.
  for (Duration t = 100ms; t < 3s; t += 50ms) {
    EXPECT_EQ(algorithm.decide(once, at(t), 1), algorithm.decide(twice, at(t), 1)) << t.count();
  }
}

TYPED_TEST(EveryAlgorithm, RetryAfterIsExactlyWhenTheRequestFits) {
  std::mt19937_64 random{42};
  TypeParam algorithm{RateLimit{7, 1s}.with_burst(3)};
  typename TypeParam::State state;
  Instant now{};
  for (int i = 0; i < 2000; ++i) {
    now += Duration{static_cast<std::int64_t>(random() % 200'000'000)};
    std::int64_t cost = 1 + static_cast<std::int64_t>(random() % 3);
    typename TypeParam::State before = state;
    Decision decision = algorithm.decide(state, now, cost);
    if (decision.allowed || decision.never_allowed()) continue;
    // Not a nanosecond earlier, and exactly then, the same request fits.
    typename TypeParam::State probe = before;
    EXPECT_FALSE(algorithm.decide(probe, now + decision.retry_after - 1ns, cost).allowed);
    probe = before;
    EXPECT_TRUE(algorithm.decide(probe, now + decision.retry_after, cost).allowed);
  }
}

TYPED_TEST(EveryAlgorithm, ResetAfterIsWhenTheKeyIsFreshAgain) {
  TypeParam algorithm{rl("4/s")};
  typename TypeParam::State state;
  Decision decision = algorithm.decide(state, at(1250ms), 3);
  ASSERT_TRUE(decision.allowed);
  EXPECT_FALSE(algorithm.is_fresh(state, at(1250ms) + decision.reset_after - 1ns));
  EXPECT_TRUE(algorithm.is_fresh(state, at(1250ms) + decision.reset_after));
}

TYPED_TEST(EveryAlgorithm, ClockValuesFarFromZero) {
  TypeParam algorithm{rl("2/h")};
  for (Instant start :
       {Instant{Duration{std::numeric_limits<std::int64_t>::max() / 2}}, Instant{Duration{-4'000'000'000'000'000'000}},
        Instant{Duration{std::numeric_limits<std::int64_t>::max() - 7'200'000'000'000}}}) {
    typename TypeParam::State state;
    EXPECT_TRUE(algorithm.decide(state, start, 1).allowed);
    EXPECT_TRUE(algorithm.decide(state, start, 1).allowed);
    Decision denied = algorithm.decide(state, start, 1);
    EXPECT_FALSE(denied.allowed);
    EXPECT_GT(denied.retry_after, 0ns);
    EXPECT_LE(denied.retry_after, 1h);
    EXPECT_TRUE(algorithm.decide(state, start + 1h, 1).allowed);
  }
}

TYPED_TEST(EveryAlgorithm, ClockGoingBackwardsMintsNothing) {
  TypeParam algorithm{rl("2/s")};
  typename TypeParam::State state;
  ASSERT_TRUE(algorithm.decide(state, at(10s), 2).allowed);
  for (Duration back : {Duration{1ns}, Duration{500ms}, Duration{5s}, Duration{100s}}) {
    EXPECT_FALSE(algorithm.decide(state, at(10s) - back, 1).allowed) << back.count();
  }
}

TYPED_TEST(EveryAlgorithm, HugeCountsAndYearLongPeriods) {
  TypeParam algorithm{RateLimit{1'000'000'000, 24h * 365}};
  typename TypeParam::State state;
  Instant now{Duration{1'700'000'000'000'000'000}};
  Decision first = algorithm.decide(state, now, 999'999'999);
  ASSERT_TRUE(first.allowed);
  EXPECT_EQ(first.remaining, 1);
  // The bucket family refills about 3e-8 tokens per nanosecond here.
  EXPECT_TRUE(algorithm.decide(state, now + 1ns, 1).allowed);
  Decision denied = algorithm.decide(state, now + 2ns, 1);
  EXPECT_FALSE(denied.allowed);
  EXPECT_GT(denied.retry_after, 0ns);
  EXPECT_LE(denied.retry_after, 24h * 365);
}

TEST(StateSize, AsDocumentedInTheReadme) {
  EXPECT_EQ(sizeof(Gcra::State), 16u);
  EXPECT_EQ(alignof(Gcra::State), 8u) << "packs into 8-byte map slots";
  EXPECT_EQ(sizeof(TokenBucket::State), 32u);
  EXPECT_EQ(sizeof(LeakyBucket::State), 24u);
  EXPECT_EQ(sizeof(FixedWindow::State), 16u);
  EXPECT_EQ(sizeof(SlidingWindow::State), 24u);
  EXPECT_EQ(sizeof(SlidingLog::Entry), 16u);
}

// ---- The bucket family ------------------------------------------------------

template <class A>
class Bucket : public ::testing::Test {};
using Buckets = ::testing::Types<Gcra, TokenBucket, LeakyBucket>;
TYPED_TEST_SUITE(Bucket, Buckets);

TYPED_TEST(Bucket, SevenPerSecondBurstThree) {
  TypeParam bucket{rl("7/s").with_burst(3)};
  typename TypeParam::State state;
  for (std::int64_t remaining : {2, 1, 0}) {
    Decision decision = bucket.decide(state, at(0ms), 1);
    EXPECT_TRUE(decision.allowed);
    EXPECT_EQ(decision.remaining, remaining);
    EXPECT_EQ(decision.limit, 3);
  }
  Decision denied = bucket.decide(state, at(0ms), 1);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after, Duration{142'857'143});  // ceil(10^9 / 7) ns
  EXPECT_EQ(denied.reset_after, Duration{428'571'429});  // ceil(3 * 10^9 / 7) ns
  // One token is back after exactly 10^9/7 ns: not a nanosecond before.
  EXPECT_FALSE(bucket.decide(state, at(142'857'142ns), 1).allowed);
  Decision allowed = bucket.decide(state, at(142'857'143ns), 1);
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(allowed.remaining, 0);
}

TYPED_TEST(Bucket, RefillsFractionsWithoutDroppingThem) {
  // The seed drained whole operations and dropped the remainder: at 3/s, two
  // waits of 200 ms (0.6 token each) must add up to one token.
  TypeParam bucket{rl("3/s")};
  typename TypeParam::State state;
  ASSERT_TRUE(bucket.decide(state, at(0ms), 3).allowed);
  EXPECT_FALSE(bucket.decide(state, at(200ms), 1).allowed);
  EXPECT_TRUE(bucket.decide(state, at(334ms), 1).allowed);   // 1.002 tokens
  EXPECT_FALSE(bucket.decide(state, at(400ms), 1).allowed);  // 0.198 tokens
  EXPECT_TRUE(bucket.decide(state, at(667ms), 1).allowed);   // 1.001 tokens
}

TYPED_TEST(Bucket, NeverMoreThanBurstAfterIdling) {
  // The seed let N + 1 through after an idle spell.
  TypeParam bucket{rl("10/m")};
  typename TypeParam::State state;
  int allowed = 0;
  for (int i = 0; i < 25; ++i) allowed += bucket.decide(state, at(0s), 1).allowed ? 1 : 0;
  EXPECT_EQ(allowed, 10);
  allowed = 0;
  for (int i = 0; i < 25; ++i) allowed += bucket.decide(state, at(24h), 1).allowed ? 1 : 0;
  EXPECT_EQ(allowed, 10);
}

TYPED_TEST(Bucket, DayLongPeriods) {
  // The seed crashed on periods of a day or more.
  TypeParam bucket{rl("3/d")};
  typename TypeParam::State state;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(bucket.decide(state, at(0s), 1).allowed);
  Decision denied = bucket.decide(state, at(0s), 1);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after, 8h);
  EXPECT_TRUE(bucket.decide(state, at(8h), 1).allowed);
}

TYPED_TEST(Bucket, NeverMoreThanBurstPlusRateTimesElapsed) {
  std::mt19937_64 random{7};
  TypeParam bucket{rl("5/s").with_burst(8)};
  typename TypeParam::State state;
  Instant now{};
  std::int64_t allowed_cost = 0;
  for (int i = 0; i < 20000; ++i) {
    now += Duration{static_cast<std::int64_t>(random() % 50'000'000)};
    std::int64_t cost = 1 + static_cast<std::int64_t>(random() % 4);
    if (bucket.decide(state, now, cost).allowed) allowed_cost += cost;
    // burst + rate * elapsed, in whole tokens
    ASSERT_LE(allowed_cost, 8 + now.time_since_epoch().count() * 5 / 1'000'000'000);
  }
}

TYPED_TEST(Bucket, RefusesABurstThatTakesCenturiesToRefill) {
  EXPECT_NO_THROW(TypeParam{RateLimit(1, 24h * 365).with_burst(100)});
  EXPECT_THROW(TypeParam{RateLimit(1, 24h * 365).with_burst(101)}, RateError);
}

TEST(BucketFamily, DecidesAlikeEvenWhenTheClockGoesBack) {
  // States dated in the future (booked waits, a clock stepped back) hold less
  // at earlier times in all three, exactly as GCRA's arrival time says.
  std::mt19937_64 random{3};
  RateLimit limit = rl("5/s").with_burst(4);
  Gcra gcra{limit};
  TokenBucket token{limit};
  LeakyBucket leaky{limit};
  Gcra::State gcra_state;
  TokenBucket::State token_state;
  LeakyBucket::State leaky_state;
  Instant now{Duration{1'000'000'000'000}};
  for (int i = 0; i < 20000; ++i) {
    std::int64_t step = static_cast<std::int64_t>(random() % 400'000'000) - 100'000'000;  // a quarter go back
    now += Duration{step};
    std::int64_t cost = 1 + static_cast<std::int64_t>(random() % 5);
    Decision expected = gcra.decide(gcra_state, now, cost);
    ASSERT_EQ(token.decide(token_state, now, cost), expected) << i;
    ASSERT_EQ(leaky.decide(leaky_state, now, cost), expected) << i;
  }
}

TEST(Gcra, StateIsOneNumberAndFreshAfterTheBucketRefills) {
  Gcra gcra{rl("2/s")};
  Gcra::State state;
  EXPECT_TRUE(gcra.is_fresh(state, at(0s)));
  ASSERT_TRUE(gcra.decide(state, at(0s), 1).allowed);
  EXPECT_FALSE(gcra.is_fresh(state, at(499ms)));
  EXPECT_TRUE(gcra.is_fresh(state, at(500ms)));
}

// ---- Windows ----------------------------------------------------------------

TEST(FixedWindow, CountsPerWindowAndWaitsForTheNext) {
  FixedWindow window{rl("3/s")};
  FixedWindow::State state;
  EXPECT_TRUE(window.decide(state, at(200ms), 2).allowed);
  Decision last = window.decide(state, at(900ms), 1);
  EXPECT_TRUE(last.allowed);
  EXPECT_EQ(last.remaining, 0);
  EXPECT_EQ(last.reset_after, 100ms);
  Decision denied = window.decide(state, at(950ms), 1);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after, 50ms);
  Decision next = window.decide(state, at(1000ms), 3);  // [1s, 2s) is a new window
  EXPECT_TRUE(next.allowed);
  EXPECT_EQ(next.remaining, 0);
}

TEST(SlidingWindow, WeighsThePreviousWindow) {
  SlidingWindow window{rl("10/s")};
  SlidingWindow::State state;
  ASSERT_TRUE(window.decide(state, at(500ms), 8).allowed);  // window 0: 8
  // At 1.25 s: estimate = 8 * 0.75 + 0 = 6, so 4 fit and the 5th does not.
  Decision four = window.decide(state, at(1250ms), 4);
  EXPECT_TRUE(four.allowed);
  EXPECT_EQ(four.remaining, 0);
  Decision denied = window.decide(state, at(1250ms), 1);
  EXPECT_FALSE(denied.allowed);
  // Room for 1 more when 8 * (1 - e) <= 10 - 4 - 1, i.e. e = 3/8: t = 1.375 s.
  EXPECT_EQ(denied.retry_after, 125ms);
  EXPECT_TRUE(window.decide(state, at(1375ms), 1).allowed);
}

TEST(SlidingWindow, RetryInTheWindowAfterNext) {
  SlidingWindow window{rl("10/s")};
  SlidingWindow::State state;
  ASSERT_TRUE(window.decide(state, at(100ms), 10).allowed);
  // Cost 10 needs the whole window empty: the current 10 count fully until
  // 1 s, then fade over [1 s, 2 s); it fits at 2 s.
  Decision denied = window.decide(state, at(100ms), 10);
  EXPECT_EQ(denied.retry_after, 1900ms);
  // Cost 4: in the next window estimate = 10 * (1 - e) <= 6 at e = 0.4.
  EXPECT_EQ(window.decide(state, at(100ms), 4).retry_after, 1300ms);
}

TEST(SlidingLog, ForgetsEachRequestExactlyOnePeriodLater) {
  SlidingLog log{rl("3/s")};
  SlidingLog::State state;
  ASSERT_TRUE(log.decide(state, at(0ms), 1).allowed);
  ASSERT_TRUE(log.decide(state, at(300ms), 1).allowed);
  ASSERT_TRUE(log.decide(state, at(600ms), 1).allowed);
  Decision denied = log.decide(state, at(700ms), 2);
  EXPECT_FALSE(denied.allowed);
  EXPECT_EQ(denied.retry_after, 600ms);  // the 0 ms and 300 ms entries leave at 1.3 s
  EXPECT_FALSE(log.decide(state, at(1299ms), 2).allowed);
  Decision allowed = log.decide(state, at(1300ms), 2);
  EXPECT_TRUE(allowed.allowed);
  EXPECT_EQ(allowed.remaining, 0);
  EXPECT_EQ(allowed.reset_after, 1000ms);
}

TEST(SlidingLog, StateStaysBoundedByTheLimit) {
  SlidingLog log{rl("100/s")};
  SlidingLog::State state;
  for (int i = 0; i < 100000; ++i) (void)log.decide(state, Instant{Duration{i} * 1'000'000}, 1);
  EXPECT_LE(state.size(), 100u);
  EXPECT_EQ(state.total(), static_cast<std::int64_t>(state.size()));
}

}  // namespace
}  // namespace leaksnek
