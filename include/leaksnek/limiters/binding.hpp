// Binding: a policy bound to the storage that keeps its state, the one object
// a Limiter talks to. bind() asks the storage what it is (RateStorage::accept)
// and returns one of three: MemoryStorage's tables, a storage that decides by
// itself (with the fallback for its failures), or the seed's RateStorage under
// a KeyMutex. Each carries DecisionCore's steps to its storage; none decides.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include <leaksnek/interfaces/mutexes/key_mutex.hpp>
#include <leaksnek/interfaces/storages/deciding_storage.hpp>
#include <leaksnek/interfaces/storages/rate_storage.hpp>
#include <leaksnek/limiters/decision_core.hpp>
#include <leaksnek/storages/memory_storage.hpp>

namespace leaksnek {

// Every call is thread-safe. Costs: in a MemoryStorage one hash lookup and
// one lock of the key alone; over a storage that decides by itself one call to it (a
// Redis round trip); over the seed's storage a KeyMutex lock, a read and a
// write.
template <Algorithm A, class Key>
class Binding {
 public:
  explicit Binding(DecisionCore<A, Key> core) : core_{std::move(core)} {}
  virtual ~Binding() = default;
  Binding(const Binding&) = delete;
  Binding& operator=(const Binding&) = delete;

  [[nodiscard]] const DecisionCore<A, Key>& core() const noexcept { return core_; }

  // Decides now (or at `at`). Thread-safe, as every call below. In a
  // MemoryStorage the step runs here, inline: every in-memory decision takes
  // this path, and a virtual call in it measured 15-20% of try_acquire.
  Decision decide(const Key& key, std::int64_t cost, std::optional<Instant> at) {
    if (in_memory_ != nullptr) return core_.decide(*in_memory_, key, cost, at);
    return reserve(key, cost, at, Duration{0}).decision;
  }
  // One decision: at `at` (or now), or, when max_wait > 0, a reservation
  // (pass one or the other; in memory `at` is then ignored).
  virtual Reservation reserve(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) = 0;
  // Gives back what a reservation of this binding holds (a cancelled wait).
  // Over a storage that decides by itself a failure leaves the capacity
  // taken (never oversubscribed); over the seed's storage it throws what the
  // storage or mutex throws.
  virtual void cancel(const Key& key, const Reservation& reservation) = 0;

 protected:
  DecisionCore<A, Key> core_;
  const typename DecisionCore<A, Key>::Tables* in_memory_ = nullptr;  // the MemoryStorage binding's tables
};

namespace detail {

template <Algorithm A, class Key>
class MemoryBinding final : public Binding<A, Key> {
 public:
  MemoryBinding(DecisionCore<A, Key> core, std::shared_ptr<MemoryStorage<Key>> memory)
      : Binding<A, Key>{std::move(core)}, memory_{std::move(memory)}, tables_{this->core_.tables_in(*memory_)} {
    this->in_memory_ = &tables_;
  }

  Reservation reserve(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) override {
    return this->core_.reserve(tables_, key, cost, at, max_wait);
  }
  void cancel(const Key& key, const Reservation& reservation) override {
    this->core_.cancel(tables_, key, reservation);
  }

 private:
  std::shared_ptr<MemoryStorage<Key>> memory_;  // keeps the tables alive
  typename DecisionCore<A, Key>::Tables tables_;
};

template <Algorithm A, class Key>
class DecidingBinding final : public Binding<A, Key> {
 public:
  DecidingBinding(DecisionCore<A, Key> core, std::shared_ptr<RateStorage<Key>> owner, DecidingStorage<Key>& storage)
      : Binding<A, Key>{std::move(core)},
        owner_{std::move(owner)},
        bound_{storage.bind(this->core_.name(), std::string{A::name}, this->core_.limits())},
        fallback_{this->core_.fallback_for(storage)} {}

  Reservation reserve(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) override {
    try {
      return this->core_.accepted(bound_->decide(key, cost, at, max_wait), cost, at);
    } catch (const StorageError&) {
      return this->core_.failed(fallback_, key, cost, at, max_wait);
    }
  }
  void cancel(const Key& key, const Reservation& reservation) override {
    if (!this->core_.holds_capacity(reservation)) return;
    if (!reservation.remote) return this->core_.cancel(fallback_.tables, key, reservation);
    try {
      bound_->cancel(key, reservation.cost, reservation.storage_time);
    } catch (const StorageError&) {  // NOLINT(bugprone-empty-catch): the capacity stays taken, never oversubscribed
    }
  }

