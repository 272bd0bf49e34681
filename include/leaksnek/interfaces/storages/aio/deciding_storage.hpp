// AsyncDecidingStorage: an AsyncRateStorage that can also decide by itself,
// atomically, in one step (AsyncRedisStorage: one pipelined round trip). An
// AsyncLimiter over one takes that path and needs no AsyncKeyMutex.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <leaksnek/interfaces/storages/aio/rate_storage.hpp>
#include <leaksnek/interfaces/storages/deciding_storage.hpp>

namespace leaksnek {

template <class Key>
class AsyncDecidingStorage : public AsyncRateStorage<Key>, public DecidingStorageBase {
 public:
  void accept(AsyncStorageBinder<Key>& binder) override { binder.bind(*this); }

  // Decides `request` on `key` atomically (reserve() when max_wait > 0).
  // Throws StorageError when the storage failed, KeyError for a key it refuses.
  // `request` must stay valid until the decision completes.
  virtual boost::asio::awaitable<StorageOutcome> decide(const Key& key, const StorageRequest& request) = 0;

  // Gives back a reservation made by decide(). Throws StorageError.
  virtual boost::asio::awaitable<void> cancel(const Key& key, const StorageRequest& request,
                                              std::int64_t reserved_at) = 0;

  // One policy bound to this storage; see DecidingStorage::Bound.
  class Bound {
   public:
    virtual ~Bound() = default;
    virtual boost::asio::awaitable<StorageOutcome> decide(const Key& key, std::int64_t cost, std::optional<Instant> at,
                                                          Duration max_wait) = 0;
    virtual boost::asio::awaitable<void> cancel(const Key& key, std::int64_t cost, std::int64_t reserved_at) = 0;
  };

  // Binds a policy; see DecidingStorage::bind.
  virtual std::unique_ptr<Bound> bind(std::string name, std::string algorithm, std::vector<RateLimit> limits) {
    validate(algorithm, limits);
    return std::make_unique<Requests>(*this, RequestMaker{std::move(name), std::move(algorithm), std::move(limits)});
  }

 private:
  class Requests final : public Bound {
   public:
    Requests(AsyncDecidingStorage& storage, RequestMaker request) : storage_{storage}, request_{std::move(request)} {}
    boost::asio::awaitable<StorageOutcome> decide(const Key& key, std::int64_t cost, std::optional<Instant> at,
                                                  Duration max_wait) override {
      const StorageRequest request = request_(cost, at, max_wait);
      co_return co_await storage_.decide(key, request);
    }
    boost::asio::awaitable<void> cancel(const Key& key, std::int64_t cost, std::int64_t reserved_at) override {
      const StorageRequest request = request_(cost);
      co_await storage_.cancel(key, request, reserved_at);
    }

   private:
    AsyncDecidingStorage& storage_;
    RequestMaker request_;
  };
};

}  // namespace leaksnek
