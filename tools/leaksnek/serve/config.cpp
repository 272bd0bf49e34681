#include "serve/config.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <leaksnek/algorithms/gcra.hpp>
#include <leaksnek/redis/options.hpp>
#include <leaksnek/shortcuts/rate_limit.hpp>

#include "arguments.hpp"
#include "serve/requests.hpp"
#include "simulate.hpp"

namespace leaksnek::cli {

namespace {

class Checker {
 public:
  explicit Checker(std::string_view file) : file_{file} {}

  [[noreturn]] void fail(std::string_view where, std::string_view problem) const {
    std::string message{file_};
    message.append(": ");
    if (!where.empty()) message.append(where).append(": ");
    message.append(problem);
    throw ConfigError{message};
  }

  // Refuses keys other than `known`, so a typo does not pass silently.
  void only(const toml::table& table, std::string_view where, std::initializer_list<std::string_view> known) const {
    for (const auto& [key, value] : table) {
      if (std::find(known.begin(), known.end(), key.str()) == known.end()) {
        std::string problem{"unknown field \""};
        problem.append(key.str()).append("\" (expected one of:");
        for (std::string_view name : known) problem.append(" ").append(name);
        problem.append(")");
        fail(where, problem);
      }
    }
  }

  // The string at `key`; empty when absent. An empty string is refused.
  std::string string(const toml::table& table, std::string_view where, std::string_view key) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return {};
    if (!node->is_string()) fail(field(where, key), "must be a string");
    std::string value{node->as_string()->get()};
    if (value.empty()) fail(field(where, key), "must not be empty");
    return value;
  }

  std::int64_t integer(const toml::table& table, std::string_view where, std::string_view key, std::int64_t low,
                       std::int64_t high, std::int64_t fallback) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    if (!node->is_integer()) fail(field(where, key), "must be an integer");
    std::int64_t value = node->as_integer()->get();
    if (value < low || value > high) {
      fail(field(where, key),
           "must be from " + std::to_string(low) + " to " + std::to_string(high) + ", got " + std::to_string(value));
    }
    return value;
  }

  static std::string field(std::string_view where, std::string_view key) {
    std::string path{where};
    return path.append(".").append(key);
  }

  RateLimit rate(std::string_view text, std::string_view where) const {
    try {
      return rl(text);
    } catch (const RateError& error) {
      fail(where, error.what());
    }
  }

 private:
  std::string file_;
};

