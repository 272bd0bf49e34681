// Limiter: one algorithm, one or several limits, over a RateStorage; the
// blocking driver of one Binding (binding.hpp): its policy bound to the
// storage, with DecisionCore making every decision. The concrete limiters
// (LeakyBucketLimiter, GcraLimiter, ...) are this template.
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
#include <leaksnek/limiters/binding.hpp>
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
      : binding_{bind(DecisionCore<A, Key>{std::move(name), std::move(limits), clock}, std::move(storage),
                      std::move(mutex))} {}

  // Decides now; see RateLimiter::try_acquire. Over a MemoryStorage: one clock
  // read, one hash lookup, one lock of the key alone. Thread-safe.
  Decision try_acquire(const Key& key, std::int64_t cost = 1) override {
    detail::check_cost(cost);
    return binding_->decide(key, cost, std::nullopt);
  }

  // try_acquire at an explicit time instead of the clock's (over a
  // MemoryStorage, raised to the latest time the key's shard has seen).
  // Thread-safe.
  Decision try_acquire_at(const Key& key, std::int64_t cost, Instant now) {
    detail::check_cost(cost);
    return binding_->decide(key, cost, now);
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
    return binding_->reserve(key, cost, std::nullopt, max_wait);
  }

  // Gives a reservation's capacity back, for a caller that will not proceed
  // (a cancelled wait). Call it before reservation.until; see
  // Algorithm::cancel. Thread-safe. Over a storage that decides by itself a
  // failure leaves the capacity taken (never oversubscribed); over the seed's
  // storage it throws what the storage or mutex throws.
  void cancel(const Key& key, const Reservation& reservation) { binding_->cancel(key, reservation); }

  // Decides now, and when denied but the request fits within `max_wait`,
  // reserves it and blocks on the clock until then; see RateLimiter::acquire.
  // Thread-safe.
  Decision acquire(const Key& key, std::int64_t cost, Duration max_wait) override {
    Reservation reservation = reserve(key, cost, max_wait);
    if (reservation.wait > Duration{0}) binding_->core().clock().sleep_until(reservation.until);
    return reservation.decision;
  }

  bool limit_exceeded(const Key& key) override { return !try_acquire(key, 1).allowed; }

  [[nodiscard]] const std::vector<RateLimit>& limits() const noexcept { return binding_->core().limits(); }
  // The policy's name (given, or default_policy_name()).
  [[nodiscard]] const std::string& name() const noexcept { return binding_->core().name(); }

 private:
  std::shared_ptr<Binding<A, Key>> binding_;  // shared by copies (thread-safe)
};

}  // namespace leaksnek
