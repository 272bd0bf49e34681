// Limiter: one algorithm, one or several limits, over a RateStorage. The
// concrete limiters (LeakyBucketLimiter, GcraLimiter, ...) are this template.
//
// Over a MemoryStorage a decision is one atomic step inside the storage: no
// mutex. Over a DecidingStorage (RedisStorage) it is one call that decides in
// the storage (one round trip), and the storage's OnStorageError policy decides when
// the storage fails. Over any other RateStorage the limiter locks the key with
// the KeyMutex, reads the state, decides and writes it back, as the seed does.
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
      : name_{std::move(name)},
        limits_{std::move(limits)},
        storage_{std::move(storage)},
        mutex_{std::move(mutex)},
        clock_{clock} {
    if (!storage_) throw Error{"a limiter needs a storage"};
    if (name_.empty()) throw Error{"a policy's name must not be empty"};
    if (limits_.size() == 1) {
      single_.emplace(limits_.front());
    } else {
      multi_.emplace(limits_);
    }
    if (auto* memory = dynamic_cast<MemoryStorage<Key>*>(storage_.get())) {  // decides by itself
      if (single_) single_table_ = &memory->table(name_, *single_, limits_);
      if (multi_) multi_table_ = &memory->table(name_, *multi_, limits_);
    } else if (auto* deciding = dynamic_cast<DecidingStorage<Key>*>(storage_.get())) {
      deciding->validate(A::name, limits_);
      deciding_ = deciding;
      local_ = std::make_unique<Limiter>(name_, limits_,
                                         std::make_shared<MemoryStorage<Key>>(typename MemoryStorage<Key>::Options{
                                             .max_keys = deciding->local_max_keys()}),
                                         nullptr, clock_);
    } else if (!mutex_) {
      throw Error{"a limiter over a storage that cannot decide by itself needs a KeyMutex"};
    }
  }

  // Decides now; see RateLimiter::try_acquire. Over a MemoryStorage: one clock
  // read, one hash lookup, one shard lock. Thread-safe.
  Decision try_acquire(const Key& key, std::int64_t cost = 1) override {
    detail::check_cost(cost);
    if (deciding_) return remote(key, cost, std::nullopt, Duration{0}).decision;
    return step(key, std::nullopt,
                [&](const auto& policy, auto& state, Instant now) { return policy.decide(state, now, cost); });
  }

  // try_acquire at an explicit time instead of the clock's (over a
  // MemoryStorage, raised to the latest time the key's shard has seen).
  // Thread-safe.
  Decision try_acquire_at(const Key& key, std::int64_t cost, Instant now) {
    detail::check_cost(cost);
    if (deciding_) return remote(key, cost, now, Duration{0}).decision;
    return step(key, now, [&](const auto& policy, auto& state, Instant at) { return policy.decide(state, at, cost); });
  }

  // A request reserved by reserve(): allowed (at `until` if `wait` is not
  // zero), or denied at once.
  struct Reservation {
    Decision decision;
    Instant until{};   // when the caller may proceed
    Duration wait{0};  // until - the time of reservation
    std::int64_t cost = 0;
    bool remote = false;            // reserved in a DecidingStorage (else in this process)
    std::int64_t storage_time = 0;  // when remote: the reservation's time on the storage's clock
  };

  // Decides now, and when denied but the request fits within `max_wait`,
  // reserves it for the time it fits and returns at once, without blocking:
  // the caller proceeds at reservation.until, or calls cancel(). Later
  // requests queue behind the reservation. acquire() is reserve() and a
  // sleep. Thread-safe.
  Reservation reserve(const Key& key, std::int64_t cost, Duration max_wait) {
    detail::check_cost(cost);
    if (deciding_) return remote(key, cost, std::nullopt, max_wait);
    Reservation reservation;
    reservation.cost = cost;
    Grant grant = step(key, std::nullopt, [&](const auto& policy, auto& state, Instant now) {
      Grant booked = leaksnek::reserve(policy, state, now, cost, max_wait);
      reservation.until = now + booked.wait;
      return booked;
    });
    reservation.decision = grant.decision;
    reservation.wait = grant.wait;
    return reservation;
  }

  // Gives a reservation's capacity back, for a caller that will not proceed
  // (a cancelled wait). Call it before reservation.until; see
  // Algorithm::give_back. Thread-safe.
  void cancel(const Key& key, const Reservation& reservation) {
    if (!reservation.decision.allowed || reservation.wait <= Duration{0}) return;
    if (deciding_) {
      if (!reservation.remote) {
        if (local_) local_->cancel(key, reservation);
        return;
      }
      try {
        deciding_->give_back(key, request(reservation.cost, std::nullopt, Duration{0}), reservation.storage_time);
      } catch (const StorageError&) {  // NOLINT(bugprone-empty-catch): the capacity stays taken, never oversubscribed
      }
      return;
    }
    step(key, std::nullopt, [&](const auto& policy, auto& state, Instant /*now*/) {
      policy.give_back(state, reservation.until, reservation.cost);
      return GivenBack{Duration::max()};  // never shortens what later reservations need
    });
  }

  // Decides now, and when denied but the request fits within `max_wait`,
  // reserves it and blocks on the clock until then; see RateLimiter::acquire.
  // Thread-safe.
  Decision acquire(const Key& key, std::int64_t cost, Duration max_wait) override {
    Reservation reservation = reserve(key, cost, max_wait);
    if (reservation.wait > Duration{0}) clock_.sleep_until(reservation.until);
    return reservation.decision;
  }

  bool limit_exceeded(const Key& key) override { return !try_acquire(key, 1).allowed; }

  // The decision for a storage that failed, by `policy`, made by this limiter
  // in memory: local decides here (and books when max_wait > 0); fail_open
  // allows as for a key never seen; fail_closed denies for `retry_in` (the
  // time until the storage is tried again). Used by limiters over a
  // DecidingStorage (sync and async). Thread-safe.
  Reservation decide_without_storage(OnStorageError policy, const Key& key, std::int64_t cost,
                                     std::optional<Instant> at, Duration max_wait, Duration retry_in) {
    if (policy == OnStorageError::local) {
      if (max_wait > Duration{0} && !at) return reserve(key, cost, max_wait);
      Reservation reservation;
      reservation.cost = cost;
      reservation.until = at ? *at : clock_.now();
      reservation.decision = try_acquire_at(key, cost, reservation.until);
      return reservation;
    }
    Reservation reservation;
    reservation.cost = cost;
    reservation.until = at ? *at : clock_.now();
    reservation.decision = single_ ? fresh(*single_, reservation.until, cost) : fresh(*multi_, reservation.until, cost);
    if (policy == OnStorageError::fail_closed && reservation.decision.allowed) {
      reservation.decision.allowed = false;
      reservation.decision.remaining = 0;
      reservation.decision.retry_after = std::max(Duration{1}, retry_in);
      reservation.decision.reset_after = Duration{0};
    }
    return reservation;
  }

  [[nodiscard]] const std::vector<RateLimit>& limits() const noexcept { return limits_; }
  // The policy's name (given, or default_policy_name()).
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  typename DecidingStorage<Key>::Request request(std::int64_t cost, std::optional<Instant> at,
                                                 Duration max_wait) const {
    return {name_, A::name, limits_, cost, at, max_wait};
  }

  // One decision in the DecidingStorage; when the storage fails, its
  // OnStorageError policy decides (and the storage counts it).
  Reservation remote(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) {
    Reservation reservation;
    reservation.cost = cost;
    try {
      auto outcome = deciding_->decide(key, request(cost, at, max_wait));
      reservation.decision = outcome.grant.decision;
      reservation.wait = outcome.grant.wait;
      reservation.until = (at ? *at : clock_.now()) + reservation.wait;
      reservation.remote = true;
      reservation.storage_time = outcome.booked_at;
      return reservation;
    } catch (const StorageError&) {
      deciding_->count(deciding_->on_storage_error());
      return local_->decide_without_storage(deciding_->on_storage_error(), key, cost, at, max_wait,
                                            deciding_->retry_in());
    }
  }

  template <class Policy>
  static Decision fresh(const Policy& policy, Instant now, std::int64_t cost) {
    typename Policy::State state{};
    return policy.decide(state, now, cost);
  }

  // What a step returns, and whether and for how long its state is written
  // back on the seed's path.
  struct GivenBack {
    Duration expires_after;
  };
  static bool changed(const Decision& decision) { return decision.allowed; }
  static bool changed(const Grant& grant) { return grant.decision.allowed; }
  static bool changed(const GivenBack&) { return true; }
  static Duration expiry_of(const Decision& decision) { return decision.reset_after; }
  static Duration expiry_of(const Grant& grant) { return grant.wait + grant.decision.reset_after; }
  static Duration expiry_of(const GivenBack& given) { return given.expires_after; }

  // Runs `run(policy, state, now)` atomically on `key`'s state; `now` is
  // `at` if given, else the clock's.
  template <class Step>
  auto step(const Key& key, std::optional<Instant> at, Step&& run) {
    if (single_table_) {
      return single_table_->apply(key, at ? *at : clock_.now(),
                                  [&](auto& state, Instant now) { return run(*single_, state, now); });
    }
    if (multi_table_) {
      return multi_table_->apply(key, at ? *at : clock_.now(),
                                 [&](auto& state, Instant now) { return run(*multi_, state, now); });
    }
    if (single_) return locked_step(key, at, *single_, run);
    return locked_step(key, at, *multi_, run);
  }

  // The seed's path: lock the key, read, decide, write. The clock is read
  // under the lock, so time never goes backwards for one key.
  template <class Policy, class Step>
  auto locked_step(const Key& key, std::optional<Instant> at, const Policy& policy, Step& run) {
    KeyLock<Key> lock = mutex_->guard(key);
    typename Policy::State state = state_of(policy, storage_->read(key));
    auto result = run(policy, state, at ? *at : clock_.now());
    if (changed(result)) storage_->write(key, rate_of(policy, state), expiry_of(result));
    return result;
  }

  std::string name_;
  std::vector<RateLimit> limits_;
  std::shared_ptr<RateStorage<Key>> storage_;
  std::shared_ptr<KeyMutex<Key>> mutex_;
  ClockRef clock_;
  DecidingStorage<Key>* deciding_ = nullptr;
  std::unique_ptr<Limiter> local_;  // decides when the store fails (see decide_without_storage)
  std::optional<SinglePolicy<A>> single_;
  std::optional<MultiPolicy<A>> multi_;
  typename MemoryStorage<Key>::template Table<SinglePolicy<A>>* single_table_ = nullptr;
  typename MemoryStorage<Key>::template Table<MultiPolicy<A>>* multi_table_ = nullptr;
};

}  // namespace leaksnek
