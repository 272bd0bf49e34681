// RedisStorage: state for a fleet. Every decision is one FCALL of a Lua
// script that mirrors the C++ algorithm, on the Redis server's clock, so any
// number of processes on any number of hosts share one exact limit.
#pragma once

#include <charconv>
#include <concepts>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <leaksnek/interfaces/storages/deciding_storage.hpp>
#include <leaksnek/redis/client.hpp>
#include <leaksnek/redis/keys.hpp>
#include <leaksnek/redis/options.hpp>

namespace leaksnek {

namespace redis {

// The decision script (src/redis/script/*.lua, joined at build time).
const Script& decide_script();

// The command that writes a seed-style Rate: SET with a PX of
// `expires_after` (none for Duration::max()), or DEL for zero or an empty rate.
std::vector<std::string> write_args(const std::string& name, const Rate& rate, Duration expires_after);

// The script's reply as a decision; throws StorageError on a malformed one.
StorageOutcome parse_decision(const Reply& reply);
// FCALL (or EVALSHA) of the decision script on `redis_key` with `args`. Throws StorageError.
StorageOutcome run_script(Client& client, std::string redis_key, std::vector<std::string> args);

// Rate fields as Redis storages them ("1 2 3") and back; throws StorageError on text no Rate was written as.
std::string encode_rate(const Rate& rate);
Rate decode_rate(std::string_view text);

}  // namespace redis

template <class Key = std::string>
class RedisStorage final : public DecidingStorage<Key> {
 public:
  using typename DecidingStorage<Key>::Request;
  using typename DecidingStorage<Key>::Outcome;

  // Connects lazily (on the first call) to options.endpoint.
  explicit RedisStorage(redis::Options options = {}) : client_{std::make_shared<redis::Client>(std::move(options))} {}
  // redis://[user:password@]host[:port][/db], or a cluster:
  // redis-cluster://[user:password@]host:port[,host:port...]; throws Error
  // on a malformed URL.
  explicit RedisStorage(std::string_view url) : RedisStorage{options_for(url)} {}

  // One FCALL: decides atomically on the server's clock (or request.at),
  // writes the state and its TTL. Throws StorageError, KeyError.
  Outcome decide(const Key& key, const Request& request) override {
    return Prepared{client_, prepare(request)}.decide(key, request.cost, request.at, request.max_wait);
  }

  void cancel(const Key& key, const Request& request, std::int64_t reserved_at) override {
    Prepared{client_, prepare(request)}.cancel(key, request.cost, reserved_at);
  }

  // Binds a policy: its key prefix, hash tag and script arguments are
  // prepared here, once. Throws RateError as validate() does.
  std::unique_ptr<typename DecidingStorage<Key>::Bound> bind(std::string name, std::string algorithm,
                                                             std::vector<RateLimit> limits) override {
    return std::make_unique<Prepared>(client_, redis::PreparedPolicy{client_->options(), name, algorithm, limits});
  }

  void validate(std::string_view algorithm, std::span<const RateLimit> limits) const override {
    (void)redis::policy_tag(algorithm, limits);
  }

  // The seed's interface (a limiter over it locks with a KeyMutex such as
  // RedisMutex): GET of the key's fields. One round trip. Throws StorageError.
  [[nodiscard]] Rate read(const Key& key) override {
    std::string scratch;
    std::string name = rate_key(redis::key_bytes(key, scratch));
    redis::Reply reply = client_->command({"GET", name});
    if (reply.type == redis::Reply::Type::nil) return {};
    if (reply.type != redis::Reply::Type::string) throw StorageError{"Redis GET " + name + " failed: " + reply.text};
    return redis::decode_rate(reply.text);
  }

  // SET with a PX of `expires_after` (none for Duration::max(); DEL for zero
  // or an empty rate). One round trip. Throws StorageError.
  void write(const Key& key, const Rate& rate, Duration expires_after) override {
    std::string scratch;
    std::string name = rate_key(redis::key_bytes(key, scratch));
    std::vector<std::string> args = redis::write_args(name, rate, expires_after);
    redis::Reply reply = client_->command(std::vector<std::string_view>{args.begin(), args.end()});
    if (reply.type == redis::Reply::Type::error)
      throw StorageError{"Redis write of " + name + " failed: " + reply.text};
  }

  [[nodiscard]] OnStorageError on_storage_error() const noexcept override { return client_->options().on_error; }
  void count(OnStorageError policy) noexcept override { client_->count(policy); }
  [[nodiscard]] Duration retry_in() const noexcept override { return client_->retry_in(); }
  [[nodiscard]] std::size_t local_max_keys() const noexcept override { return client_->options().local_max_keys; }

  // Counters: calls, connections, failures, NOSCRIPT reloads, policy decisions.
  [[nodiscard]] redis::Statistics statistics() const { return client_->statistics(); }
  // The connection pool, shared with a RedisMutex built from this storage.
  [[nodiscard]] const std::shared_ptr<redis::Client>& client() const noexcept { return client_; }

  // True when Redis answers PING within the timeout.
  [[nodiscard]] bool ping() {
    try {
      return client_->command({"PING"}).type == redis::Reply::Type::status;
    } catch (const StorageError&) {
      return false;
    }
  }

 private:
  static redis::Options options_for(std::string_view url) {
    redis::Options options;
    options.set_url(url);
    return options;
  }

  redis::PreparedPolicy prepare(const Request& request) const {
    return {client_->options(), request.policy, request.algorithm, request.limits};
  }

  class Prepared final : public DecidingStorage<Key>::Bound {
   public:
    Prepared(std::shared_ptr<redis::Client> client, redis::PreparedPolicy policy)
        : client_{std::move(client)}, policy_{std::move(policy)} {}
    Outcome decide(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) override {
      std::string scratch;
      return redis::run_script(*client_, policy_.key(redis::key_bytes(key, scratch)),
                               policy_.decide_args(cost, at, max_wait));
    }
    void cancel(const Key& key, std::int64_t cost, std::int64_t reserved_at) override {
      std::string scratch;
      redis::run_script(*client_, policy_.key(redis::key_bytes(key, scratch)), policy_.cancel_args(cost, reserved_at));
    }

   private:
    std::shared_ptr<redis::Client> client_;
    redis::PreparedPolicy policy_;
  };
  std::string rate_key(std::string_view bytes) const { return redis::rate_key(client_->options(), bytes); }

  std::shared_ptr<redis::Client> client_;
};

}  // namespace leaksnek
