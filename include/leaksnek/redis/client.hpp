// A synchronous Redis client over hiredis: a pool of connections shared by
// threads, a deadline on every call, and Lua scripts run by FCALL (or EVALSHA). It only
// carries commands: the handshake, fail-fast while Redis is down, NOSCRIPT
// recovery and the wording of failures are the Session's (session.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <leaksnek/redis/options.hpp>
#include <leaksnek/redis/session.hpp>

namespace leaksnek::redis {

// Thread-safe. Each call takes an idle connection (or opens one: connect,
// then the handshake), sends one command and reads its reply: one round trip
// on a warm connection, two more after NOSCRIPT or "Function not found". One
// deadline, Options::timeout, covers all of it. Throws StorageError on failure.
//
// With Options::cluster, a Redis Cluster: a pool per master, each call
// routed to its key's master by the slot map (CLUSTER SLOTS, read on the
// first call and again after MOVED or a failed master), following MOVED and
// ASK, retrying TRYAGAIN and CLUSTERDOWN with a backoff and a failed-over
// master once the map names its successor, all within the one deadline. A
// command's key is its second word (GET key, SET key ...); a call to a
// script, its first key (every key of one call must share its slot).
class Client {
 public:
  explicit Client(Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One command (binary-safe arguments).
  Reply command(std::span<const std::string_view> args);
  Reply command(std::initializer_list<std::string_view> args) {
    return command(std::span<const std::string_view>{args.begin(), args.size()});
  }

  // FCALL (or EVALSHA) of `script` with `keys` then `args`; loads the code
  // and retries once when the server lacks it (a restarted or flushed
  // server). An error reply from the script becomes StorageError (see
  // ScriptCall).
  Reply eval(const Script& script, std::span<const std::string_view> keys, std::span<const std::string_view> args);
  Reply eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args);

  [[nodiscard]] const Options& options() const noexcept;
  [[nodiscard]] Statistics statistics() const;
  // Counts a decision made by an OnStorageError policy.
  void count(OnStorageError policy) noexcept;
  // True while calls fail fast after a failure to reach Redis.
  [[nodiscard]] bool down() const noexcept;
  // The last failure of any kind (unreachable, refused, a script's error),
  // as "Redis at HOST:PORT: reason"; empty if none.
  [[nodiscard]] std::string last_failure() const;
  // Time until the next attempt to reach Redis (zero when up).
  [[nodiscard]] Duration retry_in() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace leaksnek::redis
