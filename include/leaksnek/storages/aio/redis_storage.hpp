// AsyncRedisStorage: RedisStorage on Boost.Asio. Each decision is one FCALL
// of the same script, sent on one connection with every other decision in
// flight (pipelined), completing without blocking a thread.
#pragma once

#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <leaksnek/interfaces/storages/aio/deciding_storage.hpp>
#include <leaksnek/redis/async_client.hpp>
#include <leaksnek/storages/redis_storage.hpp>

namespace leaksnek {

template <class Key = std::string>
class AsyncRedisStorage final : public AsyncDecidingStorage<Key> {
 public:
  // Connects lazily through `executor` (one connection, pipelined).
  AsyncRedisStorage(boost::asio::any_io_executor executor, redis::Options options = {})
      : client_{std::make_shared<redis::AsyncClient>(std::move(executor), std::move(options))} {}
  // redis://[user:password@]host[:port][/db], or a cluster:
  // redis-cluster://[user:password@]host:port[,host:port...]; throws Error
  // on a malformed URL.
  AsyncRedisStorage(boost::asio::any_io_executor executor, std::string_view url)
      : AsyncRedisStorage{std::move(executor), options_for(url)} {}

  // One FCALL; see RedisStorage::decide. Throws StorageError, KeyError.
  boost::asio::awaitable<StorageOutcome> decide(const Key& key, const StorageRequest& request) override {
    Prepared prepared{client_, prepare(request)};
    co_return co_await prepared.decide(key, request.cost, request.at, request.max_wait);
  }

  boost::asio::awaitable<void> cancel(const Key& key, const StorageRequest& request,
                                      std::int64_t reserved_at) override {
    Prepared prepared{client_, prepare(request)};
    co_await prepared.cancel(key, request.cost, reserved_at);
  }

  // Binds a policy; see RedisStorage::bind.
  // Leases for the policy named `policy` alone (instead of Options::lease),
  // from its next binding on (a limiter made after this call). Thread-safe.
  void set_lease(std::string policy, const redis::LeaseOptions& lease) {
    std::lock_guard lock{leases_mutex_};
    policy_leases_.insert_or_assign(std::move(policy), lease);
  }

  // With Options::lease (or set_lease()) enabled, the policy's hot keys
  // lease, as RedisStorage's do.
  std::unique_ptr<typename AsyncDecidingStorage<Key>::Bound> bind(std::string name, std::string algorithm,
                                                                  std::vector<RateLimit> limits) override {
    redis::PreparedPolicy policy{client_->options(), name, algorithm, limits};
    redis::LeaseOptions lease = client_->options().lease;
    {
      std::lock_guard lock{leases_mutex_};
      if (auto found = policy_leases_.find(name); found != policy_leases_.end()) lease = found->second;
    }
    if (!lease.enabled) return std::make_unique<Prepared>(client_, std::move(policy));
    return std::make_unique<Leasing>(client_, std::move(policy), lease, algorithm, limits, lease_counters_);
  }

  void validate(std::string_view algorithm, std::span<const RateLimit> limits) const override {
    (void)redis::policy_tag(algorithm, limits);
  }

  // The seed's interface; see RedisStorage::read and write. One round trip each.
  boost::asio::awaitable<Rate> read(const Key& key) override {
    std::string scratch;
    std::string name = redis::rate_key(client_->options(), redis::key_bytes(key, scratch));
    redis::Reply reply = co_await command(get_args(name));
    if (reply.type == redis::Reply::Type::nil) co_return Rate{};
    if (reply.type != redis::Reply::Type::string) failed("GET", name, reply);
    co_return redis::decode_rate(reply.text);
  }

  boost::asio::awaitable<void> write(const Key& key, const Rate& rate, Duration expires_after) override {
    std::string scratch;
    std::string name = redis::rate_key(client_->options(), redis::key_bytes(key, scratch));
    redis::Reply reply = co_await command(redis::write_args(name, rate, expires_after));
    if (reply.type == redis::Reply::Type::error) failed("write", name, reply);
  }

