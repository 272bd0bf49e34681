#include "serve/serve.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <tuple>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <leaksnek/redis/options.hpp>

#include "arguments.hpp"
#include "serve/grpc_server.hpp"
#include "serve/service.hpp"

namespace leaksnek::cli {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view serve_usage =
    "usage: leaksnek serve --config FILE [--config FILE...] [--listen HOST:PORT]\n"
    "                      [--storage memory|redis://host:port/db|redis-cluster://host:port,...]\n"
    "                      [--on-storage-error fail-open|fail-closed|local] [--read-timeout DURATION]\n"
    "                      [--max-connections N] [--threads N] [--access-log]\n"
    "                      [--grpc-listen HOST:PORT] [--grpc-response-headers]\n"
    "                      [--grpc-stop-increment-when-over-limit]\n"
    "  An HTTP rate limit service over the policies of FILE (TOML; see examples/serve.toml),\n"
    "  and with --grpc-listen Envoy's (envoy.service.ratelimit.v3) over the domains of\n"
    "  envoyproxy/ratelimit YAML files (FILE.yaml, or a directory of them; see examples/envoy):\n"
    "  POST /v1/acquire {\"policy\",\"key\",\"cost\"} or GET /v1/acquire?policy=&key=&cost= answer\n"
    "  200 or 429 with the decision; GET /v1/check/POLICY (nginx auth_request, Envoy ext_authz)\n"
    "  answers 204 or 429 (or 403) for the key in the policy's key header; /metrics, /healthz,\n"
    "  /readyz. --listen defaults to 127.0.0.1:8080, --storage to memory, --threads to one per\n"
    "  core (all on the one storage). SIGHUP reads FILE again (a bad one is refused and the\n"
    "  configuration in force goes on serving). SIGTERM or SIGINT\n"
    "  drains in-flight requests and exits 0. (--store and --on-store-error: old spellings.)\n";

constexpr std::size_t header_limit = 8 * 1024;
constexpr std::size_t body_limit = 4 * 1024;
// What one connection may hold unparsed: a whole request with its chunked
// framing, and a few pipelined ones. Beast's parser keeps a chunk-size line
// (with its extensions) in the buffer until it ends, so without this bound a
// line that never ends grew until the read timeout.
constexpr std::size_t buffer_limit = header_limit + body_limit;

struct Options {
  ServeConfig config;
  Duration read_timeout = std::chrono::seconds{10};
};

Options parse_options(int argc, char** argv, bool& help) {
  Arguments arguments{argc,
                      argv,
                      {"--config", "--listen", "--storage", "--on-storage-error", "--read-timeout", "--max-connections",
                       "--threads", "--store", "--on-store-error", "--grpc-listen"},
                      {"--access-log", "--help", "--grpc-response-headers", "--grpc-stop-increment-when-over-limit"}};
  help = arguments.flag("--help");
  Options options;
  if (help) return options;
  if (!arguments.positional().empty()) throw UsageError{"unexpected argument '" + arguments.positional()[0] + "'"};
  const std::vector<std::string> files = arguments.values("--config");
  if (files.empty()) throw UsageError{"missing --config FILE"};
  for (const std::string& file : files) {
    if (!std::filesystem::exists(file)) throw UsageError{"cannot open '" + file + "'"};
  }
  options.config = load_serve_config(files);
  if (auto grpc = arguments.value("--grpc-listen")) options.config.grpc_listen = *grpc;
  if (arguments.flag("--grpc-response-headers")) options.config.grpc_response_headers = true;
  if (arguments.flag("--grpc-stop-increment-when-over-limit")) {
    options.config.grpc_stop_increment_when_over_limit = true;
  }
  if (!options.config.domains.empty() && options.config.grpc_listen.empty()) {
    throw UsageError{"the YAML domains are served over gRPC: give --grpc-listen HOST:PORT (or grpc_listen)"};
  }
  if (auto listen = arguments.value("--listen")) options.config.listen = *listen;
  if (auto storage = arguments.value("--storage", "--store")) {
    options.config.storage = *storage;
    if (*storage != "memory") {
      try {
        redis::Options{}.set_url(*storage);
      } catch (const Error& error) {
        throw UsageError{std::string{"--storage: "} + error.what() + " (or 'memory')"};
      }
    }
  }
  if (auto policy = arguments.value("--on-storage-error", "--on-store-error")) {
    try {
      options.config.on_storage_error = parse_on_storage_error(*policy);
    } catch (const Error& error) {
      throw UsageError{std::string{"--on-storage-error: "} + error.what()};
    }
  }
  if (auto timeout = arguments.value("--read-timeout")) {
    options.read_timeout = parse_duration("--read-timeout", *timeout);
    if (options.read_timeout <= Duration{0}) throw UsageError{"--read-timeout: must be more than 0"};
  }
  if (auto connections = arguments.value("--max-connections")) {
    options.config.max_connections = parse_positive("--max-connections", *connections, 1'000'000);
  }
  if (auto threads = arguments.value("--threads")) {
    options.config.threads = parse_positive("--threads", *threads, max_serve_threads);
  }
  if (arguments.flag("--access-log")) options.config.access_log = true;
  return options;
}

tcp::endpoint parse_listen(std::string_view listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string_view::npos)
    throw UsageError{"--listen: expected HOST:PORT, got '" + std::string{listen} + "'"};
  std::string host{listen.substr(0, colon)};
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  int port = 0;
  auto port_text = listen.substr(colon + 1);
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() || port < 0 ||
      port > 65535) {
    throw UsageError{"--listen: bad port '" + std::string{port_text} + "'"};
  }
  boost::system::error_code error;
  auto address = asio::ip::make_address(host, error);
  if (error) throw UsageError{"--listen: '" + host + "' is not an IP address"};
  return {address, static_cast<unsigned short>(port)};
}

