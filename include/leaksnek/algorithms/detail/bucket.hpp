// The decision shared by the bucket family (GCRA, token bucket, leaky bucket):
// they keep different state but decide and report identically, from how much
// of the bucket is used.
//
// Units: one token is P units and one nanosecond of refill is N units (rate
// N per period P ns), so continuous refill at N/P tokens per nanosecond is an
// integer N units per nanosecond and nothing is ever rounded.
#pragma once

#include <cstdint>
#include <string>

#include <leaksnek/detail/arithmetic.hpp>
#include <leaksnek/values/decision.hpp>
#include <leaksnek/values/rate_limit.hpp>

namespace leaksnek::detail {

class BucketScale {
 public:
  constexpr explicit BucketScale(const RateLimit& limit)
      : per_ns_{limit.count()},
        per_token_{limit.period().count()},
        capacity_{static_cast<int128>(limit.burst()) * limit.period().count()},
        burst_{limit.burst()} {
    // Keeps every wait well inside Duration (and distinct from Decision::never).
    if (capacity_ / per_ns_ > RateLimit::max_period.count()) {
      throw RateError{"burst " + std::to_string(burst_) + " at " + std::to_string(per_ns_) + " per " +
                      std::to_string(per_token_) + "ns takes more than 100 years to refill"};
    }
  }

  // Units refilled over `elapsed` nanoseconds. Negative for a time before the
  // state's: a state dated in the future (a booked wait, a clock that went
  // back) holds less at earlier times, exactly as GCRA's arrival time says.
  [[nodiscard]] constexpr int128 refill(int128 elapsed) const { return elapsed * per_ns_; }
  // `now` in units, for GCRA's theoretical arrival time.
  [[nodiscard]] constexpr int128 scaled(Instant now) const { return static_cast<int128>(detail::nanos(now)) * per_ns_; }
  [[nodiscard]] constexpr int128 capacity() const { return capacity_; }
  // `cost` tokens in units.
  [[nodiscard]] constexpr int128 units(std::int64_t cost) const { return static_cast<int128>(cost) * per_token_; }

  struct Step {
    Decision decision;
    int128 used_after;  // units missing from a full bucket after the decision
  };

  // What a decision changes, without what it reports: the cheap half of
  // step(), for a state swapped in by a compare-and-swap, whose report (two
  // divisions) then runs after the swap rather than while other cores wait.
  struct Transition {
    int128 used;  // units missing after the decision (allowed) or before it (denied)
    std::int64_t cost;
    bool allowed;
  };
  [[nodiscard]] [[gnu::always_inline]] constexpr Transition advance(int128 used, std::int64_t cost) const {
    if (cost > burst_) return {used, cost, false};
    int128 after = used + static_cast<int128>(cost) * per_token_;
    if (after > capacity_) return {used, cost, false};
    return {after, cost, true};
  }
  // The decision of a transition.
  [[nodiscard]] [[gnu::always_inline]] constexpr Decision report(const Transition& transition) const {
    Decision decision;
    decision.limit = burst_;
    if (!transition.allowed) {
      const int128 after = transition.used + static_cast<int128>(transition.cost) * per_token_;
      return denied(
          decision, transition.used,
          transition.cost > burst_ ? Decision::never : Duration{saturate(ceil_div(after - capacity_, per_ns_))});
    }
    decision.allowed = true;
    decision.remaining = remaining(transition.used);
    decision.reset_after = Duration{saturate(ceil_div(transition.used, per_ns_))};
    return decision;
  }

  // Decides a request of `cost` tokens against a bucket missing `used` units
  // (0 = full; above capacity only if the clock went backwards).
  [[nodiscard]] [[gnu::always_inline]] constexpr Step step(int128 used, std::int64_t cost) const {
    const Transition transition = advance(used, cost);
    return {report(transition), transition.used};
  }

 private:
  [[nodiscard]] constexpr std::int64_t remaining(int128 used) const {
    return used >= capacity_ ? 0 : static_cast<std::int64_t>(floor_div(capacity_ - used, per_token_));
  }

  [[nodiscard]] constexpr Decision denied(Decision decision, int128 used, Duration retry_after) const {
    decision.remaining = remaining(used);
    decision.retry_after = retry_after;
    decision.reset_after = Duration{saturate(ceil_div(used, per_ns_))};
    return decision;
  }

  std::int64_t per_ns_;
  std::int64_t per_token_;
  int128 capacity_;
  std::int64_t burst_;
};

}  // namespace leaksnek::detail
