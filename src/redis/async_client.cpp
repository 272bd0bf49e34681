#include <leaksnek/redis/async_client.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <leaksnek/redis/cluster.hpp>

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
      : strand{asio::make_strand(executor)}, session{std::move(o)}, watchdog{strand} {}

  ~State() {
    destroying = true;  // no completion may be posted any more
    if (context != nullptr) {
      redisAsyncContext* c = context;
      context = nullptr;
      redisAsyncFree(c);
    }
  }

  asio::strand<asio::any_io_executor> strand;
  Session session;
  const Options& options = session.options();
  redisAsyncContext* context = nullptr;
  std::shared_ptr<Watch> watch;
  std::deque<std::unique_ptr<Pending>> in_flight;
  std::size_t waiting = 0;  // unfinished entries of in_flight
  asio::steady_timer watchdog;
  bool watchdog_armed = false;
  // The connection's handshake; commands sent while it runs are held, and
  // its deadline, never later than theirs, bounds their wait.
  std::optional<Handshake> handshake;
  struct Held {
    Command args;
    Callback done;
    Clock::time_point deadline;
  };
  std::deque<Held> held;
  redisAsyncContext* refused = nullptr;  // a connection whose handshake was refused, until it is dropped
  std::string refusal;                   // why it was refused: the message of commands sent meanwhile
  std::string failure;                   // why the connection is being dropped: its commands' message
  bool closed = false;
  bool destroying = false;

  static std::int64_t now_ns() { return Clock::now().time_since_epoch().count(); }

  // A failed command's completion: the error, and the message in an error reply.
  [[nodiscard]] error_code failed_code() const {
    return closed ? error_code{asio::error::operation_aborted} : make_error_code(errc::storage_failed);
  }
  static Reply message(std::string text) { return Reply{Reply::Type::error, std::move(text), 0, {}}; }

  static void on_reply(redisAsyncContext* c, void* reply, void* privdata) {
    auto* self = static_cast<State*>(c->data);
    auto* pending = static_cast<Pending*>(privdata);
    // Marked finished only after its callback returns: the callback may send
    // more (trimming finished entries), and must not be destroyed while it runs.
    if (!self->destroying) {
      if (reply == nullptr) {
        if (self->failure.empty()) {  // hiredis dropped the connection itself
          self->failure = self->session.unreachable(c->errstr[0] != '\0' ? c->errstr : "connection lost", now_ns());
        }
        pending->done(self->failed_code(), message(self->failure));
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
    // hiredis fails what the connection carried, then frees it.
    self->failure = self->session.unreachable(std::string{"cannot connect: "} + c->errstr, now_ns());
  }

  static void on_disconnect(const redisAsyncContext* c, int status) {
    auto* self = static_cast<State*>(c->data);
    if (status != REDIS_OK && self->failure.empty())
      self->session.unreachable(c->errstr[0] != '\0' ? c->errstr : "connection lost", now_ns());
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
    failure.clear();
    const Endpoint& e = options.endpoint;
    redisAsyncContext* c = redisAsyncConnect(e.host.c_str(), e.port);
    if (c == nullptr) {
      session.unreachable("out of memory", now_ns());
      return;
    }
    if (c->err != 0) {
      session.unreachable(std::string{"cannot connect: "} + c->errstr, now_ns());
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
    session.count(Session::Counter::connect);
    handshake.emplace(e);
    // Pipelined: the server answers in order, and a refused step fails the
    // connection before anything held is sent.
    for (const Command& command : handshake->commands()) {
      append(
          command,
          [self = shared_from_this(), c](error_code error, const Reply& reply) {
            if (self->context != c || self->refused == c) return;  // a newer connection, or already refused
            if (error) return self->fail_held(reply.text);         // the connection is going
            if (auto why = self->handshake->answer(reply)) {
              self->refused = c;  // until it is dropped, nothing more is sent on it
              self->refusal = self->session.describe(*why);
              self->fail_held(self->refusal);
              // Not from inside hiredis's reply callback: it still uses the context.
              asio::post(self->strand, [self, c, why = std::move(*why)] {
                if (self->context == c) self->fail_connection(why);
              });
            } else if (self->handshake->ready()) {
              self->release_held();
            }
          },
          deadline);
    }
  }

  [[nodiscard]] bool handshaking() const { return handshake && !handshake->ready(); }

  // The handshake succeeded: send what it held, in order.
  void release_held() {
    while (!held.empty() && context != nullptr && !handshaking()) {
      Held next = std::move(held.front());
      held.pop_front();
      append(next.args, std::move(next.done), next.deadline);
    }
  }

  // The handshake failed: what it held fails with it, never sent.
  void fail_held(const std::string& why) {
    std::deque<Held> failed;
    failed.swap(held);
    for (Held& command : failed) command.done(failed_code(), message(why));
  }

  // Drops the connection: every command in flight completes with an error.
  // `down`: Redis failed (calls fail fast for the retry interval).
  void fail_connection(const std::string& reason, bool down = true) {
    if (context == nullptr) return;
    refused = nullptr;
    failure = down && !closed ? session.unreachable(reason, now_ns()) : session.describe(reason);
    fail_held(failure);
    redisAsyncContext* c = context;
    context = nullptr;
    handshake.reset();
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
        self->fail_connection(self->session.timed_out());
      }
      if (!self->closed) self->arm_watchdog();
    });
  }

  // Appends a command to the connection.
  void append(const Command& args, Callback done, Clock::time_point deadline) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto pending = std::make_unique<Pending>(Pending{std::move(done), deadline});
    Pending* raw = pending.get();
    in_flight.push_back(std::move(pending));
    ++waiting;
    session.count(Session::Counter::call);
    if (redisAsyncCommandArgv(context, &State::on_reply, raw, static_cast<int>(argv.size()), argv.data(),
                              lengths.data()) != REDIS_OK) {
      raw->done(make_error_code(errc::storage_failed), message(session.describe("cannot send a command")));
      raw->finished = true;
      --waiting;
      trim();
      if (waiting == 0) idle();
      return;
    }
    Watch::arm_read(watch);
    arm_watchdog();
  }

  // Sends a command (connecting first if needed), or fails it at once.
  void send(Command args, Callback done, Clock::time_point deadline) {
    if (closed) return done(asio::error::operation_aborted, message(session.describe("the client closed")));
    if (session.down(now_ns()))
      return done(make_error_code(errc::storage_failed), message(session.fail_fast_message()));
    if (context != nullptr && waiting == 0 && detail::closed_by_peer(context->c.fd)) {
      fail_connection("closed while idle", false);  // a restart or an idle timeout: reconnect, Redis is not down
    }
    if (context == nullptr) connect(deadline);
    if (context != nullptr && context == refused) return done(make_error_code(errc::storage_failed), message(refusal));
    if (context == nullptr) return done(make_error_code(errc::storage_failed), message(session.last_failure()));
    if (handshaking()) {
      held.push_back({std::move(args), std::move(done), deadline});
      return;
    }
    append(args, std::move(done), deadline);
  }

  // One script call: its commands go out as ScriptCall asks, pipelined on one
  // connection; `done` runs once, with the script's reply or the failure.
  struct Run {
    ScriptCall call;
    Callback done;
    Clock::time_point deadline;
    bool finished = false;
    bool routed = false;  // a cluster's call: a redirection completes it as an error reply, without error
  };

  void send_script(const std::shared_ptr<Run>& run, Command command) {
    send(
        std::move(command),
        [self = shared_from_this(), run](error_code error, Reply reply) {
          if (run->finished) return;  // the retry after a failed load
          if (error) {
            run->finished = true;
            return run->done(error, std::move(reply));
          }
          for (Command& next : run->call.answer(std::move(reply))) self->send_script(run, std::move(next));
          if (!run->call.done()) return;
          run->finished = true;
          if (run->call.loaded()) self->session.count(Session::Counter::script_load);
          if (run->call.functions_unsupported()) self->session.no_functions();
          if (run->call.redirected() && run->routed) {
            return run->done(error_code{}, Reply{Reply::Type::error, run->call.redirected()->text, 0, {}});
          }
          if (run->call.redirected()) {
            return run->done(make_error_code(errc::storage_failed),
                             message(self->session.refused(not_a_cluster(*run->call.redirected()))));
          }
          if (run->call.failure()) {
            return run->done(make_error_code(errc::storage_failed),
                             message(self->session.refused(*run->call.failure())));
          }
          run->done(error_code{}, run->call.reply());
        },
        run->deadline);
  }

  void close() {
    closed = true;
    watchdog.cancel();
    fail_connection("the client closed");
    fail_held(session.describe("the client closed"));  // also when hiredis had dropped the connection first
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
  if (state == nullptr) return;
  if (state->refused == context) state->refused = nullptr;
  if (state->context != context) return;  // this client dropped it itself (fail_connection)
  // hiredis dropped it: what the handshake held fails with it, whichever
  // order (by version) hiredis runs its callbacks and this cleanup in.
  state->context = nullptr;
  state->handshake.reset();
  if (!state->destroying) {
    state->fail_held(state->failure.empty() ? state->session.describe("connection lost") : state->failure);
  }
}

