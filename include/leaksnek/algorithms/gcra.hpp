// GCRA (generic cell rate algorithm): the leaky bucket as a meter, keeping a
// single number per key, the theoretical arrival time (TAT) at which the
// bucket would be full again.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string_view>

#include <leaksnek/algorithms/algorithm.hpp>
#include <leaksnek/algorithms/detail/bucket.hpp>

namespace leaksnek {

// Capacity limit.burst(), refilled continuously at limit.count() per
// limit.period(); a new key starts full. Decides exactly as TokenBucket and
// LeakyBucket do, even on a clock that goes
// backwards (where none of them mints tokens). Immutable after construction; thread-safe.
class Gcra {
 public:
  static constexpr std::string_view name = "gcra";
  static constexpr StateUnits state_units = StateUnits::rate;

  struct State {
    // Theoretical arrival time in bucket units (ns * count); the bucket is
    // full whenever tat <= now. The initial value means "never seen".
    detail::Packed128 tat = std::numeric_limits<detail::int128>::min();
  };

  // Throws RateError when a full burst would take over 100 years to refill.
  explicit Gcra(const RateLimit& limit) : limit_{limit}, scale_{limit} {}

  [[nodiscard]] const RateLimit& limit() const noexcept { return limit_; }

  // Decides `cost` units at `now`; on allowance advances state.tat. Throws
  // CostError if cost < 1. O(1), no allocation. Thread-safe (state is the caller's).
  [[nodiscard]] Decision decide(State& state, Instant now, std::int64_t cost) const {
    return report(advance(state, now, cost));
  }
  // decide() in two halves: advance() changes the state (a few additions),
  // report() makes the Decision (two divisions), so that a storage swapping
  // the state in with a compare-and-swap keeps the divisions out of the
  // window in which another core can take the key's line.
  using Outcome = detail::BucketScale::Transition;
  [[nodiscard]] Outcome advance(State& state, Instant now, std::int64_t cost) const {
    detail::check_cost(cost);
    detail::int128 now_units = scale_.scaled(now);
    detail::int128 used = std::max<detail::int128>(state.tat, now_units) - now_units;
    Outcome outcome = scale_.advance(used, cost);
    if (outcome.allowed) state.tat = now_units + outcome.used;
    return outcome;
  }
  [[nodiscard]] Decision report(const Outcome& outcome) const { return scale_.report(outcome); }

  [[nodiscard]] bool is_fresh(const State& state, Instant now) const noexcept {
    return state.tat <= scale_.scaled(now);
  }

  // Gives back a booked request: the arrival time moves back by its cost.
  void cancel(State& state, Instant /*at*/, std::int64_t cost) const {
    if (state.tat != State{}.tat) state.tat = detail::int128{state.tat} - scale_.units(cost);
  }

  void encode(const State& state, RateWriter& writer) const { writer.put128(state.tat); }
  [[nodiscard]] State decode(RateReader& reader) const {
    constexpr detail::int128 bound = detail::int128{1} << 120;  // far beyond any real time, far from overflow
    detail::int128 tat = reader.take128();
    if (tat != detail::int128{State{}.tat} && (tat < -bound || tat > bound))
      throw StateError{"stored rate state has tat out of range"};
    return {tat};
  }

 private:
  RateLimit limit_;
  detail::BucketScale scale_;
};

}  // namespace leaksnek
