#include <charconv>
#include <limits>
#include <string>
#include <string_view>

#include <leaksnek/algorithms/policy.hpp>
#include <leaksnek/algorithms/registry.hpp>
#include <leaksnek/storages/redis_storage.hpp>

namespace leaksnek::redis {

std::string policy_tag(std::string_view algorithm, std::span<const RateLimit> limits) {
  for (const RateLimit& limit : limits) {
    if (limit.period().count() % 1000 != 0) {
      throw RateError{"Redis keeps time in microseconds: a period of " + std::to_string(limit.period().count()) +
                      "ns is not a whole number of microseconds"};
    }
  }
  std::string tag{algorithm};
  tag.push_back(':');
  return tag.append(with_algorithm(algorithm, [&]<class A>() { return state_tag<A>(limits); }));
}

namespace {

void check_size(std::size_t max_key_size, std::string_view bytes) {
  if (bytes.size() > max_key_size) {
    throw KeyError{"key of " + std::to_string(bytes.size()) + " bytes is longer than the storage's maximum of " +
                   std::to_string(max_key_size)};
  }
}

}  // namespace

void check_key(const Options& options, std::string_view bytes) { check_size(options.max_key_size, bytes); }

namespace {

// Appends `text` with '%', '{' and '}' %-escaped, and ':' too when `colon`:
// an escaped name never ends a hash tag early nor runs into the key after it.
void append_escaped(std::string& out, std::string_view text, bool colon) {
  for (char c : text) {
    switch (c) {
      case '%':
        out.append("%25");
        break;
      case '{':
        out.append("%7B");
        break;
      case '}':
        out.append("%7D");
        break;
      case ':':
        out.append(colon ? "%3A" : ":");
        break;
      default:
        out.push_back(c);
    }
  }
}

}  // namespace

PreparedPolicy::PreparedPolicy(const Options& options, std::string_view policy, std::string_view algorithm,
                               std::span<const RateLimit> limits)
    : max_key_size_{options.max_key_size}, head_{options.prefix} {
  head_.push_back('{');
  append_escaped(head_, policy, true);
  head_.push_back(':');
  tail_.append("}:").append(policy_tag(algorithm, limits));
  limit_args_.reserve(2 + limits.size() * 3);
  limit_args_.emplace_back(algorithm);
  limit_args_.push_back(std::to_string(limits.size()));
  for (const RateLimit& limit : limits) {
    limit_args_.push_back(std::to_string(limit.count()));
    limit_args_.push_back(std::to_string(limit.period().count() / 1000));
    limit_args_.push_back(std::to_string(limit.burst()));
  }
}

std::string PreparedPolicy::key(std::string_view bytes) const {
  check_size(max_key_size_, bytes);
  std::string name;
  name.reserve(head_.size() + bytes.size() + 8 + tail_.size());
  name.append(head_);
  append_escaped(name, bytes, false);
  return name.append(tail_);
}

std::vector<std::string> PreparedPolicy::args(std::string_view mode, std::optional<Instant> at, std::int64_t cost,
                                              std::int64_t extra) const {
  std::vector<std::string> args;
  args.reserve(4 + limit_args_.size());
  args.emplace_back(mode);
  // Redis keeps time in microseconds: an explicit time is floored to one.
  args.push_back(at ? std::to_string(static_cast<std::int64_t>(detail::floor_div(detail::nanos(*at), 1000)))
                    : std::string{});
  // A cost beyond every count is denied for ever whatever it is: keep it within the script's exact range.
  args.push_back(std::to_string(std::min(cost, RateLimit::max_count + 1)));
  args.push_back(std::to_string(extra));
  args.insert(args.end(), limit_args_.begin(), limit_args_.end());
  return args;
}

std::vector<std::string> PreparedPolicy::decide_args(std::int64_t cost, std::optional<Instant> at,
                                                     Duration max_wait) const {
  if (max_wait > Duration{0}) return args("reserve", at, cost, max_wait.count() / 1000);
  return args("decide", at, cost, 0);
}

std::vector<std::string> PreparedPolicy::cancel_args(std::int64_t cost, std::int64_t reserved_at) const {
  return args("cancel", std::nullopt, cost, reserved_at);
}

std::vector<std::string> PreparedPolicy::lease_args(std::int64_t want, std::int64_t cost) const {
  return args("lease", std::nullopt, want, cost);
}

std::string rate_key(const Options& options, std::string_view bytes) {
  check_key(options, bytes);
  std::string name = options.prefix;
  return name.append("rate:").append(bytes);
}

std::string lock_key(const Options& options, std::string_view bytes) {
  check_key(options, bytes);
  std::string name = options.prefix;
  return name.append("lock:").append(bytes);
}

namespace {

[[noreturn]] void malformed(std::string_view what) {
  std::string message{"Redis returned a malformed decision: "};
  message.append(what);
  throw StorageError{message};
}

// An integer field of the script's reply; durations beyond int64 saturate.
std::int64_t field(const Reply& reply, std::size_t i) {
  if (reply.elements.size() <= i) malformed("missing field");
  const Reply& element = reply.elements[i];
  if (element.type == Reply::Type::integer) return element.integer;
  if (element.type != Reply::Type::string) malformed("a field is neither an integer nor a string");
  const std::string& text = element.text;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range && !text.empty()) {
    return text.front() == '-' ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
  }
  if (ec != std::errc{} || end != text.data() + text.size()) malformed("\"" + text + "\" is not an integer");
  return value;
}

}  // namespace

