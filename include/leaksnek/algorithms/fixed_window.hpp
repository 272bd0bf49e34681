// Fixed window: windows [k*P, (k+1)*P) of the clock, each allowing count units.
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>

#include <leaksnek/algorithms/algorithm.hpp>
#include <leaksnek/detail/arithmetic.hpp>

namespace leaksnek {

// Allows a request iff the current window's allowed cost plus its cost is at
// most limit.count(); a denied request waits for the next window. Cheap and
// coarse: up to 2 * count can pass around a window boundary. Thread-safe.
// A state dated in a later window (a wait booked by acquire()) makes every
// request queue behind it.
class FixedWindow {
 public:
  static constexpr std::string_view name = "fixed-window";
  static constexpr StateUnits state_units = StateUnits::period;

  struct State {
    std::int64_t window = std::numeric_limits<std::int64_t>::min();  // k of [k*P, (k+1)*P)
    std::int64_t used = 0;                                           // allowed cost in that window
  };

  explicit FixedWindow(const RateLimit& limit) : limit_{limit} {}

  [[nodiscard]] const RateLimit& limit() const noexcept { return limit_; }

  // Decides `cost` units at `now`. Throws CostError if cost < 1. O(1), no
  // allocation. Thread-safe (state is the caller's).
  [[nodiscard]] Decision decide(State& state, Instant now, std::int64_t cost) const {
    detail::check_cost(cost);
    const std::int64_t count = limit_.count();
    const std::int64_t window = window_of(now);
    if (state.window > window) return queued(state, now, cost);
    const std::int64_t used = state.window == window ? state.used : 0;
    Duration until_next{detail::saturate((detail::int128{window} + 1) * limit_.period().count() - detail::nanos(now))};

    Decision decision;
    decision.limit = count;
    decision.remaining = std::max<std::int64_t>(0, count - used);  // a lowered count may be overspent
    decision.reset_after = used > 0 ? until_next : Duration{0};
    if (cost > count) {
      decision.retry_after = Decision::never;
    } else if (used + cost <= count) {
      state = {window, used + cost};
      decision.allowed = true;
      decision.remaining = count - state.used;
      decision.reset_after = until_next;
    } else {
      decision.retry_after = until_next;
    }
    return decision;
  }

  [[nodiscard]] bool is_fresh(const State& state, Instant now) const noexcept {
    const std::int64_t window = window_of(now);
    return window > state.window || (window == state.window && state.used == 0);
  }

  // Gives back a booked request: its window counts it no more. The window
  // stays booked (the current window's count was not kept), so requests
  // before it opens still queue.
  void cancel(State& state, Instant at, std::int64_t cost) const {
    if (state.window == window_of(at)) state.used = std::max<std::int64_t>(0, state.used - cost);
  }

  void encode(const State& state, RateWriter& writer) const {
    writer.put(state.window);
    writer.put(state.used);
  }
  [[nodiscard]] State decode(RateReader& reader) const {
    State state;
    state.window = reader.take();
    state.used = reader.take_in<std::int64_t>(0, limit_.count(), "window count");
    return state;
  }

 private:
  // A state in a later window than now's: a wait booked by acquire() (or a
  // clock that went back). Only that window's count is known, so the request
  // queues behind it: denied now, retried when that window opens (or the next,
  // if it is full). Nothing jumps ahead of a booked wait.
  [[nodiscard]] Decision queued(const State& state, Instant now, std::int64_t cost) const {
    const Instant start{Duration{detail::saturate(detail::int128{state.window} * limit_.period().count())}};
    State copy = state;
    return detail::queued_behind(decide(copy, start, cost), start - now);
  }

  [[nodiscard]] std::int64_t window_of(Instant now) const noexcept {
    return static_cast<std::int64_t>(detail::floor_div(detail::nanos(now), limit_.period().count()));
  }

  RateLimit limit_;
};

}  // namespace leaksnek
