// A Redis session without I/O: what a new connection sends before any
// command (AUTH, SELECT) and what their replies mean, when Redis counts as
// down and calls fail fast, how a script call recovers from NOSCRIPT, and how
// every failure is worded. The blocking Client (a pool of connections) and the
// AsyncClient (one pipelined connection) both drive it: they own the sockets
// and read the clock; every decision is made here, once, and tested with no
// server (tests/redis/session_test.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
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

// One command: its arguments, binary-safe.
using Command = std::vector<std::string>;

// A Lua script, known to Redis by its SHA-1 (computed here, so EVALSHA works
// from the first call; a server that lacks it gets it on NOSCRIPT). A script
// whose last line is `return ENTRY(KEYS, ARGV)`, everything above it only
// definitions, is also a Redis Functions library (Redis 7+): loaded once per
// server with FUNCTION LOAD and called with FCALL, its definitions are built
// once at load instead of on every call.
class Script {
 public:
  explicit Script(std::string text);
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  [[nodiscard]] const std::string& sha1() const noexcept { return sha1_; }
  // The library's source ("#!lua name=..."), empty when the script has no entry line.
  [[nodiscard]] const std::string& library() const noexcept { return library_; }
  // The function FCALL calls (also the library's name): "leaksnek_" and the
  // start of the SHA-1, so two versions of the script never replace each other.
  [[nodiscard]] const std::string& function() const noexcept { return function_; }

 private:
  std::string text_;
  std::string sha1_;
  std::string library_;
  std::string function_;
};

// A cluster node's answer that the command belongs elsewhere or later:
// MOVED (the slot lives on `host:port` now), ASK (this once, on `host:port`,
// after ASKING), TRYAGAIN (keys of a slot in migration), CLUSTERDOWN.
struct Redirection {
  enum class Kind { moved, ask, try_again, cluster_down };
  Kind kind = Kind::moved;
  int slot = -1;
  std::string host;  // empty: the node that answered (Redis 7 with an unknown endpoint)
  int port = 0;
  std::string text;  // the error as Redis wrote it
};
// The redirection in an error reply, if it is one.
std::optional<Redirection> redirection(const Reply& reply);
// The failure of a single-node client redirected by a cluster node.
std::string not_a_cluster(const Redirection& redirection);

// The lowercase hex SHA-1 of `data` (what Redis names scripts by).
std::string sha1_hex(std::string_view data);

// Counters of a client (monotonic, since construction).
struct Statistics {
  std::uint64_t calls = 0;          // commands and scripts sent
  std::uint64_t connects = 0;       // connections opened
  std::uint64_t failures = 0;       // calls failed for want of Redis (unreachable, timeout, broken connection)
  std::uint64_t script_loads = 0;   // NOSCRIPT and "Function not found" recoveries
  std::uint64_t redirections = 0;   // MOVED and ASK followed (Redis Cluster)
  std::uint64_t map_refreshes = 0;  // slot maps read from the cluster
  std::uint64_t failed_open = 0;    // decisions allowed because the storage failed (OnStorageError::fail_open)
  std::uint64_t failed_closed = 0;  // decisions denied because the storage failed (OnStorageError::fail_closed)
  std::uint64_t fell_back = 0;      // decisions made in local memory because the storage failed
  // Leases (LeaseOptions), over every policy of the storage:
  std::uint64_t leases = 0;         // leases taken from Redis
  std::uint64_t leased = 0;         // tokens they took
  std::uint64_t lease_spent = 0;    // decisions allowed from a lease without a call
  std::uint64_t given_back = 0;     // tokens returned unspent
  std::uint64_t lease_expired = 0;  // tokens unspent that could not be returned (Redis failed)
  std::uint64_t denied_cached = 0;  // decisions denied from a cached denial without a call
};

// The commands a new connection sends before any other: AUTH when the
// endpoint has a password, then SELECT when its database is not 0. A
// connection carries no other command until ready(); a refused step is a
// failed connection, so no command ever runs as another user or on another
// database than the URL names. One per connection; not thread-safe.
class Handshake {
 public:
  explicit Handshake(const Endpoint& endpoint);

  // The commands, in order. A pipelining client may send them at once.
  [[nodiscard]] const std::vector<Command>& commands() const noexcept { return commands_; }
  // The reply to the next unanswered command. Returns why the connection
  // must be dropped (nothing more may be sent on it), or nothing.
  std::optional<std::string> answer(const Reply& reply);
  // The connection broke before every command was answered.
  [[nodiscard]] std::string lost(std::string_view why) const;
  // Every command was answered and accepted: the connection may carry commands.
  [[nodiscard]] bool ready() const noexcept { return !refused_ && answered_ == commands_.size(); }

 private:
  std::vector<Command> commands_;
  std::size_t answered_ = 0;
  bool refused_ = false;
};

