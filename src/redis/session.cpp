#include <leaksnek/redis/session.hpp>

#include <algorithm>
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

ScriptCall::ScriptCall(const Script& script, std::vector<std::string> keys, std::vector<std::string> args)
    : script_{&script} {
  evalsha_.reserve(3 + keys.size() + args.size());
  evalsha_.insert(evalsha_.end(), {"EVALSHA", script.sha1(), std::to_string(keys.size())});
  std::move(keys.begin(), keys.end(), std::back_inserter(evalsha_));
  std::move(args.begin(), args.end(), std::back_inserter(evalsha_));
}

std::vector<Command> ScriptCall::answer(Reply reply) {
  const bool error = reply.type == Reply::Type::error;
  switch (step_) {
    case Step::first:
      if (error && reply.text.starts_with("NOSCRIPT")) {
        loaded_ = true;
        step_ = Step::load;
        return {{"SCRIPT", "LOAD", script_->text()}, evalsha_};
      }
      break;
    case Step::load:
      if (!error) {
        step_ = Step::retry;
        return {};
      }
      failure_ = "cannot load the script: " + reply.text;
      step_ = Step::done;  // the retry's reply, if it was sent, is ignored
      return {};
    case Step::retry:
      break;
    case Step::done:
      return {};
  }
  step_ = Step::done;
  if (error) {
    failure_ = "failed the script: " + reply.text;
  } else {
    reply_ = std::move(reply);
  }
  return {};
}

Session::Session(Options options)
    : options_{std::move(options)}, where_{options_.endpoint.host + ":" + std::to_string(options_.endpoint.port)} {}

Duration Session::retry_in(std::int64_t now_ns) const noexcept {
  return Duration{std::max<std::int64_t>(0, down_until_.load(order) - now_ns)};
}

std::string Session::describe(std::string_view reason) const {
  std::string text{"Redis at "};
  return text.append(where_).append(": ").append(reason);
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
  return "Redis at " + where_ + " is unreachable (" + down_reason_ + "); retrying shortly";
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
  return {calls_.load(order),       connects_.load(order),      failures_.load(order), script_loads_.load(order),
          failed_open_.load(order), failed_closed_.load(order), fell_back_.load(order)};
}

}  // namespace leaksnek::redis