// A Redis Cluster: a single-server State per master, and the slot map that
// routes each call. Everything but the counters runs on its own strand.
struct AsyncClient::Cluster : std::enable_shared_from_this<Cluster> {
  Cluster(const asio::any_io_executor& e, Options o)
      : executor{e}, strand{asio::make_strand(e)}, session{o}, options{std::move(o)} {}

  asio::any_io_executor executor;
  asio::strand<asio::any_io_executor> strand;
  Session session;  // the cluster's own counters and messages
  Options options;
  mutable std::mutex nodes_mutex;  // guards nodes (read by statistics() on any thread)
  std::map<std::string, std::shared_ptr<State>> nodes;
  std::array<State*, cluster_slots> owner{};
  Clock::time_point refreshed_at{};
  bool refreshing = false;
  std::vector<std::function<void()>> after_refresh;
  bool closed = false;

  // One call: a script (script != nullptr) or a command (args).
  struct Op {
    const Script* script = nullptr;
    std::vector<std::string> keys;
    std::vector<std::string> args;
    Callback done;
    Clock::time_point deadline;
    int slot = 0;
    int round = 0;
    bool finished = false;
    std::optional<asio::steady_timer> timer;  // a backoff, or the wait for a slot map
  };

  // The node at `where`, or nullptr when the client knows too many (nodes
  // are never dropped: a node naming ever new addresses must not grow it).
  State* node(const Endpoint& where) {
    std::lock_guard lock{nodes_mutex};
    std::string name = node_name(where);
    auto at = nodes.find(name);
    if (at != nodes.end()) return at->second.get();
    if (nodes.size() >= max_cluster_nodes) return nullptr;
    return nodes.emplace(std::move(name), std::make_shared<State>(executor, node_options(options, where)))
        .first->second.get();
  }

