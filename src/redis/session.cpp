#include <leaksnek/redis/session.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iterator>
#include <utility>

namespace leaksnek::redis {

Handshake::Handshake(const Endpoint& endpoint) {
  if (!endpoint.password.empty()) {
    Command auth{"AUTH"};
    if (!endpoint.user.empty()) auth.push_back(endpoint.user);
    auth.push_back(endpoint.password);
    commands_.push_back(std::move(auth));
  }
  if (endpoint.db != 0) commands_.push_back({"SELECT", std::to_string(endpoint.db)});
}

std::optional<std::string> Handshake::answer(const Reply& reply) {
  if (refused_ || answered_ == commands_.size()) return std::string{"a reply to no handshake command"};
  const std::string& step = commands_[answered_].front();
  ++answered_;
  if (reply.type != Reply::Type::error) return std::nullopt;
  refused_ = true;
  return "refused " + step + ": " + reply.text;
}

std::string Handshake::lost(std::string_view why) const {
  std::string message{"lost the connection"};
  if (answered_ < commands_.size()) message.append(" during ").append(commands_[answered_].front());
  return message.append(": ").append(why);
}

std::optional<Redirection> redirection(const Reply& reply) {
  if (reply.type != Reply::Type::error) return std::nullopt;
  std::string_view text{reply.text};
  Redirection r;
  r.text = reply.text;
  if (text.starts_with("TRYAGAIN")) {
    r.kind = Redirection::Kind::try_again;
    return r;
  }
  if (text.starts_with("CLUSTERDOWN")) {
    r.kind = Redirection::Kind::cluster_down;
    return r;
  }
  if (text.starts_with("MOVED ")) {
    r.kind = Redirection::Kind::moved;
    text.remove_prefix(6);
  } else if (text.starts_with("ASK ")) {
    r.kind = Redirection::Kind::ask;
    text.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  // "SLOT HOST:PORT" (the host may be an IPv6 address, or empty)
  const std::size_t space = text.find(' ');
  const std::size_t colon = text.rfind(':');
  if (space == std::string_view::npos || colon == std::string_view::npos || colon < space) return std::nullopt;
  auto number = [](std::string_view digits, int high) {
    int value = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    return ec == std::errc{} && end == digits.data() + digits.size() && value >= 0 && value <= high ? value : -1;
  };
  r.slot = number(text.substr(0, space), 16383);
  r.port = number(text.substr(colon + 1), 65535);
  if (r.slot < 0 || r.port <= 0) return std::nullopt;
  r.host = std::string{text.substr(space + 1, colon - space - 1)};
  if (r.host.size() > 2 && r.host.front() == '[' && r.host.back() == ']') r.host = r.host.substr(1, r.host.size() - 2);
  return r;
}

std::string not_a_cluster(const Redirection& redirection) {
  return "answered \"" + redirection.text +
         "\": the server is a Redis Cluster node; reach a cluster with redis-cluster://host:port[,host:port...]";
}

ScriptCall::ScriptCall(const Script& script, std::vector<std::string> keys, std::vector<std::string> args,
                       bool functions, bool asking)
    : script_{&script},
      keys_{std::move(keys)},
      args_{std::move(args)},
      functions_{functions && !script.library().empty()},
      asking_{asking} {
  (void)attempt(std::nullopt);
}

std::vector<Command> ScriptCall::commands() const {
  std::vector<Command> first;
  if (asking_) first.push_back({"ASKING"});
  Command call;
  call.reserve(3 + keys_.size() + args_.size());
  if (functions_) {
    call.insert(call.end(), {"FCALL", script_->function(), std::to_string(keys_.size())});
  } else {
    call.insert(call.end(), {"EVALSHA", script_->sha1(), std::to_string(keys_.size())});
  }
  call.insert(call.end(), keys_.begin(), keys_.end());
  call.insert(call.end(), args_.begin(), args_.end());
  first.push_back(std::move(call));
  return first;
}

// Records the replies due for [load], [ASKING], the call; returns those commands.
std::vector<Command> ScriptCall::attempt(std::optional<Command> load) {
  std::vector<Command> next;
  if (load) {
    next.push_back(std::move(*load));
    expected_.push_back(Expect::load);
  }
  if (asking_) expected_.push_back(Expect::asking);
  expected_.push_back(Expect::call);
  if (answered_ == 0 && !load) return next;  // the first attempt: commands() builds them
  for (Command& command : commands()) next.push_back(std::move(command));
  return next;
}

std::vector<Command> ScriptCall::answer(Reply reply) {
  if (done_ || answered_ >= expected_.size()) return {};
  const Expect expect = expected_[answered_++];
  const bool error = reply.type == Reply::Type::error;
  switch (expect) {
    case Expect::asking:
      if (error) {
        failure_ = "refused ASKING: " + reply.text;
        finish();
      }
      return {};
    case Expect::load:
      // Another client may have loaded the same library meanwhile.
      if (error && !reply.text.ends_with("already exists")) {
        failure_ = "cannot load the script: " + reply.text;
        finish();  // the retry's reply, if it was sent, is ignored
      }
      return {};
    case Expect::call:
      break;
  }
  if (!error) {
    reply_ = std::move(reply);
    finish();
    return {};
  }
  if (auto moved = redirection(reply)) {
    redirected_ = std::move(moved);
    finish();
    return {};
  }
  if (!loaded_ && functions_ && reply.text.find("unknown command") != std::string::npos) {
    functions_ = false;
    unsupported_ = true;
    return attempt(std::nullopt);  // not a load: EVALSHA may still find the script
  }
  if (!loaded_ && functions_ && reply.text.find("Function not found") != std::string::npos) {
    loaded_ = true;
    return attempt(Command{"FUNCTION", "LOAD", script_->library()});
  }
  if (!loaded_ && !functions_ && reply.text.starts_with("NOSCRIPT")) {
    loaded_ = true;
    return attempt(Command{"SCRIPT", "LOAD", script_->text()});
  }
  failure_ = "failed the script: " + reply.text;
  finish();
  return {};
}

Session::Session(Options options) : options_{std::move(options)} {
  auto name = [](const Endpoint& e) {
    const bool v6 = e.host.find(':') != std::string::npos;
    return (v6 ? "[" + e.host + "]" : e.host) + ":" + std::to_string(e.port);
  };
  if (options_.cluster.empty()) {
    where_ = "Redis at " + name(options_.endpoint);
    return;
  }
  where_ = "Redis Cluster via ";
  for (std::size_t i = 0; i < options_.cluster.size(); ++i)
    where_.append(i == 0 ? "" : ",").append(name(options_.cluster[i]));
}

Duration Session::retry_in(std::int64_t now_ns) const noexcept {
  return Duration{std::max<std::int64_t>(0, down_until_.load(order) - now_ns)};
}

std::string Session::describe(std::string_view reason) const {
  std::string text{where_};
  return text.append(": ").append(reason);
}

std::string Session::unreachable(std::string_view reason, std::int64_t now_ns) {
  failures_.fetch_add(1, order);
  {
    std::lock_guard lock{mutex_};
    last_failure_ = reason;
    down_reason_ = reason;
  }
  // After the reason: whoever sees Redis down finds why.
  down_until_.store(now_ns + options_.retry_interval.count(), std::memory_order_release);
  return describe(reason);
}

std::string Session::refused(std::string_view reason) {
  std::lock_guard lock{mutex_};
  last_failure_ = reason;
  return describe(reason);
}

std::string Session::fail_fast_message() const {
  std::lock_guard lock{mutex_};
  return where_ + " is unreachable (" + down_reason_ + "); retrying shortly";
}

std::string Session::last_failure() const {
  std::lock_guard lock{mutex_};
  return last_failure_.empty() ? std::string{} : describe(last_failure_);
}

std::string Session::timed_out() const {
  return "timed out after " +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(options_.timeout).count()) + " ms";
}

void Session::count(Counter counter) noexcept {
  switch (counter) {
    case Counter::call:
      calls_.fetch_add(1, order);
      return;
    case Counter::connect:
      connects_.fetch_add(1, order);
      return;
    case Counter::script_load:
      script_loads_.fetch_add(1, order);
      return;
    case Counter::redirection:
      redirections_.fetch_add(1, order);
      return;
    case Counter::map_refresh:
      map_refreshes_.fetch_add(1, order);
      return;
  }
}

void Session::count(OnStorageError policy) noexcept {
  switch (policy) {
    case OnStorageError::fail_open:
      failed_open_.fetch_add(1, order);
      return;
    case OnStorageError::fail_closed:
      failed_closed_.fetch_add(1, order);
      return;
    case OnStorageError::local:
      fell_back_.fetch_add(1, order);
      return;
  }
}

Statistics Session::statistics() const noexcept {
  Statistics s;
  s.calls = calls_.load(order);
  s.connects = connects_.load(order);
  s.failures = failures_.load(order);
  s.script_loads = script_loads_.load(order);
  s.redirections = redirections_.load(order);
  s.map_refreshes = map_refreshes_.load(order);
  s.failed_open = failed_open_.load(order);
  s.failed_closed = failed_closed_.load(order);
  s.fell_back = fell_back_.load(order);
  return s;
}

}  // namespace leaksnek::redis
