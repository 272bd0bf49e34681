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
#include "serve/metrics.hpp"
#include "serve/policies.hpp"

namespace leaksnek::cli {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

class Service {
 public:
  // Builds every policy on the configured storage (connecting lazily).
  Service(boost::asio::any_io_executor executor, ServeConfig config);
  ~Service();

  // Answers one request. Never throws; bad input gets a 4xx with a JSON
  // error naming the problem, and nothing is counted for it.
  boost::asio::awaitable<HttpResponse> handle(const HttpRequest& request);
  // The same without a coroutine when nothing needs to wait (the memory
  // store: every request); nullopt (nothing decided) when handle() must run.
  std::optional<HttpResponse> handle_now(const HttpRequest& request);

  // A response for a request that could not be read (too large, malformed).
  static HttpResponse error(unsigned status, std::string_view message, unsigned version = 11);

  [[nodiscard]] const ServeConfig& config() const noexcept { return config_; }
  Metrics& metrics() noexcept { return metrics_; }

 private:
  struct Policy;
  // The coroutines only await; responses are built by the plain functions
  // beside them (GCC 12 miscompiles some string temporaries in coroutines).
  boost::asio::awaitable<HttpResponse> acquire(const HttpRequest& request);
  std::optional<HttpResponse> acquire_request(const HttpRequest& request, Policy*& policy, std::string& key,
                                              std::int64_t& cost);
  HttpResponse decided(Policy& policy, const Decision& decision, unsigned version) const;
  // A decision that may wait on the storage, counted as pending meanwhile.
  boost::asio::awaitable<Decision> decide(Policy& policy, std::string key, std::int64_t cost);
  boost::asio::awaitable<HttpResponse> check(const HttpRequest& request, std::string_view name);
  std::optional<HttpResponse> check_request(const HttpRequest& request, std::string_view name, Policy*& policy,
                                            std::string& key);
  HttpResponse checked(Policy& policy, const Decision& decision, unsigned version) const;
  boost::asio::awaitable<HttpResponse> ready(const HttpRequest& request);
  static std::vector<std::string> ping();
  HttpResponse readiness(unsigned version, boost::system::error_code failure, const redis::Reply& reply) const;
  HttpResponse route(const HttpRequest& request, std::string_view path) const;
  void finish(const HttpRequest& request, HttpResponse& response, std::chrono::steady_clock::time_point start);
  static HttpResponse internal_error(const std::exception_ptr& failure, unsigned version);
  HttpResponse metrics_page(const HttpRequest& request) const;
  void add_rate_limit_headers(HttpResponse& response, const Policy& policy, const Decision& decision) const;

  ServeConfig config_;
  Metrics metrics_;
  std::atomic<std::int64_t> pending_{0};
  ServeStorage storage_;
  std::map<std::string, std::unique_ptr<Policy>, std::less<>> policies_;
};

}  // namespace leaksnek::cli
