// RedisMutex: a KeyMutex across processes, for users' own storages on Redis
// (the seed's pattern). A lock is `SET name token NX PX lease` with a random
// token, released only by its owner (a script compares the token), so a
// holder that crashes blocks the key for at most the lease.
//
// The seed's path costs at least three round trips per decision under this
// lock (lock, read, write, unlock: four with the release); RedisStorage
// decides in one. Prefer a Limiter straight over RedisStorage.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <leaksnek/interfaces/mutexes/key_mutex.hpp>
#include <leaksnek/redis/client.hpp>
#include <leaksnek/redis/keys.hpp>

namespace leaksnek {

namespace redis {

// The release script: DEL the lock iff it still holds our token.
const Script& unlock_script();
// 128 random bits in hex, unique per lock taken.
std::string random_token();

struct MutexOptions {
  // The longest a lock is held if its holder never releases it (crashed).
  Duration lease = std::chrono::seconds{5};
  // The longest lock() waits for a key held by someone else; then StorageError.
  Duration wait = std::chrono::seconds{5};
};

// Takes the lock `name` with `token`, polling (100us doubling to 10ms) until
// it is free or `options.wait` runs out. Throws StorageError.
void lock(Client& client, const std::string& name, const std::string& token, const MutexOptions& options);
// Releases `name` if it holds `token`; never throws (the lease frees it otherwise).
void unlock(Client& client, const std::string& name, const std::string& token) noexcept;

}  // namespace redis

template <class Key = std::string>
class RedisMutex final : public KeyMutex<Key> {
 public:
  // Locks live on `client`'s server under its prefix + "lock:".
  explicit RedisMutex(std::shared_ptr<redis::Client> client, redis::MutexOptions options = {})
      : client_{std::move(client)}, options_{options} {}
  explicit RedisMutex(std::string_view url, redis::MutexOptions options = {})
      : RedisMutex{std::make_shared<redis::Client>(options_for(url)), options} {}

  // Blocks until this process holds `key`'s lock (polling Redis). Throws
  // StorageError when Redis fails or the wait runs out; KeyError for a key
  // over the maximum size.
  void lock(const Key& key) override {
    std::string name = lock_name(key);
    std::string token = redis::random_token();
    redis::lock(*client_, name, token, options_);
    std::lock_guard guard{mutex_};
    tokens_[std::move(name)] = std::move(token);
  }

  // Releases `key`'s lock (one round trip). Never throws.
  void unlock(const Key& key) override {
    std::string name = lock_name(key);
    std::string token;
    {
      std::lock_guard guard{mutex_};
      auto found = tokens_.find(name);
      if (found == tokens_.end()) return;
      token = std::move(found->second);
      tokens_.erase(found);
    }
    redis::unlock(*client_, name, token);
  }

 private:
  static redis::Options options_for(std::string_view url) {
    redis::Options options;
    options.set_url(url);
    return options;
  }
  std::string lock_name(const Key& key) const {
    std::string scratch;
    return redis::lock_key(client_->options(), redis::key_bytes(key, scratch));
  }

  std::shared_ptr<redis::Client> client_;
  redis::MutexOptions options_;
  std::mutex mutex_;  // guards tokens_: the locks this process holds
  std::unordered_map<std::string, std::string> tokens_;
};

}  // namespace leaksnek
