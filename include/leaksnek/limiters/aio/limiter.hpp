// AsyncLimiter: every algorithm's limiter on Boost.Asio, the asynchronous
// driver of DecisionCore (which makes every decision, as for Limiter);
// waiting (acquire) suspends on an Asio timer, so no thread sleeps and
// nothing polls.
//
// Over a MemoryStorage a decision is one step inside the storage, completed
// through the executor. Over an AsyncDecidingStorage (AsyncRedisStorage) it is
// one call that decides in the storage (one round trip), and the storage's
// OnStorageError policy decides when the storage fails. Over the seed's
// AsyncRateStorage + AsyncKeyMutex the limiter locks the key, reads, decides
// and writes with coroutines, as the seed does.
//
// Every operation takes a completion token: a callback, use_future,
// use_awaitable, deferred (the default: `co_await limiter.acquire(...)` in an
// asio::awaitable coroutine), detached. The handler is never invoked inline;
// it runs on its associated executor (default: the limiter's).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <leaksnek/algorithms/algorithm.hpp>
#include <leaksnek/async_error.hpp>
#include <leaksnek/interfaces/mutexes/aio/key_mutex.hpp>
#include <leaksnek/interfaces/storages/aio/deciding_storage.hpp>
#include <leaksnek/interfaces/storages/aio/rate_storage.hpp>
#include <leaksnek/limiters/decision_core.hpp>

namespace leaksnek {

// One limit or several (all-or-nothing), as a limiter is built with.
struct Limits {
  Limits(const RateLimit& limit) : list{limit} {}                     // NOLINT(google-explicit-constructor)
  Limits(std::vector<RateLimit> limits) : list{std::move(limits)} {}  // NOLINT(google-explicit-constructor)
  Limits(std::initializer_list<RateLimit> limits) : list{limits} {}
  std::vector<RateLimit> list;
};

template <Algorithm A, class Key>
class AsyncLimiter {
 public:
  using executor_type = boost::asio::any_io_executor;
  using error_code = boost::system::error_code;

  // Over a MemoryStorage (no mutex needed). `clock` is read for every
  // decision; waits run on steady timers. The policy is named
  // default_policy_name(algorithm, limits), as Limiter's. Throws as Limiter does.
  AsyncLimiter(executor_type executor, Limits limits, std::shared_ptr<MemoryStorage<Key>> storage, ClockRef clock = {})
      : AsyncLimiter{std::move(executor), std::string{}, std::move(limits), std::move(storage), clock} {}

  // Over an AsyncDecidingStorage (AsyncRedisStorage): no mutex needed (one
  // given is not used). Over the seed's asynchronous interfaces, your
  // storage and mutex. Throws Error when a needed mutex is missing,
  // RateError for a limit the algorithm (or the storage) refuses.
  AsyncLimiter(executor_type executor, Limits limits, std::shared_ptr<AsyncRateStorage<Key>> storage,
               std::shared_ptr<AsyncKeyMutex<Key>> mutex = nullptr, ClockRef clock = {})
      : AsyncLimiter{std::move(executor), std::string{},    std::move(limits),
                     std::move(storage),  std::move(mutex), clock} {}

  // The same for a named policy: its state lives under `name`, as Limiter's
  // (an empty name: default_policy_name()).
  AsyncLimiter(executor_type executor, std::string name, Limits limits, std::shared_ptr<MemoryStorage<Key>> storage,
               ClockRef clock = {})
      : impl_{make_impl(std::move(executor), std::move(name), std::move(limits.list), clock, std::move(storage),
                        nullptr, nullptr)} {}

  AsyncLimiter(executor_type executor, std::string name, Limits limits, std::shared_ptr<AsyncRateStorage<Key>> storage,
               std::shared_ptr<AsyncKeyMutex<Key>> mutex = nullptr, ClockRef clock = {})
      : impl_{make_impl(std::move(executor), std::move(name), std::move(limits.list), clock, nullptr,
                        std::move(storage), std::move(mutex))} {}

  [[nodiscard]] executor_type get_executor() const noexcept { return impl_->executor; }

