// DecidingStorage: a RateStorage that can also decide by itself, atomically,
// in one step (RedisStorage: one round trip running a script that mirrors the
// algorithm). Limiters over one take that path and need no KeyMutex; the
// seed's read/write stays available for users' own limiters.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <leaksnek/algorithms/policy.hpp>
#include <leaksnek/error.hpp>
#include <leaksnek/interfaces/storages/rate_storage.hpp>
#include <leaksnek/values/rate_limit.hpp>
#include <leaksnek/values/time.hpp>

namespace leaksnek {

// A store failed a call: unreachable, slower than its timeout, a malformed
// reply, a key of the wrong type. The message names it. Limiters turn it into
// a decision by the store's OnStoreError policy.
class StoreError : public Error {
 public:
  using Error::Error;
};

// A key the store refuses (longer than its maximum). Nothing is stored.
class KeyError : public Error {
 public:
  using Error::Error;
};

// What a limiter decides when its store fails. Every use is counted by the store.
enum class OnStoreError {
  fail_open,    // allow, reporting the key as if never seen
  fail_closed,  // deny, retry_after: until the store is tried again
  local,        // decide on a limiter in this process's memory (the default)
};

// Parses "fail-open", "fail-closed" or "local"; throws Error naming the text otherwise.
OnStoreError parse_on_store_error(std::string_view text);
std::string_view to_string(OnStoreError policy);

// One decision asked of a DecidingStorage.
struct StoreRequest {
  std::string_view algorithm;  // an Algorithm's name, e.g. "gcra"
  std::span<const RateLimit> limits;
  std::int64_t cost = 1;
  std::optional<Instant> at;  // the decision's time; else the store's own clock
  Duration max_wait{0};       // when denied but fitting within this, book it (see reserve())
};

// What a DecidingStorage decided.
struct StoreOutcome {
  Grant grant;
  std::int64_t booked_at = 0;  // a booking's time on the store's clock, for give_back()
};

template <class Key>
class DecidingStorage : public RateStorage<Key> {
 public:
  using Request = StoreRequest;
  using Outcome = StoreOutcome;

  // Decides `request` on `key` atomically (reserve() when max_wait > 0).
  // Throws StoreError when the store failed, KeyError for a key it refuses.
  virtual Outcome decide(const Key& key, const Request& request) = 0;

  // Gives back a booking made by decide() (see Algorithm::give_back). Throws StoreError.
  virtual void give_back(const Key& key, const Request& request, std::int64_t booked_at) = 0;

  // Throws RateError for limits this store cannot keep exactly.
  virtual void validate(std::string_view algorithm, std::span<const RateLimit> limits) const = 0;

  [[nodiscard]] virtual OnStoreError on_store_error() const noexcept = 0;
  // Counts a decision made by the OnStoreError policy.
  virtual void count(OnStoreError policy) noexcept = 0;
  // Time until the store is tried again after a failure (zero when up).
  [[nodiscard]] virtual Duration retry_in() const noexcept = 0;
};

}  // namespace leaksnek
