// AsyncBinding: a policy bound to the asynchronous storage that keeps its
// state, the one object an AsyncLimiter talks to; the twin of Binding
// (limiters/binding.hpp). A MemoryStorage decides with no I/O: its binding
// hands the limiter the blocking Binding to call directly (in_process()).
// Otherwise bind() asks the storage what it is (AsyncRateStorage::accept): a
// storage that decides by itself (with the fallback for its failures), or the
// seed's AsyncRateStorage under an AsyncKeyMutex. None decides: DecisionCore
// does.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include <leaksnek/interfaces/mutexes/aio/key_mutex.hpp>
#include <leaksnek/interfaces/storages/aio/deciding_storage.hpp>
#include <leaksnek/interfaces/storages/aio/rate_storage.hpp>
#include <leaksnek/limiters/binding.hpp>
#include <leaksnek/limiters/decision_core.hpp>

namespace leaksnek {

// Every call is thread-safe, and the key passed by reference must outlive the
// awaited operation. Costs as Binding's.
template <Algorithm A, class Key>
class AsyncBinding {
 public:
  explicit AsyncBinding(DecisionCore<A, Key> core) : core_{std::move(core)} {}
  virtual ~AsyncBinding() = default;
  AsyncBinding(const AsyncBinding&) = delete;
  AsyncBinding& operator=(const AsyncBinding&) = delete;

  [[nodiscard]] const DecisionCore<A, Key>& core() const noexcept { return core_; }

  // The blocking binding when decisions need no I/O (a MemoryStorage): the
  // limiter then calls it directly, without a coroutine. Null otherwise.
  [[nodiscard]] virtual Binding<A, Key>* in_process() noexcept { return nullptr; }
  // One decision at `at` (or now), or, when max_wait > 0, a reservation
  // (pass one or the other). Throws
  // what the storage throws (a StorageError only when there is no fallback).
  virtual boost::asio::awaitable<Reservation> reserve(const Key& key, std::int64_t cost, std::optional<Instant> at,
                                                      Duration max_wait) = 0;
  // Gives back what a reservation of this binding holds (a cancelled wait);
  // failures as Binding::cancel.
  virtual boost::asio::awaitable<void> cancel(const Key& key, Reservation reservation) = 0;

 protected:
  DecisionCore<A, Key> core_;
};

namespace detail {

template <Algorithm A, class Key>
class AsyncMemoryBinding final : public AsyncBinding<A, Key> {
 public:
  AsyncMemoryBinding(DecisionCore<A, Key> core, std::shared_ptr<MemoryStorage<Key>> memory)
      : AsyncBinding<A, Key>{core}, memory_{std::move(core), std::move(memory)} {}

  Binding<A, Key>* in_process() noexcept override { return &memory_; }
  boost::asio::awaitable<Reservation> reserve(const Key& key, std::int64_t cost, std::optional<Instant> at,
                                              Duration max_wait) override {
    co_return memory_.reserve(key, cost, at, max_wait);
  }
  boost::asio::awaitable<void> cancel(const Key& key, Reservation reservation) override {
    memory_.cancel(key, reservation);
    co_return;
  }

 private:
  MemoryBinding<A, Key> memory_;
};

template <Algorithm A, class Key>
class AsyncDecidingBinding final : public AsyncBinding<A, Key> {
 public:
  AsyncDecidingBinding(DecisionCore<A, Key> core, std::shared_ptr<AsyncRateStorage<Key>> owner,
                       AsyncDecidingStorage<Key>& storage)
      : AsyncBinding<A, Key>{std::move(core)},
        owner_{std::move(owner)},
        bound_{storage.bind(this->core_.name(), std::string{A::name}, this->core_.limits())},
        fallback_{this->core_.fallback_for(storage)} {}

  boost::asio::awaitable<Reservation> reserve(const Key& key, std::int64_t cost, std::optional<Instant> at,
                                              Duration max_wait) override {
    Reservation reservation;
    bool failed = false;
    try {
      reservation = this->core_.accepted(co_await bound_->decide(key, cost, at, max_wait), cost, at);
    } catch (const StorageError&) {
      failed = true;  // decided outside the handler: no co_await may run in one
    }
    if (failed) reservation = this->core_.failed(fallback_, key, cost, at, max_wait);
    co_return reservation;
  }

  boost::asio::awaitable<void> cancel(const Key& key, Reservation reservation) override {
    if (!this->core_.holds_capacity(reservation)) co_return;
    if (!reservation.remote) {
      this->core_.cancel(fallback_.tables, key, reservation);
      co_return;
    }
    try {
      co_await bound_->cancel(key, reservation.cost, reservation.storage_time);
    } catch (const StorageError&) {  // NOLINT(bugprone-empty-catch): the capacity stays taken, never oversubscribed
    }
  }

 private:
  std::shared_ptr<AsyncRateStorage<Key>> owner_;  // keeps the storage behind bound_ alive
  std::unique_ptr<typename AsyncDecidingStorage<Key>::Bound> bound_;
  typename DecisionCore<A, Key>::Fallback fallback_;
};

// The seed's path: lock, read, run a step, write what it says, unlock.
template <Algorithm A, class Key>
class AsyncSeedBinding final : public AsyncBinding<A, Key> {
 public:
  using Core = DecisionCore<A, Key>;

