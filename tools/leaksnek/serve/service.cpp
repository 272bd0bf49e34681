#include "serve/service.hpp"

#include <charconv>
#include <cstdio>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <leaksnek/asio.hpp>
#include <leaksnek/leaksnek.hpp>
#include <leaksnek/storages/aio/redis_storage.hpp>

#include "simulate.hpp"

namespace leaksnek::cli {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::size_t max_key_bytes = 256;

template <Algorithm A>
class MemoryRunner final : public PolicyRunner {
 public:
  MemoryRunner(const ServePolicy& policy, std::shared_ptr<MemoryStorage<std::string>> storage)
      : limiter_{policy.name, policy.limits, std::move(storage)} {}
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

std::int64_t ceil_ms(Duration d) { return d.count() / 1'000'000 + (d.count() % 1'000'000 > 0 ? 1 : 0); }
std::int64_t ceil_s(Duration d) { return d.count() / 1'000'000'000 + (d.count() % 1'000'000'000 > 0 ? 1 : 0); }

// A request's fields, from a query string or a JSON body.
struct AcquireFields {
  std::optional<std::string> policy;
  std::optional<std::string> key;
  std::optional<std::int64_t> cost;
};

struct BadRequest {
  unsigned status;
  std::string message;
};

std::int64_t parse_cost(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
    throw BadRequest{400, "cost must be a positive integer, got \"" + std::string{text.substr(0, 32)} + "\""};
  }
  return value;
}

AcquireFields fields_of_query(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) throw BadRequest{400, "malformed request target"};
  AcquireFields fields;
  for (auto param : url->params()) {
    if (param.key == "policy")
      fields.policy = param.value;
    else if (param.key == "key")
      fields.key = param.value;
    else if (param.key == "cost")
      fields.cost = parse_cost(param.value);
    else
      throw BadRequest{
          400, "unknown parameter \"" + std::string{param.key.substr(0, 32)} + "\" (expected policy, key, cost)"};
  }
  return fields;
}

AcquireFields fields_of_json(std::string_view body) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec) throw BadRequest{400, "malformed JSON: " + ec.message()};
  if (!value.is_object()) throw BadRequest{400, "the body must be a JSON object with policy, key and cost"};
  AcquireFields fields;
  for (const auto& [name, item] : value.as_object()) {
    if (name == "policy" || name == "key") {
      if (!item.is_string()) throw BadRequest{400, "\"" + std::string{name} + "\" must be a string"};
      (name == "policy" ? fields.policy : fields.key) = std::string{item.as_string()};
    } else if (name == "cost") {
      if (item.is_int64()) {
        fields.cost = item.as_int64();
      } else if (item.is_uint64()) {
        fields.cost = std::numeric_limits<std::int64_t>::max();  // above any cap
      } else {
        throw BadRequest{400, "\"cost\" must be a positive integer"};
      }
    } else {
      throw BadRequest{400, "unknown field \"" + std::string{name.substr(0, 32)} + "\" (expected policy, key, cost)"};
    }
  }
  return fields;
}

std::string json_text(const json::object& object) { return json::serialize(object); }

void check_key(std::string_view key) {
  if (key.empty()) throw BadRequest{400, "key must not be empty"};
  if (key.size() > max_key_bytes) {
    throw BadRequest{400, "key is " + std::to_string(key.size()) + " bytes, at most " + std::to_string(max_key_bytes)};
  }
}

std::string label(std::string_view text) {  // a Prometheus label value
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

}  // namespace

struct Service::Policy {
  ServePolicy config;
  std::unique_ptr<PolicyRunner> runner;
  std::atomic<std::uint64_t> allowed{0};
  std::atomic<std::uint64_t> denied{0};
};

struct Service::Storage {
  std::shared_ptr<MemoryStorage<std::string>> memory;
  std::shared_ptr<AsyncRedisStorage<std::string>> redis;
};

