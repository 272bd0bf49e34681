// AsyncLimiter: every algorithm's limiter on Boost.Asio, the asynchronous
// driver of one AsyncBinding (aio/binding.hpp): its policy bound to the
// storage, with DecisionCore making every decision, as for Limiter. Waiting
// (acquire) suspends on an Asio timer, so no thread sleeps and nothing polls.
// It offers Limiter's operations: try_acquire, try_acquire_at,
// limit_exceeded, reserve, cancel and acquire.
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
#include <leaksnek/limiters/aio/binding.hpp>
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
      : impl_{std::make_shared<Impl>(std::move(executor),
                                     bind(core(std::move(name), std::move(limits.list), clock), std::move(storage)))} {}

  AsyncLimiter(executor_type executor, std::string name, Limits limits, std::shared_ptr<AsyncRateStorage<Key>> storage,
               std::shared_ptr<AsyncKeyMutex<Key>> mutex = nullptr, ClockRef clock = {})
      : impl_{std::make_shared<Impl>(std::move(executor), bind(core(std::move(name), std::move(limits.list), clock),
                                                               std::move(storage), std::move(mutex)))} {}

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

  // A reserved request (see DecisionCore), as Limiter::reserve returns it.
  using Reservation = leaksnek::Reservation;

  // Decides now, and when denied but the request fits within `max_wait`,
  // reserves it for the time it fits and completes at once, without
  // waiting: the caller proceeds at reservation.until (on the limiter's
  // clock) or calls cancel(); as Limiter::reserve. acquire() is reserve()
  // and a wait. Completion signature void(error_code, Reservation); a
  // cancellation is recorded but not passed to the storage mid-decision.
  template <class Token = boost::asio::deferred_t>
  auto reserve(Key key, std::int64_t cost, Duration max_wait, Token&& token = {}) {
    detail::check_cost(cost);
    return boost::asio::async_initiate<Token, void(error_code, Reservation)>(
        [impl = impl_](auto handler, Key op_key, std::int64_t op_cost, Duration op_max_wait) {
          launch<Reservation>(impl, std::move(handler), reserve_only(impl, std::move(op_key), op_cost, op_max_wait));
        },
        token, std::move(key), cost, max_wait);
  }

  // Gives a reservation's capacity back, for a caller that will not proceed;
  // as Limiter::cancel (call it before reservation.until). Completion
  // signature void(error_code). Over an AsyncDecidingStorage a storage
  // failure leaves the capacity taken (never oversubscribed) and is no
  // error; over the seed's interfaces it is errc::storage_failed.
  template <class Token = boost::asio::deferred_t>
  auto cancel(Key key, Reservation reservation, Token&& token = {}) {
    return boost::asio::async_initiate<Token, void(error_code)>(
        [impl = impl_](auto handler, Key op_key, Reservation op_reservation) {
          auto handler_executor = boost::asio::get_associated_executor(handler, impl->executor);
          boost::asio::co_spawn(handler_executor, cancel_only(impl, std::move(op_key), op_reservation),
                                [handler = std::move(handler)](const std::exception_ptr& error) mutable {
                                  std::move(handler)(error ? error_of(error) : error_code{});
                                });
        },
        token, std::move(key), reservation);
  }

 private:
  template <class T>
  using Outcome = std::tuple<error_code, T>;

  // What operations share: the policy bound to its storage.
  struct Impl {
    Impl(executor_type e, std::shared_ptr<AsyncBinding<A, Key>> b) : executor{std::move(e)}, binding{std::move(b)} {}

    executor_type executor;
    std::shared_ptr<AsyncBinding<A, Key>> binding;
    // The last timer expiry armed: each new one is at least 1 ns later, so
    // waiters booked for the same instant still complete in reservation order
    // (Asio's timer queue does not keep equal expiries in order).
    std::mutex expiry_mutex;
    std::chrono::steady_clock::time_point last_expiry{};

    [[nodiscard]] ClockRef clock() const noexcept { return binding->core().clock(); }

    // The steady-clock expiry for `until` on the limiter's clock.
    std::chrono::steady_clock::time_point expiry_for(Instant until) {
      auto expiry = std::chrono::steady_clock::now() +
                    std::chrono::duration_cast<std::chrono::steady_clock::duration>(until - clock().now());
      std::lock_guard lock{expiry_mutex};
      expiry = std::max(expiry, last_expiry + std::chrono::nanoseconds{1});
      last_expiry = expiry;
      return expiry;
    }
  };

  // An empty name: default_policy_name(), as Limiter's.
  static DecisionCore<A, Key> core(std::string name, std::vector<RateLimit> limits, ClockRef clock) {
    if (name.empty()) name = default_policy_name(A::name, limits);
    return DecisionCore<A, Key>{std::move(name), std::move(limits), clock};
  }

  static Decision result_as(const Decision& decision, Decision*) { return decision; }
  static bool result_as(const Decision& decision, bool*) { return !decision.allowed; }  // limit_exceeded
  static Decision failed_as(Decision*) { return Decision{}; }
  static Reservation failed_as(Reservation*) { return Reservation{}; }
  static bool failed_as(bool*) { return true; }  // a failure never reads as "allowed"

  static Decision cancelled(Decision booked, Duration left) {
    booked.allowed = false;
    booked.retry_after = std::max(left, Duration{0});
    return booked;
  }

  // The in-process path (a MemoryStorage) without a coroutine: reserve in one
  // step, then either complete through the executor or wait on a timer that
  // the token's cancellation slot can abort (any cancellation type).
  template <class T>
  struct InMemoryOp {
    std::shared_ptr<Impl> impl;
    Binding<A, Key>* binding;  // impl->binding->in_process()
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
          reservation = binding->reserve(key, cost, at, max_wait);
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
          binding->cancel(key, reservation);
          self.complete(boost::asio::error::operation_aborted,
                        result_as(cancelled(reservation.decision, reservation.until - impl->clock().now()),
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
          if (Binding<A, Key>* in_process = impl->binding->in_process()) {
            boost::asio::async_compose<decltype(handler), void(error_code, T)>(
                InMemoryOp<T>{impl, in_process, std::move(op_key), op_cost, op_max_wait, op_at}, handler,
                impl->executor);
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

  // Through the binding: reserve, then wait if reserved. A cancellation
  // during the reservation is recorded but not passed on to the storage (so
  // a half-done write cannot leak a reservation); it is acted on before and
  // during the wait, and a cancelled reservation is given back.
  static boost::asio::awaitable<Outcome<Decision>> decide(std::shared_ptr<Impl> impl, Key key, std::int64_t cost,
                                                          Duration max_wait, std::optional<Instant> at = std::nullopt) {
    namespace this_coro = boost::asio::this_coro;
    co_await this_coro::throw_if_cancelled(false);
    co_await this_coro::reset_cancellation_state(
        boost::asio::enable_total_cancellation(),
        [](boost::asio::cancellation_type) { return boost::asio::cancellation_type::none; });
    Reservation reservation = co_await impl->binding->reserve(key, cost, at, max_wait);
    if (reservation.wait <= Duration{0}) co_return Outcome<Decision>{error_code{}, reservation.decision};
    if (co_await wait_until(*impl, reservation.until)) co_return Outcome<Decision>{error_code{}, reservation.decision};
    co_await impl->binding->cancel(key, reservation);
    co_return Outcome<Decision>{boost::asio::error::operation_aborted,
                                cancelled(reservation.decision, reservation.until - impl->clock().now())};
  }

  static boost::asio::awaitable<Outcome<Reservation>> reserve_only(std::shared_ptr<Impl> impl, Key key,
                                                                   std::int64_t cost, Duration max_wait) {
    namespace this_coro = boost::asio::this_coro;
    co_await this_coro::throw_if_cancelled(false);
    co_await this_coro::reset_cancellation_state(
        boost::asio::enable_total_cancellation(),
        [](boost::asio::cancellation_type) { return boost::asio::cancellation_type::none; });
    Reservation reservation = co_await impl->binding->reserve(key, cost, std::nullopt, max_wait);
    co_return Outcome<Reservation>{error_code{}, reservation};
  }

  static boost::asio::awaitable<void> cancel_only(std::shared_ptr<Impl> impl, Key key, Reservation reservation) {
    co_await impl->binding->cancel(key, reservation);
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

  std::shared_ptr<Impl> impl_;
};

}  // namespace leaksnek