// One script call and its recovery when the server lacks the code. With
// Functions (the default where the script has a library form): FCALL; on
// "Function not found", FUNCTION LOAD then FCALL again, once; a server without
// FCALL (before Redis 7) is answered with EVALSHA and functions_unsupported()
// tells the client to use EVALSHA from then on. Without: EVALSHA; on NOSCRIPT
// (a restart, SCRIPT FLUSH), SCRIPT LOAD then EVALSHA again, once. `asking`
// precedes each call with ASKING (a cluster's ASK redirection). Feed it the
// reply to every command it asked for, in order. `script` must outlive it.
// Not thread-safe.
class ScriptCall {
 public:
  ScriptCall(const Script& script, std::vector<std::string> keys, std::vector<std::string> args, bool functions = true,
             bool asking = false);

  // The first commands, in order: ASKING when asked, then FCALL or EVALSHA.
  [[nodiscard]] std::vector<Command> commands() const;
  // The reply to the oldest command not yet answered. Returns the commands to
  // send next, in order (a pipelining client may send them at once); none
  // when the call waits for more replies or is done.
  std::vector<Command> answer(Reply reply);
  [[nodiscard]] bool done() const noexcept { return done_; }
  // When done: the script's reply, unless failure() says why there is none
  // (an error reply of the script or of a load, a second NOSCRIPT), or
  // redirected() says the call belongs on another node (nothing ran).
  [[nodiscard]] const Reply& reply() const noexcept { return reply_; }
  [[nodiscard]] const std::optional<std::string>& failure() const noexcept { return failure_; }
  [[nodiscard]] const std::optional<Redirection>& redirected() const noexcept { return redirected_; }
  // Whether it asked for SCRIPT LOAD or FUNCTION LOAD.
  [[nodiscard]] bool loaded() const noexcept { return loaded_; }
  // Whether the server answered that it has no FCALL.
  [[nodiscard]] bool functions_unsupported() const noexcept { return unsupported_; }

 private:
  enum class Expect { asking, load, call };
  std::vector<Command> attempt(std::optional<Command> load);
  void finish() { done_ = true; }

  const Script* script_;
  std::vector<std::string> keys_;
  std::vector<std::string> args_;
  bool functions_;
  bool asking_;
  bool loaded_ = false;
  bool unsupported_ = false;
  bool done_ = false;
  std::vector<Expect> expected_;  // kinds of the replies still due, oldest first
  std::size_t answered_ = 0;
  Reply reply_;
  std::optional<std::string> failure_;
  std::optional<Redirection> redirected_;
};

// What one client knows about its server, shared by all its connections:
// whether Redis is down (and calls fail fast until the retry interval ends,
// after which the next call reconnects), the last failure, the counters.
// Times are the caller's steady-clock nanoseconds. Thread-safe: down(),
// retry_in() and the counters are atomics; the messages take a mutex and
// allocate.
class Session {
 public:
  explicit Session(Options options);

  [[nodiscard]] const Options& options() const noexcept { return options_; }

  // True while calls must fail at once, without trying Redis.
  [[nodiscard]] bool down(std::int64_t now_ns) const noexcept {
    return now_ns < down_until_.load(std::memory_order_acquire);
  }
  // Time until the next call may try Redis again (zero when up).
  [[nodiscard]] Duration retry_in(std::int64_t now_ns) const noexcept;
  // Redis could not be reached, refused the handshake, timed out or broke the
  // connection: counts a failure and fails calls fast for the retry interval.
  // Returns the failure's message.
  std::string unreachable(std::string_view reason, std::int64_t now_ns);
  // Redis answered a call with an error (a script's error reply): it is up,
  // the call failed. Returns the failure's message.
  std::string refused(std::string_view reason);
  // The message of a call that failed fast while Redis is down.
  [[nodiscard]] std::string fail_fast_message() const;
  // A failure's message: "Redis at HOST:PORT: " (or "Redis Cluster via
  // HOST:PORT,...: ") and the reason.
  [[nodiscard]] std::string describe(std::string_view reason) const;
  // The message of the last failure ("" if none).
  [[nodiscard]] std::string last_failure() const;
  // "timed out after N ms".
  [[nodiscard]] std::string timed_out() const;

  // Whether scripts are called as functions (FCALL); false once the server
  // said it has none.
  [[nodiscard]] bool functions() const noexcept { return functions_.load(order); }
  void no_functions() noexcept { functions_.store(false, order); }

  // Counters (see Statistics).
  enum class Counter { call, connect, script_load, redirection, map_refresh };
  void count(Counter counter) noexcept;
  void count(OnStorageError policy) noexcept;
  [[nodiscard]] Statistics statistics() const noexcept;

 private:
  static constexpr std::memory_order order = std::memory_order_relaxed;

  Options options_;
  std::string where_;
  std::atomic<std::int64_t> down_until_{0};
  mutable std::mutex mutex_;  // guards last_failure_ and down_reason_
  std::string last_failure_;  // the last failure of any kind
  std::string down_reason_;   // the last failure to reach Redis, for fail_fast_message()
  std::atomic<bool> functions_{true};
  std::atomic<std::uint64_t> calls_{0}, connects_{0}, failures_{0}, script_loads_{0}, redirections_{0},
      map_refreshes_{0};
  std::atomic<std::uint64_t> failed_open_{0}, failed_closed_{0}, fell_back_{0};
};

}  // namespace leaksnek::redis
