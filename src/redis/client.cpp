#include <leaksnek/redis/client.hpp>

#include <hiredis/hiredis.h>

#include <sys/time.h>

#include <cerrno>
#include "reply.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <leaksnek/redis/cluster.hpp>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace leaksnek {

namespace redis {

namespace {

[[noreturn]] void bad_url(std::string_view url, std::string_view problem) {
  std::string message{"malformed Redis URL \""};
  message.append(url).append("\": ").append(problem);
  throw Error{message};
}

std::string percent_decode(std::string_view url, std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= text.size()) bad_url(url, "truncated %-escape");
    auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (ec != std::errc{} || end != text.data() + i + 3) bad_url(url, "malformed %-escape");
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

int parse_number(std::string_view url, std::string_view text, int low, int high, std::string_view what) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < low || value > high) {
    std::string problem{what};
    problem.append(" must be a number from ").append(std::to_string(low)).append(" to ").append(std::to_string(high));
    bad_url(url, problem);
  }
  return value;
}

}  // namespace

Endpoint Endpoint::parse(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  if (url.starts_with("rediss://")) bad_url(url, "TLS (rediss://) is not supported");
  if (!url.starts_with(scheme)) bad_url(url, "expected redis://[user:password@]host[:port][/db]");
  std::string_view rest = url.substr(scheme.size());
  Endpoint endpoint;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (auto colon = credentials.find(':'); colon != std::string_view::npos) {
      endpoint.user = percent_decode(url, credentials.substr(0, colon));
      endpoint.password = percent_decode(url, credentials.substr(colon + 1));
    } else {
      endpoint.password = percent_decode(url, credentials);  // redis://password@host, as redis-cli reads it
    }
  }
  std::string_view authority = rest;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) endpoint.db = parse_number(url, db, 0, 1'000'000, "the database");
  }
  std::string_view host = authority;
  if (authority.starts_with('[')) {  // [::1]:6379
    auto close = authority.find(']');
    if (close == std::string_view::npos) bad_url(url, "unclosed [ in the host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad_url(url, "expected :port after the host");
      endpoint.port = parse_number(url, after.substr(1), 1, 65535, "the port");
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    endpoint.port = parse_number(url, authority.substr(colon + 1), 1, 65535, "the port");
  }
  if (host.empty()) bad_url(url, "missing host");
  endpoint.host = std::string{host};
  return endpoint;
}

namespace {

// ?lease=on[&lease_max=N][&lease_ttl=Nms|Ns]: the lease options of a URL.
void parse_lease_query(std::string_view url, std::string_view query, LeaseOptions& lease) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const std::size_t eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (name == "lease") {
      if (value != "on" && value != "off") bad_url(url, "lease must be on or off");
      lease.enabled = value == "on";
    } else if (name == "lease_max") {
      lease.max = parse_number(url, value, 1, 1'000'000'000, "lease_max");
    } else if (name == "lease_ttl") {
      const bool ms = value.ends_with("ms");
      const std::string_view digits = value.substr(0, value.size() - (ms ? 2 : value.ends_with('s') ? 1 : 0));
      if (!ms && !value.ends_with('s')) bad_url(url, "lease_ttl must end in ms or s (100ms, 1s)");
      const int n = parse_number(url, digits, 1, ms ? 3'600'000 : 3600, "lease_ttl");
      lease.ttl = ms ? Duration{std::chrono::milliseconds{n}} : Duration{std::chrono::seconds{n}};
    } else {
      bad_url(url,
              std::string{"unknown parameter \""}.append(name).append("\" (expected lease, lease_max, lease_ttl)"));
    }
  }
}

}  // namespace

