// What every algorithm is: a tiny value built once from a RateLimit, and a
// pure step over a small per-key state.
//
// decide(state, now, cost) reads and may write `state` and nothing else: no
// I/O, no clock read, no lock, no allocation (except the sliding log, whose
// state grows with its limit and allocates when copied). It has no side
// effects beyond `state`, so a storage may run it on a copy and retry it after
// a failed compare-and-swap. A denied request leaves the state as it found it,
// up to forgetting what has expired.
//
// A state means something only in the units it was written in (GCRA keeps
// time scaled by the count, the windows keep window numbers): storages keep
// it under state_tag() (policy.hpp), so a changed limit keeps it where its
// StateUnits are unchanged and starts afresh otherwise.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

#include <leaksnek/error.hpp>
#include <leaksnek/values/decision.hpp>
#include <leaksnek/values/rate.hpp>
#include <leaksnek/values/rate_limit.hpp>
#include <leaksnek/values/time.hpp>

namespace leaksnek {

// What of its limit an algorithm's state is measured in. A policy whose
// limits change keeps its keys' state (in memory and on Redis) when what the
// state is measured in is unchanged, and starts afresh otherwise: see
// state_tag() in policy.hpp.
enum class StateUnits {
  rate,    // count and period: GCRA's and the leaky bucket's units (a new burst keeps the state)
  period,  // the period: the windows' numbering, the log's reach (a new count or burst keeps the state)
  limit,   // the whole limit: the token bucket, and an algorithm that says nothing
};

template <class A>
concept Algorithm = requires(const A& algorithm, typename A::State& state, const typename A::State& const_state,
                             Instant now, std::int64_t cost, RateWriter& writer, RateReader& reader) {
  { A::name } -> std::convertible_to<std::string_view>;
  { algorithm.limit() } -> std::same_as<const RateLimit&>;
  // Decides one request of `cost` units at `now`, updating `state` when allowed.
  { algorithm.decide(state, now, cost) } -> std::same_as<Decision>;
  // True when `state` at `now` decides exactly as a never-seen key would, so a
  // storage may drop it without changing any decision.
  { algorithm.is_fresh(const_state, now) } -> std::same_as<bool>;
  // Gives back a request of `cost` allowed by a decide() at `at` that was
  // booked ahead (a wait) and then cancelled before `at`. Never oversubscribes:
  // where the algorithm cannot tell what it freed, the time stays booked.
  { algorithm.cancel(state, now, cost) } -> std::same_as<void>;
  // The state as integers, for storages that keep plain values, and back
  // (decode throws StateError on fields this algorithm could not have written).
  { algorithm.encode(const_state, writer) } -> std::same_as<void>;
  { algorithm.decode(reader) } -> std::same_as<typename A::State>;
};

namespace detail {

inline void check_cost(std::int64_t cost) {
  if (cost < 1) throw CostError{"cost must be a positive integer, got " + std::to_string(cost)};
}

// A request that queues behind a wait booked `ahead` from now: denied now, and
// `decision` (made as of then) shifted to now's point of view.
inline Decision queued_behind(Decision decision, Duration ahead) {
  decision.allowed = false;
  decision.remaining = 0;
  if (!decision.never_allowed()) decision.retry_after += ahead;
  decision.reset_after += ahead;
  return decision;
}

}  // namespace detail

}  // namespace leaksnek
