#include <leaksnek/redis/async_client.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "reply.hpp"

namespace leaksnek::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

namespace {

// A command sent and not yet answered. hiredis holds a raw pointer to it
// until it calls on_reply (with a reply, or null when the connection goes).
struct Pending {
  AsyncClient::Callback done;
  Clock::time_point deadline;
  bool finished = false;
};

}  // namespace

// hiredis's event hooks on Asio: waits on the connection's socket for as
// long as hiredis wants to read or write, on the client's strand.
struct Watch : std::enable_shared_from_this<Watch> {
  Watch(const asio::strand<asio::any_io_executor>& strand, redisAsyncContext* c)
      : socket{strand, c->c.fd}, context{c} {}

  asio::posix::stream_descriptor socket;
  redisAsyncContext* context;
  bool want_read = false, want_write = false, reading = false, writing = false, closed = false;
  // Replies are awaited only while commands are in flight, so an idle
  // connection holds no work and io_context::run() can return.
  const std::size_t* in_flight = nullptr;

  static void arm_read(const std::shared_ptr<Watch>& w) {
    if (w->closed || w->reading || !w->want_read || *w->in_flight == 0) return;
    w->reading = true;
    w->socket.async_wait(asio::posix::descriptor_base::wait_read, [w](error_code error) {
      w->reading = false;
      if (w->closed || (error && error != asio::error::operation_aborted)) return;
      if (!error && w->want_read) redisAsyncHandleRead(w->context);  // may free the context: see cleanup
      arm_read(w);  // also after a cancel (idle()) raced with a new command
    });
  }

  static void arm_write(const std::shared_ptr<Watch>& w) {
    if (w->closed || w->writing || !w->want_write) return;
    w->writing = true;
    w->socket.async_wait(asio::posix::descriptor_base::wait_write, [w](error_code error) {
      w->writing = false;
      if (w->closed || (error && error != asio::error::operation_aborted)) return;
      if (!error && w->want_write) redisAsyncHandleWrite(w->context);
      arm_write(w);
    });
  }

  static Watch& of(void* data) { return *static_cast<Watch*>(data); }
  static void add_read(void* data) {
    of(data).want_read = true;
    arm_read(of(data).shared_from_this());
  }
  static void del_read(void* data) { of(data).want_read = false; }
  static void add_write(void* data) {
    of(data).want_write = true;
    arm_write(of(data).shared_from_this());
  }
  static void del_write(void* data) { of(data).want_write = false; }
  static void cleanup(void* data);
};

struct AsyncClient::State : std::enable_shared_from_this<State> {
  State(const asio::any_io_executor& executor, Options o)
      : strand{asio::make_strand(executor)}, options{std::move(o)}, watchdog{strand} {}

  ~State() {
    destroying = true;  // no completion may be posted any more
    if (context != nullptr) {
      redisAsyncContext* c = context;
      context = nullptr;
      redisAsyncFree(c);
    }
  }

  asio::strand<asio::any_io_executor> strand;
  Options options;
  std::string where = options.endpoint.host + ":" + std::to_string(options.endpoint.port);
  redisAsyncContext* context = nullptr;
  std::shared_ptr<Watch> watch;
  std::deque<std::unique_ptr<Pending>> in_flight;
  std::size_t waiting = 0;  // unfinished entries of in_flight
  asio::steady_timer watchdog;
  bool watchdog_armed = false;
  // Commands sent while the handshake (AUTH, SELECT) runs; its deadline,
  // never later than theirs, bounds their wait.
  struct Held {
    std::vector<std::string> args;
    Callback done;
    Clock::time_point deadline;
  };
  std::deque<Held> held;
  bool handshaking = false;
  redisAsyncContext* refused = nullptr;  // a connection whose handshake was refused, until it is dropped
  std::string failure;                   // why this client is dropping its connection (timeout, closing)
  bool closed = false;
  bool destroying = false;

  std::atomic<std::int64_t> down_until{0};
  mutable std::mutex failure_mutex;
  std::string last_failure;
  detail::Counters counters;

  static std::int64_t now_ns() { return Clock::now().time_since_epoch().count(); }

  void mark_down(const std::string& reason) {
    detail::Counters::bump(counters.failures);
    down_until.store(now_ns() + options.retry_interval.count(), std::memory_order_relaxed);
    std::lock_guard lock{failure_mutex};
    last_failure = reason;
  }

  static void on_reply(redisAsyncContext* c, void* reply, void* privdata) {
    auto* self = static_cast<State*>(c->data);
    auto* pending = static_cast<Pending*>(privdata);
    // Marked finished only after its callback returns: the callback may send
    // more (trimming finished entries), and must not be destroyed while it runs.
    if (!self->destroying) {
      if (reply == nullptr) {
        error_code error =
            self->closed ? error_code{asio::error::operation_aborted} : make_error_code(errc::storage_failed);
        pending->done(error, Reply{});
      } else {
        pending->done(error_code{}, detail::copy_reply(*static_cast<redisReply*>(reply)));
      }
    }
    pending->finished = true;
    --self->waiting;
    self->trim();
    if (self->waiting == 0) self->idle();
  }

