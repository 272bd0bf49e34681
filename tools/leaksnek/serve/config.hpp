// `leaksnek serve`'s configuration: named policies in a TOML file, checked
// at start with messages that name the file, the policy and the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <leaksnek/interfaces/storages/deciding_storage.hpp>
#include <leaksnek/redis/leases.hpp>
#include <leaksnek/values/rate_limit.hpp>

#include "serve/config_error.hpp"
#include "serve/envoy_config.hpp"

namespace leaksnek::cli {

// `threads` (and --threads) at most.
constexpr std::int64_t max_serve_threads = 256;

struct ServePolicy {
  std::string name;
  std::string algorithm;          // one of the six names of spec/simulate.md
  std::vector<RateLimit> limits;  // 1 to 8, all-or-nothing
  // /v1/check/{policy} (nginx auth_request, Envoy ext_authz): the request
  // header holding the key, all its lines read as one comma-separated list
  // (RFC 9110), and which element is the key: the trusted_proxies-th from the
  // end (1: the last, the address your nearest proxy appended, which a client
  // cannot forge through nginx's $proxy_add_x_forwarded_for; 2 behind two
  // proxies, and so on); the status of an allowance (204, or 200 for Envoy)
  // and of a denial (429 or 403).
  std::string key_header = "X-Forwarded-For";
  std::size_t trusted_proxies = 1;  // 1 to 16
  unsigned allow_status = 204;
  unsigned deny_status = 429;
  // Leases of hot keys' capacity on a Redis storage (redis::LeaseOptions):
  // `lease = true`, optionally `lease_max` (tokens) and `lease_ttl` (a
  // duration); `lease = false` turns off the storage URL's ?lease=on for
  // this policy; unset, the URL decides. No effect on the memory storage.
  std::optional<bool> lease;
  std::int64_t lease_max = redis::LeaseOptions{}.max;
  Duration lease_ttl = redis::LeaseOptions{}.ttl;
};

struct ServeConfig {
  std::string listen = "127.0.0.1:8080";
  std::string storage = "memory";              // or redis://...
  std::string storage_key = "server.storage";  // where it was read, for messages
  OnStorageError on_storage_error = OnStorageError::local;
  std::int64_t max_cost = 1'000'000;  // a request's cost above this is refused (400)
  // Open connections at most (and below the descriptor limit); at the cap the
  // oldest connection waiting for a request is closed to admit a new one.
  std::int64_t max_connections = 10'000;
  std::int64_t max_keys = 1'000'000;  // keys kept in memory (the storage, or Redis's local fallback) at most
  // Threads serving connections, all on the one storage; 0: one per core
  // this process may run on.
  std::int64_t threads = 0;
  bool access_log = false;
  std::vector<ServePolicy> policies;  // by name; at least one policy or domain in all
  // Envoy's rate limit service over gRPC (empty: off), and its domains
  // (envoyproxy/ratelimit's YAML files).
  std::string grpc_listen;
  bool grpc_response_headers = false;                // RateLimit-* in response_headers_to_add
  bool grpc_stop_increment_when_over_limit = false;  // no counting when any descriptor is over
  std::vector<envoy::Domain> domains;
};

// Parses and checks a configuration; throws ConfigError naming `file`, the
// policy and the field. Shape:
//   [server]                  # optional: listen, storage, on_storage_error, max_cost, max_keys,
//                             # max_connections, threads, access_log, grpc_listen,
//                             # grpc_response_headers, grpc_stop_increment_when_over_limit
//                             # ("store" and "on_store_error" are read as old spellings)
//   [policies.api]
//   algorithm = "gcra"
//   limit = "100/s"           # or limits = ["5/m", "20/h"]
//   burst = 200               # optional, the bucket family
//   key_header = "X-Real-IP"  # optional, for /v1/check/api
//   trusted_proxies = 2       # optional, for /v1/check/api (1 by default)
//   allow_status = 200        # optional, for /v1/check/api (204 by default)
//   deny_status = 403         # optional, for /v1/check/api
// `require_policies`: refuse a file without [policies] (false when YAML
// files bring domains beside it).
ServeConfig parse_serve_config(std::string_view text, std::string_view file, bool require_policies = true);

// The configuration of `paths` (each --config): TOML files (at most one; its
// policies and [server]), envoyproxy/ratelimit YAML files (.yaml, .yml) and
// directories of them, one domain each. Throws ConfigError naming the file;
// at least one policy or domain in all.
ServeConfig load_serve_config(const std::vector<std::string>& paths);

}  // namespace leaksnek::cli