  // Lifetimes, for every operation below: the key is copied; the operation
  // shares ownership of the limiter's state, its storage and its mutex, so the
  // AsyncLimiter object may be destroyed (or copied: copies share state)
  // while operations are pending. Throws CostError at once if cost < 1. The
  // handler is never invoked inline; it runs on its associated executor
  // (default: the limiter's). An error is set only when a storage failed
  // (errc::storage_failed, errc::malformed_state or the storage's own code) or
  // the wait was cancelled: a denial is a Decision.

  // Decides now whether `key` may spend `cost`; consumes it if so. Completion
  // signature void(error_code, Decision). Cancellation: over a MemoryStorage
  // there is nothing to cancel; over the seed's interfaces a cancellation is
  // recorded but not passed to the storage mid-decision (terminal, partial,
  // total).
  template <class Token = boost::asio::deferred_t>
  auto try_acquire(Key key, std::int64_t cost = 1, Token&& token = {}) {
    detail::check_cost(cost);
    return start<Decision>(std::forward<Token>(token), std::move(key), cost, Duration{0});
  }

  // try_acquire at an explicit time instead of the clock's, as
  // Limiter::try_acquire_at (over a MemoryStorage, raised to the latest time
  // the key's shard has seen; over Redis, floored to a microsecond).
  // Completion signature void(error_code, Decision); cancellation as try_acquire.
  template <class Token = boost::asio::deferred_t>
  auto try_acquire_at(Key key, std::int64_t cost, Instant now, Token&& token = {}) {
    detail::check_cost(cost);
    return start<Decision>(std::forward<Token>(token), std::move(key), cost, Duration{0}, now);
  }

  // The seed's call: completes with true when one more request for `key` is
  // over the limit (nothing consumed) or when the storage failed, false when
  // allowed (and consumed). Completion signature void(error_code, bool).
  // Cancellation as try_acquire.
  template <class Token = boost::asio::deferred_t>
  auto limit_exceeded(Key key, Token&& token = {}) {
    return start<bool>(std::forward<Token>(token), std::move(key), 1, Duration{0});
  }

  // Like try_acquire, but when the request is denied and fits within
  // `max_wait`, books it and completes when that time comes (shaping);
  // waiters on a key complete in arrival order. Completion signature
  // void(error_code, Decision). Per-operation cancellation (terminal, partial
  // or total; e.g. bind_cancellation_slot, or a timeout with
  // awaitable_operators): the wait ends at once with error::operation_aborted
  // and a denied Decision, and the booked capacity is given back; this holds
  // too when the cancellation races with the end of the wait.
  template <class Token = boost::asio::deferred_t>
  auto acquire(Key key, std::int64_t cost, Duration max_wait, Token&& token = {}) {
    detail::check_cost(cost);
    return start<Decision>(std::forward<Token>(token), std::move(key), cost, max_wait);
  }

 private:
  template <class T>
  using Outcome = std::tuple<error_code, T>;

  // What operations share: the decision core and the storage it drives.
  struct Impl {
    Impl(executor_type e, std::string name, std::vector<RateLimit> limits, ClockRef clock,
         std::shared_ptr<MemoryStorage<Key>> m, std::shared_ptr<AsyncRateStorage<Key>> s,
         std::shared_ptr<AsyncKeyMutex<Key>> x)
        : executor{std::move(e)},
          memory{std::move(m)},
          storage{std::move(s)},
          mutex{std::move(x)},
          deciding{dynamic_cast<AsyncDecidingStorage<Key>*>(storage.get())},
          core{std::move(name), std::move(limits), clock, memory.get(), deciding} {}

    executor_type executor;
    std::shared_ptr<MemoryStorage<Key>> memory;  // keeps the core's tables alive
    std::shared_ptr<AsyncRateStorage<Key>> storage;
    std::shared_ptr<AsyncKeyMutex<Key>> mutex;
    AsyncDecidingStorage<Key>* deciding;  // storage, when it decides by itself
    DecisionCore<A, Key> core;
    // The last timer expiry armed: each new one is at least 1 ns later, so
    // waiters booked for the same instant still complete in reservation order
    // (Asio's timer queue does not keep equal expiries in order).
    std::mutex expiry_mutex;
    std::chrono::steady_clock::time_point last_expiry{};

