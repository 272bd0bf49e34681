// AsyncLimiter: every algorithm's limiter on Boost.Asio. The same decisions
// as Limiter; waiting (acquire) suspends on an Asio timer, so no thread
// sleeps and nothing polls.
//
// Over a MemoryStorage a decision is one step inside the storage, completed
// through the executor. Over the seed's AsyncRateStorage + AsyncKeyMutex the
// limiter locks the key, reads, decides and writes with coroutines, as the
// seed does.
//
// Every operation takes a completion token: a callback, use_future,
// use_awaitable, deferred (the default: `co_await limiter.acquire(...)` in an
// asio::awaitable coroutine), detached. The handler is never invoked inline;
// it runs on its associated executor (default: the limiter's).
#pragma once

#include <cstdint>
#include <exception>
#include <initializer_list>
#include <memory>
#include <optional>
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

#include <leaksnek/algorithms/fixed_window.hpp>
#include <leaksnek/algorithms/gcra.hpp>
#include <leaksnek/algorithms/leaky_bucket.hpp>
#include <leaksnek/algorithms/sliding_log.hpp>
#include <leaksnek/algorithms/sliding_window.hpp>
#include <leaksnek/algorithms/token_bucket.hpp>
#include <leaksnek/asio/async_key_mutex.hpp>
#include <leaksnek/asio/async_rate_storage.hpp>
#include <leaksnek/asio/error.hpp>
#include <leaksnek/limiters/limiter.hpp>

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

  // Over a MemoryStorage (no mutex needed). `clock` is read for every decision;
  // waits run on steady timers. Throws as Limiter does.
  AsyncLimiter(executor_type executor, Limits limits, std::shared_ptr<MemoryStorage<Key>> storage, ClockRef clock = {})
      : executor_{std::move(executor)}, clock_{clock} {
    memory_.emplace(limits.list, std::move(storage), nullptr, clock);
  }

  // Over the seed's asynchronous interfaces: your storage and mutex.
  AsyncLimiter(executor_type executor, Limits limits, std::shared_ptr<AsyncRateStorage<Key>> storage,
               std::shared_ptr<AsyncKeyMutex<Key>> mutex, ClockRef clock = {})
      : executor_{std::move(executor)}, clock_{clock}, storage_{std::move(storage)}, mutex_{std::move(mutex)} {
    if (!storage_ || !mutex_) throw Error{"an async limiter over an AsyncRateStorage needs an AsyncKeyMutex"};
    if (limits.list.size() == 1) {
      single_.emplace(limits.list.front());
    } else {
      multi_.emplace(limits.list);
    }
  }

  [[nodiscard]] executor_type get_executor() const noexcept { return executor_; }

  // Decides now whether `key` may spend `cost`; consumes it if so. Completion
  // signature void(error_code, Decision); the error is set only when the
  // storage failed (a denial is a Decision). Throws CostError at once if
  // cost < 1. Cancellation: none needed, it never waits on the limit.
  template <class Token = boost::asio::deferred_t>
  auto try_acquire(Key key, std::int64_t cost = 1, Token&& token = {}) {
    detail::check_cost(cost);
    return start<Decision>(std::forward<Token>(token), std::move(key), cost, Duration{0});
  }

  // The seed's call: completes with true when one more request for `key` is
  // over the limit (nothing consumed), false when allowed (and consumed).
  // Completion signature void(error_code, bool).
  template <class Token = boost::asio::deferred_t>
  auto limit_exceeded(Key key, Token&& token = {}) {
    return start<bool>(std::forward<Token>(token), std::move(key), 1, Duration{0});
  }

  // Like try_acquire, but when the request is denied and fits within
  // `max_wait`, books it and completes when that time comes (shaping);
  // waiters on a key complete in arrival order. Completion signature
  // void(error_code, Decision). Per-operation cancellation (terminal, partial
  // or total; e.g. a bind_cancellation_slot or an awaitable_operators
  // timeout): the wait ends at once with error::operation_aborted, a denied
  // Decision, and the booked capacity given back.
  template <class Token = boost::asio::deferred_t>
  auto acquire(Key key, std::int64_t cost, Duration max_wait, Token&& token = {}) {
    detail::check_cost(cost);
    return start<Decision>(std::forward<Token>(token), std::move(key), cost, max_wait);
  }

 private:
  template <class T>
  using Outcome = std::tuple<error_code, T>;

  static Decision result_as(const Decision& decision, Decision*) { return decision; }
  static bool result_as(const Decision& decision, bool*) { return !decision.allowed; }  // limit_exceeded

  // The MemoryStorage path without a coroutine: book in one step, then either
  // complete through the executor or wait on a timer that the token's
  // cancellation slot can abort (any cancellation type).
  template <class T>
  struct InMemoryOp {
    AsyncLimiter* limiter;
    Key key;
    std::int64_t cost;
    Duration max_wait;
    typename Limiter<A, Key>::Booking booking{};
    std::unique_ptr<boost::asio::steady_timer> timer{};
    enum class Stage { start, completing, waiting } stage = Stage::start;

    template <class Self>
    void operator()(Self& self, error_code error = {}) {
      switch (stage) {
        case Stage::start:
          self.reset_cancellation_state(boost::asio::enable_total_cancellation());
          booking = limiter->memory_->book(key, cost, max_wait);
          if (booking.wait > Duration{0}) {
            stage = Stage::waiting;
            timer = std::make_unique<boost::asio::steady_timer>(limiter->executor_, booking.wait);
            timer->async_wait(std::move(self));
            return;
          }
          stage = Stage::completing;
          boost::asio::post(limiter->executor_, std::move(self));  // never complete inline
          return;
        case Stage::completing:
          self.complete(error_code{}, result_as(booking.decision, static_cast<T*>(nullptr)));
          return;
        case Stage::waiting:
          if (!error) {
            self.complete(error_code{}, result_as(booking.decision, static_cast<T*>(nullptr)));
            return;
          }
          limiter->memory_->cancel(key, booking);
          self.complete(
              boost::asio::error::operation_aborted,
              result_as(cancelled(booking.decision, booking.until - limiter->clock_.now()), static_cast<T*>(nullptr)));
          return;
      }
    }
  };

  // Starts an operation completing with void(error_code, T): the composed
  // operation over a MemoryStorage, else a coroutine over the seed's interfaces.
  template <class T, class Token>
  auto start(Token&& token, Key key, std::int64_t cost, Duration max_wait) {
    return boost::asio::async_initiate<Token, void(error_code, T)>(
        [this](auto handler, Key op_key, std::int64_t op_cost, Duration op_max_wait) {
          if (memory_) {
            boost::asio::async_compose<decltype(handler), void(error_code, T)>(
                InMemoryOp<T>{this, std::move(op_key), op_cost, op_max_wait}, handler, executor_);
          } else if constexpr (std::is_same_v<T, bool>) {
            launch<T>(std::move(handler), exceeded(std::move(op_key)));
          } else {
            launch<T>(std::move(handler), decide(std::move(op_key), op_cost, op_max_wait));
          }
        },
        token, std::move(key), cost, max_wait);
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

  // Runs `body` as a coroutine on the limiter's executor and completes
  // `handler` with void(error_code, T); the handler's cancellation slot
  // reaches the coroutine, and the handler runs on its own executor.
  template <class T, class Handler>
  void launch(Handler handler, boost::asio::awaitable<Outcome<T>> body) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    auto handler_executor = boost::asio::get_associated_executor(handler, executor_);
    auto complete = [handler = std::move(handler)](std::exception_ptr error, Outcome<T> outcome) mutable {
      if (error) {
        std::move(handler)(error_of(error), T{});
      } else {
        std::move(handler)(std::get<0>(outcome), std::move(std::get<1>(outcome)));
      }
    };
    boost::asio::co_spawn(
        executor_, std::move(body),
        boost::asio::bind_cancellation_slot(slot, boost::asio::bind_executor(handler_executor, std::move(complete))));
  }

  boost::asio::awaitable<Outcome<bool>> exceeded(Key key) {
    auto [error, decision] = co_await decide(std::move(key), 1, Duration{0});
    co_return Outcome<bool>{error, !decision.allowed};
  }

  boost::asio::awaitable<Outcome<Decision>> decide(Key key, std::int64_t cost, Duration max_wait) {
    // Cancellation is checked where it matters (before and during a wait),
    // never thrown from the middle of a booking.
    co_await boost::asio::this_coro::throw_if_cancelled(false);
    if (single_) co_return co_await decide_in_storage(*single_, std::move(key), cost, max_wait);
    co_return co_await decide_in_storage(*multi_, std::move(key), cost, max_wait);
  }

  // Waits `for_how_long` on a steady timer; false if cancelled, before or
  // during the wait.
  boost::asio::awaitable<bool> wait(Duration for_how_long) {
    co_await boost::asio::this_coro::throw_if_cancelled(false);
    auto state = co_await boost::asio::this_coro::cancellation_state;
    if (state.cancelled() != boost::asio::cancellation_type::none) co_return false;
    boost::asio::steady_timer timer{co_await boost::asio::this_coro::executor, for_how_long};
    auto [error] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return !error;
  }

  static Decision cancelled(Decision booked, Duration left) {
    booked.allowed = false;
    booked.retry_after = std::max(left, Duration{0});
    return booked;
  }

  // The seed's path: lock, read, decide, write; the lock is released before
  // any wait. A cancelled wait gives its capacity back under the lock again.
  template <class Policy>
  boost::asio::awaitable<Outcome<Decision>> decide_in_storage(const Policy& policy, Key key, std::int64_t cost,
                                                              Duration max_wait) {
    Grant grant;
    Instant until{};
    {
      AsyncKeyLock<Key> lock = co_await mutex_->guard(key);
      typename Policy::State state = co_await load(policy, key);
      const Instant now = clock_.now();
      grant = reserve(policy, state, now, cost, max_wait);
      until = now + grant.wait;
      if (grant.decision.allowed) co_await store(policy, key, state, grant.wait + grant.decision.reset_after);
    }
    if (grant.wait <= Duration{0}) co_return Outcome<Decision>{error_code{}, grant.decision};
    if (co_await wait(grant.wait)) co_return Outcome<Decision>{error_code{}, grant.decision};
    // Cancelled: give back without letting the same cancellation abort that.
    co_await boost::asio::this_coro::reset_cancellation_state(
        [](boost::asio::cancellation_type) { return boost::asio::cancellation_type::none; });
    {
      AsyncKeyLock<Key> lock = co_await mutex_->guard(key);
      typename Policy::State state = co_await load(policy, key);
      policy.give_back(state, until, cost);
      co_await store(policy, key, state, until - clock_.now() + grant.decision.reset_after);
    }
    co_return Outcome<Decision>{boost::asio::error::operation_aborted, cancelled(grant.decision, until - clock_.now())};
  }

  template <class Policy>
  boost::asio::awaitable<typename Policy::State> load(const Policy& policy, const Key& key) {
    Rate stored = co_await storage_->read(key);
    if (stored.empty()) co_return typename Policy::State{};
    RateReader reader{stored.fields};
    co_return policy.decode(reader);
  }

  template <class Policy>
  boost::asio::awaitable<void> store(const Policy& policy, const Key& key, const typename Policy::State& state,
                                     Duration expires_after) {
    Rate updated;
    RateWriter writer{updated};
    policy.encode(state, writer);
    co_await storage_->write(key, updated, expires_after);
  }

  executor_type executor_;
  ClockRef clock_;
  std::optional<Limiter<A, Key>> memory_;
  std::shared_ptr<AsyncRateStorage<Key>> storage_;
  std::shared_ptr<AsyncKeyMutex<Key>> mutex_;
  std::optional<SinglePolicy<A>> single_;
  std::optional<MultiPolicy<A>> multi_;
};

template <class Key>
using AsyncGcraLimiter = AsyncLimiter<Gcra, Key>;
template <class Key>
using AsyncTokenBucketLimiter = AsyncLimiter<TokenBucket, Key>;
template <class Key>
using AsyncLeakyBucketLimiter = AsyncLimiter<LeakyBucket, Key>;
template <class Key>
using AsyncFixedWindowLimiter = AsyncLimiter<FixedWindow, Key>;
template <class Key>
using AsyncSlidingWindowLimiter = AsyncLimiter<SlidingWindow, Key>;
template <class Key>
using AsyncSlidingLogLimiter = AsyncLimiter<SlidingLog, Key>;

}  // namespace leaksnek
