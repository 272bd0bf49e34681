// A synchronous Redis client over hiredis: a pool of connections shared by
// threads, a deadline on every call, fail-fast while Redis is down, and Lua
// scripts run by EVALSHA.
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

namespace leaksnek::redis {

// A reply, copied out of hiredis.
struct Reply {
  enum class Type { nil, string, status, error, integer, array };
  Type type = Type::nil;
  std::string text;  // string, status, error
  long long integer = 0;
  std::vector<Reply> elements;
};

// A Lua script, known to Redis by its SHA-1 (computed here, so EVALSHA works
// from the first call; a server that lacks it gets it on NOSCRIPT).
class Script {
 public:
  explicit Script(std::string text);
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  [[nodiscard]] const std::string& sha1() const noexcept { return sha1_; }

 private:
  std::string text_;
  std::string sha1_;
};

// The lowercase hex SHA-1 of `data` (what Redis names scripts by).
std::string sha1_hex(std::string_view data);

// Counters of a client (monotonic, since construction).
struct Statistics {
  std::uint64_t calls = 0;          // commands and scripts sent
  std::uint64_t connects = 0;       // connections opened
  std::uint64_t failures = 0;       // calls failed for want of Redis (unreachable, timeout, broken connection)
  std::uint64_t script_loads = 0;   // NOSCRIPT recoveries
  std::uint64_t failed_open = 0;    // decisions allowed because the store failed (OnStorageError::fail_open)
  std::uint64_t failed_closed = 0;  // decisions denied because the store failed (OnStorageError::fail_closed)
  std::uint64_t fell_back = 0;      // decisions made in local memory because the store failed
};

// Thread-safe. Each call takes an idle connection (or opens one), sends one
// command and reads its reply: one round trip. Throws StorageError on failure,
// never waiting past Options::timeout.
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

  // EVALSHA of `script` with `keys` then `args`; loads the script and retries
  // once on NOSCRIPT (a restarted or flushed server). An error reply from the
  // script becomes StorageError.
  Reply eval(const Script& script, std::span<const std::string_view> keys, std::span<const std::string_view> args);

  [[nodiscard]] const Options& options() const noexcept;
  [[nodiscard]] Statistics statistics() const;
  // Counts a decision made by an OnStorageError policy.
  void count(OnStorageError policy) noexcept;
  // True while calls fail fast after a failure to reach Redis.
  [[nodiscard]] bool down() const noexcept;
  // The reason of the last failure to reach Redis (empty if none).
  [[nodiscard]] std::string last_failure() const;
  // Time until the next attempt to reach Redis (zero when up).
  [[nodiscard]] Duration retry_in() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace leaksnek::redis
