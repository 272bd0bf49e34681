// DecisionCore: everything a limiter decides, and no I/O. The blocking
// Limiter and the asynchronous AsyncLimiter are two thin drivers over it: they
// carry its requests to a storage and its answers back, wait, and lock a key
// for the seed's path, but every decision, reservation, cancellation and
// fallback on a storage failure is made here, once.
//
// Three places a policy's state can live:
// - a MemoryStorage: the core holds the policy's tables and decides in them,
//   one hash lookup and one shard lock per decision (no I/O, so no driver);
// - a storage that decides by itself (RedisStorage, AsyncRedisStorage): the
//   driver sends request() and hands the outcome to accepted(), or a failure
//   to failed(), which decides by the storage's OnStorageError policy in the
//   core's own bounded memory;
// - the seed's RateStorage under a KeyMutex: the driver locks, reads, runs
//   decide_state() / reserve_state() / cancel_state() and writes what they say.
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
  Instant until{};   // when the caller may proceed
  Duration wait{0};  // until - the time of the reservation
  std::int64_t cost = 0;
  bool remote = false;            // reserved in a storage that decides by itself (else in this process)
  std::int64_t storage_time = 0;  // when remote: the reservation's time on the storage's clock
};

template <Algorithm A, class Key>
class DecisionCore {
 public:
  // The policy `name` (not empty) with `limits` (1 to 8), reading `clock`.
  // `memory`: the MemoryStorage that keeps the state, or null; `deciding`: the
  // storage that decides by itself, or null (then the core keeps a bounded
  // local fallback for its failures). Throws Error, RateError.
  DecisionCore(std::string name, std::vector<RateLimit> limits, ClockRef clock, MemoryStorage<Key>* memory,
               DecidingStorageBase* deciding)
      : name_{std::move(name)}, limits_{std::move(limits)}, clock_{clock}, deciding_{deciding} {
    if (name_.empty()) throw Error{"a policy's name must not be empty"};
    if (limits_.size() == 1) {
      single_.emplace(limits_.front());
    } else {
      multi_.emplace(limits_);
    }
    if (memory != nullptr) tables_ = bind(*memory);
    if (deciding_ != nullptr) {
      deciding_->validate(A::name, limits_);
      local_ = std::make_shared<MemoryStorage<Key>>(
          typename MemoryStorage<Key>::Options{.max_keys = deciding_->local_max_keys()});
      local_tables_ = bind(*local_);
    }
  }

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const std::vector<RateLimit>& limits() const noexcept { return limits_; }
  [[nodiscard]] ClockRef clock() const noexcept { return clock_; }
  [[nodiscard]] bool in_memory() const noexcept { return tables_.single != nullptr || tables_.multi != nullptr; }

  // --- In a MemoryStorage (in_memory()): one atomic step each. Thread-safe.

  // Decides now (or at `at`).
  Decision decide(const Key& key, std::int64_t cost, std::optional<Instant> at) {
    return decide_in(tables_, key, cost, at);
  }
  // Decides now, and when denied but fitting within `max_wait`, reserves.
  Reservation reserve(const Key& key, std::int64_t cost, Duration max_wait) {
    return reserve_in(tables_, key, cost, max_wait);
  }
  // Gives back what `reservation` took (a cancelled wait).
  void cancel(const Key& key, const Reservation& reservation) { cancel_in(tables_, key, reservation); }

  // --- Over a storage that decides by itself.

