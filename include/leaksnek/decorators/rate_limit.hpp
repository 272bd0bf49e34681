// The seed's decorator, `rate_limit(rate_limiter, key, default)`, for any
// callable: the wrapped call computes its key from its own arguments, and
// when the limiter says the limit is exceeded returns `default` without
// calling the function.
//
//   auto search = leaksnek::rate_limit(limiter, [](const User& user, auto&&...) { return user.id; },
//                                      Results{})(do_search);
//   Results results = search(user, "query");  // Results{} once user.id is over its limit
//
// Cost: one limit_exceeded() on the limiter per call (see its header), plus
// the key function. Thread-safe as the limiter, the key function and the
// function are.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace leaksnek {

namespace detail {

// A limiter held by reference (the caller keeps it alive) or shared.
template <class L>
L& limiter_of(std::reference_wrapper<L> limiter) noexcept {
  return limiter.get();
}
template <class L>
L& limiter_of(const std::shared_ptr<L>& limiter) noexcept {
  return *limiter;
}

// rate_limit()'s result: takes the function, returns it wrapped.
template <class Held, class KeyOf, class Default>
struct RateLimitDecorator {
  Held limiter;
  KeyOf key_of;
  Default fallback;
  template <class Function>
  auto operator()(Function function) const;
};

}  // namespace detail

// The wrapped function: see rate_limit().
template <class Limiter, class KeyOf, class Default, class Function>
class RateLimited {
 public:
  RateLimited(Limiter limiter, KeyOf key_of, Default fallback, Function function)
      : limiter_{std::move(limiter)},
        key_of_{std::move(key_of)},
        fallback_{std::move(fallback)},
        function_{std::move(function)} {}

  // Calls the function with `args` unless key_of(args...) is over the limit
  // (one unit is consumed when it is not); returns its result, or a copy of
  // the default. The arguments are passed to key_of as lvalues, then
  // forwarded to the function.
  template <class... Args>
  requires std::invocable<KeyOf&, Args&...> && std::invocable<Function&, Args&&...>
  auto operator()(Args&&... args) {
    using Result = std::common_type_t<std::invoke_result_t<Function&, Args&&...>, Default>;
    if (detail::limiter_of(limiter_).limit_exceeded(std::invoke(key_of_, args...))) return Result(fallback_);
    return Result(std::invoke(function_, std::forward<Args>(args)...));
  }

 private:
  Limiter limiter_;
  KeyOf key_of_;
  Default fallback_;
  Function function_;
};

template <class Held, class KeyOf, class Default>
template <class Function>
auto detail::RateLimitDecorator<Held, KeyOf, Default>::operator()(Function function) const {
  return RateLimited<Held, KeyOf, Default, Function>{limiter, key_of, fallback, std::move(function)};
}

// The decorator factory, as the seed's: rate_limit(limiter, key_of,
// fallback)(function). `limiter`: a limiter with limit_exceeded(key) (any
// RateLimiter), by reference (it must outlive the wrapper) or as a
// shared_ptr; `key_of`: the key from the call's arguments; `fallback`: what
// a call over the limit returns (its type and the function's must have a
// common type).
template <class L, class KeyOf, class Default>
auto rate_limit(L& limiter, KeyOf key_of, Default fallback) {
  return detail::RateLimitDecorator<std::reference_wrapper<L>, KeyOf, Default>{std::ref(limiter), std::move(key_of),
                                                                               std::move(fallback)};
}
template <class L, class KeyOf, class Default>
auto rate_limit(std::shared_ptr<L> limiter, KeyOf key_of, Default fallback) {
  return detail::RateLimitDecorator<std::shared_ptr<L>, KeyOf, Default>{std::move(limiter), std::move(key_of),
                                                                        std::move(fallback)};
}

}  // namespace leaksnek