    // The steady-clock expiry for `until` on the limiter's clock.
    std::chrono::steady_clock::time_point expiry_for(Instant until) {
      auto expiry = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(until - core.clock().now());
      std::lock_guard lock{expiry_mutex};
      expiry = std::max(expiry, last_expiry + std::chrono::nanoseconds{1});
      last_expiry = expiry;
      return expiry;
    }
  };

  static std::shared_ptr<Impl> make_impl(executor_type executor, std::string name, std::vector<RateLimit> limits,
                                         ClockRef clock, std::shared_ptr<MemoryStorage<Key>> memory,
                                         std::shared_ptr<AsyncRateStorage<Key>> storage,
                                         std::shared_ptr<AsyncKeyMutex<Key>> mutex) {
    if (!memory && !storage) throw Error{"an async limiter needs a storage"};
    if (name.empty()) name = default_policy_name(A::name, limits);
    auto impl = std::make_shared<Impl>(std::move(executor), std::move(name), std::move(limits), clock,
                                       std::move(memory), std::move(storage), std::move(mutex));
    if (!impl->core.in_memory() && impl->deciding == nullptr && !impl->mutex) {
      throw Error{"an async limiter over an AsyncRateStorage that cannot decide by itself needs an AsyncKeyMutex"};
    }
    return impl;
  }

  static Decision result_as(const Decision& decision, Decision*) { return decision; }
  static bool result_as(const Decision& decision, bool*) { return !decision.allowed; }  // limit_exceeded
  static Decision failed_as(Decision*) { return Decision{}; }
  static bool failed_as(bool*) { return true; }  // a failure never reads as "allowed"

  static Decision cancelled(Decision booked, Duration left) {
    booked.allowed = false;
    booked.retry_after = std::max(left, Duration{0});
    return booked;
  }

  // The MemoryStorage path without a coroutine: book in one step, then either
  // complete through the executor or wait on a timer that the token's
  // cancellation slot can abort (any cancellation type).
  template <class T>
  struct InMemoryOp {
    std::shared_ptr<Impl> impl;
    Key key;
    std::int64_t cost;
    Duration max_wait;
    std::optional<Instant> at;  // an explicit time (then max_wait is zero)
    Reservation reservation{};
    std::unique_ptr<boost::asio::steady_timer> timer{};
    enum class Stage { start, completing, waiting } stage = Stage::start;

    template <class Self>
    void operator()(Self& self, error_code error = {}) {
      switch (stage) {
        case Stage::start:
          self.reset_cancellation_state(boost::asio::enable_total_cancellation());
          if (max_wait > Duration{0}) {
            reservation = impl->core.reserve(key, cost, max_wait);
          } else {
            reservation.decision = impl->core.decide(key, cost, at);
          }
          if (reservation.wait > Duration{0}) {
            stage = Stage::waiting;
            timer = std::make_unique<boost::asio::steady_timer>(impl->executor, impl->expiry_for(reservation.until));
            timer->async_wait(std::move(self));
            return;
          }
          stage = Stage::completing;
          boost::asio::post(impl->executor, std::move(self));  // never complete inline
          return;
        case Stage::completing:
          self.complete(error_code{}, result_as(reservation.decision, static_cast<T*>(nullptr)));
          return;
        case Stage::waiting:
          // A cancellation that came as the timer fired still cancels: the
          // caller will not use the slot, so it is given back.
          if (!error && self.cancelled() == boost::asio::cancellation_type::none) {
            self.complete(error_code{}, result_as(reservation.decision, static_cast<T*>(nullptr)));
            return;
          }
          impl->core.cancel(key, reservation);
          self.complete(boost::asio::error::operation_aborted,
                        result_as(cancelled(reservation.decision, reservation.until - impl->core.clock().now()),
                                  static_cast<T*>(nullptr)));
          return;
      }
    }
  };