void Options::set_url(std::string_view url) {
  // The query starts after the credentials: a password may hold a '?'.
  const std::size_t last_at = url.rfind('@');
  if (auto question = url.find('?', last_at == std::string_view::npos ? 0 : last_at);
      question != std::string_view::npos) {
    parse_lease_query(url, url.substr(question + 1), lease);
    url = url.substr(0, question);
  }
  constexpr std::string_view scheme = "redis-cluster://";
  if (!url.starts_with(scheme)) {
    endpoint = Endpoint::parse(url);
    cluster.clear();
    return;
  }
  std::string_view rest = url.substr(scheme.size());
  std::string credentials;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    credentials = std::string{rest.substr(0, at + 1)};
    rest = rest.substr(at + 1);
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash + 1).find_first_not_of('/') != std::string_view::npos) {
      bad_url(url, "a Redis Cluster has only database 0: remove the database number");
    }
    rest = rest.substr(0, slash);
  }
  std::vector<Endpoint> seeds;
  while (true) {
    const std::size_t comma = rest.find(',');
    std::string_view node = rest.substr(0, comma);
    if (node.empty()) bad_url(url, "expected redis-cluster://[user:password@]host:port[,host:port...]");
    if (seeds.size() == 64) bad_url(url, "more than 64 nodes");
    try {
      seeds.push_back(Endpoint::parse("redis://" + credentials + std::string{node}));
    } catch (const Error& e) {
      std::string_view why{e.what()};
      if (auto end = why.find("\": "); end != std::string_view::npos) why.remove_prefix(end + 3);
      bad_url(url, std::string{"node \""}.append(node).append("\": ").append(why));
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  cluster = std::move(seeds);
}

namespace {

using Clock = std::chrono::steady_clock;

struct ContextDeleter {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};

timeval to_timeval(Duration d) {
  auto us = std::max<std::int64_t>(1000, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

// A failure to reach Redis (as opposed to an error reply): the connection is
// dropped and calls fail fast for the retry interval.
struct Unreachable {
  std::string reason;
};

}  // namespace

namespace {

// One server: a pool of connections and the session that knows whether the
// server is down.
struct Node {
  explicit Node(Options o) : session{std::move(o)} {}

  Session session;
  const Options& options = session.options();
  std::mutex mutex;  // guards idle
  std::vector<Context> idle;

  static std::int64_t now_ns() { return Clock::now().time_since_epoch().count(); }

  Context take(Clock::time_point deadline) {
    {
      std::lock_guard lock{mutex};
      while (!idle.empty()) {
        Context context = std::move(idle.back());
        idle.pop_back();
        if (!detail::closed_by_peer(context->fd)) return context;  // else: a restart or an idle timeout closed it
      }
    }
    return connect(deadline);
  }

  void give(Context context) {
    std::lock_guard lock{mutex};
    if (idle.size() < options.pool_size) idle.push_back(std::move(context));
  }

  Context connect(Clock::time_point deadline) {
    const Endpoint& e = options.endpoint;
    Context context{redisConnectWithTimeout(e.host.c_str(), e.port, to_timeval(deadline - Clock::now()))};
    if (!context) throw Unreachable{"out of memory"};
    if (context->err != 0) throw Unreachable{std::string{"cannot connect: "} + context->errstr};
    session.count(Session::Counter::connect);
    Handshake handshake{e};
    for (const Command& command : handshake.commands()) {
      Reply reply;
      try {
        reply = run(*context, command, deadline);
      } catch (const Unreachable& failure) {
        throw Unreachable{handshake.lost(failure.reason)};
      }
      if (auto refused = handshake.answer(reply)) throw Unreachable{std::move(*refused)};
    }
    return context;
  }

  // One command on one connection within the deadline.
  template <class Args>
  Reply run(redisContext& context, const Args& args, Clock::time_point deadline) {
    auto left = deadline - Clock::now();
    if (left <= Duration{0}) throw Unreachable{session.timed_out()};
    if (redisSetTimeout(&context, to_timeval(left)) != REDIS_OK) throw Unreachable{"cannot set a timeout"};
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const auto& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    session.count(Session::Counter::call);
    std::unique_ptr<redisReply, ReplyDeleter> reply{static_cast<redisReply*>(
        redisCommandArgv(&context, static_cast<int>(argv.size()), argv.data(), lengths.data()))};
    if (!reply) {
      std::string reason = context.err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
                               ? session.timed_out()
                               : std::string{context.errstr};
      throw Unreachable{reason.empty() ? std::string{"connection lost"} : reason};
    }
    return detail::copy_reply(*reply);
  }

  // `use(connection, deadline)` on one connection; StorageError when Redis
  // is down, unreachable or too slow.
  template <class Use>
  Reply with_connection(Clock::time_point deadline, Use&& use) {
    if (session.down(now_ns())) throw StorageError{session.fail_fast_message()};
    // A call whose time ran out before it reached this node (a cluster's
    // earlier tries) times out without counting against the node.
    if (Clock::now() >= deadline) throw StorageError{session.describe(session.timed_out())};
    try {
      Context context = take(deadline);
      Reply reply = use(*context, deadline);
      give(std::move(context));
      return reply;
    } catch (const Unreachable& failure) {
      std::string message = session.unreachable(failure.reason, now_ns());
      {
        std::lock_guard lock{mutex};
        idle.clear();  // the server went away: every idle connection is suspect
      }
      throw StorageError{message};
    }
  }

  Reply command(std::span<const std::string_view> args, Clock::time_point deadline, bool asking = false) {
    return with_connection(deadline, [&](redisContext& context, Clock::time_point until) {
      if (asking) {
        Reply ok = run(context, std::array<std::string_view, 1>{"ASKING"}, until);
        if (ok.type == Reply::Type::error) return ok;
      }
      return run(context, args, until);
    });
  }

  // Runs a script call to its end; a failure (not a redirection) throws.
  Reply eval(ScriptCall& call, Clock::time_point deadline) {
    Reply reply = with_connection(deadline, [&](redisContext& context, Clock::time_point until) {
      std::vector<Command> more = call.commands();
      for (std::size_t i = 0; i < more.size() && !call.done(); ++i) {
        for (Command& again : call.answer(run(context, more[i], until))) more.push_back(std::move(again));
      }
      return call.reply();
    });
    if (call.functions_unsupported()) session.no_functions();
    if (call.loaded()) session.count(Session::Counter::script_load);
    if (call.failure()) throw StorageError{session.refused(*call.failure())};
    return reply;
  }
};

// A Redis Cluster: a Node per master, found through the seeds and CLUSTER
// SLOTS, and the slot map that routes each call to its key's master.
struct Cluster {
  explicit Cluster(Options o) : session{o}, options{std::move(o)} {}

  Session session;  // the cluster's own counters and its messages
  Options options;
  std::mutex mutex;  // guards the members below
  std::map<std::string, std::unique_ptr<Node>> nodes;
  std::array<Node*, cluster_slots> owner{};
  Clock::time_point refreshed_at{};
  bool refreshing = false;      // one refresh at a time
  std::uint64_t refreshes = 0;  // refreshes ended (with a map or without)
  std::condition_variable refresh_ended;

  Node& node(const Endpoint& where) {  // with `mutex` held
    std::string name = node_name(where);
    auto at = nodes.find(name);
    if (at != nodes.end()) return *at->second;
    // Nodes are never dropped (calls hold raw pointers): a node that names
    // ever new addresses must not grow the client without bound.
    if (nodes.size() >= max_cluster_nodes) {
      throw StorageError{failed("more than " + std::to_string(max_cluster_nodes) + " nodes named; refusing " + name)};
    }
    return *nodes.emplace(std::move(name), std::make_unique<Node>(node_options(options, where))).first->second;
  }

  Node& node_at(const Redirection& r, const Node& answered) {
    std::lock_guard lock{mutex};
    return node(redirected_to(r, answered.options.endpoint));
  }

  // Reads the slot map from the first node that answers. `force` (no map
  // yet, or MOVED): even within the refresh interval, waiting (until the
  // deadline) for a refresh in progress, which then serves. Returns whether
  // a new map is in place.
  bool refresh(Clock::time_point deadline, bool force) {
    std::vector<Node*> candidates;
    {
      std::unique_lock lock{mutex};
      if (refreshing) {
        if (!force) return false;
        const std::uint64_t seen = refreshes;
        // (A condition variable, not a timed mutex: TSan cannot follow
        // pthread_mutex_clocklock.)
        return refresh_ended.wait_until(lock, deadline, [&] { return refreshes != seen; });
      }
      if (!force && Clock::now() - refreshed_at < refresh_interval) return false;
      refreshing = true;
      refreshed_at = Clock::now();
      try {
        for (Node* n : std::set<Node*>(owner.begin(), owner.end())) {
          if (n != nullptr) candidates.push_back(n);
        }
        for (const Endpoint& seed : options.cluster) {
          Node* n = &node(seed);
          if (std::find(candidates.begin(), candidates.end(), n) == candidates.end()) candidates.push_back(n);
        }
      } catch (...) {
        refreshing = false;
        ++refreshes;
        refresh_ended.notify_all();
        throw;
      }
    }
    bool applied = false;
    for (Node* candidate : candidates) {
      if (Clock::now() >= deadline) break;  // the rest were not asked: no failure of theirs
      if (candidate->session.down(Node::now_ns())) continue;
      try {
        Reply reply = candidate->command(std::array<std::string_view, 2>{"CLUSTER", "SLOTS"}, deadline);
        SlotMap map = SlotMap::parse(reply, candidate->options.endpoint);
        if (map.masters().empty()) continue;  // a node that has not joined yet
        std::lock_guard lock{mutex};
        map.route(owner, [&](const Endpoint& master) -> Node& { return node(master); });
        session.count(Session::Counter::map_refresh);
        applied = true;
        break;
      } catch (const StorageError& e) {
        session.refused(e.what());  // the next candidate
      }
    }
    {
      std::lock_guard lock{mutex};
      refreshing = false;
      ++refreshes;
    }
    refresh_ended.notify_all();
    return applied;
  }

  Node* owner_of(int slot) {
    std::lock_guard lock{mutex};
    return owner[static_cast<std::size_t>(slot)];
  }

  void learn(int slot, Node& node) {
    std::lock_guard lock{mutex};
    owner[static_cast<std::size_t>(slot)] = &node;
  }

  Node& route(int slot, Clock::time_point deadline) {
    if (Node* n = owner_of(slot)) return *n;
    refresh(deadline, true);
    if (Node* n = owner_of(slot)) return *n;
    throw StorageError{failed("no master serves slot " + std::to_string(slot) + " (" + unreachable_reason() + ")")};
  }

  // A failure of the cluster (not of one node): recorded as its last, and worded.
  std::string failed(std::string_view reason) { return session.refused(reason); }

  std::string unreachable_reason() {
    std::lock_guard lock{mutex};
    for (auto& [name, n] : nodes) {
      std::string last = n->session.last_failure();
      if (!last.empty()) return "last failure: " + last;
    }
    return "no node answered CLUSTER SLOTS";
  }

  // Runs `attempt(node, asking, deadline)` on the slot's master, following
  // MOVED and ASK, retrying TRYAGAIN, CLUSTERDOWN and a failed-over master,
  // all within one deadline. `attempt` returns the reply, which may be a
  // redirection (an error reply), and throws StorageError on failure.
  template <class Attempt>
  Reply routed(int slot, Attempt&& attempt) {
    const auto deadline = Clock::now() + options.timeout;
    Node* ask = nullptr;
    for (int round = 0;; ++round) {
      Node& target = ask != nullptr ? *ask : route(slot, deadline);
      const bool asking = ask != nullptr;
      ask = nullptr;
      Reply reply;
      try {
        reply = attempt(target, asking, deadline);
      } catch (const StorageError&) {
        // Unreachable (not a refusal: a script's error must not run it
        // twice): the master may have failed over, and a newer map may name
        // its successor.
        if (!asking && target.session.down(Node::now_ns()) && Clock::now() < deadline && refresh(deadline, false) &&
            owner_of(slot) != &target) {
          continue;
        }
        throw;
      }
      auto r = redirection(reply);
      if (!r) return reply;
      if (round >= max_redirections) {
        throw StorageError{failed("redirected " + std::to_string(max_redirections) + " times for slot " +
                                  std::to_string(slot) + ", last: " + r->text)};
      }
      switch (r->kind) {
        case Redirection::Kind::moved:
          session.count(Session::Counter::redirection);
          learn(r->slot, node_at(*r, target));
          refresh(deadline, false);  // more slots have likely moved with it
          continue;
        case Redirection::Kind::ask:
          session.count(Session::Counter::redirection);
          ask = &node_at(*r, target);
          continue;
        case Redirection::Kind::try_again:
        case Redirection::Kind::cluster_down: {
          const auto pause = backoff(round);  // never past the deadline
          if (Clock::now() + pause >= deadline) {
            throw StorageError{
                failed(node_name(target.options.endpoint) + " answered \"" + r->text + "\" until the call's timeout")};
          }
          std::this_thread::sleep_for(pause);
          if (r->kind == Redirection::Kind::cluster_down) refresh(deadline, false);
          continue;
        }
      }
    }
  }

  Statistics statistics() {
    Statistics total = session.statistics();
    std::lock_guard lock{mutex};
    for (auto& [name, n] : nodes) add_node_traffic(total, n->session.statistics());
    return total;
  }

  // The cluster is down when every master fails fast.
  // Zero while any node may be tried (no allocation: noexcept callers).
  Duration retry_in() noexcept {
    std::lock_guard lock{mutex};
    Duration soonest = Duration::max();
    for (auto& [name, n] : nodes) soonest = std::min(soonest, n->session.retry_in(Node::now_ns()));
    return nodes.empty() ? Duration{0} : soonest;
  }

  std::string last_failure() {
    std::string own = session.last_failure();
    if (!own.empty()) return own;
    std::lock_guard lock{mutex};
    for (auto& [name, n] : nodes) {
      std::string last = n->session.last_failure();
      if (!last.empty()) return last;
    }
    return {};
  }
};

}  // namespace

struct Client::Impl {
  explicit Impl(Options o) {
    if (o.is_cluster()) {
      cluster = std::make_unique<Cluster>(std::move(o));
    } else {
      single = std::make_unique<Node>(std::move(o));
    }
  }
  [[nodiscard]] const Options& options() const { return cluster ? cluster->options : single->options; }
  [[nodiscard]] Session& session() const { return cluster ? cluster->session : single->session; }

  std::unique_ptr<Node> single;
  std::unique_ptr<Cluster> cluster;
};

Client::Client(Options options) : impl_{std::make_unique<Impl>(std::move(options))} {}
Client::~Client() = default;

Reply Client::command(std::span<const std::string_view> args) {
  if (!impl_->cluster) return impl_->single->command(args, Clock::now() + impl_->single->options.timeout);
  const int slot = args.size() > 1 ? key_slot(args[1]) : 0;
  return impl_->cluster->routed(
      slot, [&](Node& node, bool asking, Clock::time_point deadline) { return node.command(args, deadline, asking); });
}

Reply Client::eval(const Script& script, std::span<const std::string_view> keys,
                   std::span<const std::string_view> args) {
  return eval(script, std::vector<std::string>{keys.begin(), keys.end()},
              std::vector<std::string>{args.begin(), args.end()});
}

Reply Client::eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args) {
  if (!impl_->cluster) {
    Node& node = *impl_->single;
    ScriptCall call{script, std::move(keys), std::move(args), node.session.functions()};
    Reply reply = node.eval(call, Clock::now() + node.options.timeout);
    if (call.redirected()) throw StorageError{node.session.refused(not_a_cluster(*call.redirected()))};
    return reply;
  }
  // Every key of one call shares the first key's slot (leaksnek's keys share a hash tag).
  const int slot = keys.empty() ? 0 : key_slot(keys.front());
  return impl_->cluster->routed(slot, [&](Node& node, bool asking, Clock::time_point deadline) {
    ScriptCall call{script, keys, args, node.session.functions(), asking};
    Reply reply = node.eval(call, deadline);
    if (call.redirected()) return Reply{Reply::Type::error, call.redirected()->text, 0, {}};
    return reply;
  });
}

const Options& Client::options() const noexcept { return impl_->options(); }

Statistics Client::statistics() const {
  return impl_->cluster ? impl_->cluster->statistics() : impl_->single->session.statistics();
}

void Client::count(OnStorageError policy) noexcept { impl_->session().count(policy); }

std::string Client::last_failure() const {
  return impl_->cluster ? impl_->cluster->last_failure() : impl_->single->session.last_failure();
}

bool Client::down() const noexcept { return retry_in() > Duration{0}; }

Duration Client::retry_in() const noexcept {
  return impl_->cluster ? impl_->cluster->retry_in() : impl_->single->session.retry_in(Node::now_ns());
}

}  // namespace redis
}  // namespace leaksnek