  void finish(const std::shared_ptr<Op>& op, error_code error, Reply reply) {
    if (op->finished) return;
    op->finished = true;
    if (op->timer) op->timer->cancel();
    op->done(error, std::move(reply));
  }

  void fail(const std::shared_ptr<Op>& op, std::string_view why) {
    finish(op, closed ? error_code{asio::error::operation_aborted} : make_error_code(errc::storage_failed),
           Reply{Reply::Type::error, closed ? session.describe(why) : session.refused(why), 0, {}});
  }

  // Runs `then` once a refresh is done (or at once when none is due).
  void refresh(bool force, std::function<void()> then) {
    if (refreshing) {
      after_refresh.push_back(std::move(then));
      return;
    }
    if (!force && Clock::now() - refreshed_at < refresh_interval) return then();
    refreshing = true;
    refreshed_at = Clock::now();
    after_refresh.push_back(std::move(then));
    auto candidates = std::make_shared<std::vector<State*>>();
    for (State* n : std::set<State*>(owner.begin(), owner.end())) {
      if (n != nullptr) candidates->push_back(n);
    }
    for (const Endpoint& seed : options.cluster) {
      State* n = node(seed);
      if (n != nullptr && std::find(candidates->begin(), candidates->end(), n) == candidates->end()) {
        candidates->push_back(n);
      }
    }
    ask_slots(candidates, 0, Clock::now() + options.timeout);
  }

  void refreshed() {
    refreshing = false;
    std::vector<std::function<void()>> waiting;
    waiting.swap(after_refresh);
    for (auto& then : waiting) then();
  }

  void ask_slots(const std::shared_ptr<std::vector<State*>>& candidates, std::size_t i, Clock::time_point deadline) {
    // Past the deadline the rest are not asked (their commands would only time out).
    if (closed || i == candidates->size() || Clock::now() >= deadline) return refreshed();
    State* candidate = (*candidates)[i];
    if (candidate->session.down(State::now_ns())) return ask_slots(candidates, i + 1, deadline);
    auto self = shared_from_this();
    auto node = candidate->shared_from_this();
    asio::post(node->strand, [self, node, candidates, i, deadline] {
      node->send(
          {"CLUSTER", "SLOTS"},
          [self, node, candidates, i, deadline](error_code error, Reply reply) {
            asio::post(self->strand, [self, node, candidates, i, deadline, error, reply = std::move(reply)] {
              if (!error && self->apply(reply, *node)) return self->refreshed();
              self->ask_slots(candidates, i + 1, deadline);
            });
          },
          deadline);
    });
  }