Service::Service(asio::any_io_executor executor, ServeConfig config)
    : config_{std::move(config)}, storage_{std::make_unique<Storage>()} {
  if (config_.storage == "memory") {
    MemoryStorage<std::string>::Options options;
    options.max_keys = static_cast<std::size_t>(config_.max_keys);
    storage_->memory = std::make_shared<MemoryStorage<std::string>>(options);
  } else {
    redis::Options options;
    options.endpoint = redis::Endpoint::parse(config_.storage);
    options.on_error = config_.on_storage_error;
    storage_->redis = std::make_shared<AsyncRedisStorage<std::string>>(executor, options);
  }
  for (const ServePolicy& policy : config_.policies) {
    auto entry = std::make_unique<Policy>();
    entry->config = policy;
    entry->runner = with_algorithm(policy.algorithm, [&]<Algorithm A>() -> std::unique_ptr<PolicyRunner> {
      if (storage_->memory) return std::make_unique<MemoryRunner<A>>(policy, storage_->memory);
      return std::make_unique<RedisRunner<A>>(executor, policy, storage_->redis);
    });
    policies_.emplace(policy.name, std::move(entry));
  }
}

Service::~Service() = default;

HttpResponse Service::error(unsigned status, std::string_view message, unsigned version) {
  HttpResponse response{static_cast<http::status>(status), version};
  response.set(http::field::content_type, "application/json");
  response.body() = json_text(json::object{{"error", message}});
  response.prepare_payload();
  return response;
}

void Service::add_rate_limit_headers(HttpResponse& response, const Policy& policy, const Decision& decision) const {
  std::string quoted = "\"" + policy.config.name + "\"";
  std::string policies;
  for (const RateLimit& limit : policy.config.limits) {
    if (!policies.empty()) policies.append(", ");
    std::int64_t quota = policy.config.algorithm == "gcra" || policy.config.algorithm == "token-bucket" ||
                                 policy.config.algorithm == "leaky-bucket"
                             ? limit.burst()
                             : limit.count();
    policies.append(quoted).append(";q=").append(std::to_string(quota));
    policies.append(";w=").append(std::to_string(std::max<std::int64_t>(1, ceil_s(limit.period()))));
  }
  response.set("RateLimit-Policy", policies);
  response.set("RateLimit", quoted + ";r=" + std::to_string(std::max<std::int64_t>(0, decision.remaining)) +
                                ";t=" + std::to_string(ceil_s(decision.reset_after)));
  if (!decision.allowed && !decision.never_allowed()) {
    response.set(http::field::retry_after, std::to_string(std::max<std::int64_t>(1, ceil_s(decision.retry_after))));
  }
}

