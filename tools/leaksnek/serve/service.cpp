#include "serve/service.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>

#include "serve/requests.hpp"

namespace leaksnek::cli {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

std::int64_t ceil_ms(Duration d) { return d.count() / 1'000'000 + (d.count() % 1'000'000 > 0 ? 1 : 0); }
std::int64_t ceil_s(Duration d) { return d.count() / 1'000'000'000 + (d.count() % 1'000'000'000 > 0 ? 1 : 0); }

std::string json_text(const json::object& object) { return json::serialize(object); }

// The RateLimit-Policy field of `policy`: the same for every decision.
std::string rate_limit_policy(const ServePolicy& policy) {
  const std::string quoted = "\"" + policy.name + "\"";
  std::string policies;
  for (const RateLimit& limit : policy.limits) {
    if (!policies.empty()) policies.append(", ");
    std::int64_t quota =
        policy.algorithm == "gcra" || policy.algorithm == "token-bucket" || policy.algorithm == "leaky-bucket"
            ? limit.burst()
            : limit.count();
    policies.append(quoted).append(";q=").append(std::to_string(quota));
    policies.append(";w=").append(std::to_string(std::max<std::int64_t>(1, ceil_s(limit.period()))));
  }
  return policies;
}

}  // namespace

struct Service::Counters {
  Counter allowed;
  Counter denied;
};

struct Service::Policy {
  ServePolicy config;
  std::string rate_limit_policy;  // its RateLimit-Policy field
  std::unique_ptr<PolicyRunner> runner;
  std::shared_ptr<Counters> counters;
};

class PolicySet {
 public:
  ServeConfig config;  // policies as built below
  std::map<std::string, std::unique_ptr<Service::Policy>, std::less<>> policies;

  [[nodiscard]] const Service::Policy* find(std::string_view name) const {
    auto found = policies.find(name);
    return found == policies.end() ? nullptr : found->second.get();
  }
};

Service::Service(asio::any_io_executor executor, ServeConfig config)
    : executor_{std::move(executor)},
      started_{config},
      storage_{open_storage(executor_, started_)},
      envoy_{std::make_unique<EnvoyService>(executor_, started_, storage_)} {
  std::lock_guard lock{mutex_};
  current_ = build(std::move(config));
}

std::shared_ptr<const PolicySet> Service::build(ServeConfig config) const {
  auto set = std::make_shared<PolicySet>();
  for (const ServePolicy& policy : config.policies) {
    auto entry = std::make_unique<Policy>();
    entry->config = policy;
    entry->rate_limit_policy = rate_limit_policy(policy);
    entry->runner = make_runner(executor_, policy, storage_);
    auto& counters = counters_[policy.name];
    if (!counters) counters = std::make_shared<Counters>();
    entry->counters = counters;
    set->policies.emplace(policy.name, std::move(entry));
  }
  set->config = std::move(config);
  return set;
}

std::shared_ptr<const PolicySet> Service::policies() const {
  std::lock_guard lock{mutex_};
  return current_;
}

Reloaded Service::reload(ServeConfig next) {
  Reloaded reloaded;
  auto keep = [&](auto ServeConfig::*field, const char* name, const auto& text) {
    if (next.*field != started_.*field) {
      reloaded.at_next_start.push_back(std::string{"server."} + name + " changed from " + text(started_.*field) +
                                       " to " + text(next.*field));
      next.*field = started_.*field;
    }
  };
  auto quoted = [](const std::string& value) { return "\"" + value + "\""; };
  auto number = [](std::int64_t value) { return std::to_string(value); };
  auto policy = [](OnStorageError value) { return std::string{to_string(value)}; };
  keep(&ServeConfig::listen, "listen", quoted);
  keep(&ServeConfig::threads, "threads", number);
  keep(&ServeConfig::storage, "storage", quoted);
  keep(&ServeConfig::on_storage_error, "on_storage_error", policy);
  keep(&ServeConfig::max_keys, "max_keys", number);
  keep(&ServeConfig::grpc_listen, "grpc_listen", quoted);
  next.storage_key = started_.storage_key;
  std::shared_ptr<const PolicySet> built = build(next);
  envoy_->configure(next);  // last: what may throw has been built
  {
    std::lock_guard lock{mutex_};
    current_ = std::move(built);
  }
  reloads_applied_.add();
  last_reload_ok_.store(true, std::memory_order_relaxed);
  return reloaded;
}

void Service::refused() noexcept {
  reloads_refused_.add();
  last_reload_ok_.store(false, std::memory_order_relaxed);
}

ServeConfig Service::config() const { return policies()->config; }

bool Service::access_log(const PolicySet& policies) noexcept { return policies.config.access_log; }

Service::~Service() = default;