  AsyncSeedBinding(Core core, std::shared_ptr<AsyncRateStorage<Key>> storage, std::shared_ptr<AsyncKeyMutex<Key>> mutex)
      : AsyncBinding<A, Key>{std::move(core)}, storage_{std::move(storage)}, mutex_{std::move(mutex)} {
    if (!mutex_) {
      throw Error{"an async limiter over an AsyncRateStorage that cannot decide by itself needs an AsyncKeyMutex"};
    }
  }

  boost::asio::awaitable<Reservation> reserve(const Key& key, std::int64_t cost, std::optional<Instant> at,
                                              Duration max_wait) override {
    return this->core_.with_policy([&](const auto& policy) { return reserve_with(policy, key, cost, at, max_wait); });
  }

  boost::asio::awaitable<void> cancel(const Key& key, Reservation reservation) override {
    if (!Core::holds_capacity(reservation)) return nothing();
    return this->core_.with_policy([&](const auto& policy) { return cancel_with(policy, key, reservation); });
  }

 private:
  static boost::asio::awaitable<void> nothing() { co_return; }

  template <class Policy>
  boost::asio::awaitable<Reservation> reserve_with(const Policy& policy, const Key& key, std::int64_t cost,
                                                   std::optional<Instant> at, Duration max_wait) {
    AsyncKeyLock<Key> lock = co_await AsyncKeyMutex<Key>::guard(mutex_, key);
    typename Policy::State state = co_await load(policy, key);
    const Instant now = at ? *at : this->core_.clock().now();
    typename Core::Step step = Core::reserve_state(policy, state, now, cost, max_wait);
    if (step.write) co_await store(policy, key, state, step.expires_after);
    co_return Core::reservation_of(step, now, cost);
  }

  template <class Policy>
  boost::asio::awaitable<void> cancel_with(const Policy& policy, const Key& key, Reservation reservation) {
    AsyncKeyLock<Key> lock = co_await AsyncKeyMutex<Key>::guard(mutex_, key);
    typename Policy::State state = co_await load(policy, key);
    typename Core::Step step = Core::cancel_state(policy, state, reservation);
    co_await store(policy, key, state, step.expires_after);
  }

  template <class Policy>
  boost::asio::awaitable<typename Policy::State> load(const Policy& policy, const Key& key) {
    co_return state_of(policy, co_await storage_->read(key));
  }

  template <class Policy>
  boost::asio::awaitable<void> store(const Policy& policy, const Key& key, const typename Policy::State& state,
                                     Duration expires_after) {
    co_await storage_->write(key, rate_of(policy, state), expires_after);
  }

  std::shared_ptr<AsyncRateStorage<Key>> storage_;
  std::shared_ptr<AsyncKeyMutex<Key>> mutex_;
};

template <Algorithm A, class Key>
class AsyncBinder final : public AsyncStorageBinder<Key> {
 public:
  AsyncBinder(DecisionCore<A, Key>& core, std::shared_ptr<AsyncRateStorage<Key>>& storage,
              std::shared_ptr<AsyncKeyMutex<Key>>& mutex)
      : core_{core}, storage_{storage}, mutex_{mutex} {}

  void bind(AsyncDecidingStorage<Key>& storage) override {
    bound = std::make_shared<AsyncDecidingBinding<A, Key>>(std::move(core_), storage_, storage);
  }
  void bind(AsyncRateStorage<Key>& /*storage*/) override {
    bound = std::make_shared<AsyncSeedBinding<A, Key>>(std::move(core_), storage_, std::move(mutex_));
  }

  std::shared_ptr<AsyncBinding<A, Key>> bound;

 private:
  DecisionCore<A, Key>& core_;
  std::shared_ptr<AsyncRateStorage<Key>>& storage_;
  std::shared_ptr<AsyncKeyMutex<Key>>& mutex_;
};

}  // namespace detail

// Binds `core`'s policy to a MemoryStorage (no mutex needed).
template <Algorithm A, class Key>
std::shared_ptr<AsyncBinding<A, Key>> bind(DecisionCore<A, Key> core, std::shared_ptr<MemoryStorage<Key>> memory) {
  if (!memory) throw Error{"an async limiter needs a storage"};
  return std::make_shared<detail::AsyncMemoryBinding<A, Key>>(std::move(core), std::move(memory));
}

// Binds `core`'s policy to an asynchronous storage, which says which kind it
// is; `mutex` is needed (and used) only by the seed's path. Throws Error when
// it is missing there or `storage` is null, RateError for limits the storage
// cannot keep.
template <Algorithm A, class Key>
std::shared_ptr<AsyncBinding<A, Key>> bind(DecisionCore<A, Key> core, std::shared_ptr<AsyncRateStorage<Key>> storage,
                                           std::shared_ptr<AsyncKeyMutex<Key>> mutex) {
  if (!storage) throw Error{"an async limiter needs a storage"};
  detail::AsyncBinder<A, Key> binder{core, storage, mutex};
  storage->accept(binder);
  return std::move(binder.bound);
}

}  // namespace leaksnek
