// Limiter: one algorithm, one or several limits, over a RateStorage; the
// blocking driver of DecisionCore, which makes every decision. The concrete
// limiters (LeakyBucketLimiter, GcraLimiter, ...) are this template.
//
// Over a MemoryStorage a decision is one atomic step inside the storage: no
// mutex. Over a DecidingStorage (RedisStorage) it is one call that decides in
// the storage (one round trip), and the storage's OnStorageError policy
// decides when the storage fails. Over any other RateStorage the limiter locks
// the key with the KeyMutex, reads the state, decides and writes it back, as
// the seed does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <leaksnek/algorithms/policy.hpp>
#include <leaksnek/interfaces/limiters/rate_limiter.hpp>
#include <leaksnek/interfaces/mutexes/key_mutex.hpp>
#include <leaksnek/interfaces/storages/deciding_storage.hpp>
#include <leaksnek/interfaces/storages/rate_storage.hpp>
#include <leaksnek/limiters/decision_core.hpp>
#include <leaksnek/storages/memory_storage.hpp>
#include <leaksnek/values/clock.hpp>

namespace leaksnek {

template <Algorithm A, class Key>
class Limiter final : public RateLimiter<Key> {
 public:
  // `limit` for every key of `storage`, under the policy name
  // default_policy_name(algorithm, limits): unnamed limiters with equal
  // algorithm and limits on one storage share state, as the seed's do.
  // `mutex` is required unless `storage` decides atomically by itself
  // (MemoryStorage, RedisStorage); `clock` is read for every decision
  // (except by a storage with its own clock) and waited on by acquire().
  // Throws Error when a needed mutex is missing, RateError for a limit the
  // algorithm (or the storage) refuses.
  Limiter(const RateLimit& limit, std::shared_ptr<RateStorage<Key>> storage,
          std::shared_ptr<KeyMutex<Key>> mutex = nullptr, ClockRef clock = {})
      : Limiter{std::vector<RateLimit>{limit}, std::move(storage), std::move(mutex), clock} {}

  // Several limits on each key (e.g. 10/s and 1000/h), all-or-nothing: when
  // any denies, none is consumed. 1 to MultiPolicy<A>::max_limits limits.
  Limiter(std::vector<RateLimit> limits, std::shared_ptr<RateStorage<Key>> storage,
          std::shared_ptr<KeyMutex<Key>> mutex = nullptr, ClockRef clock = {})
      : Limiter{default_policy_name(A::name, limits), std::move(limits), std::move(storage), std::move(mutex), clock} {}

  // A named policy: its state lives under `name` in MemoryStorage and
  // RedisStorage, so limiters with different names never share state,
  // whatever their limits. (A storage of your own sees your keys as they are:
  // the seed's RateStorage has no place for a name.)
  Limiter(std::string name, const RateLimit& limit, std::shared_ptr<RateStorage<Key>> storage,
          std::shared_ptr<KeyMutex<Key>> mutex = nullptr, ClockRef clock = {})
      : Limiter{std::move(name), std::vector<RateLimit>{limit}, std::move(storage), std::move(mutex), clock} {}

  Limiter(std::string name, std::vector<RateLimit> limits, std::shared_ptr<RateStorage<Key>> storage,
          std::shared_ptr<KeyMutex<Key>> mutex = nullptr, ClockRef clock = {})
      : storage_{checked(std::move(storage))},
        mutex_{std::move(mutex)},
        deciding_{dynamic_cast<DecidingStorage<Key>*>(storage_.get())},
        core_{std::move(name), std::move(limits), clock, dynamic_cast<MemoryStorage<Key>*>(storage_.get()), deciding_} {
    if (!core_.in_memory() && deciding_ == nullptr && !mutex_) {
      throw Error{"a limiter over a storage that cannot decide by itself needs a KeyMutex"};
    }
  }

  // Decides now; see RateLimiter::try_acquire. Over a MemoryStorage: one clock
  // read, one hash lookup, one shard lock. Thread-safe.
  Decision try_acquire(const Key& key, std::int64_t cost = 1) override {
    detail::check_cost(cost);
    if (core_.in_memory()) return core_.decide(key, cost, std::nullopt);
    return decide(key, cost, std::nullopt, Duration{0}).decision;
  }

  // try_acquire at an explicit time instead of the clock's (over a
  // MemoryStorage, raised to the latest time the key's shard has seen).
  // Thread-safe.
  Decision try_acquire_at(const Key& key, std::int64_t cost, Instant now) {
    detail::check_cost(cost);
    if (core_.in_memory()) return core_.decide(key, cost, now);
    return decide(key, cost, now, Duration{0}).decision;
  }

