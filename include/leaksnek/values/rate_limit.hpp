// RateLimit: `count` units per `period`, with a `burst` capacity for the
// bucket family. Usually built with rl("10/m") or "10/m"_rl.
#pragma once

#include <cstdint>
#include <string>

#include <leaksnek/error.hpp>
#include <leaksnek/values/time.hpp>

namespace leaksnek {

class RateLimit {
 public:
  // The largest count or burst accepted: far above any real limit, and small
  // enough that every algorithm's integer arithmetic stays exact.
  static constexpr std::int64_t max_count = 1'000'000'000'000'000;  // 10^15
  // The longest period accepted: 100 years of 365 days.
  static constexpr Duration max_period = std::chrono::hours{24 * 365 * 100};

  // `count` units per `period`; burst defaults to `count`. Throws RateError
  // when count is not in [1, max_count] or period not in [1ns, max_period].
  constexpr RateLimit(std::int64_t count, Duration period) : count_{count}, period_{period}, burst_{count} {
    if (count < 1) throw RateError{"rate limit count must be a positive integer, got " + std::to_string(count)};
    if (count > max_count)
      throw RateError{"rate limit count " + std::to_string(count) + " is too large (at most 10^15)"};
    if (period.count() < 1)
      throw RateError{"rate limit period must be positive, got " + std::to_string(period.count()) + "ns"};
    if (period > max_period) throw RateError{"rate limit period is too long (at most 100 years)"};
  }

  // The same rate with capacity `burst` for the bucket family (ignored by the
  // window algorithms). Throws RateError when burst is not in [1, max_count].
  [[nodiscard]] constexpr RateLimit with_burst(std::int64_t burst) const {
    if (burst < 1) throw RateError{"burst must be a positive integer, got " + std::to_string(burst)};
    if (burst > max_count) throw RateError{"burst " + std::to_string(burst) + " is too large (at most 10^15)"};
    RateLimit copy = *this;
    copy.burst_ = burst;
    return copy;
  }

  [[nodiscard]] constexpr std::int64_t count() const noexcept { return count_; }
  [[nodiscard]] constexpr Duration period() const noexcept { return period_; }
  [[nodiscard]] constexpr std::int64_t burst() const noexcept { return burst_; }

  friend constexpr bool operator==(const RateLimit&, const RateLimit&) = default;

 private:
  std::int64_t count_;
  Duration period_;
  std::int64_t burst_;
};

}  // namespace leaksnek
