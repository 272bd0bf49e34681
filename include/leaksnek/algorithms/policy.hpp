// A policy: one or several limits of one algorithm on one key, decided
// together (all-or-nothing), and the reservation step that waiting builds on.
// Pure, like the algorithms: storages apply these steps atomically.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <leaksnek/algorithms/algorithm.hpp>

namespace leaksnek {

// One limit: the algorithm itself.
template <Algorithm A>
class SinglePolicy {
 public:
  using State = typename A::State;

  explicit SinglePolicy(const RateLimit& limit) : algorithm_{limit} {}

  [[nodiscard]] Decision decide(State& state, Instant now, std::int64_t cost) const {
    return algorithm_.decide(state, now, cost);
  }
  // decide() in two halves, where the algorithm has them (GCRA): advance()
  // changes the state, report() of its outcome is the Decision. Otherwise
  // advance() decides and report() returns its Decision.
  [[nodiscard]] auto advance(State& state, Instant now, std::int64_t cost) const {
    if constexpr (splits_decisions) {
      return algorithm_.advance(state, now, cost);
    } else {
      return algorithm_.decide(state, now, cost);
    }
  }
  template <class Outcome>
  [[nodiscard]] Decision report(const Outcome& outcome) const {
    if constexpr (splits_decisions) {
      return algorithm_.report(outcome);
    } else {
      return outcome;
    }
  }
  [[nodiscard]] bool is_fresh(const State& state, Instant now) const { return algorithm_.is_fresh(state, now); }
  void cancel(State& state, Instant at, std::int64_t cost) const { algorithm_.cancel(state, at, cost); }
  void encode(const State& state, RateWriter& writer) const { algorithm_.encode(state, writer); }
  [[nodiscard]] State decode(RateReader& reader) const { return algorithm_.decode(reader); }

 private:
  static constexpr bool splits_decisions = requires(const A& a, typename A::State& state, Instant now) {
    a.report(a.advance(state, now, std::int64_t{1}));
  };
  A algorithm_;
};

// Several limits on one key (e.g. 10/s and 1000/h), all-or-nothing: a request
// is allowed iff every limit allows it, and when any denies, none is consumed.
// The Decision is the tightest: the least remaining, the longest wait.
template <Algorithm A>
class MultiPolicy {
 public:
  // Enough for any real policy; keeps the trial states on the stack.
  static constexpr std::size_t max_limits = 8;

  using State = std::vector<typename A::State>;  // one per limit; empty: never seen

  // Throws Error unless 1 <= limits.size() <= max_limits.
  explicit MultiPolicy(std::span<const RateLimit> limits) {
    if (limits.empty() || limits.size() > max_limits) {
      throw Error{"a policy takes 1 to 8 limits, got " + std::to_string(limits.size())};
    }
    for (const RateLimit& limit : limits) algorithms_.emplace_back(limit);
  }

  // As SinglePolicy's: here advance() decides and report() returns it.
  [[nodiscard]] Decision advance(State& state, Instant now, std::int64_t cost) const {
    return decide(state, now, cost);
  }
  [[nodiscard]] Decision report(const Decision& decision) const { return decision; }

  // Allocates only for a new key (its vector of states). Thread-safe (state
  // is the caller's).
  [[nodiscard]] Decision decide(State& state, Instant now, std::int64_t cost) const {
    const std::size_t limits = algorithms_.size();
    if (state.size() != limits) state.resize(limits);
    Decision combined;
    combined.allowed = true;
    if constexpr (std::is_trivially_copyable_v<typename A::State>) {
      // Decide on copies, commit all or none.
      std::array<typename A::State, max_limits> trial;
      for (std::size_t i = 0; i < limits; ++i) {
        trial[i] = state[i];
        merge(combined, algorithms_[i].decide(trial[i], now, cost), i == 0);
      }
      if (combined.allowed) std::copy_n(trial.begin(), limits, state.begin());
    } else {
      // States too costly to copy (the sliding log): decide in place, then
      // take back what the allowing limits consumed if another denied.
      std::array<bool, max_limits> allowed{};
      for (std::size_t i = 0; i < limits; ++i) {
        Decision decision = algorithms_[i].decide(state[i], now, cost);
        allowed[i] = decision.allowed;
        merge(combined, decision, i == 0);
      }
      if (!combined.allowed) {
        for (std::size_t i = 0; i < limits; ++i) {
          if (allowed[i]) algorithms_[i].revert(state[i], cost);
        }
      }
    }
    return combined;
  }

  [[nodiscard]] bool is_fresh(const State& state, Instant now) const {
    for (std::size_t i = 0; i < state.size(); ++i) {
      if (!algorithms_[i].is_fresh(state[i], now)) return false;
    }
    return true;
  }

  void cancel(State& state, Instant at, std::int64_t cost) const {
    for (std::size_t i = 0; i < state.size(); ++i) algorithms_[i].cancel(state[i], at, cost);
  }