  bool apply(const Reply& reply, const State& answered) {
    try {
      SlotMap map = SlotMap::parse(reply, answered.options.endpoint);
      if (map.masters().empty()) return false;  // a node that has not joined yet
      map.route(owner, [&](const Endpoint& master) -> State& {
        State* n = node(master);
        if (n == nullptr) throw StorageError{"more than " + std::to_string(max_cluster_nodes) + " nodes named"};
        return *n;
      });
      session.count(Session::Counter::map_refresh);
      return true;
    } catch (const StorageError& e) {
      session.refused(e.what());
      return false;
    }
  }

  // Waits (for a map or a backoff) no later than the op's deadline.
  void wait_until(const std::shared_ptr<Op>& op, Clock::time_point when) {
    if (!op->timer) op->timer.emplace(strand);
    op->timer->expires_at(std::min(when, op->deadline));
    op->timer->async_wait([self = shared_from_this(), op](error_code error) {
      if (error || op->finished) return;
      if (Clock::now() >= op->deadline) return self->fail(op, self->session.timed_out());
      self->dispatch(op, nullptr);
    });
  }

  void dispatch(const std::shared_ptr<Op>& op, State* ask) {
    if (op->finished) return;
    if (closed) return fail(op, "the client closed");
    // Spent before it reached a node: the call's timeout, not the node's failure.
    if (Clock::now() >= op->deadline) return fail(op, session.timed_out());
    State* target = ask != nullptr ? ask : owner[static_cast<std::size_t>(op->slot)];
    if (target == nullptr) {
      if (op->round++ > 0) return fail(op, "no master serves slot " + std::to_string(op->slot));
      wait_until(op, op->deadline);  // bounds the wait for the map
      return refresh(true, [self = shared_from_this(), op] {
        if (op->timer) op->timer->cancel();
        if (!op->finished) self->dispatch(op, nullptr);
      });
    }
    auto self = shared_from_this();
    auto node = target->shared_from_this();
    const bool asking = ask != nullptr;
    Callback back = [self, op, node, asking](error_code error, Reply reply) {
      asio::post(self->strand, [self, op, node, asking, error, reply = std::move(reply)]() mutable {
        self->result(op, *node, asking, error, std::move(reply));
      });
    };
    if (op->script != nullptr) {
      auto run = std::make_shared<State::Run>(
          State::Run{ScriptCall{*op->script, op->keys, op->args, node->session.functions(), asking}, std::move(back),
                     op->deadline});
      run->routed = true;
      asio::post(node->strand, [node, run] {
        for (Command& command : run->call.commands()) node->send_script(run, std::move(command));
      });
    } else {
      asio::post(node->strand, [node, op, asking, back = std::move(back)]() mutable {
        if (asking)
          node->send(
              {"ASKING"}, [](error_code, const Reply&) {}, op->deadline);
        node->send(op->args, std::move(back), op->deadline);
      });
    }
  }

  void result(const std::shared_ptr<Op>& op, State& node, bool asking, error_code error, Reply reply) {
    if (op->finished) return;
    if (error) {
      // Unreachable (not a script's error): the master may have failed over.
      if (error == make_error_code(errc::storage_failed) && !asking && !closed && node.session.down(State::now_ns()) &&
          Clock::now() < op->deadline) {
        wait_until(op, op->deadline);  // bounds the wait for the map
        return refresh(false, [self = shared_from_this(), op, &node, error, reply]() mutable {
          if (op->finished) return;
          if (op->timer) op->timer->cancel();
          if (self->owner[static_cast<std::size_t>(op->slot)] != &node && Clock::now() < op->deadline) {
            return self->dispatch(op, nullptr);
          }
          self->finish(op, error, std::move(reply));
        });
      }
      return finish(op, error, std::move(reply));
    }
    auto r = reply.type == Reply::Type::error ? redirection(reply) : std::nullopt;
    if (!r) return finish(op, error, std::move(reply));
    if (++op->round > max_redirections) {
      return fail(op, "redirected " + std::to_string(max_redirections) + " times for slot " + std::to_string(op->slot) +
                          ", last: " + r->text);
    }
    const Endpoint where = redirected_to(*r, node.options.endpoint);
    State* target =
        r->kind == Redirection::Kind::moved || r->kind == Redirection::Kind::ask ? this->node(where) : &node;
    if (target == nullptr) {
      return fail(op, "more than " + std::to_string(max_cluster_nodes) + " nodes named; refusing " + node_name(where));
    }
    switch (r->kind) {
      case Redirection::Kind::moved:
        session.count(Session::Counter::redirection);
        owner[static_cast<std::size_t>(r->slot)] = target;
        dispatch(op, nullptr);
        return refresh(false, [] {});  // more slots have likely moved with it
      case Redirection::Kind::ask:
        session.count(Session::Counter::redirection);
        return dispatch(op, target);
      case Redirection::Kind::try_again:
      case Redirection::Kind::cluster_down: {
        const auto pause = backoff(op->round);
        if (Clock::now() + pause >= op->deadline) {
          return fail(op, node_name(node.options.endpoint) + " answered \"" + r->text + "\" until the call's timeout");
        }
        if (r->kind == Redirection::Kind::cluster_down) refresh(false, [] {});
        return wait_until(op, Clock::now() + pause);
      }
    }
  }