  [[nodiscard]] OnStorageError on_storage_error() const noexcept override { return client_->options().on_error; }
  void count(OnStorageError policy) noexcept override { client_->count(policy); }
  [[nodiscard]] Duration retry_in() const noexcept override { return client_->retry_in(); }
  [[nodiscard]] std::size_t local_max_keys() const noexcept override { return client_->options().local_max_keys; }
  [[nodiscard]] redis::Statistics statistics() const {
    redis::Statistics statistics = client_->statistics();
    redis::add_lease_counters(statistics, *lease_counters_);
    return statistics;
  }
  [[nodiscard]] const std::shared_ptr<redis::AsyncClient>& client() const noexcept { return client_; }

 private:
  static redis::Options options_for(std::string_view url) {
    redis::Options options;
    options.set_url(url);
    return options;
  }

  static std::vector<std::string> get_args(const std::string& name) { return {"GET", name}; }

  [[noreturn]] static void failed(std::string_view what, std::string_view name, const redis::Reply& reply) {
    std::string message{"Redis "};
    message.append(what).append(" of ").append(name).append(" failed: ").append(reply.text);
    throw StorageError{message};
  }

  // The client's failure (its message is in the error reply).
  [[noreturn]] static void fail(const boost::system::error_code& error, const redis::Reply& reply) {
    throw StorageError{reply.text.empty() ? "Redis failed: " + error.message() : reply.text};
  }

  boost::asio::awaitable<redis::Reply> command(std::vector<std::string> args) {
    auto [error, reply] =
        co_await client_->async_command(std::move(args), boost::asio::as_tuple(boost::asio::use_awaitable));
    if (error) fail(error, reply);
    co_return reply;
  }

  redis::PreparedPolicy prepare(const StorageRequest& request) const {
    return {client_->options(), request.policy, request.algorithm, request.limits};
  }

  class Prepared final : public AsyncDecidingStorage<Key>::Bound {
   public:
    Prepared(std::shared_ptr<redis::AsyncClient> client, redis::PreparedPolicy policy)
        : client_{std::move(client)}, policy_{std::move(policy)} {}

    boost::asio::awaitable<StorageOutcome> decide(const Key& key, std::int64_t cost, std::optional<Instant> at,
                                                  Duration max_wait) override {
      std::string scratch;
      std::string name = policy_.key(redis::key_bytes(key, scratch));
      std::vector<std::string> keys{std::move(name)};
      co_return redis::parse_decision(co_await run(std::move(keys), policy_.decide_args(cost, at, max_wait)));
    }
    boost::asio::awaitable<void> cancel(const Key& key, std::int64_t cost, std::int64_t reserved_at) override {
      std::string scratch;
      std::string name = policy_.key(redis::key_bytes(key, scratch));
      std::vector<std::string> keys{std::move(name)};
      (void)co_await run(std::move(keys), policy_.cancel_args(cost, reserved_at));
    }

   private:
    boost::asio::awaitable<redis::Reply> run(std::vector<std::string> keys, std::vector<std::string> args) {
      auto [error, reply] = co_await client_->async_eval(redis::decide_script(), std::move(keys), std::move(args),
                                                         boost::asio::as_tuple(boost::asio::use_awaitable));
      if (error) fail(error, reply);
      co_return reply;
    }

    std::shared_ptr<redis::AsyncClient> client_;
    redis::PreparedPolicy policy_;
  };

  // RedisStorage::Leasing on the asynchronous client: the same redis::Leases
  // plans each decision. Unspent leases go back when they expire (at the
  // key's next decision, or when evicted), and when the limiter goes (sent
  // without waiting for the replies).
  class Leasing final : public AsyncDecidingStorage<Key>::Bound {
   public:
    Leasing(std::shared_ptr<redis::AsyncClient> client, redis::PreparedPolicy policy, const redis::LeaseOptions& lease,
            std::string_view algorithm, std::span<const RateLimit> limits,
            std::shared_ptr<redis::LeaseCounters> counters)
        : client_{std::move(client)},
          policy_{std::move(policy)},
          counters_{std::move(counters)},
          leases_{lease, algorithm, limits, *counters_} {}
    Leasing(const Leasing&) = delete;
    Leasing& operator=(const Leasing&) = delete;
    ~Leasing() override {
      for (const redis::GiveBack& lease : leases_.drain()) send_give_back(lease);
    }