  static void on_connect(const redisAsyncContext* c, int status) {
    if (status == REDIS_OK) return;
    auto* self = static_cast<State*>(c->data);
    self->mark_down(std::string{"cannot connect: "} + c->errstr);  // hiredis frees the context next
  }

  static void on_disconnect(const redisAsyncContext* c, int status) {
    auto* self = static_cast<State*>(c->data);
    if (status != REDIS_OK && self->failure.empty())
      self->mark_down(c->errstr[0] != '\0' ? c->errstr : "connection lost");
  }

  // Nothing in flight: stop waiting on the socket and the clock, so an idle
  // client holds no work (io_context::run() returns when the program is done).
  void idle() {
    if (watchdog_armed) watchdog.cancel();
    if (watch && !watch->closed) {
      error_code ignored;
      watch->socket.cancel(ignored);  // NOLINT(bugprone-unused-return-value)
    }
  }

  void trim() {
    while (!in_flight.empty() && in_flight.front()->finished) in_flight.pop_front();
  }

  void connect(Clock::time_point deadline) {
    const Endpoint& e = options.endpoint;
    redisAsyncContext* c = redisAsyncConnect(e.host.c_str(), e.port);
    if (c == nullptr) {
      mark_down("out of memory");
      return;
    }
    if (c->err != 0) {
      mark_down(std::string{"cannot connect: "} + c->errstr);
      redisAsyncFree(c);
      return;
    }
    c->data = this;
    watch = std::make_shared<Watch>(strand, c);
    watch->in_flight = &waiting;
    c->ev.data = watch.get();
    c->ev.addRead = &Watch::add_read;
    c->ev.delRead = &Watch::del_read;
    c->ev.addWrite = &Watch::add_write;
    c->ev.delWrite = &Watch::del_write;
    c->ev.cleanup = &Watch::cleanup;
    redisAsyncSetConnectCallback(c, &State::on_connect);
    redisAsyncSetDisconnectCallback(c, &State::on_disconnect);
    context = c;
    detail::Counters::bump(counters.connects);
    // The handshake: commands sent meanwhile are held until it succeeds, so
    // none can run as another user or on another database than the URL names.
    auto step = [self = shared_from_this(), c](std::string what, bool last) {
      return [self, c, what = std::move(what), last](error_code error, const Reply& reply) {
        if (self->context != c) return;  // a newer connection
        if (!error && reply.type != Reply::Type::error) {
          if (last) self->release_held();
          return;
        }
        std::string why = error ? what + "connection lost" : what + reply.text;
        self->refused = c;  // until it is dropped, nothing more is sent on it
        self->fail_held();
        // Not from inside hiredis's reply callback: it still uses the context.
        asio::post(self->strand, [self, c, why = std::move(why)] {
          if (self->context == c) self->fail_connection(why);
        });
      };
    };
    const bool select = e.db != 0;
    if (!e.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!e.user.empty()) auth.push_back(e.user);
      auth.push_back(e.password);
      handshaking = true;
      append(std::move(auth), step("Redis refused AUTH: ", !select), deadline);
    }
    if (select) {
      handshaking = true;
      append({"SELECT", std::to_string(e.db)}, step("Redis refused SELECT: ", true), deadline);
    }
  }

  // The handshake succeeded: send what it held, in order.
  void release_held() {
    handshaking = false;
    while (!held.empty() && context != nullptr && !handshaking) {
      Held next = std::move(held.front());
      held.pop_front();
      append(std::move(next.args), std::move(next.done), next.deadline);
    }
  }

  // The handshake failed: what it held fails with it, never sent.
  void fail_held() {
    handshaking = false;
    std::deque<Held> failed;
    failed.swap(held);
    const error_code error =
        closed ? error_code{asio::error::operation_aborted} : make_error_code(errc::storage_failed);
    for (Held& command : failed) command.done(error, Reply{});
  }

  // Drops the connection: every command in flight completes with an error.
  // `down`: Redis failed (calls fail fast for the retry interval).
  void fail_connection(const std::string& reason, bool down = true) {
    if (context == nullptr) return;
    refused = nullptr;
    fail_held();
    failure = reason;
    if (!closed && down) mark_down(reason);
    redisAsyncContext* c = context;
    context = nullptr;
    redisAsyncFree(c);
    failure.clear();
  }

  void arm_watchdog() {
    trim();
    if (watchdog_armed || in_flight.empty()) return;
    watchdog_armed = true;
    watchdog.expires_at(in_flight.front()->deadline);
    watchdog.async_wait([self = shared_from_this()](error_code error) {
      self->watchdog_armed = false;
      self->trim();
      if (!error && !self->in_flight.empty() && self->in_flight.front()->deadline <= Clock::now()) {
        self->fail_connection(
            "timed out after " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(self->options.timeout).count()) +
            " ms");
      }
      if (!self->closed) self->arm_watchdog();
    });
  }

  // Appends a command to the connection (connecting first if needed).
  void append(std::vector<std::string> args, Callback done, Clock::time_point deadline) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto pending = std::make_unique<Pending>(Pending{std::move(done), deadline});
    Pending* raw = pending.get();
    in_flight.push_back(std::move(pending));
    ++waiting;
    detail::Counters::bump(counters.calls);
    if (redisAsyncCommandArgv(context, &State::on_reply, raw, static_cast<int>(argv.size()), argv.data(),
                              lengths.data()) != REDIS_OK) {
      raw->done(make_error_code(errc::storage_failed), Reply{});
      raw->finished = true;
      --waiting;
      trim();
      if (waiting == 0) idle();
      return;
    }
    Watch::arm_read(watch);
    arm_watchdog();
  }

  void send(std::vector<std::string> args, Callback done, Clock::time_point deadline) {
    if (closed) return done(asio::error::operation_aborted, Reply{});
    if (now_ns() < down_until.load(std::memory_order_relaxed))
      return done(make_error_code(errc::storage_failed), Reply{});
    if (context != nullptr && waiting == 0 && detail::closed_by_peer(context->c.fd)) {
      fail_connection("closed while idle", false);  // a restart or an idle timeout: reconnect, Redis is not down
    }
    if (context == nullptr) connect(deadline);
    if (context == nullptr || context == refused) return done(make_error_code(errc::storage_failed), Reply{});
    if (handshaking) {
      held.push_back({std::move(args), std::move(done), deadline});
      return;
    }
    append(std::move(args), std::move(done), deadline);
  }

  void close() {
    closed = true;
    watchdog.cancel();
    fail_connection("the client closed");
  }
};

