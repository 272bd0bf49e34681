// The rate limit service behind `leaksnek serve`: HTTP requests in, decisions
// and HTTP responses out, with no sockets (so tests and fuzzers drive it
// directly). Policies decide on the configured storage.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <leaksnek/redis/client.hpp>
#include <leaksnek/values/decision.hpp>

#include "serve/config.hpp"
#include "serve/envoy_service.hpp"
#include "serve/metrics.hpp"
#include "serve/policies.hpp"

namespace leaksnek::cli {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// One configuration's policies, built on the service's storage, and the
// settings that change with them: what a reload replaces. Immutable once
// built; shared by the threads that decide with it.
class PolicySet;

// A reload that was applied: the settings it could not change live (each
// "server.FIELD", the old and the new value), which take effect at the next
// start.
struct Reloaded {
  std::vector<std::string> at_next_start;
};

class Service {
 public:
  // Builds every policy on the configured storage (connecting lazily).
  Service(boost::asio::any_io_executor executor, ServeConfig config);
  ~Service();

  // The policies now in force. Thread-safe (a mutex; take it once per
  // thread and per reload, not per request).
  [[nodiscard]] std::shared_ptr<const PolicySet> policies() const;
  // Replaces the policies with those of `next`, built on the same storage:
  // a policy's keys keep their state under its name (as Limiter does for a
  // changed limit), its counters go on. Settings that cannot change live
  // (listen, threads, storage, on_storage_error, max_keys) are kept and
  // listed. Throws (and nothing changes) when a policy cannot be built.
  // Counts an applied reload. Thread-safe.
  Reloaded reload(ServeConfig next);
  // Counts a refused reload (a bad file, a policy that cannot be built).
  void refused() noexcept;

  // Answers one request with `policies`. Never throws; bad input gets a 4xx
  // with a JSON error naming the problem, and nothing is counted for it.
  boost::asio::awaitable<HttpResponse> handle(const HttpRequest& request, std::shared_ptr<const PolicySet> policies);
  boost::asio::awaitable<HttpResponse> handle(const HttpRequest& request) { return handle(request, policies()); }
  // The same without a coroutine when nothing needs to wait (the memory
  // store: every request); nullopt (nothing decided) when handle() must run.
  std::optional<HttpResponse> handle_now(const HttpRequest& request, const PolicySet& policies);

  // A response for a request that could not be read (too large, malformed).
  static HttpResponse error(unsigned status, std::string_view message, unsigned version = 11);

  // The configuration in force (of the latest applied reload), and whether
  // it asks for an access log.
  [[nodiscard]] ServeConfig config() const;
  [[nodiscard]] static bool access_log(const PolicySet& policies) noexcept;
  Metrics& metrics() noexcept { return metrics_; }
  // Envoy's rate limit service on the same storage, its domains replaced by
  // each reload.
  EnvoyService& envoy() noexcept { return *envoy_; }

 private:
  struct Policy;
  struct Counters;
  friend class PolicySet;
  std::shared_ptr<const PolicySet> build(ServeConfig config) const;
  // The coroutines only await; responses are built by the plain functions
  // beside them (GCC 12 miscompiles some string temporaries in coroutines).
  boost::asio::awaitable<HttpResponse> acquire(const HttpRequest& request, const PolicySet& policies);
  static std::optional<HttpResponse> acquire_request(const HttpRequest& request, const PolicySet& policies,
                                                     const Policy*& policy, std::string& key, std::int64_t& cost);
  HttpResponse decided(const Policy& policy, const Decision& decision, unsigned version) const;
  // A decision that may wait on the storage, counted as pending meanwhile.
  boost::asio::awaitable<Decision> decide(const Policy& policy, std::string key, std::int64_t cost);
  boost::asio::awaitable<HttpResponse> check(const HttpRequest& request, const PolicySet& policies,
                                             std::string_view name);
  static std::optional<HttpResponse> check_request(const HttpRequest& request, const PolicySet& policies,
                                                   std::string_view name, const Policy*& policy, std::string& key);
  HttpResponse checked(const Policy& policy, const Decision& decision, unsigned version) const;
  boost::asio::awaitable<HttpResponse> ready(const HttpRequest& request);
  static std::vector<std::string> ping();
  HttpResponse readiness(unsigned version, boost::system::error_code failure, const redis::Reply& reply) const;
  HttpResponse route(const HttpRequest& request, const PolicySet& policies, std::string_view path) const;
  void finish(const HttpRequest& request, HttpResponse& response, std::chrono::steady_clock::time_point start);
  static HttpResponse internal_error(const std::exception_ptr& failure, unsigned version);
  HttpResponse metrics_page(const HttpRequest& request, const PolicySet& policies) const;
  static void add_rate_limit_headers(HttpResponse& response, const Policy& policy, const Decision& decision);

  boost::asio::any_io_executor executor_;
  const ServeConfig started_;  // the settings that cannot change live
  Metrics metrics_;
  std::atomic<std::int64_t> pending_{0};
  Counter reloads_applied_;
  Counter reloads_refused_;
  std::atomic<bool> last_reload_ok_{true};
  ServeStorage storage_;
  mutable std::mutex mutex_;  // guards current_ and counters_
  std::shared_ptr<const PolicySet> current_;
  std::unique_ptr<EnvoyService> envoy_;
  // Each policy name's decision counters, kept across reloads.
  mutable std::map<std::string, std::shared_ptr<Counters>, std::less<>> counters_;
};

// `response` as it goes on the wire, into `out` (its capacity kept between
// calls): one buffer for one write, where Beast's serializer costs more than
// the rest of an answer. The fields must be prepared (Content-Length,
// Connection: prepare_payload(), keep_alive()); no body is chunked.
void serialize(const HttpResponse& response, std::string& out);

}  // namespace leaksnek::cli
