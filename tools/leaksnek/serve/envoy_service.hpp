// Envoy's rate limit service (envoy.service.ratelimit.v3.RateLimitService/
// ShouldRateLimit) on leaksnek's storages, without sockets: the gRPC server
// (grpc_server.hpp) hands it requests, tests and benchmarks may too.
//
// Semantics as envoyproxy/ratelimit's (see envoy_config.hpp for matching):
// every request descriptor gets a status in order; a descriptor that matches
// no limit is OK and counts nothing; OVER_LIMIT overall when any matched,
// non-shadow descriptor is over; each matched counter takes its hits even
// when another descriptor is over (unless stop_increment_when_over_limit).
// A fixed window is aligned to the Unix epoch on the wall clock (as upstream
// and Redis), and a request over it fills it to its count, so that later
// requests in the window are over as upstream's (which counts past the
// limit) are.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "envoy/service/ratelimit/v3/rls.pb.h"
#include "serve/config.hpp"
#include "serve/envoy_config.hpp"
#include "serve/metrics.hpp"
#include "serve/policies.hpp"

namespace leaksnek::cli {

namespace rls = ::envoy::service::ratelimit::v3;

// Bounds on what a client may send (answered INVALID_ARGUMENT beyond).
struct EnvoyBounds {
  static constexpr std::size_t max_descriptors = 64;
  static constexpr std::size_t max_entries = 16;
  static constexpr std::size_t max_message =
      4 << 20;  // bytes: upstream's (Go gRPC's default), so no request it answers is refused
  static constexpr std::size_t max_overrides = 1000;  // runners of requests' own limits kept
  static constexpr std::size_t max_series = 10'000;   // detailed metric series, the rest folded
};

class EnvoyService {
 public:
  // Decides on `storage` (memory: a storage of its own, with `config`'s
  // max_keys, so that its wall-clock windows never mix with the HTTP
  // policies' monotonic ones; Redis: the same client).
  EnvoyService(boost::asio::any_io_executor executor, const ServeConfig& config, const ServeStorage& storage);
  ~EnvoyService();
  EnvoyService(const EnvoyService&) = delete;
  EnvoyService& operator=(const EnvoyService&) = delete;

  // The domains and gRPC settings of `config` from now on (at start and at
  // each reload; a counter key keeps its state when its descriptor's limit
  // changes). Throws ConfigError for a limit a storage refuses, and then
  // nothing changes. Thread-safe.
  void configure(const ServeConfig& config);

  // The message for a malformed request (nothing is counted for it), or
  // nullopt. `size`: the request's encoded size.
  [[nodiscard]] std::optional<std::string> malformed(const rls::RateLimitRequest& request, std::size_t size) const;

  // Answers a well-formed request into `response`, then calls `done` once:
  // at once on the calling thread when every decision is in memory, else on
  // the executor when Redis has answered (never later than the storage's
  // timeout; a failure is decided by the storage's fault policy).
  // Thread-safe; `request` and `response` must live until `done`.
  void should_rate_limit(const rls::RateLimitRequest& request, rls::RateLimitResponse& response,
                         std::function<void()> done);

  // Prometheus lines: decisions per domain and descriptor.
  [[nodiscard]] std::string metrics() const;

  struct Node;
  struct Snapshot;
  struct Work;

 private:
  std::shared_ptr<const Snapshot> snapshot() const;
  // The runner of a request's own limit for descriptor `index`, and the
  // counter key it decides.
  std::shared_ptr<PolicyRunner> override_runner(const rls::RateLimitRequest& request, int index,
                                                std::string& counter_key);
  void step(const std::shared_ptr<Work>& work);
  void answer(Work& work);

  boost::asio::any_io_executor executor_;
  ServeStorage storage_;  // the memory storage is this service's own
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> current_;
  // Counters per series name, kept across reloads; bounded (max_series).
  struct Counters {
    Counter over_limit;
    Counter within_limit;
    Counter shadow_mode;
  };
  mutable std::mutex series_mutex_;
  std::map<std::string, std::unique_ptr<Counters>, std::less<>> series_;
  Counters& series(std::string_view name);  // takes series_mutex_
  Counters& counters_of(Counters* resolved, std::string_view name) {
    return resolved != nullptr ? *resolved : series(name);
  }
  // Runners for limits a request names itself (RateLimitOverride), bounded.
  std::mutex overrides_mutex_;
  std::map<std::string, std::shared_ptr<PolicyRunner>, std::less<>> overrides_;
};

}  // namespace leaksnek::cli
