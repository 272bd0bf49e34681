// Redis key names for leaksnek's state, locks and seed-style rates, shared by
// the storages and the mutexes on Redis.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <leaksnek/interfaces/storages/deciding_storage.hpp>
#include <leaksnek/redis/options.hpp>
#include <leaksnek/values/rate_limit.hpp>

namespace leaksnek::redis {

// A key as Redis bytes: strings as they are (binary-safe), integers in decimal.
template <class Key>
std::string_view key_bytes(const Key& key, std::string& scratch) {
  if constexpr (std::is_convertible_v<const Key&, std::string_view>) {
    return std::string_view{key};
  } else if constexpr (std::is_integral_v<Key>) {
    scratch = std::to_string(key);
    return scratch;
  } else {
    static_assert(std::is_convertible_v<const Key&, std::string_view>, "RedisStorage keys are strings or integers");
    return {};
  }
}

// The part of a Redis key that says what its state is: the algorithm and
// state_tag() of the limits ("gcra:1:10/60000000000ns"), so a changed limit
// keeps a key's state where it still means the same and starts afresh where
// it would not, and no algorithm reads another's state. Throws RateError for
// a period that is not a whole number of microseconds (Redis's clock
// resolution), Error for an unknown algorithm.
std::string policy_tag(std::string_view algorithm, std::span<const RateLimit> limits);

// Redis key names, each under options.prefix. A policy's state for a key
// (PreparedPolicy::key): prefix + "{" + policy name + ":" + key + "}:" +
// policy_tag, with '%', '{' and '}' (and ':' in the name) %-escaped, so every
// key of one decision has one hash tag (one Redis Cluster slot), names never
// collide, and a state is read only by the algorithm that wrote it, in the
// units it was written in. A seed-style Rate: prefix + "rate:" + key; a
// RedisMutex lock: prefix + "lock:" + key. Throw KeyError for a key over
// options.max_key_size bytes.
void check_key(const Options& options, std::string_view bytes);
std::string rate_key(const Options& options, std::string_view bytes);

// What a decision on Redis needs that depends only on the policy, prepared
// once when a limiter binds (RedisStorage::bind): the decision key around a
// user's key, and the script's arguments but for the cost and the time.
// Throws RateError and Error as policy_tag does. Immutable once built, so
// thread-safe; each call builds its strings (a few small allocations).
class PreparedPolicy {
 public:
  PreparedPolicy(const Options& options, std::string_view policy, std::string_view algorithm,
                 std::span<const RateLimit> limits);

  // The policy's key for `bytes` (see above); throws KeyError for a key over
  // the maximum.
  [[nodiscard]] std::string key(std::string_view bytes) const;
  // The script's arguments (after its key): decide, or reserve when max_wait
  // > 0 (an explicit time is floored to a microsecond); cancel a reservation
  // made at `reserved_at` (us).
  [[nodiscard]] std::vector<std::string> decide_args(std::int64_t cost, std::optional<Instant> at,
                                                     Duration max_wait) const;
  [[nodiscard]] std::vector<std::string> cancel_args(std::int64_t cost, std::int64_t reserved_at) const;
  // A lease: take up to `want`, at least `cost` (the request's own).
  [[nodiscard]] std::vector<std::string> lease_args(std::int64_t want, std::int64_t cost) const;

 private:
  std::vector<std::string> args(std::string_view mode, std::optional<Instant> at, std::int64_t cost,
                                std::int64_t extra) const;

  std::size_t max_key_size_;
  std::string head_;                     // prefix{policy:
  std::string tail_;                     // }:tag
  std::vector<std::string> limit_args_;  // algorithm, count of limits, then count, period (us), burst of each
};
std::string lock_key(const Options& options, std::string_view bytes);

}  // namespace leaksnek::redis
