// Each policy's decisions on the configured storage: memory (decided at once,
// without a coroutine) or Redis (asynchronous, one round trip).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <leaksnek/storages/aio/redis_storage.hpp>
#include <leaksnek/storages/memory_storage.hpp>
#include <leaksnek/values/clock.hpp>
#include <leaksnek/values/decision.hpp>

#include "serve/config.hpp"

namespace leaksnek::cli {

// One policy's decisions, on memory or Redis.
class PolicyRunner {
 public:
  virtual ~PolicyRunner() = default;
  // Decides `cost` for `key`. Never throws for a storage failure: the
  // storage's OnStorageError policy decides then.
  virtual boost::asio::awaitable<Decision> acquire(std::string key, std::int64_t cost) = 0;
  // The decision at once when the storage answers without waiting (memory);
  // nullopt (and nothing decided) otherwise.
  virtual std::optional<Decision> acquire_now(const std::string& key, std::int64_t cost) = 0;
};

// The storage every policy of one `serve` shares: exactly one of the two.
struct ServeStorage {
  std::shared_ptr<MemoryStorage<std::string>> memory;
  std::shared_ptr<AsyncRedisStorage<std::string>> redis;
};

// The storage `config` names (connecting lazily). Throws Error for a bad URL.
ServeStorage open_storage(const boost::asio::any_io_executor& executor, const ServeConfig& config);

// `policy`'s decisions on `storage`, its state under the policy's name, on
// `clock` in memory (Redis keeps its own).
std::unique_ptr<PolicyRunner> make_runner(const boost::asio::any_io_executor& executor, const ServePolicy& policy,
                                          const ServeStorage& storage, ClockRef clock = {});

}  // namespace leaksnek::cli