  // A reserved request (see DecisionCore).
  using Reservation = leaksnek::Reservation;

  // Decides now, and when denied but the request fits within `max_wait`,
  // reserves it for the time it fits and returns at once, without blocking:
  // the caller proceeds at reservation.until, or calls cancel(). Later
  // requests queue behind the reservation. acquire() is reserve() and a
  // sleep. Thread-safe.
  Reservation reserve(const Key& key, std::int64_t cost, Duration max_wait) {
    detail::check_cost(cost);
    return decide(key, cost, std::nullopt, max_wait);
  }

  // Gives a reservation's capacity back, for a caller that will not proceed
  // (a cancelled wait). Call it before reservation.until; see
  // Algorithm::cancel. Thread-safe.
  void cancel(const Key& key, const Reservation& reservation) {
    if (!core_.holds_capacity(reservation)) return;
    if (core_.in_memory()) return core_.cancel(key, reservation);
    if (deciding_ != nullptr) {
      if (!reservation.remote) return core_.cancel_local(key, reservation);
      try {
        deciding_->cancel(key, core_.request(reservation.cost, std::nullopt, Duration{0}), reservation.storage_time);
      } catch (const StorageError&) {  // NOLINT(bugprone-empty-catch): the capacity stays taken, never oversubscribed
      }
      return;
    }
    locked(key, [&](const auto& policy, auto& state) { return core_.cancel_state(policy, state, reservation); });
  }

  // Decides now, and when denied but the request fits within `max_wait`,
  // reserves it and blocks on the clock until then; see RateLimiter::acquire.
  // Thread-safe.
  Decision acquire(const Key& key, std::int64_t cost, Duration max_wait) override {
    Reservation reservation = reserve(key, cost, max_wait);
    if (reservation.wait > Duration{0}) core_.clock().sleep_until(reservation.until);
    return reservation.decision;
  }

  bool limit_exceeded(const Key& key) override { return !try_acquire(key, 1).allowed; }

  [[nodiscard]] const std::vector<RateLimit>& limits() const noexcept { return core_.limits(); }
  // The policy's name (given, or default_policy_name()).
  [[nodiscard]] const std::string& name() const noexcept { return core_.name(); }

 private:
  static std::shared_ptr<RateStorage<Key>> checked(std::shared_ptr<RateStorage<Key>> storage) {
    if (!storage) throw Error{"a limiter needs a storage"};
    return storage;
  }

  // One decision (a reservation when max_wait > 0) wherever the state lives.
  Reservation decide(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) {
    if (core_.in_memory()) {
      if (max_wait > Duration{0}) return core_.reserve(key, cost, max_wait);
      Reservation reservation;
      reservation.cost = cost;
      reservation.decision = core_.decide(key, cost, at);
      return reservation;
    }
    if (deciding_ != nullptr) {
      try {
        return core_.accepted(deciding_->decide(key, core_.request(cost, at, max_wait)), cost, at);
      } catch (const StorageError&) {
        return core_.failed(key, cost, at, max_wait);
      }
    }
    Reservation reservation;
    reservation.cost = cost;
    Instant now{};
    Reserved reserved = locked(key, [&](const auto& policy, auto& state) {
                          now = at ? *at : core_.clock().now();
                          return core_.reserve_state(policy, state, now, cost, max_wait);
                        }).reserved;
    reservation.decision = reserved.decision;
    reservation.wait = reserved.wait;
    reservation.until = now + reserved.wait;
    return reservation;
  }

  // The seed's path: lock the key, read, run `step(policy, state)`, write
  // what it says. The clock is read under the lock, so time never goes
  // backwards for one key.
  template <class Run>
  typename DecisionCore<A, Key>::Step locked(const Key& key, Run&& run) {
    KeyLock<Key> lock = mutex_->guard(key);
    return core_.with_policy([&](const auto& policy) {
      auto state = state_of(policy, storage_->read(key));
      typename DecisionCore<A, Key>::Step step = run(policy, state);
      if (step.write) storage_->write(key, rate_of(policy, state), step.expires_after);
      return step;
    });
  }

  std::shared_ptr<RateStorage<Key>> storage_;
  std::shared_ptr<KeyMutex<Key>> mutex_;
  DecidingStorage<Key>* deciding_;
  DecisionCore<A, Key> core_;
};

}  // namespace leaksnek
