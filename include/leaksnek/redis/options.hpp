// Where a Redis store is and how it behaves when Redis fails.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <leaksnek/error.hpp>
#include <leaksnek/interfaces/storages/deciding_storage.hpp>
#include <leaksnek/redis/leases.hpp>
#include <leaksnek/values/time.hpp>

namespace leaksnek {

namespace redis {

// A Redis server: redis://[user:password@]host[:port][/db].
struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string user;      // empty: the default user
  std::string password;  // empty: no AUTH
  int db = 0;

  // Throws Error naming the problem (scheme, port, db, escape). TLS
  // (rediss://) and unix sockets are not supported.
  static Endpoint parse(std::string_view url);
};

struct Options {
  Endpoint endpoint;
  // Not empty: a Redis Cluster, reached first through these nodes (any
  // subset of it; the client learns the rest from CLUSTER SLOTS), and
  // `endpoint` is unused. Every node takes the first seed's credentials.
  std::vector<Endpoint> cluster;
  // Every key leaksnek writes starts with this, so one Redis can serve
  // several applications (and FLUSHDB is not the only way to clean up).
  std::string prefix = "leaksnek:";
  // The longest call: connecting (when needed) and the command together.
  // A call that would take longer fails with StorageError.
  Duration timeout = std::chrono::milliseconds{250};
  // After a failure to reach Redis, calls fail at once for this long instead
  // of each waiting for its own timeout; the next call after it reconnects.
  Duration retry_interval = std::chrono::milliseconds{250};
  // Idle connections kept by the synchronous client (more are opened when
  // more threads call at once, and closed when returned beyond this).
  std::size_t pool_size = 8;
  // The longest key accepted (bytes), so that a key from a client cannot
  // grow Redis without bound.
  std::size_t max_key_size = 512;
  OnStorageError on_error = OnStorageError::local;
  // Keys the local fallback keeps at most while Redis is down (least recently
  // used go first): an outage must not grow memory without bound.
  std::size_t local_max_keys = 1'000'000;
  // Leases of hot keys' capacity, spent in this process (see leases.hpp and
  // the README's Redis section). Off by default.
  LeaseOptions lease;

  // Sets `endpoint` from redis://[user:password@]host[:port][/db], or
  // `cluster` from redis-cluster://[user:password@]host:port[,host:port...]
  // (a cluster has only database 0: a database number is refused); either
  // may end in ?lease=on[&lease_max=N][&lease_ttl=Nms|Ns] (see `lease`).
  // Throws Error naming the problem.
  void set_url(std::string_view url);
  [[nodiscard]] bool is_cluster() const noexcept { return !cluster.empty(); }
};

}  // namespace redis
}  // namespace leaksnek
