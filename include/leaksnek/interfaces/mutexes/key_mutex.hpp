// KeyMutex: a lock per key (the seed's interface), so that read, decide and
// write on a RateStorage happen as one step.
#pragma once

#include <utility>

namespace leaksnek {

template <class Key>
class KeyMutex;

// Holds one key's lock; releases it when destroyed. Movable, not copyable.
template <class Key>
class [[nodiscard]] KeyLock {
 public:
  // Locks `key` (copied first, so a failed copy leaves nothing locked).
  KeyLock(KeyMutex<Key>& mutex, const Key& key) : mutex_{&mutex}, key_{key} { mutex_->lock(key_); }
  KeyLock(KeyLock&& other) noexcept : mutex_{std::exchange(other.mutex_, nullptr)}, key_{std::move(other.key_)} {}
  KeyLock& operator=(KeyLock&&) = delete;
  KeyLock(const KeyLock&) = delete;
  KeyLock& operator=(const KeyLock&) = delete;
  ~KeyLock() {
    if (mutex_ != nullptr) mutex_->unlock(key_);
  }

 private:
  KeyMutex<Key>* mutex_;
  Key key_;
};

template <class Key>
class KeyMutex {
 public:
  virtual ~KeyMutex() = default;

  // Blocks until the calling thread holds `key`'s lock.
  virtual void lock(const Key& key) = 0;
  // Releases `key`'s lock, held by the calling thread.
  virtual void unlock(const Key& key) = 0;

  // Locks `key` until the returned KeyLock is destroyed.
  KeyLock<Key> guard(const Key& key) { return KeyLock<Key>{*this, key}; }
};

}  // namespace leaksnek
