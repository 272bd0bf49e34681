// Token bucket: a key holds tokens, refilled continuously up to the burst.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>

#include <leaksnek/algorithms/algorithm.hpp>
#include <leaksnek/algorithms/detail/bucket.hpp>

namespace leaksnek {

// Capacity limit.burst(), refilled continuously at limit.count() per
// limit.period(); a new key starts full; an allowed request takes its cost in
// tokens. Decides exactly as Gcra and LeakyBucket do. Thread-safe.
class TokenBucket {
 public:
  static constexpr std::string_view name = "token-bucket";
  // The tokens left in a bucket of the burst's size (Redis keeps what was
  // used of it): only the same limit reads the state the same way.
  static constexpr StateUnits state_units = StateUnits::limit;

  struct State {
    detail::Packed128 tokens;  // in bucket units (one token = period ns)
    std::int64_t updated = 0;  // ns of the last allowed request
    bool seen = false;
  };

  // Throws RateError when a full burst would take over 100 years to refill.
  explicit TokenBucket(const RateLimit& limit) : limit_{limit}, scale_{limit} {}

  [[nodiscard]] const RateLimit& limit() const noexcept { return limit_; }

  // Decides `cost` tokens at `now`; on allowance takes them. Throws CostError
  // if cost < 1. O(1), no allocation. Thread-safe (state is the caller's).
  [[nodiscard]] Decision decide(State& state, Instant now, std::int64_t cost) const {
    detail::check_cost(cost);
    auto step = scale_.step(scale_.capacity() - tokens_at(state, now), cost);
    if (step.decision.allowed) {
      state.tokens = scale_.capacity() - step.used_after;
      state.updated = detail::nanos(now);
      state.seen = true;
    }
    return step.decision;
  }

  [[nodiscard]] bool is_fresh(const State& state, Instant now) const noexcept {
    return tokens_at(state, now) >= scale_.capacity();
  }

  // Gives back a booked request: its tokens return to the bucket.
  void cancel(State& state, Instant /*at*/, std::int64_t cost) const {
    if (state.seen) state.tokens = std::min(scale_.capacity(), detail::int128{state.tokens} + scale_.units(cost));
  }

  void encode(const State& state, RateWriter& writer) const {
    writer.put128(state.tokens);
    writer.put(state.updated);
    writer.put(state.seen ? 1 : 0);
  }
  [[nodiscard]] State decode(RateReader& reader) const {
    State state;
    state.tokens = reader.take128_in(0, scale_.capacity(), "tokens");
    state.updated = reader.take();
    state.seen = reader.take_in<std::int64_t>(0, 1, "seen") == 1;
    return state;
  }

 private:
  [[nodiscard]] detail::int128 tokens_at(const State& state, Instant now) const noexcept {
    if (!state.seen) return scale_.capacity();
    return std::min(scale_.capacity(),
                    state.tokens + scale_.refill(detail::int128{detail::nanos(now)} - state.updated));
  }

  RateLimit limit_;
  detail::BucketScale scale_;
};

}  // namespace leaksnek
