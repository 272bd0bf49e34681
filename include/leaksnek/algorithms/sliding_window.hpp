// Sliding window counter: the two-window estimate prev * (P - e) / P + cur,
// where e is the time into the current fixed window.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string_view>

#include <leaksnek/algorithms/algorithm.hpp>
#include <leaksnek/detail/arithmetic.hpp>

namespace leaksnek {

// Allows a request iff the estimate plus its cost is at most limit.count().
// Smoother than FixedWindow at the cost of one more counter; the estimate
// assumes the previous window's requests were spread evenly. A state dated in
// a later window (a wait booked by acquire()) makes every request queue behind
// it. Thread-safe.
class SlidingWindow {
 public:
  static constexpr std::string_view name = "sliding-window";
  static constexpr StateUnits state_units = StateUnits::period;

  struct State {
    std::int64_t window = std::numeric_limits<std::int64_t>::min();  // the current fixed window k
    std::int64_t previous = 0;                                       // allowed cost in window k - 1
    std::int64_t current = 0;                                        // allowed cost in window k
  };

  explicit SlidingWindow(const RateLimit& limit) : limit_{limit} {}

  [[nodiscard]] const RateLimit& limit() const noexcept { return limit_; }

  // Decides `cost` units at `now`. Throws CostError if cost < 1. O(1), no
  // allocation. Thread-safe (state is the caller's).
  [[nodiscard]] Decision decide(State& state, Instant now, std::int64_t cost) const {
    using detail::int128;
    detail::check_cost(cost);
    if (window_of(now) < state.window) return queued(state, now, cost);
    const int128 count = limit_.count();
    const int128 period = limit_.period().count();
    State rolled = roll(state, now);
    const int128 start = int128{rolled.window} * period;
    const int128 next = start + period;
    // Time into the window; a clock that went backwards counts from the window's start.
    const int128 elapsed = std::max<int128>(0, detail::nanos(now) - start);
    const int128 until_next = next - detail::nanos(now);
    // The estimate, times P to keep it an integer.
    const int128 estimate = rolled.previous * (period - elapsed) + int128{rolled.current} * period;

    Decision decision;
    decision.limit = limit_.count();
    decision.remaining = remaining(estimate);
    decision.reset_after = reset_after(rolled, until_next);
    if (cost > count) {
      decision.retry_after = Decision::never;
      return decision;
    }
    const int128 after = estimate + int128{cost} * period;
    if (after <= count * period) {
      rolled.current += cost;
      state = rolled;
      decision.allowed = true;
      decision.remaining = remaining(after);
      decision.reset_after = reset_after(rolled, until_next);
      return decision;
    }
    // Earliest time the estimate leaves room for cost: later in this window as
    // the previous window's share fades, else in the next window (where the
    // current count becomes the fading one), at the latest the one after.
    const int128 room = count - rolled.current - cost;
    int128 wait = 0;
    if (room > 0 && rolled.previous > 0) {
      wait = detail::ceil_div(until_next * rolled.previous - room * period, rolled.previous);
    } else if (rolled.current <= count - cost) {
      wait = until_next;
    } else {
      wait = detail::ceil_div((until_next + period) * rolled.current - (count - cost) * period, rolled.current);
    }
    decision.retry_after = Duration{detail::saturate(wait)};
    return decision;
  }

  [[nodiscard]] bool is_fresh(const State& state, Instant now) const noexcept {
    if (window_of(now) < state.window) return false;  // booked ahead
    State rolled = roll(state, now);
    return rolled.previous == 0 && rolled.current == 0;
  }

  // Gives back a booked request from the window that counted it.
  void cancel(State& state, Instant at, std::int64_t cost) const {
    const std::int64_t window = window_of(at);
    if (state.window == window) state.current = std::max<std::int64_t>(0, state.current - cost);
    if (state.window == window + 1) state.previous = std::max<std::int64_t>(0, state.previous - cost);
  }

  void encode(const State& state, RateWriter& writer) const {
    writer.put(state.window);
    writer.put(state.previous);
    writer.put(state.current);
  }
  [[nodiscard]] State decode(RateReader& reader) const {
    State state;
    state.window = reader.take();
    state.previous = reader.take_in<std::int64_t>(0, limit_.count(), "previous window count");
    state.current = reader.take_in<std::int64_t>(0, limit_.count(), "current window count");
    return state;
  }

 private:
  [[nodiscard]] std::int64_t window_of(Instant now) const noexcept {
    return static_cast<std::int64_t>(detail::floor_div(detail::nanos(now), limit_.period().count()));
  }

  // A state in a later window than now's: a wait booked by acquire() (or a
  // clock that went back). The earlier windows' counts are gone, so the
  // request queues behind it: denied now, with the wait until it would fit
  // from that window's start on.
  [[nodiscard]] Decision queued(const State& state, Instant now, std::int64_t cost) const {
    const Instant start{Duration{detail::saturate(detail::int128{state.window} * limit_.period().count())}};
    State copy = state;
    return detail::queued_behind(decide(copy, start, cost), start - now);
  }

  // The state as of the window holding `now` (never an earlier window).
  [[nodiscard]] State roll(const State& state, Instant now) const noexcept {
    const std::int64_t window = window_of(now);
    if (window <= state.window) return state;
    return {window, window == state.window + 1 ? state.current : 0, 0};
  }

  [[nodiscard]] std::int64_t remaining(detail::int128 estimate) const noexcept {
    detail::int128 room = detail::int128{limit_.count()} * limit_.period().count() - estimate;
    return room <= 0 ? 0 : static_cast<std::int64_t>(detail::floor_div(room, limit_.period().count()));
  }

  [[nodiscard]] Duration reset_after(const State& rolled, detail::int128 until_next) const noexcept {
    if (rolled.current > 0) return Duration{detail::saturate(until_next + limit_.period().count())};
    if (rolled.previous > 0) return Duration{detail::saturate(until_next)};
    return Duration{0};
  }

  RateLimit limit_;
};

}  // namespace leaksnek