ServePolicy parse_policy(const Checker& check, std::string_view name, const toml::table& table) {
  const std::string where = "policies." + std::string{name};
  check.only(table, where,
             {"algorithm", "limit", "limits", "burst", "key_header", "trusted_proxies", "allow_status", "deny_status",
              "lease", "lease_max", "lease_ttl"});
  ServePolicy policy;
  policy.name = std::string{name};
  policy.algorithm = check.string(table, where, "algorithm");
  if (policy.algorithm.empty()) check.fail(where, "missing field \"algorithm\"");
  if (std::find(std::begin(algorithm_names), std::end(algorithm_names), policy.algorithm) ==
      std::end(algorithm_names)) {
    check.fail(Checker::field(where, "algorithm"),
               "unknown algorithm \"" + policy.algorithm +
                   "\" (expected token-bucket, gcra, leaky-bucket, fixed-window, sliding-window or sliding-log)");
  }
  const toml::node* limit = table.get("limit");
  const toml::node* limits = table.get("limits");
  if ((limit == nullptr) == (limits == nullptr)) check.fail(where, "give exactly one of \"limit\" and \"limits\"");
  if (limit != nullptr) {
    if (!limit->is_string()) check.fail(Checker::field(where, "limit"), "must be a string such as \"100/s\"");
    policy.limits.push_back(check.rate(limit->as_string()->get(), Checker::field(where, "limit")));
  } else {
    const toml::array* list = limits->as_array();
    if (list == nullptr || list->empty() || list->size() > 8) {
      check.fail(Checker::field(where, "limits"), "must be a list of 1 to 8 strings such as [\"5/m\", \"20/h\"]");
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      std::string item = Checker::field(where, "limits") + "[" + std::to_string(i) + "]";
      const toml::node& element = *list->get(i);
      if (!element.is_string()) check.fail(item, "must be a string such as \"20/h\"");
      policy.limits.push_back(check.rate(element.as_string()->get(), item));
    }
  }
  const bool bucket =
      policy.algorithm == "gcra" || policy.algorithm == "token-bucket" || policy.algorithm == "leaky-bucket";
  if (table.contains("burst") && !bucket) {
    check.fail(Checker::field(where, "burst"), "only the bucket family (gcra, token-bucket, leaky-bucket) has a burst");
  }
  if (table.contains("burst")) {
    std::int64_t burst = check.integer(table, where, "burst", 1, RateLimit::max_count, 1);
    for (RateLimit& rate : policy.limits) rate = rate.with_burst(burst);
    try {
      for (const RateLimit& rate : policy.limits) (void)Gcra{rate};
    } catch (const RateError& error) {
      check.fail(Checker::field(where, "burst"), error.what());
    }
  }
  std::string header = check.string(table, where, "key_header");
  if (!header.empty()) {
    auto token = [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c);
    };
    if (!std::all_of(header.begin(), header.end(), token))
      check.fail(Checker::field(where, "key_header"), "is not a header name");
    policy.key_header = header;
  }
  policy.trusted_proxies =
      static_cast<std::size_t>(check.integer(table, where, "trusted_proxies", 1, max_trusted_proxies, 1));
  policy.allow_status = static_cast<unsigned>(check.integer(table, where, "allow_status", 0, 999, 204));
  if (policy.allow_status != 200 && policy.allow_status != 204) {
    check.fail(Checker::field(where, "allow_status"), "must be 204 or 200");
  }
  policy.deny_status = static_cast<unsigned>(check.integer(table, where, "deny_status", 0, 999, 429));
  if (policy.deny_status != 403 && policy.deny_status != 429) {
    check.fail(Checker::field(where, "deny_status"), "must be 429 or 403");
  }
  if (const toml::node* lease = table.get("lease")) {
    if (!lease->is_boolean()) check.fail(Checker::field(where, "lease"), "must be true or false");
    policy.lease = lease->as_boolean()->get();
  }
  if ((table.contains("lease_max") || table.contains("lease_ttl")) && policy.lease != true) {
    check.fail(where, "lease_max and lease_ttl need lease = true");
  }
  policy.lease_max = check.integer(table, where, "lease_max", 1, 1'000'000'000, policy.lease_max);
  if (const toml::node* ttl = table.get("lease_ttl")) {
    const std::string field = Checker::field(where, "lease_ttl");
    if (!ttl->is_string()) check.fail(field, "must be a duration such as \"100ms\"");
    try {
      policy.lease_ttl = parse_duration(field, ttl->as_string()->get());
    } catch (const Error& error) {
      check.fail(field, error.what());
    }
    if (policy.lease_ttl < std::chrono::milliseconds{1} || policy.lease_ttl > std::chrono::hours{1}) {
      check.fail(field, "must be from 1ms to 1h");
    }
  }
  return policy;
}

}  // namespace

