// The seed's `async_rate_limit(rate_limiter, key, default)` for coroutines:
// wraps a callable that returns boost::asio::awaitable<R>; the wrapped call
// computes its key from its arguments, awaits the asynchronous limiter's
// limit_exceeded, and co_returns `default` without calling the function when
// the limit is exceeded (or the storage failed under a fail-closed policy).
//
//   auto fetch = leaksnek::async_rate_limit(limiter, [](const std::string& host) { return host; },
//                                           std::string{})(fetch_page);
//   std::string page = co_await fetch("example.org");
//
// Cost: one limit_exceeded() on the limiter per call (a suspension when the
// storage is Redis). Thread-safe as the limiter, the key function and the
// function are.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <leaksnek/decorators/rate_limit.hpp>

namespace leaksnek {

namespace detail {

template <class T>
struct awaitable_value;
template <class T, class Executor>
struct awaitable_value<boost::asio::awaitable<T, Executor>> {
  using type = T;
};

}  // namespace detail

// The wrapped coroutine: see async_rate_limit(). The arguments are copied
// into the coroutine frame (a coroutine must not hold references to a
// caller's temporaries).
template <class Limiter, class KeyOf, class Default, class Function>
class AsyncRateLimited {
 public:
  AsyncRateLimited(Limiter limiter, KeyOf key_of, Default fallback, Function function)
      : limiter_{std::move(limiter)},
        key_of_{std::move(key_of)},
        fallback_{std::move(fallback)},
        function_{std::move(function)} {}

  template <class... Args>
  requires std::invocable < KeyOf&, std::decay_t<Args>
  &... > &&std::invocable<Function&, std::decay_t<Args>&&...> auto operator()(Args&&... args) const
           -> boost::asio::awaitable<
               typename detail::awaitable_value<std::invoke_result_t<Function&, std::decay_t<Args>&&...>>::type> {
    return call(limiter_, key_of_, fallback_, function_, std::decay_t<Args>(std::forward<Args>(args))...);
  }

 private:
  template <class... Values>
  static auto call(Limiter limiter, KeyOf key_of, Default fallback, Function function, Values... values)
      -> boost::asio::awaitable<typename detail::awaitable_value<std::invoke_result_t<Function&, Values&&...>>::type> {
    auto [error, exceeded] = co_await detail::limiter_of(limiter).limit_exceeded(
        std::invoke(key_of, values...), boost::asio::as_tuple(boost::asio::use_awaitable));
    if (error || exceeded) co_return fallback;
    co_return co_await std::invoke(function, std::move(values)...);
  }

  Limiter limiter_;
  KeyOf key_of_;
  Default fallback_;
  Function function_;
};

namespace detail {

template <class Held, class KeyOf, class Default>
struct AsyncRateLimitDecorator {
  Held limiter;
  KeyOf key_of;
  Default fallback;
  template <class Function>
  auto operator()(Function function) const {
    return AsyncRateLimited<Held, KeyOf, Default, Function>{limiter, key_of, fallback, std::move(function)};
  }
};

}  // namespace detail

// The decorator factory: async_rate_limit(limiter, key_of,
// fallback)(function), as rate_limit() but for an asynchronous limiter
// (AsyncLimiter and the Async*Limiter) and a function returning an
// awaitable; `fallback` converts to its value type.
template <class L, class KeyOf, class Default>
auto async_rate_limit(L& limiter, KeyOf key_of, Default fallback) {
  return detail::AsyncRateLimitDecorator<std::reference_wrapper<L>, KeyOf, Default>{
      std::ref(limiter), std::move(key_of), std::move(fallback)};
}
template <class L, class KeyOf, class Default>
auto async_rate_limit(std::shared_ptr<L> limiter, KeyOf key_of, Default fallback) {
  return detail::AsyncRateLimitDecorator<std::shared_ptr<L>, KeyOf, Default>{std::move(limiter), std::move(key_of),
                                                                             std::move(fallback)};
}

}  // namespace leaksnek
