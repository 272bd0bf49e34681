// MemoryMutex: one lock per key in this process (the seed's MemoryMutex), for
// limiters over a RateStorage that cannot decide by itself. A key's lock
// exists only while someone holds or waits for it, so a million keys locked
// once each leave nothing behind.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/container_hash/hash.hpp>

#include <boost/unordered/unordered_flat_map.hpp>
#include <leaksnek/detail/hash.hpp>

#include <leaksnek/interfaces/mutexes/key_mutex.hpp>

namespace leaksnek {

template <class Key>
class MemoryMutex final : public KeyMutex<Key> {
 public:
  explicit MemoryMutex(std::size_t shards = 16) : shards_(std::max<std::size_t>(shards, 1)) {}

  // Blocks until the calling thread holds `key`'s lock. Not reentrant.
  // Thread-safe; costs one map lookup under a shard lock, plus the wait.
  void lock(const Key& key) override {
    Shard& shard = shard_of(key);
    Entry* entry = nullptr;
    {
      std::lock_guard guard{shard.mutex};
      auto& slot = shard.locks[key];
      if (!slot) slot = std::make_unique<Entry>();
      ++slot->users;
      entry = slot.get();
    }
    entry->mutex.lock();
  }

  // Releases `key`'s lock, held by the calling thread; frees it when nobody
  // else holds or waits for it. Thread-safe.
  void unlock(const Key& key) override {
    Shard& shard = shard_of(key);
    std::lock_guard guard{shard.mutex};
    auto found = shard.locks.find(key);
    found->second->mutex.unlock();
    if (--found->second->users == 0) shard.locks.erase(found);
  }

  // Keys that currently have a lock (held or awaited). Thread-safe.
  [[nodiscard]] std::size_t size() const {
    std::size_t total = 0;
    for (const Shard& shard : shards_) {
      std::lock_guard guard{shard.mutex};
      total += shard.locks.size();
    }
    return total;
  }

 private:
  struct Entry {
    std::mutex mutex;
    std::size_t users = 0;  // holders and waiters, counted under the shard's mutex
  };
  struct Shard {
    mutable std::mutex mutex;
    boost::unordered_flat_map<Key, std::unique_ptr<Entry>, detail::DefaultHash<Key>> locks;
  };

  Shard& shard_of(const Key& key) { return shards_[detail::DefaultHash<Key>{}(key) % shards_.size()]; }

  std::vector<Shard> shards_;
};

}  // namespace leaksnek