ServeConfig parse_serve_config(std::string_view text, std::string_view file, bool require_policies) {
  Checker check{file};
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& error) {
    std::ostringstream where;
    where << "line " << error.source().begin.line << ", column " << error.source().begin.column;
    check.fail(where.str(), error.description());
  }
  check.only(root, "", {"server", "policies"});
  ServeConfig config;
  if (const toml::node* server = root.get("server")) {
    const toml::table* table = server->as_table();
    if (table == nullptr) check.fail("server", "must be a table");
    check.only(
        *table, "server",
        {"listen", "storage", "on_storage_error", "max_cost", "max_keys", "max_connections", "threads", "access_log",
         "store", "on_store_error", "grpc_listen", "grpc_response_headers", "grpc_stop_increment_when_over_limit"});
    config.grpc_listen = check.string(*table, "server", "grpc_listen");
    for (auto [key, field] :
         {std::pair{"grpc_response_headers", &ServeConfig::grpc_response_headers},
          std::pair{"grpc_stop_increment_when_over_limit", &ServeConfig::grpc_stop_increment_when_over_limit}}) {
      if (const toml::node* flag = table->get(key)) {
        if (!flag->is_boolean()) check.fail(std::string{"server."} + key, "must be true or false");
        config.*field = flag->as_boolean()->get();
      }
    }
    if (std::string listen = check.string(*table, "server", "listen"); !listen.empty()) config.listen = listen;
    // "store" and "on_store_error": the first wave's spellings, still read.
    for (const char* key : {"storage", "store"}) {
      if (std::string storage = check.string(*table, "server", key); !storage.empty()) {
        if (table->contains("storage") && table->contains("store")) {
          check.fail("server.store", "give \"storage\" only (\"store\" is its old spelling)");
        }
        config.storage = storage;
        config.storage_key = std::string{"server."} + key;
      }
    }
    for (const char* key : {"on_storage_error", "on_store_error"}) {
      if (std::string policy = check.string(*table, "server", key); !policy.empty()) {
        if (table->contains("on_storage_error") && table->contains("on_store_error")) {
          check.fail("server.on_store_error",
                     "give \"on_storage_error\" only (\"on_store_error\" is its old spelling)");
        }
        try {
          config.on_storage_error = parse_on_storage_error(policy);
        } catch (const Error& error) {
          check.fail(std::string{"server."} + key, error.what());
        }
      }
    }
    config.max_cost = check.integer(*table, "server", "max_cost", 1, RateLimit::max_count, config.max_cost);
    config.max_connections = check.integer(*table, "server", "max_connections", 1, 1'000'000, config.max_connections);
    config.max_keys = check.integer(*table, "server", "max_keys", 1, std::int64_t{1} << 40, config.max_keys);
    config.threads = check.integer(*table, "server", "threads", 1, max_serve_threads, config.threads);
    if (const toml::node* log = table->get("access_log")) {
      if (!log->is_boolean()) check.fail("server.access_log", "must be true or false");
      config.access_log = log->as_boolean()->get();
    }
  }
  if (config.storage != "memory") {
    try {
      redis::Options{}.set_url(config.storage);
    } catch (const Error& error) {
      check.fail(config.storage_key, std::string{error.what()} + " (or \"memory\")");
    }
  }
  const toml::node* policies = root.get("policies");
  if (policies == nullptr && !require_policies) return config;
  if (policies == nullptr || policies->as_table() == nullptr || policies->as_table()->empty()) {
    check.fail("", "no policies: add at least one [policies.NAME] table");
  }
  for (const auto& [name, value] : *policies->as_table()) {
    std::string where = "policies." + std::string{name.str()};
    if (!value.is_table()) check.fail(where, "must be a table");
    if (name.str().empty() || name.str().size() > 64 || !std::all_of(name.str().begin(), name.str().end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
        })) {
      check.fail(where, "a policy name is 1 to 64 letters, digits, '-' or '_'");
    }
    config.policies.push_back(parse_policy(check, name.str(), *value.as_table()));
  }
  return config;
}

ServeConfig load_serve_config(const std::vector<std::string>& paths) {
  auto is_yaml = [](const std::filesystem::path& path) {
    return std::filesystem::is_directory(path) || path.extension() == ".yaml" || path.extension() == ".yml";
  };
  std::optional<std::string> toml_file;
  bool any_yaml = false;
  for (const std::string& path : paths) {
    if (is_yaml(path)) {
      any_yaml = true;
    } else if (toml_file) {
      throw ConfigError{path + ": a second TOML file (after " + *toml_file +
                        "): give one, with every policy and [server]"};
    } else {
      toml_file = path;
    }
  }
  ServeConfig config;
  if (toml_file) {
    std::ifstream in{*toml_file, std::ios::binary};
    if (!in) throw ConfigError{"cannot open '" + *toml_file + "'"};
    std::stringstream text;
    text << in.rdbuf();
    config = parse_serve_config(text.str(), *toml_file, !any_yaml);
  }
  for (const std::string& path : paths) {
    if (!is_yaml(path)) continue;
    for (envoy::Domain& domain : envoy::load_envoy_yaml(path)) {
      for (const envoy::Domain& other : config.domains) {
        if (other.name == domain.name) {
          throw ConfigError{domain.file + ": domain \"" + domain.name + "\" is already defined in " + other.file};
        }
      }
      config.domains.push_back(std::move(domain));
    }
  }
  if (config.policies.empty() && config.domains.empty()) {
    throw ConfigError{paths.empty() ? std::string{"no configuration"}
                                    : paths.front() + ": no policies and no domains: nothing to serve"};
  }
  return config;
}

}  // namespace leaksnek::cli