HttpResponse Service::error(unsigned status, std::string_view message, unsigned version) {
  HttpResponse response{static_cast<http::status>(status), version};
  response.set(http::field::content_type, "application/json");
  response.body() = json_text(json::object{{"error", message}});
  response.prepare_payload();
  return response;
}

void Service::add_rate_limit_headers(HttpResponse& response, const Policy& policy, const Decision& decision) {
  const std::string& policies = policy.rate_limit_policy;
  const std::string quoted = "\"" + policy.config.name + "\"";
  response.set("RateLimit-Policy", policies);
  response.set("RateLimit", quoted + ";r=" + std::to_string(std::max<std::int64_t>(0, decision.remaining)) +
                                ";t=" + std::to_string(ceil_s(decision.reset_after)));
  if (!decision.allowed && !decision.never_allowed()) {
    response.set(http::field::retry_after, std::to_string(std::max<std::int64_t>(1, ceil_s(decision.retry_after))));
  }
}

asio::awaitable<HttpResponse> Service::handle(const HttpRequest& request, std::shared_ptr<const PolicySet> policies) {
  const auto start = std::chrono::steady_clock::now();
  std::string_view target{request.target().data(), request.target().size()};
  std::string_view path = target.substr(0, target.find('?'));
  HttpResponse response;
  std::exception_ptr failure;
  try {
    if (path == "/v1/acquire" && (request.method() == http::verb::get || request.method() == http::verb::post)) {
      response = co_await acquire(request, *policies);
    } else if (path.starts_with("/v1/check/")) {
      std::string_view name = path.substr(10);
      response = co_await check(request, *policies, name.substr(0, name.find('/')));  // Envoy appends the path
    } else if (path == "/readyz") {
      response = co_await ready(request);
    } else {
      response = route(request, *policies, path);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) response = internal_error(failure, request.version());
  finish(request, response, start);
  co_return response;
}

std::optional<HttpResponse> Service::handle_now(const HttpRequest& request, const PolicySet& policies) {
  const auto start = std::chrono::steady_clock::now();
  std::string_view target{request.target().data(), request.target().size()};
  std::string_view path = target.substr(0, target.find('?'));
  std::optional<HttpResponse> response;
  try {
    if (path == "/v1/acquire" && (request.method() == http::verb::get || request.method() == http::verb::post)) {
      const Policy* policy = nullptr;
      std::string key;
      std::int64_t cost = 1;
      response = acquire_request(request, policies, policy, key, cost);
      if (!response) {
        std::optional<Decision> decision = policy->runner->acquire_now(key, cost);
        if (!decision) return std::nullopt;
        response = decided(*policy, *decision, request.version());
      }
    } else if (path.starts_with("/v1/check/")) {
      std::string_view name = path.substr(10);
      const Policy* policy = nullptr;
      std::string key;
      response = check_request(request, policies, name.substr(0, name.find('/')), policy, key);
      if (!response) {
        std::optional<Decision> decision = policy->runner->acquire_now(key, 1);
        if (!decision) return std::nullopt;
        response = checked(*policy, *decision, request.version());
      }
    } else if (path == "/readyz") {
      if (storage_.redis) return std::nullopt;
      response = readiness(request.version(), {}, {});
    } else {
      response = route(request, policies, path);
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

HttpResponse Service::route(const HttpRequest& request, const PolicySet& policies, std::string_view path) const {
  if (path == "/v1/acquire") {
    HttpResponse response = error(405, "use GET or POST", request.version());
    response.set(http::field::allow, "GET, POST");
    return response;
  }
  if (path == "/healthz" || path == "/healthcheck") {  // the second: envoyproxy/ratelimit's probes' path
    HttpResponse response{http::status::ok, request.version()};
    response.set(http::field::content_type, "application/json");
    response.body() = R"({"status":"ok"})";
    return response;
  }
  if (path == "/metrics") return metrics_page(request, policies);
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

asio::awaitable<HttpResponse> Service::acquire(const HttpRequest& request, const PolicySet& policies) {
  const Policy* policy = nullptr;
  std::string key;
  std::int64_t cost = 1;
  std::optional<HttpResponse> refused = acquire_request(request, policies, policy, key, cost);
  if (refused) co_return std::move(*refused);
  Decision decision = co_await decide(*policy, std::move(key), cost);
  co_return decided(*policy, decision, request.version());
}

asio::awaitable<Decision> Service::decide(const Policy& policy, std::string key, std::int64_t cost) {
  pending_.fetch_add(1, std::memory_order_relaxed);
  Decision decision = co_await policy.runner->acquire(std::move(key), cost);
  pending_.fetch_sub(1, std::memory_order_relaxed);
  co_return decision;
}

std::optional<HttpResponse> Service::acquire_request(const HttpRequest& request, const PolicySet& policies,
                                                     const Policy*& policy, std::string& key, std::int64_t& cost) {
  try {
    std::string_view target{request.target().data(), request.target().size()};
    AcquireFields fields =
        request.method() == http::verb::post ? fields_of_json(request.body()) : fields_of_query(target);
    if (request.method() == http::verb::post && target.find('?') != std::string_view::npos) {
      throw BadRequest{400, "POST takes its fields in the JSON body, not the query"};
    }
    if (!fields.policy) throw BadRequest{400, "missing \"policy\""};
    policy = policies.find(*fields.policy);
    if (policy == nullptr) throw BadRequest{404, "unknown policy \"" + fields.policy->substr(0, 64) + "\""};
    if (!fields.key) throw BadRequest{400, "missing \"key\""};
    check_key(*fields.key);
    cost = fields.cost.value_or(1);
    if (cost < 1) throw BadRequest{400, "cost must be a positive integer, got " + std::to_string(cost)};
    if (cost > policies.config.max_cost) {
      throw BadRequest{
          400, "cost " + std::to_string(cost) + " is above the cap of " + std::to_string(policies.config.max_cost)};
    }
    key = std::move(*fields.key);
  } catch (const BadRequest& bad) {
    return error(bad.status, bad.message, request.version());
  }
  return std::nullopt;
}

HttpResponse Service::decided(const Policy& policy, const Decision& decision, unsigned version) const {
  (decision.allowed ? policy.counters->allowed : policy.counters->denied).add();
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

asio::awaitable<HttpResponse> Service::check(const HttpRequest& request, const PolicySet& policies,
                                             std::string_view name) {
  const Policy* policy = nullptr;
  std::string key;
  std::optional<HttpResponse> refused = check_request(request, policies, name, policy, key);
  if (refused) co_return std::move(*refused);
  Decision decision = co_await decide(*policy, std::move(key), 1);
  co_return checked(*policy, decision, request.version());
}

std::optional<HttpResponse> Service::check_request(const HttpRequest& request, const PolicySet& policies,
                                                   std::string_view name, const Policy*& policy, std::string& key) {
  policy = policies.find(name);
  if (policy == nullptr) {
    return error(404, "unknown policy \"" + std::string{name.substr(0, 64)} + "\"", request.version());
  }
  // Every line of the header, in order, as one list (a proxy appends its
  // element last, whatever a client wrote before it).
  std::array<std::string_view, max_key_header_lines> lines;
  std::size_t count = 0;
  for (auto [it, end] = request.equal_range(policy->config.key_header); it != end; ++it) {
    if (count == lines.size()) {
      return error(400,
                   "the key header " + policy->config.key_header + " has more than " +
                       std::to_string(max_key_header_lines) + " lines",
                   request.version());
    }
    lines[count++] = std::string_view{it->value().data(), it->value().size()};
  }
  try {
    key = std::string{
        key_of_header(std::span{lines.data(), count}, policy->config.trusted_proxies, policy->config.key_header)};
  } catch (const BadRequest& bad) {
    return error(bad.status, bad.message, request.version());
  }
  return std::nullopt;
}

HttpResponse Service::checked(const Policy& policy, const Decision& decision, unsigned version) const {
  (decision.allowed ? policy.counters->allowed : policy.counters->denied).add();
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
  if (!storage_.redis) co_return readiness(request.version(), {}, {});
  auto [error, reply] = co_await storage_.redis->client()->async_command(ping(), asio::as_tuple(asio::use_awaitable));
  co_return readiness(request.version(), error, reply);
}

std::vector<std::string> Service::ping() { return {"PING"}; }

HttpResponse Service::readiness(unsigned version, boost::system::error_code failure, const redis::Reply& reply) const {
  if (storage_.redis && (failure || reply.type != redis::Reply::Type::status)) {
    std::string why = reply.type == redis::Reply::Type::error ? reply.text : storage_.redis->client()->last_failure();
    return error(503, "storage unreachable: " + (why.empty() ? failure.message() : why), version);
  }
  HttpResponse response{http::status::ok, version};
  response.set(http::field::content_type, "application/json");
  response.body() = R"({"status":"ready"})";
  return response;
}

HttpResponse Service::metrics_page(const HttpRequest& request, const PolicySet& policies) const {
  std::string text;
  text.append("# HELP leaksnek_decisions_total Rate limit decisions by policy and outcome.\n");
  text.append("# TYPE leaksnek_decisions_total counter\n");
  for (const auto& [name, policy] : policies.policies) {
    text.append("leaksnek_decisions_total{policy=\"").append(prometheus_label(name)).append("\",outcome=\"allowed\"} ");
    text.append(std::to_string(policy->counters->allowed.load())).append("\n");
    text.append("leaksnek_decisions_total{policy=\"").append(prometheus_label(name)).append("\",outcome=\"denied\"} ");
    text.append(std::to_string(policy->counters->denied.load())).append("\n");
  }
  text.append("# HELP leaksnek_decisions_pending Decisions waiting on the storage now.\n");
  text.append("# TYPE leaksnek_decisions_pending gauge\n");
  text.append("leaksnek_decisions_pending ").append(std::to_string(pending_.load())).append("\n");
  redis::Statistics stats;
  if (storage_.redis) stats = storage_.redis->statistics();
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
  text.append("# HELP leaksnek_leases_total Leases of hot keys' capacity taken from Redis.\n");
  text.append("# TYPE leaksnek_leases_total counter\n");
  text.append("leaksnek_leases_total ").append(std::to_string(stats.leases)).append("\n");
  text.append("# HELP leaksnek_lease_tokens_total Leased tokens: taken, given back unspent, lost unspent.\n");
  text.append("# TYPE leaksnek_lease_tokens_total counter\n");
  text.append("leaksnek_lease_tokens_total{state=\"leased\"} ").append(std::to_string(stats.leased)).append("\n");
  text.append("leaksnek_lease_tokens_total{state=\"given_back\"} ")
      .append(std::to_string(stats.given_back))
      .append("\n");
  text.append("leaksnek_lease_tokens_total{state=\"expired\"} ")
      .append(std::to_string(stats.lease_expired))
      .append("\n");
  text.append("# HELP leaksnek_local_decisions_total Decisions made without a storage call.\n");
  text.append("# TYPE leaksnek_local_decisions_total counter\n");
  text.append("leaksnek_local_decisions_total{source=\"lease\"} ")
      .append(std::to_string(stats.lease_spent))
      .append("\n");
  text.append("leaksnek_local_decisions_total{source=\"cached_denial\"} ")
      .append(std::to_string(stats.denied_cached))
      .append("\n");
  text.append("# HELP leaksnek_config_reloads_total Configuration reloads (SIGHUP) by result.\n");
  text.append("# TYPE leaksnek_config_reloads_total counter\n");
  text.append("leaksnek_config_reloads_total{result=\"applied\"} ")
      .append(std::to_string(reloads_applied_.load()))
      .append("\n");
  text.append("leaksnek_config_reloads_total{result=\"refused\"} ")
      .append(std::to_string(reloads_refused_.load()))
      .append("\n");
  text.append("# HELP leaksnek_config_last_reload_successful 1 unless the latest reload was refused.\n");
  text.append("# TYPE leaksnek_config_last_reload_successful gauge\n");
  text.append("leaksnek_config_last_reload_successful ")
      .append(last_reload_ok_.load(std::memory_order_relaxed) ? "1" : "0")
      .append("\n");
  text.append(metrics_.render_histogram());
  if (!policies.config.domains.empty()) text.append(envoy_->metrics());
  HttpResponse response{http::status::ok, request.version()};
  response.set(http::field::content_type, "text/plain; version=0.0.4");
  response.body() = std::move(text);
  return response;
}

namespace {
// RFC 9110 6.6.1: an origin server with a clock sends Date; formatted once a
// second per thread (the C locale's day and month names, as the RFC's).
std::string_view http_date() {
  thread_local std::time_t formatted = -1;
  thread_local std::array<char, 40> text{};
  const std::time_t now = std::time(nullptr);
  if (now != formatted) {
    std::tm utc{};
    gmtime_r(&now, &utc);
    std::strftime(text.data(), text.size(), "%a, %d %b %Y %H:%M:%S GMT", &utc);
    formatted = now;
  }
  return text.data();
}
}  // namespace

void serialize(const HttpResponse& response, std::string& out) {
  out.clear();
  out.append(response.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  const unsigned status = response.result_int();
  out.push_back(static_cast<char>('0' + status / 100 % 10));
  out.push_back(static_cast<char>('0' + status / 10 % 10));
  out.push_back(static_cast<char>('0' + status % 10));
  out.push_back(' ');
  const boost::beast::string_view reason = response.reason();
  const boost::beast::string_view text = reason.empty() ? http::obsolete_reason(response.result()) : reason;
  out.append(text.data(), text.size()).append("\r\n");
  out.append("Date: ").append(http_date()).append("\r\n");
  for (const auto& field : response) {
    out.append(field.name_string().data(), field.name_string().size()).append(": ");
    out.append(field.value().data(), field.value().size()).append("\r\n");
  }
  out.append("\r\n").append(response.body());
}

}  // namespace leaksnek::cli
