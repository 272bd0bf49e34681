// An asynchronous Redis client: hiredis's async API driven by Boost.Asio.
// One connection carries many commands in flight (pipelining); replies come
// back in order. Every command has a deadline. The handshake, fail-fast while
// Redis is down (it reconnects by itself after the retry interval), NOSCRIPT
// recovery and the wording of failures are the Session's (session.hpp), as in
// the blocking Client.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <leaksnek/async_error.hpp>
#include <leaksnek/redis/client.hpp>

struct redisAsyncContext;

namespace leaksnek::redis {

// Thread-safe: every call may come from any thread (the work is posted to the
// client's strand). Each command costs one allocation for its arguments and
// one for its completion; replies are copied out of hiredis.
//
// With Options::cluster, a Redis Cluster: one pipelined connection per
// master, each call routed to its key's master by the slot map (CLUSTER
// SLOTS), following MOVED and ASK, retrying TRYAGAIN, CLUSTERDOWN and a
// failed-over master within the call's timeout. A command's key is its
// second word (GET key, SET key ...); a call to a script, its first key.
class AsyncClient {
 public:
  using error_code = boost::system::error_code;
  // Completion of one command: an error (errc::storage_failed: unreachable,
  // timed out, connection lost, a script failed; operation_aborted: the
  // client closed), with an error Reply whose text names the problem; or the
  // reply (which, for command(), may be a Redis error reply).
  using Callback = std::function<void(error_code, Reply)>;

  // Connects lazily, on the first command, through `executor` (all of the
  // client's work runs on a strand of it).
  AsyncClient(boost::asio::any_io_executor executor, Options options);
  // Closes the connection; commands in flight complete with operation_aborted.
  ~AsyncClient();
  AsyncClient(const AsyncClient&) = delete;
  AsyncClient& operator=(const AsyncClient&) = delete;

  // Sends `args`; `done` runs on the client's strand, never inline.
  void command(std::vector<std::string> args, Callback done);
  // FCALL (or EVALSHA) of `script` (loaded and retried when the server lacks
  // it); an error reply from the script is errc::storage_failed, as
  // Client::eval's StorageError.
  // `script` must outlive the call (scripts are static in leaksnek).
  void eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args, Callback done);

  // The same with a completion token; signature void(error_code, Reply).
  // The handler runs on its associated executor (default: the client's).
  template <class Token>
  auto async_command(std::vector<std::string> args, Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code, Reply)>(
        [this](auto handler, std::vector<std::string> op_args) {
          command(std::move(op_args), completion(std::move(handler)));
        },
        token, std::move(args));
  }
  template <class Token>
  auto async_eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args, Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code, Reply)>(
        [this, &script](auto handler, std::vector<std::string> op_keys, std::vector<std::string> op_args) {
          eval(script, std::move(op_keys), std::move(op_args), completion(std::move(handler)));
        },
        token, std::move(keys), std::move(args));
  }

  [[nodiscard]] boost::asio::any_io_executor get_executor() const noexcept { return executor_; }
  [[nodiscard]] const Options& options() const noexcept;
  // Counters, as Client's.
  [[nodiscard]] Statistics statistics() const;
  // Counts a decision made by an OnStorageError policy.
  void count(OnStorageError policy) noexcept;
  // Time until the next attempt to reach Redis (zero when up).
  [[nodiscard]] Duration retry_in() const noexcept;
  // The last failure of any kind, as Client::last_failure.
  [[nodiscard]] std::string last_failure() const;

 private:
  struct State;
  struct Cluster;
  // hiredis is freeing `context`: its client must not use it any more.
  static void forget(redisAsyncContext* context) noexcept;
  friend struct Watch;

  // Wraps a handler as a Callback that posts it to its associated executor.
  template <class Handler>
  Callback completion(Handler handler) {
    auto executor = boost::asio::get_associated_executor(handler, executor_);
    auto shared = std::make_shared<Handler>(std::move(handler));
    auto work = std::make_shared<boost::asio::executor_work_guard<decltype(executor)>>(executor);
    return [shared, work, executor](error_code error, Reply reply) {
      boost::asio::post(executor, [shared, work, error, reply = std::move(reply)]() mutable {
        std::move (*shared)(error, std::move(reply));
        work->reset();
      });
    };
  }

  boost::asio::any_io_executor executor_;
  std::shared_ptr<State> state_;      // one server
  std::shared_ptr<Cluster> cluster_;  // or a cluster
};

}  // namespace leaksnek::redis
