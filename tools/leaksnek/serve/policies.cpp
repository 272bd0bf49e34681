#include "serve/policies.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <leaksnek/algorithms/registry.hpp>
#include <leaksnek/asio.hpp>
#include <leaksnek/limiters/limiter.hpp>

namespace leaksnek::cli {

namespace asio = boost::asio;

namespace {

template <Algorithm A>
class MemoryRunner final : public PolicyRunner {
 public:
  MemoryRunner(const ServePolicy& policy, std::shared_ptr<MemoryStorage<std::string>> storage, ClockRef clock)
      : limiter_{policy.name, policy.limits, std::move(storage), nullptr, clock} {}
  asio::awaitable<Decision> acquire(std::string key, std::int64_t cost) override {
    co_return limiter_.try_acquire(key, cost);
  }
  std::optional<Decision> acquire_now(const std::string& key, std::int64_t cost) override {
    return limiter_.try_acquire(key, cost);
  }

 private:
  Limiter<A, std::string> limiter_;
};

template <Algorithm A>
class RedisRunner final : public PolicyRunner {
 public:
  RedisRunner(asio::any_io_executor executor, const ServePolicy& policy,
              std::shared_ptr<AsyncRedisStorage<std::string>> storage)
      : limiter_{std::move(executor), policy.name, Limits{policy.limits}, std::move(storage)} {}
  asio::awaitable<Decision> acquire(std::string key, std::int64_t cost) override {
    auto [error, decision] = co_await limiter_.try_acquire(std::move(key), cost, asio::as_tuple(asio::use_awaitable));
    co_return decision;  // a failure outside the storage's policy reads as denied
  }
  std::optional<Decision> acquire_now(const std::string& /*key*/, std::int64_t /*cost*/) override {
    return std::nullopt;
  }

 private:
  AsyncLimiter<A, std::string> limiter_;
};

}  // namespace

ServeStorage open_storage(const asio::any_io_executor& executor, const ServeConfig& config) {
  ServeStorage storage;
  if (config.storage == "memory") {
    MemoryStorage<std::string>::Options options;
    options.max_keys = static_cast<std::size_t>(config.max_keys);
    storage.memory = std::make_shared<MemoryStorage<std::string>>(options);
  } else {
    redis::Options options;
    options.set_url(config.storage);
    options.on_error = config.on_storage_error;
    options.local_max_keys = static_cast<std::size_t>(config.max_keys);
    storage.redis = std::make_shared<AsyncRedisStorage<std::string>>(executor, options);
  }
  return storage;
}

std::unique_ptr<PolicyRunner> make_runner(const asio::any_io_executor& executor, const ServePolicy& policy,
                                          const ServeStorage& storage, ClockRef clock) {
  return with_algorithm(policy.algorithm, [&]<Algorithm A>() -> std::unique_ptr<PolicyRunner> {
    if (storage.memory) return std::make_unique<MemoryRunner<A>>(policy, storage.memory, clock);
    // Set for every policy, so that a reload that drops `lease` stops it.
    const redis::Options& options = storage.redis->client()->options();
    redis::LeaseOptions lease = options.lease;  // the URL's ?lease=, if any
    if (policy.lease) lease.enabled = *policy.lease;
    if (policy.lease == true) {
      lease.max = policy.lease_max;
      lease.ttl = policy.lease_ttl;
    }
    lease.max_keys = std::min(lease.max_keys, options.local_max_keys);
    storage.redis->set_lease(policy.name, lease);
    return std::make_unique<RedisRunner<A>>(executor, policy, storage.redis);
  });
}

}  // namespace leaksnek::cli
