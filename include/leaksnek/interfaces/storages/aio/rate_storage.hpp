// AsyncRateStorage: the seed's asynchronous storage interface, on Asio
// coroutines. Implement it over anything asynchronous (a network client, a
// database driver); an AsyncLimiter over it locks the key with an
// AsyncKeyMutex, reads, decides and writes, without blocking a thread.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <leaksnek/values/rate.hpp>
#include <leaksnek/values/time.hpp>

namespace leaksnek {

template <class Key>
class AsyncRateStorage;
template <class Key>
class AsyncDecidingStorage;

// What an AsyncLimiter does with each kind of asynchronous storage when it
// binds its policy to one (see AsyncRateStorage::accept).
template <class Key>
class AsyncStorageBinder {
 public:
  virtual void bind(AsyncDecidingStorage<Key>& storage) = 0;  // decides by itself, one call
  virtual void bind(AsyncRateStorage<Key>& storage) = 0;      // the seed's: lock, read, decide, write

 protected:
  ~AsyncStorageBinder() = default;
};

template <class Key>
class AsyncRateStorage {
 public:
  virtual ~AsyncRateStorage() = default;

  // Tells `binder` which kind of storage this is; see RateStorage::accept.
  virtual void accept(AsyncStorageBinder<Key>& binder) { binder.bind(*this); }

  // The key's state; an empty Rate when never seen. May throw (the limiter
  // then completes with errc::storage_failed and changes nothing).
  virtual boost::asio::awaitable<Rate> read(const Key& key) = 0;

  // Stores the key's state; see RateStorage::write for `expires_after`.
  virtual boost::asio::awaitable<void> write(const Key& key, const Rate& rate, Duration expires_after) = 0;
};

}  // namespace leaksnek