// How many threads `configured` (0: one per core this process may run on).
std::size_t thread_count(std::int64_t configured) {
  if (configured > 0) return static_cast<std::size_t>(configured);
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) > 0) {
    return std::min<std::size_t>(static_cast<std::size_t>(CPU_COUNT(&cpus)), max_serve_threads);
  }
  return std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, max_serve_threads);
}

// The server: worker threads, each running its own io_context with the
// sessions of the connections handed to it, and all deciding on the one
// Service (one storage). The acceptor runs on worker 0 and hands connections
// round-robin; a connection stays on its worker, so a session never runs on
// two threads and the workers share nothing but the Service and a count.
class Server {
 public:
  // `load` reads the configuration (the file, then the command line's
  // options on top): at start, and again at each SIGHUP.
  explicit Server(std::function<Options()> load)
      : load_{std::move(load)},
        options_{load_()},
        workers_{make_workers(thread_count(options_.config.threads))},
        service_{workers_[0]->io.get_executor(), options_.config},
        acceptor_{workers_[0]->io},
        signals_{workers_[0]->io, SIGINT, SIGTERM},  // before "listening": a SIGTERM right after drains
        hangups_{workers_[0]->io, SIGHUP},
        max_connections_{connection_cap(options_.config.max_connections)} {
    for (auto& worker : workers_) worker->policies = service_.policies();
  }
  // The workers' policies go first: the last of them may close a Redis
  // client, which needs worker 0's io_context still there.
  ~Server() {
    if (grpc_stopper_.joinable()) grpc_stopper_.join();
    if (grpc_ && !stopping_) {
      // Never drained (a failure before serving): gRPC's shutdown waits for
      // calls that may await Redis on worker 0, so worker 0 runs meanwhile.
      std::atomic<bool> stopped{false};
      std::thread stopper{[this, &stopped] {
        grpc_->shutdown(std::chrono::milliseconds{0});
        stopped = true;
      }};
      while (!stopped) {
        workers_[0]->io.restart();
        workers_[0]->io.run_for(std::chrono::milliseconds{10});
      }
      stopper.join();
    }
    grpc_.reset();
    for (auto& worker : workers_) worker->policies.reset();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and prints "listening on HOST:PORT" (the port chosen when 0).
  void open() {
    tcp::endpoint endpoint = parse_listen(options_.config.listen);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    auto bound = acceptor_.local_endpoint();
    std::string grpc;
    if (!options_.config.grpc_listen.empty()) {
      grpc_ = std::make_unique<GrpcServer>(service_.envoy(), options_.config.grpc_listen);
      grpc = ", grpc on " + grpc_->address() + " (" + std::to_string(options_.config.domains.size()) + " domains)";
    }
    std::printf("leaksnek serve: listening on %s:%u%s (storage: %s, %zu policies, %zu threads)\n",
                bound.address().to_string().c_str(), bound.port(), grpc.c_str(), options_.config.storage.c_str(),
                options_.config.policies.size(), workers_.size());
    std::fflush(stdout);
  }

  // Serves until SIGTERM or SIGINT has drained every connection.
  void run() {
    signals_.async_wait([this](boost::system::error_code error, int) {
      if (!error) drain();
    });
    await_hangup();
    asio::co_spawn(workers_[0]->io, accept(), asio::detached);
    for (auto& worker : workers_) sweep(*worker);
    // Worker 0 runs until every other worker has stopped: the Redis client's
    // strand runs there, and a session on another worker may still await a
    // decision after worker 0's own connections are gone.
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> others;
    if (workers_.size() > 1) others.emplace(workers_[0]->io.get_executor());
    std::atomic<std::size_t> running{workers_.size() - 1};
    std::vector<std::thread> threads;
    try {
      for (std::size_t i = 1; i < workers_.size(); ++i) {
        threads.emplace_back([this, i, &running, &others] {
          serve_or_exit(workers_[i]->io);
          if (running.fetch_sub(1) == 1) asio::post(workers_[0]->io, [&others] { others.reset(); });
        });
      }
    } catch (...) {  // no thread to run on (before any connection): stop those started
      for (auto& worker : workers_) worker->io.stop();
      for (std::thread& thread : threads) thread.join();
      throw;
    }
    serve_or_exit(workers_[0]->io);
    for (std::thread& thread : threads) thread.join();
    if (grpc_stopper_.joinable()) grpc_stopper_.join();
  }

 private:
  struct Connection {
    explicit Connection(tcp::socket socket) : stream{std::move(socket)} {}
    // Closed by its worker's sweep once `deadline` has passed.
    void expires_after(std::chrono::steady_clock::duration timeout) {
      deadline = std::chrono::steady_clock::now() + timeout;
    }
    tcp::socket stream;
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    beast::flat_buffer buffer{buffer_limit};
    std::string out;      // the response being written (its capacity kept)
    bool idle = true;     // waiting for a request's header (its first byte, or the rest)
    bool reading = true;  // waiting for a request's bytes (its header or its body)
    std::chrono::steady_clock::time_point waiting_since{};  // since when, while reading
  };

  // One thread's io_context and the connections it serves; touched only on
  // that thread (work for it is posted).
  struct Worker {
    asio::io_context io{1};
    asio::executor_work_guard<asio::io_context::executor_type> busy{io.get_executor()};  // until the drain
    std::shared_ptr<const PolicySet> policies;  // this thread's view of the policies in force
    std::list<Connection> connections;          // oldest first; each from its admission to its session's end
    bool draining = false;
    asio::steady_timer deadline{io};  // the drain's
    asio::steady_timer sweeper{io};
  };

  // Runs `io`; a failure inside a handler (out of memory) ends the process
  // with status 2 and its reason, as a failure at start does.
  static void serve_or_exit(asio::io_context& io) {
    try {
      io.run();
    } catch (const std::exception& error) {
      std::fprintf(stderr, "leaksnek serve: %s\n", error.what());
      std::fflush(stderr);
      std::_Exit(2);
    }
  }

  static std::vector<std::unique_ptr<Worker>> make_workers(std::size_t count) {
    std::vector<std::unique_ptr<Worker>> workers;
    for (std::size_t i = 0; i < count; ++i) workers.push_back(std::make_unique<Worker>());
    return workers;
  }

  asio::awaitable<void> accept() {
    asio::steady_timer pause{workers_[0]->io};
    std::size_t next = 0;
    while (!stopping_) {
      Worker& worker = *workers_[next];
      auto [error, socket] = co_await acceptor_.async_accept(worker.io, asio::as_tuple(asio::use_awaitable));
      if (stopping_) break;  // accepted as the drain began: closed unserved
      if (error) {
        if (error == asio::error::operation_aborted) break;
        // Out of descriptors: a worker frees one (its oldest idle
        // connection). Any failure: pause, so the loop never spins.
        if (error.value() == EMFILE || error.value() == ENFILE) {
          asio::post(worker.io, [&worker] { (void)close_oldest_idle(worker); });
        }
        next = (next + 1) % workers_.size();
        pause.expires_after(std::chrono::milliseconds{10});
        (void)co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      // Counted in the order of acceptance, before any worker admits it.
      open_.fetch_add(1, std::memory_order_relaxed);
      asio::post(worker.io,
                 [this, index = next, socket = std::move(socket)]() mutable { admit(index, std::move(socket), 0); });
      next = (next + 1) % workers_.size();
    }
  }

  void await_hangup() {
    hangups_.async_wait([this](boost::system::error_code error, int) {
      if (error || stopping_) return;
      reload();
      await_hangup();
    });
  }

  // SIGHUP: reads the configuration again. A bad one is refused with the
  // messages of a start, and the configuration in force goes on serving.
  // Each worker takes the new policies between two requests.
  void reload() {
    Options next;
    Reloaded reloaded;
    try {
      next = load_();
      reloaded = service_.reload(next.config);
    } catch (const std::exception& error) {
      service_.refused();
      std::fprintf(stderr, "leaksnek serve: reload refused, the previous configuration goes on serving: %s\n",
                   error.what());
      return;
    }
    for (const std::string& change : reloaded.at_next_start) {
      std::fprintf(stderr, "leaksnek serve: reload: %s; that takes effect at the next start\n", change.c_str());
    }
    max_connections_.store(connection_cap(next.config.max_connections), std::memory_order_relaxed);
    std::shared_ptr<const PolicySet> policies = service_.policies();
    for (auto& worker : workers_) {
      asio::post(worker->io, [&worker = *worker, policies] { worker.policies = policies; });
    }
    std::printf("leaksnek serve: reloaded (%zu policies)\n", next.config.policies.size());
    std::fflush(stdout);
  }

  // On worker `index`'s thread: serves `socket` there. At the cap, a
  // connection waiting for a request gives way (as nginx reuses keep-alive
  // connections), this worker's oldest first, then one stalled in a header,
  // then the next worker's; when every one is mid-request, the newcomer is
  // refused. Idle or trickling sockets cannot lock legitimate clients out.
  void admit(std::size_t index, tcp::socket socket, std::size_t tried) {
    Worker& worker = *workers_[index];
    auto refuse = [this] { open_.fetch_sub(1, std::memory_order_relaxed); };  // and `socket` closes
    if (worker.draining) return refuse();
    if (open_.load(std::memory_order_relaxed) > max_connections_.load(std::memory_order_relaxed) &&
        !close_oldest_idle(worker)) {
      if (tried + 1 >= workers_.size()) return refuse();
      boost::system::error_code error;
      const tcp::endpoint local = socket.local_endpoint(error);
      const int descriptor = error ? -1 : socket.release(error);
      if (error) return refuse();
      const std::size_t to = (index + 1) % workers_.size();
      asio::post(workers_[to]->io, [this, to, local, descriptor, tried] {
        tcp::socket moved{workers_[to]->io};
        boost::system::error_code assign_error;
        moved.assign(local.protocol(), descriptor, assign_error);  // NOLINT(bugprone-unused-return-value)
        if (assign_error) {
          ::close(descriptor);
          open_.fetch_sub(1, std::memory_order_relaxed);
          return;
        }
        admit(to, std::move(moved), tried + 1);
      });
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // NOLINT(bugprone-unused-return-value)
    // Registered now, so the next admission on this worker sees it.
    worker.connections.emplace_back(std::move(socket));
    try {
      asio::co_spawn(worker.io, session(worker, std::prev(worker.connections.end())), asio::detached);
    } catch (...) {  // no frame for the session (out of memory): this connection goes
      worker.connections.pop_back();
      refuse();
    }
  }

  // Stops accepting and drains every worker: each lets its in-flight
  // requests finish and closes its idle connections; a worker's thread ends
  // when its last connection is done. After 5 s the connections still open
  // are closed, so their sessions end and every io_context runs out of work
  // with every session gone (stopping one instead would destroy suspended
  // sessions after the server they belong to).
  void drain() {
    if (stopping_) return;
    stopping_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);  // NOLINT(bugprone-unused-return-value)
    hangups_.cancel(ignored);  // NOLINT(bugprone-unused-return-value)
    if (grpc_) {
      // gRPC's shutdown waits for its calls, which may await Redis on worker
      // 0: wait on a thread of its own, worker 0 running until it is done.
      grpc_guard_.emplace(workers_[0]->io.get_executor());
      grpc_stopper_ = std::thread{[this] {
        grpc_->shutdown(std::chrono::seconds{1});
        asio::post(workers_[0]->io, [this] { grpc_guard_.reset(); });
      }};
    }
    for (auto& worker : workers_) asio::post(worker->io, [this, &worker = *worker] { drain(worker); });
  }

  void drain(Worker& worker) {
    worker.draining = true;
    worker.busy.reset();
    boost::system::error_code ignored;
    for (Connection& connection : worker.connections) {
      // Waiting for a request that has not begun: close. Mid-request (part of
      // it read, its body awaited after a 100 Continue, or being answered): finish it.
      if (connection.idle && connection.buffer.size() == 0) {
        connection.stream.cancel(ignored);  // NOLINT(bugprone-unused-return-value)
      }
    }
    worker.deadline.expires_after(std::chrono::seconds{5});
    worker.deadline.async_wait([&worker](boost::system::error_code error) {
      if (error) return;
      boost::system::error_code unused;
      for (Connection& connection : worker.connections) {
        connection.stream.close(unused);  // NOLINT(bugprone-unused-return-value)
      }
    });
    if (worker.connections.empty()) stopped(worker);
  }

  // A drained worker with no connection left: its timers go, so its
  // io_context runs out of work.
  static void stopped(Worker& worker) {
    worker.deadline.cancel();
    worker.sweeper.cancel();
  }

  // Every 100 ms: closes the worker's connections whose deadline has passed
  // (their pending operation then fails and their session ends). One timer a
  // worker instead of one a connection: setting a deadline is a store, where
  // arming and cancelling a timer around every read and write cost a timer
  // queue update (and often a system call) each.
  void sweep(Worker& worker) {
    worker.sweeper.expires_after(std::chrono::milliseconds{100});
    worker.sweeper.async_wait([this, &worker](boost::system::error_code error) {
      if (error) return;
      const auto now = std::chrono::steady_clock::now();
      for (Connection& connection : worker.connections) {
        if (connection.deadline <= now && connection.stream.is_open()) {
          boost::system::error_code ignored;
          connection.stream.close(ignored);  // NOLINT(bugprone-unused-return-value)
        }
      }
      if (worker.draining && worker.connections.empty()) return;
      sweep(worker);
    });
  }

  // Closes `worker`'s longest-open connection that waits for a request with
  // nothing of it received, else the one longest stalled reading a request
  // (its header, or its body once the header came) for over a second (a
  // client sends a request of at most 12 KiB at once; one that trickles
  // bytes to hold sockets must not lock others out); false when there is
  // none. A connection deciding or writing its answer is never closed.
  static bool close_oldest_idle(Worker& worker) {
    auto close = [](Connection& connection) {
      boost::system::error_code ignored;
      connection.stream.close(ignored);  // NOLINT(bugprone-unused-return-value)
      connection.idle = false;
      return true;
    };
    for (Connection& connection : worker.connections) {
      if (connection.idle && connection.buffer.size() == 0 && connection.stream.is_open()) return close(connection);
    }
    const auto stalled_before = std::chrono::steady_clock::now() - std::chrono::seconds{1};
    Connection* stalled = nullptr;
    for (Connection& connection : worker.connections) {
      if (connection.reading && connection.stream.is_open() && connection.waiting_since <= stalled_before &&
          (stalled == nullptr || connection.waiting_since < stalled->waiting_since)) {
        stalled = &connection;
      }
    }
    return stalled != nullptr && close(*stalled);
  }

  // The configured cap, kept below the descriptor limit (with room for the
  // listener, Redis connections and the standard streams).
  static std::size_t connection_cap(std::int64_t configured) {
    auto cap = static_cast<std::size_t>(configured);
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY && files.rlim_cur > 64) {
      cap = std::min<std::size_t>(cap, static_cast<std::size_t>(files.rlim_cur) - 32);
    }
    return std::max<std::size_t>(cap, 1);
  }

  // Ends a connection's registration, and its count, with its session.
  class Registered {
   public:
    Registered(Server& server, Worker& worker, std::list<Connection>::iterator entry)
        : server_{server}, worker_{worker}, entry_{entry} {}
    ~Registered() {
      server_.open_.fetch_sub(1, std::memory_order_relaxed);
      worker_.connections.erase(entry_);
      if (worker_.draining && worker_.connections.empty()) stopped(worker_);
    }
    Registered(const Registered&) = delete;
    Registered& operator=(const Registered&) = delete;

   private:
    Server& server_;
    Worker& worker_;
    std::list<Connection>::iterator entry_;
  };

  asio::awaitable<void> session(Worker& worker, std::list<Connection>::iterator entry) {
    Registered registered{*this, worker, entry};
    Connection& connection = *entry;
    tcp::socket& stream = connection.stream;
    beast::flat_buffer& buffer = connection.buffer;
    while (!worker.draining) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(header_limit);
      parser.body_limit(body_limit);
      connection.expires_after(options_.read_timeout);
      connection.idle = true;
      connection.reading = true;
      connection.waiting_since = std::chrono::steady_clock::now();
      auto [read_error, bytes] =
          co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      (void)bytes;
      connection.idle = false;
      std::optional<HttpResponse> refusal;
      if (!read_error) refusal = framing_refusal(parser);
      if (!read_error && !refusal && !parser.is_done()) {
        connection.waiting_since = std::chrono::steady_clock::now();  // the body's wait
        // A client that asks first (Expect: 100-continue, as curl does for
        // larger bodies) is told to go on, unless its body is already too big.
        if (expects_continue(parser.get()) && (!parser.content_length() || *parser.content_length() <= body_limit)) {
          (void)co_await asio::async_write(stream, asio::buffer(continue_line()), asio::as_tuple(asio::use_awaitable));
        }
        std::tie(read_error, bytes) =
            co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      }
      if (read_error || refusal) {
        if (read_error == http::error::header_limit) {
          refusal = Service::error(431, "the request header block is over 8 KiB");
        } else if (read_error == http::error::body_limit) {
          refusal = Service::error(413, "the request body is over 4 KiB");
        } else if (read_error == http::error::buffer_overflow) {
          refusal = Service::error(400, "the request's framing is over 12 KiB (a chunk line that never ends?)");
        } else if (read_error && read_error.category() == http::make_error_code(http::error::bad_target).category() &&
                   read_error != http::error::end_of_stream && read_error != http::error::partial_message) {
          refusal = Service::error(400, "malformed HTTP request: " + read_error.message());
        }
        connection.reading = false;  // answering now: not to be closed as stalled
        if (refusal && !worker.draining) {
          refusal->keep_alive(false);
          refusal->prepare_payload();
          connection.expires_after(std::chrono::seconds{5});
          (void)co_await http::async_write(stream, *refusal, asio::as_tuple(asio::use_awaitable));
          co_await linger(connection);
        }
        break;  // closed, timed out (a client too slow), or refused
      }
      connection.reading = false;
      const HttpRequest& request = parser.get();
      connection.deadline = std::chrono::steady_clock::time_point::max();  // deciding: Redis has its own timeouts
      const auto start = std::chrono::steady_clock::now();
      // The memory storage: no coroutine. The policies of this worker stay
      // while the request is answered, whatever a reload does meanwhile.
      std::optional<HttpResponse> now = service_.handle_now(request, *worker.policies);
      HttpResponse response;
      if (now) {
        response = std::move(*now);
      } else {
        response = co_await service_.handle(request, worker.policies);
      }
      response.keep_alive(request.keep_alive() && !worker.draining);
      connection.expires_after(std::chrono::seconds{10});
      serialize(response, connection.out);
      auto [write_error, written] =
          co_await asio::async_write(stream, asio::buffer(connection.out), asio::as_tuple(asio::use_awaitable));
      (void)written;
      if (Service::access_log(*worker.policies)) log(request, response, std::chrono::steady_clock::now() - start);
      if (write_error || !response.keep_alive()) break;
      // A large answer (/metrics) leaves no large buffer behind on an idle connection.
      if (connection.out.capacity() > 16 * 1024) std::string{}.swap(connection.out);
    }
    boost::system::error_code ignored;
    stream.shutdown(tcp::socket::shutdown_send, ignored);  // NOLINT(bugprone-unused-return-value)
  }

