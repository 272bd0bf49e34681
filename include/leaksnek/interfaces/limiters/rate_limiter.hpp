// RateLimiter: what users call (the seed's interface). Every algorithm's
// limiter has this shape; implement it to plug in an algorithm of your own.
#pragma once

#include <cstdint>

#include <leaksnek/values/decision.hpp>
#include <leaksnek/values/time.hpp>

namespace leaksnek {

template <class Key>
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;

  // Decides now whether `key` may spend `cost` units; consumes them if so.
  // Never blocks on the limit. Throws CostError if cost < 1.
  virtual Decision try_acquire(const Key& key, std::int64_t cost = 1) = 0;

  // Like try_acquire, but when the request is denied and would fit within
  // `max_wait`, books it and blocks until then (shaping: a leaky bucket as a
  // queue); waiters on one key are served in arrival order. Returns a denial at
  // once when the wait would exceed max_wait.
  virtual Decision acquire(const Key& key, std::int64_t cost, Duration max_wait) = 0;

  // The seed's call: true when one more request for `key` is over the limit
  // (nothing consumed then); false when it was allowed (and consumed).
  virtual bool limit_exceeded(const Key& key) { return !try_acquire(key, 1).allowed; }
};

}  // namespace leaksnek
