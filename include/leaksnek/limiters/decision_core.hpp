// DecisionCore: everything a limiter decides, and no I/O. A policy (name,
// algorithm, limits, clock) and its steps: the bindings (binding.hpp,
// aio/binding.hpp) carry them to where the state lives, and the blocking
// Limiter and the asynchronous AsyncLimiter drive the bindings; every
// decision, reservation, cancellation and fallback on a storage failure is
// made here, once.
//
// Three places a policy's state can live:
// - a MemoryStorage: the policy's tables in it (tables_in()); decide(),
//   reserve() and cancel() are one hash lookup and one key lock each;
// - a storage that decides by itself (RedisStorage, AsyncRedisStorage):
//   the policy bound to it (DecidingStorage::bind) is asked, accepted() reads
//   its outcome, and failed() decides by its OnStorageError policy in a
//   Fallback's bounded memory;
// - the seed's RateStorage under a KeyMutex: reserve_state() and
//   cancel_state() on a state read under the key's lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <leaksnek/algorithms/policy.hpp>
#include <leaksnek/interfaces/storages/deciding_storage.hpp>
#include <leaksnek/storages/memory_storage.hpp>
#include <leaksnek/values/clock.hpp>

namespace leaksnek {

// A request a limiter reserved: allowed (at `until` if `wait` is not zero),
// or denied at once. The caller proceeds at `until`, or cancels.
struct Reservation {
  Decision decision;
  Instant until{};   // when the caller may proceed (meaningful when wait > 0)
  Duration wait{0};  // until - the time of the reservation
  std::int64_t cost = 0;
  bool remote = false;            // reserved in a storage that decides by itself (else in this process)
  std::int64_t storage_time = 0;  // when remote: the reservation's time on the storage's clock
};

template <Algorithm A, class Key>
class DecisionCore {
 public:
  // The policy `name` (not empty) with `limits` (1 to 8), reading `clock`.
  // Throws Error, RateError.
  DecisionCore(std::string name, std::vector<RateLimit> limits, ClockRef clock)
      : name_{std::move(name)}, limits_{std::move(limits)}, clock_{clock} {
    if (name_.empty()) throw Error{"a policy's name must not be empty"};
    if (limits_.size() == 1) {
      single_.emplace(limits_.front());
    } else {
      multi_.emplace(limits_);
    }
    tag_ = state_tag<A>(limits_);
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const std::vector<RateLimit>& limits() const noexcept { return limits_; }
  [[nodiscard]] ClockRef clock() const noexcept { return clock_; }

  // --- In a MemoryStorage: one atomic step each. Thread-safe.

  // The policy's tables in one MemoryStorage (which must outlive them).
  struct Tables {
    typename MemoryStorage<Key>::template Table<SinglePolicy<A>>* single = nullptr;
    typename MemoryStorage<Key>::template Table<MultiPolicy<A>>* multi = nullptr;
  };
  [[nodiscard]] Tables tables_in(MemoryStorage<Key>& memory) const {
    Tables tables;
    if (single_) tables.single = &memory.template table<SinglePolicy<A>>(name_, tag_);
    if (multi_) tables.multi = &memory.template table<MultiPolicy<A>>(name_, tag_);
    return tables;
  }

  // Decides now (or at `at`).
  Decision decide(const Tables& tables, const Key& key, std::int64_t cost, std::optional<Instant> at) const {
    const Instant now = at ? *at : clock_.now();
    if (tables.single != nullptr) {
      const SinglePolicy<A>& policy = *single_;
      return tables.single->apply(
          key, now, policy, [&](auto& state, Instant t) { return policy.advance(state, t, cost); },
          [&](const auto& outcome) { return policy.report(outcome); });
    }
    return tables.multi->apply(key, now, *multi_,
                               [&](auto& state, Instant t) { return multi_->decide(state, t, cost); });
  }
  // `key`'s state as the seed's Rate (its read), or nullopt when it has none.
  [[nodiscard]] std::optional<Rate> stored(const Tables& tables, const Key& key) const {
    if (tables.single != nullptr) {
      auto state = tables.single->peek(key);
      return state ? std::optional<Rate>{rate_of(*single_, *state)} : std::nullopt;
    }
    auto state = tables.multi->peek(key);
    return state ? std::optional<Rate>{rate_of(*multi_, *state)} : std::nullopt;
  }
  // Replaces `key`'s state with `rate` (the seed's write; an empty Rate
  // forgets the key). Throws StateError for a Rate this policy cannot read,
  // storing nothing.
  void store(const Tables& tables, const Key& key, const Rate& rate) const {
    const Instant now = clock_.now();
    if (tables.single != nullptr) {
      std::optional<typename SinglePolicy<A>::State> state;
      if (!rate.empty()) state = state_of(*single_, rate);
      tables.single->put(key, std::move(state), now, *single_);
      return;
    }
    std::optional<typename MultiPolicy<A>::State> state;
    if (!rate.empty()) state = state_of(*multi_, rate);
    tables.multi->put(key, std::move(state), now, *multi_);
  }

  // Decides now, and when denied but fitting within `max_wait`, reserves.
  Reservation reserve(const Tables& tables, const Key& key, std::int64_t cost, Duration max_wait) const {
    Reservation reservation;
    reservation.cost = cost;
    Reserved reserved = apply(tables, key, std::nullopt, [&](const auto& policy, auto& state, Instant now) {
      Reserved step = leaksnek::reserve(policy, state, now, cost, max_wait);
      reservation.until = now + step.wait;
      return step;
    });
    reservation.decision = reserved.decision;
    reservation.wait = reserved.wait;
    return reservation;
  }
  // One decision, a reservation when max_wait > 0 (then `at` is ignored).
  Reservation reserve(const Tables& tables, const Key& key, std::int64_t cost, std::optional<Instant> at,
                      Duration max_wait) const {
    if (max_wait > Duration{0}) return reserve(tables, key, cost, max_wait);
    Reservation reservation;
    reservation.cost = cost;
    reservation.decision = decide(tables, key, cost, at);
    return reservation;
  }
  // Gives back what `reservation` took (a cancelled wait).
  void cancel(const Tables& tables, const Key& key, const Reservation& reservation) const {
    if (!holds_capacity(reservation)) return;
    apply(tables, key, std::nullopt, [&](const auto& policy, auto& state, Instant /*now*/) {
      policy.cancel(state, reservation.until, reservation.cost);
      return 0;
    });
  }

  // --- Over a storage that decides by itself.

  // The reservation the storage made.
  [[nodiscard]] Reservation accepted(const StorageOutcome& outcome, std::int64_t cost,
                                     std::optional<Instant> at) const {
    Reservation reservation;
    reservation.cost = cost;
    reservation.decision = outcome.reserved.decision;
    reservation.wait = outcome.reserved.wait;
    reservation.until = (at ? *at : clock_.now()) + reservation.wait;
    reservation.remote = true;
    reservation.storage_time = outcome.reserved_at;
    return reservation;
  }
  // What decides when `storage` fails: its policy, and for
  // OnStorageError::local this process's bounded memory (a MemoryStorage of
  // its own, made whatever the policy: it holds keys only once used). Throws RateError for
  // limits the storage cannot keep.
  struct Fallback {
    DecidingStorageBase* storage = nullptr;
    std::shared_ptr<MemoryStorage<Key>> memory;
    Tables tables;
  };
  [[nodiscard]] Fallback fallback_for(DecidingStorageBase& storage) const {
    storage.validate(A::name, limits_);
    Fallback fallback;
    fallback.storage = &storage;
    fallback.memory = std::make_shared<MemoryStorage<Key>>(
        typename MemoryStorage<Key>::Options{.max_keys = storage.local_max_keys()});
    fallback.tables = tables_in(*fallback.memory);
    return fallback;
  }
  // The storage failed: its OnStorageError policy decides (counted by the
  // storage). local decides in the fallback's memory (and reserves when
  // max_wait > 0); fail_open allows as for a key never seen; fail_closed
  // denies until the storage is tried again. Thread-safe.
  Reservation failed(const Fallback& fallback, const Key& key, std::int64_t cost, std::optional<Instant> at,
                     Duration max_wait) const {
    const OnStorageError policy = fallback.storage->on_storage_error();
    fallback.storage->count(policy);
    if (policy == OnStorageError::local) {
      if (max_wait > Duration{0} && !at) return reserve(fallback.tables, key, cost, max_wait);
      Reservation reservation;
      reservation.cost = cost;
      reservation.until = at ? *at : clock_.now();
      reservation.decision = decide(fallback.tables, key, cost, reservation.until);
      return reservation;
    }
    Reservation reservation;
    reservation.cost = cost;
    reservation.until = at ? *at : clock_.now();
    reservation.decision = with_policy([&](const auto& p) {
      typename std::decay_t<decltype(p)>::State state{};
      return p.decide(state, reservation.until, cost);
    });
    if (policy == OnStorageError::fail_closed && reservation.decision.allowed) {
      reservation.decision.allowed = false;
      reservation.decision.remaining = 0;
      reservation.decision.retry_after = std::max(Duration{1}, fallback.storage->retry_in());
      reservation.decision.reset_after = Duration{0};
    }
    return reservation;
  }
  // Whether `reservation` holds capacity a cancelled wait must give back.
  [[nodiscard]] static bool holds_capacity(const Reservation& reservation) {
    return reservation.decision.allowed && reservation.wait > Duration{0};
  }

  // --- The seed's path: pure steps on a state read under the key's lock.

  // Calls run(policy) with the single- or multi-limit policy.
  template <class Run>
  decltype(auto) with_policy(Run&& run) const {
    if (single_) return run(*single_);
    return run(*multi_);
  }
  // A step's outcome, and whether and for how long its state is written back.
  struct Step {
    Reserved reserved;
    bool write = false;
    Duration expires_after{0};
  };
  template <class Policy>
  static Step reserve_state(const Policy& policy, typename Policy::State& state, Instant now, std::int64_t cost,
                            Duration max_wait) {
    Reserved reserved = leaksnek::reserve(policy, state, now, cost, max_wait);
    return {reserved, reserved.decision.allowed, reserved.wait + reserved.decision.reset_after};
  }
  template <class Policy>
  static Step cancel_state(const Policy& policy, typename Policy::State& state, const Reservation& reservation) {
    policy.cancel(state, reservation.until, reservation.cost);
    return {{}, true, Duration::max()};  // never shortens what later reservations need
  }
  // The reservation of a reserve_state() step taken at `now`.
  [[nodiscard]] static Reservation reservation_of(const Step& step, Instant now, std::int64_t cost) {
    Reservation reservation;
    reservation.cost = cost;
    reservation.decision = step.reserved.decision;
    reservation.wait = step.reserved.wait;
    reservation.until = now + step.reserved.wait;
    return reservation;
  }

 private:
  // Runs `run(policy, state, now)` atomically on `key`'s state in `tables`.
  template <class Run>
  auto apply(const Tables& tables, const Key& key, std::optional<Instant> at, Run&& run) const {
    const Instant now = at ? *at : clock_.now();
    if (tables.single != nullptr) {
      return tables.single->apply(key, now, *single_, [&](auto& state, Instant t) { return run(*single_, state, t); });
    }
    return tables.multi->apply(key, now, *multi_, [&](auto& state, Instant t) { return run(*multi_, state, t); });
  }

  std::string name_;
  std::vector<RateLimit> limits_;
  std::string tag_;  // state_tag<A>(limits_)
  ClockRef clock_;
  std::optional<SinglePolicy<A>> single_;
  std::optional<MultiPolicy<A>> multi_;
};

}  // namespace leaksnek