  // RFC 9112: a request whose body's length cannot be told (a
  // Transfer-Encoding whose last coding is not chunked) is refused and the
  // connection closed, or its body would be read as the next request
  // (smuggling past a proxy that frames it otherwise); codings before chunked
  // are not implemented; an HTTP/1.1 request names exactly one Host.
  static std::optional<HttpResponse> framing_refusal(const http::request_parser<http::string_body>& parser) {
    const HttpRequest& request = parser.get();
    const std::size_t codings = request.count(http::field::transfer_encoding);
    if (codings > 0) {
      if (!parser.chunked()) {
        return Service::error(400,
                              "the request's Transfer-Encoding does not end in chunked: its body's length is unknown");
      }
      if (codings > 1 || !beast::iequals(trimmed(request[http::field::transfer_encoding]), "chunked")) {
        return Service::error(501, "the only transfer coding implemented is chunked alone");
      }
    }
    if (request.version() >= 11 && request.count(http::field::host) != 1) {
      return Service::error(400, "an HTTP/1.1 request must have exactly one Host header");
    }
    return std::nullopt;
  }
  static std::string_view trimmed(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
  }

  // Only an HTTP/1.1 client is told to go on (RFC 9110 15.2: never a 1.0 one).
  static bool expects_continue(const HttpRequest& request) {
    return request.version() >= 11 && beast::iequals(request[http::field::expect], "100-continue");
  }
  static std::string_view continue_line() { return "HTTP/1.1 100 Continue\r\n\r\n"; }