 private:
  std::shared_ptr<RateStorage<Key>> owner_;  // keeps the storage behind bound_ alive
  std::unique_ptr<typename DecidingStorage<Key>::Bound> bound_;
  typename DecisionCore<A, Key>::Fallback fallback_;
};

// The seed's path: lock the key, read, run a step, write what it says. The
// clock is read under the lock, so time never goes backwards for one key.
template <Algorithm A, class Key>
class SeedBinding final : public Binding<A, Key> {
 public:
  SeedBinding(DecisionCore<A, Key> core, std::shared_ptr<RateStorage<Key>> storage,
              std::shared_ptr<KeyMutex<Key>> mutex)
      : Binding<A, Key>{std::move(core)}, storage_{std::move(storage)}, mutex_{std::move(mutex)} {
    if (!mutex_) throw Error{"a limiter over a storage that cannot decide by itself needs a KeyMutex"};
  }

  Reservation reserve(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) override {
    Instant now{};
    auto step = locked(key, [&](const auto& policy, auto& state) {
      now = at ? *at : this->core_.clock().now();
      return this->core_.reserve_state(policy, state, now, cost, max_wait);
    });
    return this->core_.reservation_of(step, now, cost);
  }
  void cancel(const Key& key, const Reservation& reservation) override {
    if (!this->core_.holds_capacity(reservation)) return;
    locked(key, [&](const auto& policy, auto& state) { return this->core_.cancel_state(policy, state, reservation); });
  }

 private:
  template <class Run>
  typename DecisionCore<A, Key>::Step locked(const Key& key, Run&& run) {
    KeyLock<Key> lock = mutex_->guard(key);
    return this->core_.with_policy([&](const auto& policy) {
      auto state = state_of(policy, storage_->read(key));
      typename DecisionCore<A, Key>::Step step = run(policy, state);
      if (step.write) storage_->write(key, rate_of(policy, state), step.expires_after);
      return step;
    });
  }

  std::shared_ptr<RateStorage<Key>> storage_;
  std::shared_ptr<KeyMutex<Key>> mutex_;
};

template <Algorithm A, class Key>
class Binder final : public StorageBinder<Key> {
 public:
  Binder(DecisionCore<A, Key>& core, std::shared_ptr<RateStorage<Key>>& storage, std::shared_ptr<KeyMutex<Key>>& mutex)
      : core_{core}, storage_{storage}, mutex_{mutex} {}

  void bind(MemoryStorage<Key>& memory) override {
    bound = std::make_unique<MemoryBinding<A, Key>>(
        std::move(core_), std::shared_ptr<MemoryStorage<Key>>{storage_, &memory});  // aliases the owner
  }
  void bind(DecidingStorage<Key>& storage) override {
    bound = std::make_unique<DecidingBinding<A, Key>>(std::move(core_), storage_, storage);
  }
  void bind(RateStorage<Key>& /*storage*/) override {
    bound = std::make_unique<SeedBinding<A, Key>>(std::move(core_), storage_, std::move(mutex_));
  }

  std::unique_ptr<Binding<A, Key>> bound;

 private:
  DecisionCore<A, Key>& core_;
  std::shared_ptr<RateStorage<Key>>& storage_;
  std::shared_ptr<KeyMutex<Key>>& mutex_;
};

}  // namespace detail

// Binds `core`'s policy to `storage`: the storage says which kind it is.
// `mutex` is needed (and used) only by the seed's path. Throws Error when it
// is missing there or `storage` is null, RateError for limits the storage
// cannot keep.
template <Algorithm A, class Key>
std::shared_ptr<Binding<A, Key>> bind(DecisionCore<A, Key> core, std::shared_ptr<RateStorage<Key>> storage,
                                      std::shared_ptr<KeyMutex<Key>> mutex) {
  if (!storage) throw Error{"a limiter needs a storage"};
  detail::Binder<A, Key> binder{core, storage, mutex};
  storage->accept(binder);
  return std::move(binder.bound);
}

}  // namespace leaksnek