asio::awaitable<HttpResponse> Service::handle(const HttpRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  std::string_view target{request.target().data(), request.target().size()};
  std::string_view path = target.substr(0, target.find('?'));
  HttpResponse response;
  std::exception_ptr failure;
  try {
    if (path == "/v1/acquire" && (request.method() == http::verb::get || request.method() == http::verb::post)) {
      response = co_await acquire(request);
    } else if (path.starts_with("/v1/check/")) {
      std::string_view name = path.substr(10);
      response = co_await check(request, name.substr(0, name.find('/')));  // Envoy appends the original path
    } else if (path == "/readyz") {
      response = co_await ready(request);
    } else {
      response = route(request, path);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) response = internal_error(failure, request.version());
  finish(request, response, start);
  co_return response;
}

std::optional<HttpResponse> Service::handle_now(const HttpRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  std::string_view target{request.target().data(), request.target().size()};
  std::string_view path = target.substr(0, target.find('?'));
  std::optional<HttpResponse> response;
  try {
    if (path == "/v1/acquire" && (request.method() == http::verb::get || request.method() == http::verb::post)) {
      Policy* policy = nullptr;
      std::string key;
      std::int64_t cost = 1;
      response = acquire_request(request, policy, key, cost);
      if (!response) {
        std::optional<Decision> decision = policy->runner->acquire_now(key, cost);
        if (!decision) return std::nullopt;
        response = decided(*policy, *decision, request.version());
      }
    } else if (path.starts_with("/v1/check/")) {
      std::string_view name = path.substr(10);
      Policy* policy = nullptr;
      std::string key;
      response = check_request(request, name.substr(0, name.find('/')), policy, key);
      if (!response) {
        std::optional<Decision> decision = policy->runner->acquire_now(key, 1);
        if (!decision) return std::nullopt;
        response = checked(*policy, *decision, request.version());
      }
    } else if (path == "/readyz") {
      if (storage_->redis) return std::nullopt;
      response = readiness(request.version(), {}, {});
    } else {
      response = route(request, path);
    }
  } catch (...) {
    response = internal_error(std::current_exception(), request.version());
  }
  finish(request, *response, start);
  return response;
}

void Service::finish(const HttpRequest& request, HttpResponse& response, std::chrono::steady_clock::time_point start) {
  response.prepare_payload();
  if (response.result() == http::status::no_content) response.erase(http::field::content_length);  // RFC 9110 15.3.5
  if (request.method() == http::verb::head) response.body().clear();  // keeps the Content-Length of a GET
  metrics_.observe(std::chrono::steady_clock::now() - start);
}

HttpResponse Service::route(const HttpRequest& request, std::string_view path) const {
  if (path == "/v1/acquire") {
    HttpResponse response = error(405, "use GET or POST", request.version());
    response.set(http::field::allow, "GET, POST");
    return response;
  }
  if (path == "/healthz") {
    HttpResponse response{http::status::ok, request.version()};
    response.set(http::field::content_type, "application/json");
    response.body() = R"({"status":"ok"})";
    return response;
  }
  if (path == "/metrics") return metrics_page(request);
  return error(404, "no such endpoint (try /v1/acquire, /v1/check/POLICY, /metrics, /healthz, /readyz)",
               request.version());
}

HttpResponse Service::internal_error(const std::exception_ptr& failure, unsigned version) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return error(500, e.what(), version);
  } catch (...) {
    return error(500, "internal error", version);
  }
}

asio::awaitable<HttpResponse> Service::acquire(const HttpRequest& request) {
  Policy* policy = nullptr;
  std::string key;
  std::int64_t cost = 1;
  std::optional<HttpResponse> refused = acquire_request(request, policy, key, cost);
  if (refused) co_return std::move(*refused);
  Decision decision = co_await decide(*policy, std::move(key), cost);
  co_return decided(*policy, decision, request.version());
}

asio::awaitable<Decision> Service::decide(Policy& policy, std::string key, std::int64_t cost) {
  pending_.fetch_add(1, std::memory_order_relaxed);
  Decision decision = co_await policy.runner->acquire(std::move(key), cost);
  pending_.fetch_sub(1, std::memory_order_relaxed);
  co_return decision;
}

std::optional<HttpResponse> Service::acquire_request(const HttpRequest& request, Policy*& policy, std::string& key,
                                                     std::int64_t& cost) {
  try {
    std::string_view target{request.target().data(), request.target().size()};
    AcquireFields fields =
        request.method() == http::verb::post ? fields_of_json(request.body()) : fields_of_query(target);
    if (request.method() == http::verb::post && target.find('?') != std::string_view::npos) {
      throw BadRequest{400, "POST takes its fields in the JSON body, not the query"};
    }
    if (!fields.policy) throw BadRequest{400, "missing \"policy\""};
    auto found = policies_.find(*fields.policy);
    if (found == policies_.end()) throw BadRequest{404, "unknown policy \"" + fields.policy->substr(0, 64) + "\""};
    policy = found->second.get();
    if (!fields.key) throw BadRequest{400, "missing \"key\""};
    check_key(*fields.key);
    cost = fields.cost.value_or(1);
    if (cost < 1) throw BadRequest{400, "cost must be a positive integer, got " + std::to_string(cost)};
    if (cost > config_.max_cost) {
      throw BadRequest{400,
                       "cost " + std::to_string(cost) + " is above the cap of " + std::to_string(config_.max_cost)};
    }
    key = std::move(*fields.key);
  } catch (const BadRequest& bad) {
    return error(bad.status, bad.message, request.version());
  }
  return std::nullopt;
}