void Watch::cleanup(void* data) {
  Watch& w = of(data);
  w.closed = true;
  w.want_read = w.want_write = false;
  (void)w.socket.release();  // hiredis closes the socket itself
  AsyncClient::forget(w.context);
}

void AsyncClient::forget(redisAsyncContext* context) noexcept {
  auto* state = static_cast<State*>(context->data);
  if (state != nullptr && state->context == context) state->context = nullptr;
  if (state != nullptr && state->refused == context) state->refused = nullptr;
}

AsyncClient::AsyncClient(boost::asio::any_io_executor executor, Options options)
    : executor_{std::move(executor)}, state_{std::make_shared<State>(executor_, std::move(options))} {}

AsyncClient::~AsyncClient() {
  asio::post(state_->strand, [state = state_] { state->close(); });
}

void AsyncClient::command(std::vector<std::string> args, Callback done) {
  const auto deadline = Clock::now() + state_->options.timeout;
  asio::post(state_->strand, [state = state_, args = std::move(args), done = std::move(done), deadline]() mutable {
    state->send(std::move(args), std::move(done), deadline);
  });
}

void AsyncClient::eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
                       Callback done) {
  std::vector<std::string> argv{"EVALSHA", script.sha1(), std::to_string(keys.size())};
  for (std::string& key : keys) argv.push_back(std::move(key));
  for (std::string& arg : args) argv.push_back(std::move(arg));
  const auto deadline = Clock::now() + state_->options.timeout;  // one deadline, NOSCRIPT recovery included
  auto first = [state = state_, script = &script, argv, done, deadline](error_code error, Reply reply) mutable {
    if (error || reply.type != Reply::Type::error || !reply.text.starts_with("NOSCRIPT")) {
      return done(error, std::move(reply));
    }
    // Load it, then run it again: pipelined, in order, on the same connection.
    detail::Counters::bump(state->counters.script_loads);
    state->send(
        {"SCRIPT", "LOAD", script->text()}, [](error_code, const Reply&) {}, deadline);
    state->send(std::move(argv), std::move(done), deadline);
  };
  asio::post(state_->strand, [state = state_, argv = std::move(argv), first = std::move(first), deadline]() mutable {
    state->send(std::move(argv), std::move(first), deadline);
  });
}

const Options& AsyncClient::options() const noexcept { return state_->options; }

Statistics AsyncClient::statistics() const { return state_->counters.snapshot(); }

void AsyncClient::count(OnStorageError policy) noexcept { state_->counters.count(policy); }

Duration AsyncClient::retry_in() const noexcept {
  return Duration{std::max<std::int64_t>(0, state_->down_until.load(std::memory_order_relaxed) - State::now_ns())};
}

std::string AsyncClient::last_failure() const {
  std::lock_guard lock{state_->failure_mutex};
  return state_->last_failure.empty() ? std::string{} : "Redis at " + state_->where + ": " + state_->last_failure;
}

}  // namespace leaksnek::redis