  void start(std::shared_ptr<Op> op) {
    asio::post(strand, [self = shared_from_this(), op = std::move(op)] { self->dispatch(op, nullptr); });
  }

  void close() {
    closed = true;
    std::lock_guard lock{nodes_mutex};
    for (auto& [name, n] : nodes) asio::post(n->strand, [n = n] { n->close(); });
  }

  Statistics statistics() const {
    Statistics total = session.statistics();
    std::lock_guard lock{nodes_mutex};
    for (const auto& [name, n] : nodes) add_node_traffic(total, n->session.statistics());
    return total;
  }

  Duration retry_in() const {
    std::lock_guard lock{nodes_mutex};
    Duration soonest = Duration::max();
    bool any = false;
    for (const auto& [name, n] : nodes) {
      any = true;
      soonest = std::min(soonest, n->session.retry_in(State::now_ns()));
    }
    return any ? soonest : Duration{0};
  }

  std::string last_failure() const {
    std::string own = session.last_failure();
    if (!own.empty()) return own;
    std::lock_guard lock{nodes_mutex};
    for (const auto& [name, n] : nodes) {
      std::string last = n->session.last_failure();
      if (!last.empty()) return last;
    }
    return {};
  }
};

AsyncClient::AsyncClient(boost::asio::any_io_executor executor, Options options) : executor_{std::move(executor)} {
  if (options.is_cluster()) {
    cluster_ = std::make_shared<Cluster>(executor_, std::move(options));
  } else {
    state_ = std::make_shared<State>(executor_, std::move(options));
  }
}

AsyncClient::~AsyncClient() {
  if (cluster_) {
    asio::post(cluster_->strand, [cluster = cluster_] { cluster->close(); });
    return;
  }
  asio::post(state_->strand, [state = state_] { state->close(); });
}

void AsyncClient::command(std::vector<std::string> args, Callback done) {
  if (cluster_) {
    auto op = std::make_shared<Cluster::Op>();
    op->slot = args.size() > 1 ? key_slot(args[1]) : 0;
    op->args = std::move(args);
    op->done = std::move(done);
    op->deadline = Clock::now() + cluster_->options.timeout;
    return cluster_->start(std::move(op));
  }
  const auto deadline = Clock::now() + state_->options.timeout;
  asio::post(state_->strand, [state = state_, args = std::move(args), done = std::move(done), deadline]() mutable {
    state->send(std::move(args), std::move(done), deadline);
  });
}

void AsyncClient::eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
                       Callback done) {
  if (cluster_) {
    auto op = std::make_shared<Cluster::Op>();
    op->script = &script;
    op->slot = keys.empty() ? 0 : key_slot(keys.front());
    op->keys = std::move(keys);
    op->args = std::move(args);
    op->done = std::move(done);
    op->deadline = Clock::now() + cluster_->options.timeout;
    return cluster_->start(std::move(op));
  }
  // One deadline for the call, a reload included.
  auto run = std::make_shared<State::Run>(
      State::Run{ScriptCall{script, std::move(keys), std::move(args), state_->session.functions()}, std::move(done),
                 Clock::now() + state_->options.timeout});
  asio::post(state_->strand, [state = state_, run] {
    for (Command& command : run->call.commands()) state->send_script(run, std::move(command));
  });
}

const Options& AsyncClient::options() const noexcept { return cluster_ ? cluster_->options : state_->options; }

Statistics AsyncClient::statistics() const { return cluster_ ? cluster_->statistics() : state_->session.statistics(); }

void AsyncClient::count(OnStorageError policy) noexcept {
  (cluster_ ? cluster_->session : state_->session).count(policy);
}

Duration AsyncClient::retry_in() const noexcept {
  return cluster_ ? cluster_->retry_in() : state_->session.retry_in(State::now_ns());
}

std::string AsyncClient::last_failure() const {
  return cluster_ ? cluster_->last_failure() : state_->session.last_failure();
}

}  // namespace leaksnek::redis