  // Starts an operation completing with void(error_code, T): the composed
  // operation over a MemoryStorage, else a coroutine over the seed's interfaces.
  template <class T, class Token>
  auto start(Token&& token, Key key, std::int64_t cost, Duration max_wait, std::optional<Instant> at = std::nullopt) {
    return boost::asio::async_initiate<Token, void(error_code, T)>(
        [impl = impl_](auto handler, Key op_key, std::int64_t op_cost, Duration op_max_wait,
                       std::optional<Instant> op_at) {
          if (impl->core.in_memory()) {
            boost::asio::async_compose<decltype(handler), void(error_code, T)>(
                InMemoryOp<T>{impl, std::move(op_key), op_cost, op_max_wait, op_at}, handler, impl->executor);
          } else if constexpr (std::is_same_v<T, bool>) {
            launch<T>(impl, std::move(handler), exceeded(impl, std::move(op_key)));
          } else {
            launch<T>(impl, std::move(handler), decide(impl, std::move(op_key), op_cost, op_max_wait, op_at));
          }
        },
        token, std::move(key), cost, max_wait, at);
  }

  static error_code error_of(const std::exception_ptr& error) {
    try {
      std::rethrow_exception(error);
    } catch (const StateError&) {
      return make_error_code(errc::malformed_state);
    } catch (const boost::system::system_error& failure) {
      return failure.code();
    } catch (...) {
      return make_error_code(errc::storage_failed);
    }
  }

  // Runs `body` as a coroutine on the handler's executor (so it is serialized
  // with the caller, e.g. on its strand) and completes the handler with
  // void(error_code, T); the handler's cancellation slot reaches the coroutine.
  template <class T, class Handler>
  static void launch(const std::shared_ptr<Impl>& impl, Handler handler, boost::asio::awaitable<Outcome<T>> body) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    auto handler_executor = boost::asio::get_associated_executor(handler, impl->executor);
    auto complete = [handler = std::move(handler)](const std::exception_ptr& error, Outcome<T> outcome) mutable {
      if (error) {
        std::move(handler)(error_of(error), failed_as(static_cast<T*>(nullptr)));
      } else {
        std::move(handler)(std::get<0>(outcome), std::move(std::get<1>(outcome)));
      }
    };
    boost::asio::co_spawn(handler_executor, std::move(body),
                          boost::asio::bind_cancellation_slot(slot, std::move(complete)));
  }

  static boost::asio::awaitable<Outcome<bool>> exceeded(std::shared_ptr<Impl> impl, Key key) {
    auto [error, decision] = co_await decide(std::move(impl), std::move(key), 1, Duration{0});
    co_return Outcome<bool>{error, error ? true : !decision.allowed};
  }

  static boost::asio::awaitable<Outcome<Decision>> decide(std::shared_ptr<Impl> impl, Key key, std::int64_t cost,
                                                          Duration max_wait, std::optional<Instant> at = std::nullopt) {
    if (impl->deciding) co_return co_await decide_one_step(std::move(impl), std::move(key), cost, max_wait, at);
    if (const auto* single = impl->core.single()) {
      co_return co_await decide_in_storage(impl, *single, std::move(key), cost, max_wait, at);
    }
    co_return co_await decide_in_storage(impl, *impl->core.multi(), std::move(key), cost, max_wait, at);
  }

  // The seed's path: lock, read, decide, write, then wait if booked. A
  // cancellation during the reservation is recorded but not passed on to the
  // storage (so a half-done write cannot leak a reservation); it is acted on
  // before and during the wait, and a cancelled reservation is given back under
  // the lock again.
  template <class Policy>
  static boost::asio::awaitable<Outcome<Decision>> decide_in_storage(std::shared_ptr<Impl> impl, const Policy& policy,
                                                                     Key key, std::int64_t cost, Duration max_wait,
                                                                     std::optional<Instant> at) {
    namespace this_coro = boost::asio::this_coro;
    co_await this_coro::throw_if_cancelled(false);
    co_await this_coro::reset_cancellation_state(
        boost::asio::enable_total_cancellation(),
        [](boost::asio::cancellation_type) { return boost::asio::cancellation_type::none; });
    using Core = DecisionCore<A, Key>;
    Reservation reservation;
    reservation.cost = cost;
    {
      AsyncKeyLock<Key> lock = co_await AsyncKeyMutex<Key>::guard(impl->mutex, key);
      typename Policy::State state = co_await load(*impl, policy, key);
      const Instant now = at ? *at : impl->core.clock().now();
      typename Core::Step step = Core::reserve_state(policy, state, now, cost, max_wait);
      reservation.decision = step.reserved.decision;
      reservation.wait = step.reserved.wait;
      reservation.until = now + step.reserved.wait;
      if (step.write) co_await store(*impl, policy, key, state, step.expires_after);
    }
    if (reservation.wait <= Duration{0}) co_return Outcome<Decision>{error_code{}, reservation.decision};

    bool waited = co_await wait_until(*impl, reservation.until);
    if (waited) co_return Outcome<Decision>{error_code{}, reservation.decision};
    if (Core::holds_capacity(reservation)) {
      AsyncKeyLock<Key> lock = co_await AsyncKeyMutex<Key>::guard(impl->mutex, key);
      typename Policy::State state = co_await load(*impl, policy, key);
      typename Core::Step step = Core::cancel_state(policy, state, reservation);
      co_await store(*impl, policy, key, state, step.expires_after);
    }
    co_return Outcome<Decision>{boost::asio::error::operation_aborted,
                                cancelled(reservation.decision, reservation.until - impl->core.clock().now())};
  }