  void encode(const State& state, RateWriter& writer) const {
    for (std::size_t i = 0; i < state.size(); ++i) algorithms_[i].encode(state[i], writer);
  }
  [[nodiscard]] State decode(RateReader& reader) const {
    State state;
    if (reader.done()) return state;
    for (const A& algorithm : algorithms_) state.push_back(algorithm.decode(reader));
    return state;
  }

 private:
  // Folds one limit's decision into the combined one.
  static void merge(Decision& combined, const Decision& decision, bool first) {
    if (first || decision.remaining < combined.remaining) {
      combined.remaining = decision.remaining;
      combined.limit = decision.limit;
    }
    combined.allowed = combined.allowed && decision.allowed;
    if (!decision.allowed) {
      // Each limit, once it fits, keeps fitting while no request comes, so the
      // longest of the waits is when all of them fit.
      combined.retry_after = std::max(combined.retry_after, decision.retry_after);
    }
    combined.reset_after = std::max(combined.reset_after, decision.reset_after);
  }

  std::vector<A> algorithms_;
};

// A policy's state as stored by a RateStorage, and back: the seed's path
// (sync or async) reads a Rate, decides on the state, writes a Rate. Throws
// StateError on a Rate the policy could not have written.
template <class P>
[[nodiscard]] typename P::State state_of(const P& policy, const Rate& stored) {
  if (stored.empty()) return typename P::State{};
  RateReader reader{stored.fields};
  typename P::State state = policy.decode(reader);
  if (!reader.done()) throw StateError{"stored rate state has extra fields"};
  return state;
}

template <class P>
[[nodiscard]] Rate rate_of(const P& policy, const typename P::State& state) {
  Rate rate;
  RateWriter writer{rate};
  policy.encode(state, writer);
  return rate;
}

// The name of a policy built without one: its algorithm and limits, e.g.
// "gcra:10/60000000000ns/10". Unnamed limiters with equal algorithm and
// limits on one storage therefore share state, as the seed's limiters on one
// storage do; give a name to keep a policy's state apart.
[[nodiscard]] inline std::string default_policy_name(std::string_view algorithm, std::span<const RateLimit> limits) {
  std::string name{algorithm};
  char separator = ':';
  for (const RateLimit& limit : limits) {
    name.push_back(separator);
    name.append(std::to_string(limit.count())).append("/").append(std::to_string(limit.period().count()));
    name.append("ns/").append(std::to_string(limit.burst()));
    separator = ',';
  }
  return name;
}

// What an algorithm's state is measured in (StateUnits::limit when it says nothing).
template <Algorithm A>
[[nodiscard]] constexpr StateUnits state_units_of() {
  if constexpr (requires { A::state_units; }) {
    return A::state_units;
  } else {
    return StateUnits::limit;
  }
}

// What a policy's state is measured in, as text: the number of limits, then
// per limit what state_units_of<A>() names ("2:10/1000000000ns,100/3600000000000ns"
// for GCRA; "1:60000000000ns" for a fixed window).
// Storages keep a policy's state under its name, algorithm and this tag, so
// a changed limit keeps every key's state where the state still means the
// same (a GCRA's or a leaky bucket's new burst, a window's or a log's new
// count or burst) and
// starts afresh where it would not (a bucket's new rate, a token bucket's
// new burst, a window's or a log's new period, another number of limits,
// another algorithm).
template <Algorithm A>
[[nodiscard]] std::string state_tag(std::span<const RateLimit> limits) {
  std::string tag = std::to_string(limits.size());
  char separator = ':';
  for (const RateLimit& limit : limits) {
    tag.push_back(separator);
    separator = ',';
    const std::string period = std::to_string(limit.period().count()) + "ns";
    switch (state_units_of<A>()) {
      case StateUnits::rate:
        tag.append(std::to_string(limit.count())).append("/").append(period);
        break;
      case StateUnits::period:
        tag.append(period);
        break;
      case StateUnits::limit:
        tag.append(std::to_string(limit.count())).append("/").append(period).append("/");
        tag.append(std::to_string(limit.burst()));
        break;
    }
  }
  return tag;
}

// The outcome of reserve(): the decision, and how long the caller must wait
// before acting on it (zero unless a wait was reserved).
struct Reserved {
  Decision decision;
  Duration wait{0};
};

// Decides at `now`; if the request is denied but fits within `max_wait`,
// books it at the time it fits (so that later callers queue behind it and
// nothing is oversubscribed) and returns that decision with the wait. A pure
// step like decide(): storages run it atomically.
template <class P>
[[nodiscard]] Reserved reserve(const P& policy, typename P::State& state, Instant now, std::int64_t cost,
                               Duration max_wait) {
  Decision decision = policy.decide(state, now, cost);
  if (decision.allowed || decision.never_allowed() || decision.retry_after > max_wait) return {decision, Duration{0}};
  Duration wait = decision.retry_after;
  // By retry_after's definition the request fits then.
  return {policy.decide(state, now + wait, cost), wait};
}

}  // namespace leaksnek
