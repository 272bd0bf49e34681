// RedisStorage: state for a fleet. Every decision is one FCALL of a Lua
// script that mirrors the C++ algorithm, on the Redis server's clock, so any
// number of processes on any number of hosts share one exact limit.
#pragma once

#include <algorithm>
#include <charconv>
#include <concepts>
#include <cstdint>
#include <exception>
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
#include <leaksnek/redis/leases.hpp>
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
  // With Options::lease enabled, the policy's hot keys lease (see Leasing).
  std::unique_ptr<typename DecidingStorage<Key>::Bound> bind(std::string name, std::string algorithm,
                                                             std::vector<RateLimit> limits) override {
    redis::PreparedPolicy policy{client_->options(), name, algorithm, limits};
    const redis::LeaseOptions& lease = client_->options().lease;
    if (!lease.enabled) return std::make_unique<Prepared>(client_, std::move(policy));
    return std::make_unique<Leasing>(client_, std::move(policy), lease, algorithm, limits, lease_counters_);
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

  // Counters: calls, connections, failures, NOSCRIPT reloads, policy
  // decisions, leases.
  [[nodiscard]] redis::Statistics statistics() const {
    redis::Statistics statistics = client_->statistics();
    redis::add_lease_counters(statistics, *lease_counters_);
    return statistics;
  }
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
  // A policy whose hot keys lease: redis::Leases decides what each call
  // does; a decision at an explicit time or with a wait goes to Redis as
  // without leases. Unspent leases go back when they expire (at the key's
  // next decision, or when evicted) and when the limiter goes.
  class Leasing final : public DecidingStorage<Key>::Bound {
   public:
    Leasing(std::shared_ptr<redis::Client> client, redis::PreparedPolicy policy, const redis::LeaseOptions& lease,
            std::string_view algorithm, std::span<const RateLimit> limits,
            std::shared_ptr<redis::LeaseCounters> counters)
        : client_{std::move(client)},
          policy_{std::move(policy)},
          counters_{std::move(counters)},
          leases_{lease, algorithm, limits, *counters_} {}
    Leasing(const Leasing&) = delete;
    Leasing& operator=(const Leasing&) = delete;
    ~Leasing() override { give_back(leases_.drain()); }

    Outcome decide(const Key& key, std::int64_t cost, std::optional<Instant> at, Duration max_wait) override {
      std::string scratch;
      const std::string_view bytes = redis::key_bytes(key, scratch);
      redis::check_key(client_->options(), bytes);  // before a long key takes room in the lease table
      if (at || max_wait > Duration{0}) {
        return redis::run_script(*client_, policy_.key(bytes), policy_.decide_args(cost, at, max_wait));
      }
      redis::Leases::Plan plan = leases_.plan(bytes, cost);
      if (!plan.give_back.empty()) give_back(std::move(plan.give_back));
      Outcome outcome;
      if (plan.kind == redis::Leases::Plan::Kind::local) {
        outcome.reserved.decision = plan.decision;
        return outcome;
      }
      outcome = redis::run_script(*client_, policy_.key(bytes),
                                  plan.kind == redis::Leases::Plan::Kind::lease
                                      ? policy_.lease_args(plan.want, cost)
                                      : policy_.decide_args(cost, std::nullopt, Duration{0}));
      outcome.reserved.decision = leases_.record(bytes, cost, plan, outcome);
      outcome.reserved.wait = Duration{0};
      return outcome;
    }
    void cancel(const Key& key, std::int64_t cost, std::int64_t reserved_at) override {
      std::string scratch;
      redis::run_script(*client_, policy_.key(redis::key_bytes(key, scratch)), policy_.cancel_args(cost, reserved_at));
    }

   private:
    // Best effort: a lease that cannot go back stays taken (never oversubscribed).
    void give_back(std::vector<redis::GiveBack> leases) noexcept {
      for (const redis::GiveBack& lease : leases) {
        try {
          redis::run_script(*client_, policy_.key(lease.key), policy_.cancel_args(lease.tokens, lease.granted_at));
          counters_->given_back.fetch_add(static_cast<std::uint64_t>(lease.tokens), std::memory_order_relaxed);
        } catch (const std::exception&) {
          counters_->expired.fetch_add(static_cast<std::uint64_t>(lease.tokens), std::memory_order_relaxed);
        }
      }
    }

    std::shared_ptr<redis::Client> client_;
    redis::PreparedPolicy policy_;
    std::shared_ptr<redis::LeaseCounters> counters_;
    redis::Leases leases_;
  };

  std::string rate_key(std::string_view bytes) const { return redis::rate_key(client_->options(), bytes); }

  std::shared_ptr<redis::Client> client_;
  // Shared by every policy's leases.
  std::shared_ptr<redis::LeaseCounters> lease_counters_ = std::make_shared<redis::LeaseCounters>();
};

}  // namespace leaksnek
