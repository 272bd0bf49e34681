// RateStorage: where keyed state lives (the seed's interface). Implement it
// to keep state anywhere (a database, a cache); a limiter over it locks the key
// with a KeyMutex, reads, decides and writes, as the seed does.
#pragma once

#include <leaksnek/values/rate.hpp>
#include <leaksnek/values/time.hpp>

namespace leaksnek {

template <class Key>
class RateStorage {
 public:
  virtual ~RateStorage() = default;

  // The key's state; an empty Rate when the key was never seen or has been
  // forgotten. May throw (the limiter then changes nothing).
  [[nodiscard]] virtual Rate read(const Key& key) = 0;

  // Stores the key's state. `expires_after`: from now on, the key decides as if
  // never seen once this much time has passed with no request, so the storage
  // may forget it then (a TTL); zero means it may forget it at once;
  // Duration::max() means keep it until it is written again. An empty `rate`
  // may be stored or the key removed.
  virtual void write(const Key& key, const Rate& rate, Duration expires_after) = 0;
};

}  // namespace leaksnek
