// RateStorage: where keyed state lives (the seed's interface). Implement it
// to keep state anywhere (a database, a cache); a limiter over it locks the key
// with a KeyMutex, reads, decides and writes, as the seed does.
#pragma once

#include <leaksnek/values/rate.hpp>
#include <leaksnek/values/time.hpp>

namespace leaksnek {

template <class Key>
class RateStorage;
template <class Key>
class MemoryStorage;
template <class Key>
class DecidingStorage;

// What a limiter does with each kind of storage when it binds its policy to
// one (see RateStorage::accept): the storage says what it is, the limiter
// never asks.
template <class Key>
class StorageBinder {
 public:
  virtual void bind(MemoryStorage<Key>& storage) = 0;    // decides in its tables, one step
  virtual void bind(DecidingStorage<Key>& storage) = 0;  // decides by itself, one call
  virtual void bind(RateStorage<Key>& storage) = 0;      // the seed's: lock, read, decide, write

 protected:
  ~StorageBinder() = default;
};

template <class Key>
class RateStorage {
 public:
  virtual ~RateStorage() = default;

  // Tells `binder` which kind of storage this is, by calling exactly one of
  // its bind() overloads. A storage of your own need not override it:
  // limiters then lock, read, decide and write, as the seed's do.
  virtual void accept(StorageBinder<Key>& binder) { binder.bind(*this); }

  // The key's state; an empty Rate when the key was never seen or has been
  // forgotten. May throw (the limiter then changes nothing). read() and
  // write() are called from any thread; a KeyMutex serializes each key.
  [[nodiscard]] virtual Rate read(const Key& key) = 0;

  // Stores the key's state. `expires_after`: from now on, the key decides as if
  // never seen once this much time has passed with no request, so the storage
  // may forget it then (a TTL); zero means it may forget it at once;
  // Duration::max() means keep it until it is written again. An empty `rate`
  // may be stored or the key removed.
  virtual void write(const Key& key, const Rate& rate, Duration expires_after) = 0;
};

}  // namespace leaksnek