HttpResponse Service::decided(Policy& policy, const Decision& decision, unsigned version) const {
  (decision.allowed ? policy.allowed : policy.denied).fetch_add(1, std::memory_order_relaxed);
  HttpResponse response{decision.allowed ? http::status::ok : http::status::too_many_requests, version};
  response.set(http::field::content_type, "application/json");
  // Formatted by hand (the hot path); policy names are letters, digits, '-' and '_'.
  std::string& body = response.body();
  body.reserve(128);
  body.append(decision.allowed ? R"({"allowed":true,"policy":")" : R"({"allowed":false,"policy":")");
  body.append(policy.config.name).append(R"(","limit":)").append(std::to_string(decision.limit));
  body.append(R"(,"remaining":)").append(std::to_string(std::max<std::int64_t>(0, decision.remaining)));
  body.append(R"(,"retry_after_ms":)")
      .append(std::to_string(decision.never_allowed() ? -1 : ceil_ms(decision.retry_after)));
  body.append(R"(,"reset_after_ms":)").append(std::to_string(ceil_ms(decision.reset_after))).append("}");
  add_rate_limit_headers(response, policy, decision);
  return response;
}

asio::awaitable<HttpResponse> Service::check(const HttpRequest& request, std::string_view name) {
  Policy* policy = nullptr;
  std::string key;
  std::optional<HttpResponse> refused = check_request(request, name, policy, key);
  if (refused) co_return std::move(*refused);
  Decision decision = co_await decide(*policy, std::move(key), 1);
  co_return checked(*policy, decision, request.version());
}

std::optional<HttpResponse> Service::check_request(const HttpRequest& request, std::string_view name, Policy*& policy,
                                                   std::string& key) {
  auto found = policies_.find(name);
  if (found == policies_.end()) {
    return error(404, "unknown policy \"" + std::string{name.substr(0, 64)} + "\"", request.version());
  }
  policy = found->second.get();
  std::string_view header{request[policy->config.key_header].data(), request[policy->config.key_header].size()};
  std::string_view first = header.find(',') == std::string_view::npos ? header : header.substr(header.rfind(',') + 1);
  while (!first.empty() && (first.front() == ' ' || first.front() == '\t')) first.remove_prefix(1);
  while (!first.empty() && (first.back() == ' ' || first.back() == '\t')) first.remove_suffix(1);
  try {
    if (first.empty()) throw BadRequest{400, "missing the key header " + policy->config.key_header};
    check_key(first);
  } catch (const BadRequest& bad) {
    return error(bad.status, bad.message, request.version());
  }
  key = std::string{first};
  return std::nullopt;
}

HttpResponse Service::checked(Policy& policy, const Decision& decision, unsigned version) const {
  (decision.allowed ? policy.allowed : policy.denied).fetch_add(1, std::memory_order_relaxed);
  HttpResponse response{
      static_cast<http::status>(decision.allowed ? policy.config.allow_status : policy.config.deny_status), version};
  if (!decision.allowed) {
    response.set(http::field::content_type, "application/json");
    response.body() = json_text(json::object{{"error", "rate limited"}, {"policy", policy.config.name}});
  }
  add_rate_limit_headers(response, policy, decision);
  return response;
}

asio::awaitable<HttpResponse> Service::ready(const HttpRequest& request) {
  if (!storage_->redis) co_return readiness(request.version(), {}, {});
  auto [error, reply] = co_await storage_->redis->client()->async_command(ping(), asio::as_tuple(asio::use_awaitable));
  co_return readiness(request.version(), error, reply);
}

std::vector<std::string> Service::ping() { return {"PING"}; }

HttpResponse Service::readiness(unsigned version, boost::system::error_code failure, const redis::Reply& reply) const {
  if (storage_->redis && (failure || reply.type != redis::Reply::Type::status)) {
    std::string why = storage_->redis->client()->last_failure();
    return error(503, "storage unreachable: " + (why.empty() ? failure.message() : why), version);
  }
  HttpResponse response{http::status::ok, version};
  response.set(http::field::content_type, "application/json");
  response.body() = R"({"status":"ready"})";
  return response;
}

HttpResponse Service::metrics_page(const HttpRequest& request) const {
  std::string text;
  text.append("# HELP leaksnek_decisions_total Rate limit decisions by policy and outcome.\n");
  text.append("# TYPE leaksnek_decisions_total counter\n");
  for (const auto& [name, policy] : policies_) {
    text.append("leaksnek_decisions_total{policy=\"").append(label(name)).append("\",outcome=\"allowed\"} ");
    text.append(std::to_string(policy->allowed.load())).append("\n");
    text.append("leaksnek_decisions_total{policy=\"").append(label(name)).append("\",outcome=\"denied\"} ");
    text.append(std::to_string(policy->denied.load())).append("\n");
  }
  text.append("# HELP leaksnek_decisions_pending Decisions waiting on the storage now.\n");
  text.append("# TYPE leaksnek_decisions_pending gauge\n");
  text.append("leaksnek_decisions_pending ").append(std::to_string(pending_.load())).append("\n");
  redis::Statistics stats;
  if (storage_->redis) stats = storage_->redis->statistics();
  // leaksnek_storage_*; the first wave's leaksnek_store_* beside them, for charts that use them.
  for (const char* prefix : {"leaksnek_storage", "leaksnek_store"}) {
    const std::string errors = std::string{prefix} + "_errors_total";
    const std::string fallbacks = std::string{prefix} + "_fallbacks_total";
    text.append("# HELP ").append(errors).append(" Storage calls that failed (Redis unreachable or too slow).\n");
    text.append("# TYPE ").append(errors).append(" counter\n");
    text.append(errors).append(" ").append(std::to_string(stats.failures)).append("\n");
    text.append("# HELP ").append(fallbacks).append(" Decisions made by the storage error policy.\n");
    text.append("# TYPE ").append(fallbacks).append(" counter\n");
    text.append(fallbacks).append("{mode=\"fail-open\"} ").append(std::to_string(stats.failed_open)).append("\n");
    text.append(fallbacks).append("{mode=\"fail-closed\"} ").append(std::to_string(stats.failed_closed)).append("\n");
    text.append(fallbacks).append("{mode=\"local\"} ").append(std::to_string(stats.fell_back)).append("\n");
  }
  text.append(metrics_.render_histogram());
  HttpResponse response{http::status::ok, request.version()};
  response.set(http::field::content_type, "text/plain; version=0.0.4");
  response.body() = std::move(text);
  return response;
}

void Metrics::observe(std::chrono::nanoseconds latency) noexcept {
  const double seconds = static_cast<double>(latency.count()) / 1e9;
  std::size_t bucket = 0;
  while (bucket < bounds.size() && seconds > bounds[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(latency.count()), std::memory_order_relaxed);
}

std::string Metrics::render_histogram() const {
  std::string text;
  text.append("# HELP leaksnek_request_duration_seconds Time to answer a request, from parsed request to response.\n");
  text.append("# TYPE leaksnek_request_duration_seconds histogram\n");
  std::uint64_t cumulative = 0;
  char number[32];
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets_[i].load();
    std::snprintf(number, sizeof number, "%g", bounds[i]);
    text.append("leaksnek_request_duration_seconds_bucket{le=\"").append(number).append("\"} ");
    text.append(std::to_string(cumulative)).append("\n");
  }
  cumulative += buckets_[bounds.size()].load();
  text.append("leaksnek_request_duration_seconds_bucket{le=\"+Inf\"} ").append(std::to_string(cumulative)).append("\n");
  std::snprintf(number, sizeof number, "%.9f", static_cast<double>(sum_ns_.load()) / 1e9);
  text.append("leaksnek_request_duration_seconds_sum ").append(number).append("\n");
  text.append("leaksnek_request_duration_seconds_count ").append(std::to_string(count_.load())).append("\n");
  return text;
}

}  // namespace leaksnek::cli
