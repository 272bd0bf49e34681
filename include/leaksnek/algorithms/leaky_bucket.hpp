// Leaky bucket as a meter: a key's bucket fills by each allowed request's
// cost and leaks continuously. (The seed's name, with exact arithmetic: it
// leaks fractions of a request, never drops a remainder, and never lets
// burst + 1 through after an idle spell.)
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>

#include <leaksnek/algorithms/algorithm.hpp>
#include <leaksnek/algorithms/detail/bucket.hpp>

namespace leaksnek {

// Capacity limit.burst(), leaking at limit.count() per limit.period(); a new
// key starts empty (room for a full burst). Decides exactly as Gcra and
// TokenBucket do. Thread-safe.
class LeakyBucket {
 public:
  static constexpr std::string_view name = "leaky-bucket";
  static constexpr StateUnits state_units = StateUnits::rate;

  struct State {
    detail::Packed128 level;   // in bucket units (one request unit = period ns)
    std::int64_t updated = 0;  // ns of the last allowed request
  };

  // Throws RateError when a full burst would take over 100 years to refill.
  explicit LeakyBucket(const RateLimit& limit) : limit_{limit}, scale_{limit} {}

  [[nodiscard]] const RateLimit& limit() const noexcept { return limit_; }

  // Decides `cost` units at `now`; on allowance pours them in. Throws
  // CostError if cost < 1. O(1), no allocation. Thread-safe (state is the caller's).
  [[nodiscard]] Decision decide(State& state, Instant now, std::int64_t cost) const {
    detail::check_cost(cost);
    auto step = scale_.step(level_at(state, now), cost);
    if (step.decision.allowed) {
      state.level = step.used_after;
      state.updated = detail::nanos(now);
    }
    return step.decision;
  }

  [[nodiscard]] bool is_fresh(const State& state, Instant now) const noexcept { return level_at(state, now) == 0; }

  // Gives back a booked request: its cost drains out of the bucket at once.
  void cancel(State& state, Instant /*at*/, std::int64_t cost) const {
    // Stays above 0, the never-used mark, so the bucket keeps its time line.
    if (state.level != 0) state.level = std::max<detail::int128>(1, detail::int128{state.level} - scale_.units(cost));
  }

  void encode(const State& state, RateWriter& writer) const {
    writer.put128(state.level);
    writer.put(state.updated);
  }
  [[nodiscard]] State decode(RateReader& reader) const {
    State state;
    state.level = reader.take128_in(0, scale_.capacity(), "level");
    state.updated = reader.take();
    return state;
  }

 private:
  [[nodiscard]] detail::int128 level_at(const State& state, Instant now) const noexcept {
    if (state.level == 0) return 0;  // only a never-used bucket holds 0: a request filled any other
    return std::max<detail::int128>(0, state.level - scale_.refill(detail::int128{detail::nanos(now)} - state.updated));
  }

  RateLimit limit_;
  detail::BucketScale scale_;
};

}  // namespace leaksnek
