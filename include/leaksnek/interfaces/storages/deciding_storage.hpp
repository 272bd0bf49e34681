// DecidingStorage: a RateStorage that can also decide by itself, atomically,
// in one step (RedisStorage: one round trip running a script that mirrors the
// algorithm). Limiters over one take that path and need no KeyMutex; the
// seed's read/write stays available for users' own limiters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <leaksnek/algorithms/policy.hpp>
#include <leaksnek/error.hpp>
#include <leaksnek/interfaces/storages/rate_storage.hpp>
#include <leaksnek/values/rate_limit.hpp>
#include <leaksnek/values/time.hpp>

namespace leaksnek {

// A storage failed a call: unreachable, slower than its timeout, a malformed
// reply, a key of the wrong type. The message names it. Limiters turn it into
// a decision by the storage's OnStorageError policy.
class StorageError : public Error {
 public:
  using Error::Error;
};

// A key the storage refuses (longer than its maximum). Nothing is stored.
class KeyError : public Error {
 public:
  using Error::Error;
};

// What a limiter decides when its storage fails. Every use is counted by the storage.
enum class OnStorageError {
  fail_open,    // allow, reporting the key as if never seen
  fail_closed,  // deny, retry_after: until the store is tried again
  local,        // decide on a limiter in this process's memory (the default)
};

// The first wave's spellings, kept so that code written against them builds.
using StoreError = StorageError;
using OnStoreError = OnStorageError;

// Parses "fail-open", "fail-closed" or "local"; throws Error naming the text otherwise.
OnStorageError parse_on_storage_error(std::string_view text);
std::string_view to_string(OnStorageError policy);

// One decision asked of a DecidingStorage.
struct StorageRequest {
  std::string_view policy;     // the policy's name: its state lives under it
  std::string_view algorithm;  // an Algorithm's name, e.g. "gcra"
  std::span<const RateLimit> limits;
  std::int64_t cost = 1;
  std::optional<Instant> at;  // the decision's time; else the store's own clock
  Duration max_wait{0};       // when denied but fitting within this, book it (see reserve())
};

// A policy as a storage's default Bound keeps it: the Requests it makes.
struct RequestMaker {
  std::string name;
  std::string algorithm;
  std::vector<RateLimit> limits;
  [[nodiscard]] StorageRequest operator()(std::int64_t cost, std::optional<Instant> at = std::nullopt,
                                          Duration max_wait = Duration{0}) const {
    return {name, algorithm, limits, cost, at, max_wait};
  }
};

// What a DecidingStorage decided.
struct StorageOutcome {
  Reserved reserved;
  std::int64_t reserved_at = 0;  // a reservation's time on the store's clock, for cancel()
};

// What a storage that decides by itself tells a limiter, sync or async:
// which limits it can keep, and what to do when it fails.
class DecidingStorageBase {
 public:
  virtual ~DecidingStorageBase() = default;

  // Throws RateError for limits this storage cannot keep exactly.
  virtual void validate(std::string_view algorithm, std::span<const RateLimit> limits) const = 0;

  [[nodiscard]] virtual OnStorageError on_storage_error() const noexcept = 0;
  // Counts a decision made by the OnStorageError policy.
  virtual void count(OnStorageError policy) noexcept = 0;
  // Time until the storage is tried again after a failure (zero when up).
  [[nodiscard]] virtual Duration retry_in() const noexcept = 0;
  // Keys the in-memory fallback (OnStorageError::local) keeps at most, least
  // recently used first out, so that an outage cannot grow memory without bound.
  [[nodiscard]] virtual std::size_t local_max_keys() const noexcept { return 1'000'000; }
};

template <class Key>
class DecidingStorage : public RateStorage<Key>, public DecidingStorageBase {
 public:
  using Request = StorageRequest;
  using Outcome = StorageOutcome;

  void accept(StorageBinder<Key>& binder) override { binder.bind(*this); }

  // Decides `request` on `key` atomically (reserve() when max_wait > 0).
  // Throws StorageError when the storage failed, KeyError for a key it refuses.
  virtual Outcome decide(const Key& key, const Request& request) = 0;

  // Gives back a reservation made by decide() (see Algorithm::cancel). Throws StorageError.
  virtual void cancel(const Key& key, const Request& request, std::int64_t reserved_at) = 0;

  // One policy bound to this storage: decide() and cancel() for any key, with
  // what depends only on the policy prepared once. Called from any thread,
  // as decide() and cancel() above must be.
  class Bound {
   public:
    virtual ~Bound() = default;
    // As DecidingStorage::decide with this policy's request (`at` or
    // max_wait > 0, not both), and DecidingStorage::cancel.
    virtual Outcome decide(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) = 0;
    virtual void cancel(const Key& key, std::int64_t cost, std::int64_t reserved_at) = 0;
  };

  // Binds the policy `name` (`algorithm`, `limits`); a limiter calls it once,
  // at construction, and keeps the storage alive while it uses the result.
  // Throws RateError for limits the storage cannot keep. By default each
  // call becomes a Request to decide() or cancel().
  virtual std::unique_ptr<Bound> bind(std::string name, std::string algorithm, std::vector<RateLimit> limits) {
    validate(algorithm, limits);
    return std::make_unique<Requests>(*this, RequestMaker{std::move(name), std::move(algorithm), std::move(limits)});
  }

 private:
  class Requests final : public Bound {
   public:
    Requests(DecidingStorage& storage, RequestMaker request) : storage_{storage}, request_{std::move(request)} {}
    Outcome decide(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) override {
      return storage_.decide(key, request_(cost, at, max_wait));
    }
    void cancel(const Key& key, std::int64_t cost, std::int64_t reserved_at) override {
      storage_.cancel(key, request_(cost), reserved_at);
    }

   private:
    DecidingStorage& storage_;
    RequestMaker request_;
  };
};

}  // namespace leaksnek
