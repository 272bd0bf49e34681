#include <leaksnek/redis/client.hpp>

#include <hiredis/hiredis.h>

#include <sys/time.h>

#include <cerrno>
#include "reply.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <mutex>
#include <string>
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

struct Client::Impl {
  explicit Impl(Options o) : session{std::move(o)} {}

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

  template <class Use>
  Reply with_connection(Use&& use) {
    if (session.down(now_ns())) throw StorageError{session.fail_fast_message()};
    const auto deadline = Clock::now() + options.timeout;
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
};

Client::Client(Options options) : impl_{std::make_unique<Impl>(std::move(options))} {}
Client::~Client() = default;

Reply Client::command(std::span<const std::string_view> args) {
  return impl_->with_connection(
      [&](redisContext& context, Clock::time_point deadline) { return impl_->run(context, args, deadline); });
}

Reply Client::eval(const Script& script, std::span<const std::string_view> keys,
                   std::span<const std::string_view> args) {
  return eval(script, std::vector<std::string>{keys.begin(), keys.end()},
              std::vector<std::string>{args.begin(), args.end()});
}

Reply Client::eval(const Script& script, std::vector<std::string> keys, std::vector<std::string> args) {
  ScriptCall call{script, std::move(keys), std::move(args)};
  Reply reply = impl_->with_connection([&](redisContext& context, Clock::time_point deadline) {
    std::vector<Command> more = call.answer(impl_->run(context, call.command(), deadline));
    for (std::size_t i = 0; i < more.size() && !call.done(); ++i) {
      for (Command& again : call.answer(impl_->run(context, more[i], deadline))) more.push_back(std::move(again));
    }
    return call.reply();
  });
  if (call.loaded()) impl_->session.count(Session::Counter::script_load);
  if (call.failure()) throw StorageError{impl_->session.refused(*call.failure())};
  return reply;
}

const Options& Client::options() const noexcept { return impl_->options; }

Statistics Client::statistics() const { return impl_->session.statistics(); }

void Client::count(OnStorageError policy) noexcept { impl_->session.count(policy); }

std::string Client::last_failure() const { return impl_->session.last_failure(); }

bool Client::down() const noexcept { return impl_->session.down(Impl::now_ns()); }

Duration Client::retry_in() const noexcept { return impl_->session.retry_in(Impl::now_ns()); }

}  // namespace redis
}  // namespace leaksnek
