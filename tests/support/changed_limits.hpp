// A policy whose limits change keeps each key's state where it still means
// the same: the same expectations for every storage that keeps named state.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <leaksnek/algorithms/registry.hpp>
#include <leaksnek/limiters/fixed_window.hpp>
#include <leaksnek/limiters/gcra.hpp>
#include <leaksnek/limiters/limiter.hpp>

namespace leaksnek::testing {

// A key of policy "api" uses 3 of 3 per minute; then the policy changes to
// `after`, at the same instant: how many of 10 requests does the key get now?
// Every decision is a sound one (never a negative remaining).
template <Algorithm A>
int allowed_after_change(const std::shared_ptr<RateStorage<std::string>>& storage, const RateLimit& after,
                         const std::string& key) {
  using namespace std::chrono_literals;
  const Instant t{1000s};
  Limiter<A, std::string> before{"api", RateLimit{3, 60s}, storage};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(before.try_acquire_at(key, 1, t).allowed) << A::name;
  Limiter<A, std::string> changed{"api", after, storage};
  int allowed = 0;
  for (int i = 0; i < 10; ++i) {
    Decision decision = changed.try_acquire_at(key, 1, t);
    EXPECT_GE(decision.remaining, 0) << A::name << " " << key;
    EXPECT_TRUE(decision.allowed || decision.retry_after > Duration{0}) << A::name << " " << key;
    allowed += decision.allowed ? 1 : 0;
  }
  return allowed;
}

// After 3 of 3 per minute: a burst of 5 (kept: 5 - 3 for a bucket, 3 - 3 for
// a window or log; afresh: the whole burst or count), a count of 5 (kept:
// 5 - 3; afresh: 5), a count of 2 (kept: none, overspent; afresh: 2), a
// period of 30 s (kept: 0; afresh: 3).
struct ChangedLimits {
  std::string_view algorithm;
  int new_burst, new_count, lower_count, new_period;
};
inline constexpr ChangedLimits changed_limits[] = {
    {"gcra", 2, 5, 2, 3},         {"leaky-bucket", 2, 5, 2, 3},   {"token-bucket", 5, 5, 2, 3},
    {"fixed-window", 0, 2, 0, 3}, {"sliding-window", 0, 2, 0, 3}, {"sliding-log", 0, 2, 0, 3},
};

// Checks every algorithm's row on `storage` (a fresh key per case).
inline void expect_changed_limits_keep_meaningful_state(const std::shared_ptr<RateStorage<std::string>>& storage) {
  using namespace std::chrono_literals;
  for (const ChangedLimits& row : changed_limits) {
    with_algorithm(row.algorithm, [&]<class A>() {
      const std::string name{row.algorithm};
      EXPECT_EQ(allowed_after_change<A>(storage, RateLimit{3, 60s}.with_burst(5), name + ":burst"), row.new_burst)
          << name << ": a new burst";
      EXPECT_EQ(allowed_after_change<A>(storage, RateLimit{5, 60s}, name + ":count"), row.new_count)
          << name << ": a new count";
      EXPECT_EQ(allowed_after_change<A>(storage, RateLimit{2, 60s}, name + ":lower"), row.lower_count)
          << name << ": a lower count";
      EXPECT_EQ(allowed_after_change<A>(storage, RateLimit{3, 30s}, name + ":period"), row.new_period)
          << name << ": a new period";
    });
  }
  // Another algorithm under the same name never reads the state: a fresh allowance.
  using namespace std::chrono_literals;
  const Instant t{1000s};
  GcraLimiter<std::string> gcra{"api", RateLimit{3, 60s}, storage};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(gcra.try_acquire_at("shared", 1, t).allowed);
  FixedWindowLimiter<std::string> window{"api", RateLimit{3, 60s}, storage};
  EXPECT_TRUE(window.try_acquire_at("shared", 1, t).allowed) << "a fixed window never reads GCRA's state";
}

}  // namespace leaksnek::testing