    boost::asio::awaitable<StorageOutcome> decide(const Key& key, std::int64_t cost, std::optional<Instant> at,
                                                  Duration max_wait) override {
      std::string scratch;
      const std::string bytes{redis::key_bytes(key, scratch)};
      redis::check_key(client_->options(), bytes);  // before a long key takes room in the lease table
      // Arguments are made before each co_await: g++ 12 destroys a
      // temporary of a conditional expression inside one twice.
      std::string name = policy_.key(bytes);
      if (at || max_wait > Duration{0}) {
        std::vector<std::string> args = policy_.decide_args(cost, at, max_wait);
        co_return redis::parse_decision(co_await run(std::move(name), std::move(args)));
      }
      redis::Leases::Plan plan = leases_.plan(bytes, cost);
      for (const redis::GiveBack& lease : plan.give_back) send_give_back(lease);
      StorageOutcome outcome;
      if (plan.kind == redis::Leases::Plan::Kind::local) {
        outcome.reserved.decision = plan.decision;
        co_return outcome;
      }
      std::vector<std::string> args = plan.kind == redis::Leases::Plan::Kind::lease
                                          ? policy_.lease_args(plan.want, cost)
                                          : policy_.decide_args(cost, std::nullopt, Duration{0});
      redis::Reply reply = co_await run(std::move(name), std::move(args));
      outcome = redis::parse_decision(reply);
      outcome.reserved.decision = leases_.record(bytes, cost, plan, outcome);
      outcome.reserved.wait = Duration{0};
      co_return outcome;
    }
    boost::asio::awaitable<void> cancel(const Key& key, std::int64_t cost, std::int64_t reserved_at) override {
      std::string scratch;
      std::string name = policy_.key(redis::key_bytes(key, scratch));
      std::vector<std::string> args = policy_.cancel_args(cost, reserved_at);
      (void)co_await run(std::move(name), std::move(args));
    }

   private:
    boost::asio::awaitable<redis::Reply> run(std::string name, std::vector<std::string> args) {
      std::vector<std::string> keys{std::move(name)};
      auto [error, reply] = co_await client_->async_eval(redis::decide_script(), std::move(keys), std::move(args),
                                                         boost::asio::as_tuple(boost::asio::use_awaitable));
      if (error) fail(error, reply);
      co_return reply;
    }
    // A lease that cannot go back stays taken (never oversubscribed).
    void send_give_back(const redis::GiveBack& lease) noexcept {
      try {
        std::vector<std::string> keys{policy_.key(lease.key)};
        client_->async_eval(
            redis::decide_script(), std::move(keys), policy_.cancel_args(lease.tokens, lease.granted_at),
            [counters = counters_, tokens = static_cast<std::uint64_t>(lease.tokens)](
                const boost::system::error_code& error, const redis::Reply& reply) {
              const bool back = !error && reply.type != redis::Reply::Type::error;
              (back ? counters->given_back : counters->expired).fetch_add(tokens, std::memory_order_relaxed);
            });
      } catch (const std::exception&) {
        counters_->expired.fetch_add(static_cast<std::uint64_t>(lease.tokens), std::memory_order_relaxed);
      }
    }

    std::shared_ptr<redis::AsyncClient> client_;
    redis::PreparedPolicy policy_;
    std::shared_ptr<redis::LeaseCounters> counters_;
    redis::Leases leases_;
  };

  std::shared_ptr<redis::AsyncClient> client_;
  std::shared_ptr<redis::LeaseCounters> lease_counters_ = std::make_shared<redis::LeaseCounters>();
  std::mutex leases_mutex_;
  std::map<std::string, redis::LeaseOptions, std::less<>> policy_leases_;
};

}  // namespace leaksnek