  // The storage's request for one decision (a reservation when max_wait > 0).
  [[nodiscard]] StorageRequest request(std::int64_t cost, std::optional<Instant> at, Duration max_wait) const {
    return {name_, A::name, limits_, cost, at, max_wait};
  }
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
  // The storage failed: its OnStorageError policy decides (counted by the
  // storage). local decides in this process's bounded memory (and reserves
  // when max_wait > 0); fail_open allows as for a key never seen; fail_closed
  // denies until the storage is tried again. Thread-safe.
  Reservation failed(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) {
    const OnStorageError policy = deciding_->on_storage_error();
    deciding_->count(policy);
    if (policy == OnStorageError::local) {
      if (max_wait > Duration{0} && !at) return reserve_in(local_tables_, key, cost, max_wait);
      Reservation reservation;
      reservation.cost = cost;
      reservation.until = at ? *at : clock_.now();
      reservation.decision = decide_in(local_tables_, key, cost, reservation.until);
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
      reservation.decision.retry_after = std::max(Duration{1}, deciding_->retry_in());
      reservation.decision.reset_after = Duration{0};
    }
    return reservation;
  }
  // Whether `reservation` holds capacity a cancelled wait must give back.
  [[nodiscard]] static bool holds_capacity(const Reservation& reservation) {
    return reservation.decision.allowed && reservation.wait > Duration{0};
  }
  // Gives back a reservation failed() made locally.
  void cancel_local(const Key& key, const Reservation& reservation) { cancel_in(local_tables_, key, reservation); }

  // --- The seed's path: pure steps on a state read under the key's lock.

  // The policy: one of the two is set.
  [[nodiscard]] const SinglePolicy<A>* single() const noexcept { return single_ ? &*single_ : nullptr; }
  [[nodiscard]] const MultiPolicy<A>* multi() const noexcept { return multi_ ? &*multi_ : nullptr; }
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

 private:
  struct Tables {
    typename MemoryStorage<Key>::template Table<SinglePolicy<A>>* single = nullptr;
    typename MemoryStorage<Key>::template Table<MultiPolicy<A>>* multi = nullptr;
  };

  Tables bind(MemoryStorage<Key>& memory) const {
    Tables tables;
    if (single_) tables.single = &memory.table(name_, *single_, limits_);
    if (multi_) tables.multi = &memory.table(name_, *multi_, limits_);
    return tables;
  }

  // Runs `run(policy, state, now)` atomically on `key`'s state in `tables`.
  template <class Run>
  auto apply(const Tables& tables, const Key& key, std::optional<Instant> at, Run&& run) {
    const Instant now = at ? *at : clock_.now();
    if (tables.single != nullptr) {
      return tables.single->apply(key, now, [&](auto& state, Instant t) { return run(*single_, state, t); });
    }
    return tables.multi->apply(key, now, [&](auto& state, Instant t) { return run(*multi_, state, t); });
  }

  Decision decide_in(const Tables& tables, const Key& key, std::int64_t cost, std::optional<Instant> at) {
    return apply(tables, key, at,
                 [&](const auto& policy, auto& state, Instant now) { return policy.decide(state, now, cost); });
  }

  Reservation reserve_in(const Tables& tables, const Key& key, std::int64_t cost, Duration max_wait) {
    Reservation reservation;
    reservation.cost = cost;
    Reserved reserved = apply(tables, key, std::nullopt, [&](const auto& policy, auto& state, Instant now) {
      Reserved booked = leaksnek::reserve(policy, state, now, cost, max_wait);
      reservation.until = now + booked.wait;
      return booked;
    });
    reservation.decision = reserved.decision;
    reservation.wait = reserved.wait;
    return reservation;
  }

  void cancel_in(const Tables& tables, const Key& key, const Reservation& reservation) {
    if (!holds_capacity(reservation)) return;
    apply(tables, key, std::nullopt, [&](const auto& policy, auto& state, Instant /*now*/) {
      policy.cancel(state, reservation.until, reservation.cost);
      return 0;
    });
  }

  std::string name_;
  std::vector<RateLimit> limits_;
  ClockRef clock_;
  std::optional<SinglePolicy<A>> single_;
  std::optional<MultiPolicy<A>> multi_;
  Tables tables_;
  DecidingStorageBase* deciding_ = nullptr;
  std::shared_ptr<MemoryStorage<Key>> local_;  // the fallback's memory, when deciding_
  Tables local_tables_;
};

}  // namespace leaksnek