StorageOutcome run_script(Client& client, std::string redis_key, std::vector<std::string> args) {
  std::vector<std::string> keys;
  keys.push_back(std::move(redis_key));
  return parse_decision(client.eval(decide_script(), std::move(keys), std::move(args)));
}

StorageOutcome parse_decision(const Reply& reply) {
  if (reply.type != Reply::Type::array || reply.elements.size() != 7) malformed("expected an array of 7");

  StorageOutcome outcome;
  Decision& d = outcome.reserved.decision;
  d.allowed = field(reply, 0) == 1;
  d.limit = field(reply, 1);
  d.remaining = field(reply, 2);
  std::int64_t retry = field(reply, 3);
  d.retry_after = retry == -1 ? Decision::never : Duration{retry};
  d.reset_after = Duration{field(reply, 4)};
  outcome.reserved.wait = Duration{field(reply, 5)};
  outcome.reserved_at = field(reply, 6);
  if (d.remaining < 0 || d.limit < 0 || (retry < 0 && retry != -1) || d.reset_after < Duration{0} ||
      outcome.reserved.wait < Duration{0}) {
    malformed("a negative field");
  }
  return outcome;
}

std::vector<std::string> write_args(const std::string& name, const Rate& rate, Duration expires_after) {
  if (rate.empty() || expires_after <= Duration{0}) return {"DEL", name};
  if (expires_after == Duration::max()) return {"SET", name, encode_rate(rate)};
  return {"SET", name, encode_rate(rate), "PX", std::to_string((expires_after.count() + 999'999) / 1'000'000)};
}

std::string encode_rate(const Rate& rate) {
  std::string text;
  for (std::int64_t field : rate.fields) {
    if (!text.empty()) text.push_back(' ');
    text.append(std::to_string(field));
  }
  return text;
}

Rate decode_rate(std::string_view text) {
  Rate rate;
  while (!text.empty()) {
    std::size_t space = text.find(' ');
    std::string_view item = text.substr(0, space);
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || ec != std::errc{} || end != item.data() + item.size()) {
      throw StorageError{"stored rate \"" + std::string{text.substr(0, 64)} + "\" is not a list of integers"};
    }
    rate.fields.push_back(value);
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
  }
  return rate;
}

}  // namespace leaksnek::redis