  // After refusing a request that was not read to its end: stop sending and
  // read what the client still sends (at most 64 KiB, for at most 1 s), so
  // that closing does not reset the connection before it reads the refusal.
  static asio::awaitable<void> linger(Connection& connection) {
    tcp::socket& stream = connection.stream;
    boost::system::error_code ignored;
    stream.shutdown(tcp::socket::shutdown_send, ignored);  // NOLINT(bugprone-unused-return-value)
    connection.expires_after(std::chrono::seconds{1});
    std::array<char, 4096> sink{};
    for (std::size_t read = 0; read < 64 * 1024;) {
      auto [error, n] = co_await stream.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
      if (error) break;
      read += n;
    }
  }

  static void log(const HttpRequest& request, const HttpResponse& response, std::chrono::nanoseconds took) {
    // Valid JSON whatever the client sent: a control character or a byte
    // over 0x7F (not necessarily UTF-8) is written as \u00XX, its byte read
    // as Latin-1, so the line parses and the bytes can be told.
    std::string escaped;
    for (const char c : request.target()) {
      const auto byte = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        escaped.push_back('\\');
        escaped.push_back(c);
      } else if (byte < 0x20 || byte > 0x7E) {
        static constexpr char hex[] = "0123456789abcdef";
        escaped.append("\\u00").push_back(hex[byte >> 4]);
        escaped.push_back(hex[byte & 0xF]);
      } else {
        escaped.push_back(c);
      }
    }
    std::fprintf(stderr, "{\"method\":\"%s\",\"target\":\"%s\",\"status\":%u,\"us\":%lld}\n",
                 std::string{request.method_string()}.c_str(), escaped.c_str(), response.result_int(),
                 static_cast<long long>(took.count() / 1000));
  }

  std::function<Options()> load_;
  Options options_;  // as at start
  std::vector<std::unique_ptr<Worker>> workers_;
  Service service_;
  std::unique_ptr<GrpcServer> grpc_;  // with --grpc-listen
  std::thread grpc_stopper_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> grpc_guard_;
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  asio::signal_set hangups_;
  std::atomic<std::size_t> max_connections_;
  std::atomic<std::size_t> open_{0};  // connections open on every worker
  bool stopping_ = false;             // worker 0's: the acceptor is closed
};

}  // namespace

int serve_main(int argc, char** argv) {
  try {
    bool help = false;
    (void)parse_options(argc, argv, help);
    if (help) {
      std::fputs(serve_usage.data(), stdout);
      return 0;
    }
    // A server's writes to a closed pipe (its output gone) must not kill it.
    std::signal(SIGPIPE, SIG_IGN);
    Server server{[argc, argv] {
      bool unused = false;
      return parse_options(argc, argv, unused);
    }};
    server.open();
    server.run();
    return 0;
  } catch (const UsageError& error) {
    std::fprintf(stderr, "leaksnek serve: %s\n%s", error.what(), serve_usage.data());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "leaksnek serve: %s\n", error.what());
    return 2;
  }
}

}  // namespace leaksnek::cli
