// AsyncDecidingStorage: an AsyncRateStorage that can also decide by itself,
// atomically, in one step (AsyncRedisStorage: one pipelined round trip). An
// AsyncLimiter over one takes that path and needs no AsyncKeyMutex.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

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
};

}  // namespace leaksnek