  // Waits on a steady timer until `until` on the limiter's clock; false when
  // cancelled (before or during the wait). Leaves cancellation recorded but
  // not acted on, as the caller found it.
  static boost::asio::awaitable<bool> wait_until(Impl& impl, Instant until) {
    namespace this_coro = boost::asio::this_coro;
    auto cancellation = co_await this_coro::cancellation_state;
    bool waited = cancellation.cancelled() == boost::asio::cancellation_type::none;
    if (waited) {
      co_await this_coro::reset_cancellation_state(boost::asio::enable_total_cancellation());
      boost::asio::steady_timer timer{co_await this_coro::executor, impl.expiry_for(until)};
      auto [error] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      cancellation = co_await this_coro::cancellation_state;
      waited = !error && cancellation.cancelled() == boost::asio::cancellation_type::none;
      co_await this_coro::reset_cancellation_state(
          boost::asio::enable_total_cancellation(),
          [](boost::asio::cancellation_type) { return boost::asio::cancellation_type::none; });
    }
    co_return waited;
  }

  // The one-step path: one call to the storage (or, when it fails, the storage's
  // OnStorageError policy), then wait if booked. Cancellation as the seed's
  // path: a cancelled reservation is given back in the storage.
  static boost::asio::awaitable<Outcome<Decision>> decide_one_step(std::shared_ptr<Impl> impl, Key key,
                                                                   std::int64_t cost, Duration max_wait,
                                                                   std::optional<Instant> at) {
    namespace this_coro = boost::asio::this_coro;
    co_await this_coro::throw_if_cancelled(false);
    co_await this_coro::reset_cancellation_state(
        boost::asio::enable_total_cancellation(),
        [](boost::asio::cancellation_type) { return boost::asio::cancellation_type::none; });
    const StorageRequest request = impl->core.request(cost, at, max_wait);
    Reservation reservation;
    bool failed = false;
    try {
      reservation = impl->core.accepted(co_await impl->deciding->decide(key, request), cost, at);
    } catch (const StorageError&) {
      failed = true;
    }
    if (failed) reservation = impl->core.failed(key, cost, at, max_wait);
    if (reservation.wait <= Duration{0}) co_return Outcome<Decision>{error_code{}, reservation.decision};
    if (co_await wait_until(*impl, reservation.until)) co_return Outcome<Decision>{error_code{}, reservation.decision};
    if (reservation.remote) {
      try {
        co_await impl->deciding->cancel(key, request, reservation.storage_time);
      } catch (const StorageError&) {  // NOLINT(bugprone-empty-catch): the capacity stays taken, never oversubscribed
      }
    } else {
      impl->core.cancel_local(key, reservation);
    }
    co_return Outcome<Decision>{boost::asio::error::operation_aborted,
                                cancelled(reservation.decision, reservation.until - impl->core.clock().now())};
  }

  template <class Policy>
  static boost::asio::awaitable<typename Policy::State> load(Impl& impl, const Policy& policy, const Key& key) {
    co_return state_of(policy, co_await impl.storage->read(key));
  }

  template <class Policy>
  static boost::asio::awaitable<void> store(Impl& impl, const Policy& policy, const Key& key,
                                            const typename Policy::State& state, Duration expires_after) {
    co_await impl.storage->write(key, rate_of(policy, state), expires_after);
  }

  std::shared_ptr<Impl> impl_;
};

}  // namespace leaksnek
