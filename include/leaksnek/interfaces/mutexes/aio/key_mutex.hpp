// AsyncKeyMutex: the seed's asynchronous per-key lock. lock() suspends the
// coroutine until it holds the key; the AsyncKeyLock from guard() releases it
// when it dies.
#pragma once

#include <memory>
#include <utility>

#include <boost/asio/awaitable.hpp>

namespace leaksnek {

template <class Key>
class AsyncKeyMutex;

// Holds one key's lock; releases it (AsyncKeyMutex::unlock) when destroyed,
// even if that happens when an io_context shuts down: it shares ownership of
// the mutex. Movable, not copyable.
template <class Key>
class [[nodiscard]] AsyncKeyLock {
 public:
  AsyncKeyLock(AsyncKeyLock&& other) noexcept
      : mutex_{std::exchange(other.mutex_, nullptr)}, key_{std::move(other.key_)} {}
  AsyncKeyLock& operator=(AsyncKeyLock&&) = delete;
  AsyncKeyLock(const AsyncKeyLock&) = delete;
  AsyncKeyLock& operator=(const AsyncKeyLock&) = delete;
  ~AsyncKeyLock() { release(); }

  // Releases the lock now rather than at destruction.
  void release() {
    if (auto mutex = std::exchange(mutex_, nullptr)) mutex->unlock(key_);
  }

 private:
  friend class AsyncKeyMutex<Key>;
  explicit AsyncKeyLock(const Key& key) : key_{key} {}

  std::shared_ptr<AsyncKeyMutex<Key>> mutex_;
  Key key_;
};

template <class Key>
class AsyncKeyMutex {
 public:
  virtual ~AsyncKeyMutex() = default;

  // Completes once the caller holds `key`'s lock.
  virtual boost::asio::awaitable<void> lock(const Key& key) = 0;
  // Releases `key`'s lock. Must not block; it may start asynchronous work.
  virtual void unlock(const Key& key) = 0;

  // Locks `key` of `mutex` until the returned AsyncKeyLock is destroyed.
  static boost::asio::awaitable<AsyncKeyLock<Key>> guard(std::shared_ptr<AsyncKeyMutex> mutex, Key key) {
    AsyncKeyLock<Key> held{key};  // the key is copied before locking: a failed copy leaves nothing locked
    co_await mutex->lock(held.key_);
    held.mutex_ = std::move(mutex);
    co_return held;
  }
};

}  // namespace leaksnek
