#include <charconv>
#include <limits>
#include <string>
#include <string_view>

#include <leaksnek/storages/redis_storage.hpp>

namespace leaksnek::redis {

std::string policy_tag(std::string_view algorithm, std::span<const RateLimit> limits) {
  std::string tag{algorithm};
  char separator = ':';
  for (const RateLimit& limit : limits) {
    if (limit.period().count() % 1000 != 0) {
      throw RateError{"Redis keeps time in microseconds: a period of " + std::to_string(limit.period().count()) +
                      "ns is not a whole number of microseconds"};
    }
    tag.push_back(separator);
    tag.append(std::to_string(limit.count())).append("/").append(std::to_string(limit.period().count() / 1000));
    tag.append("us/").append(std::to_string(limit.burst()));
    separator = ',';
  }
  return tag;
}

namespace {

[[noreturn]] void malformed(std::string_view what) {
  std::string message{"Redis returned a malformed decision: "};
  message.append(what);
  throw StoreError{message};
}

// An integer field of the script's reply; durations beyond int64 saturate.
std::int64_t field(const Reply& reply, std::size_t i) {
  if (reply.elements.size() <= i || reply.elements[i].type != Reply::Type::string) malformed("missing field");
  const std::string& text = reply.elements[i].text;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range && !text.empty()) {
    return text.front() == '-' ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
  }
  if (ec != std::errc{} || end != text.data() + text.size()) malformed("\"" + text + "\" is not an integer");
  return value;
}

}  // namespace

StoreOutcome run_decide(Client& client, std::string_view redis_key, std::string_view mode,
                        std::span<const RateLimit> limits, std::string_view algorithm, std::int64_t cost,
                        std::optional<Instant> at, std::int64_t extra) {
  // A cost beyond every count is denied for ever whatever it is: keep it within the script's exact range.
  std::string cost_text = std::to_string(std::min(cost, RateLimit::max_count + 1));
  // Redis keeps time in microseconds: an explicit time is floored to one.
  std::string now =
      at ? std::to_string(static_cast<std::int64_t>(detail::floor_div(detail::nanos(*at), 1000))) : std::string{};
  std::string extra_text = std::to_string(extra);
  std::string count = std::to_string(limits.size());
  std::vector<std::string> numbers;
  numbers.reserve(limits.size() * 3);
  for (const RateLimit& limit : limits) {
    numbers.push_back(std::to_string(limit.count()));
    numbers.push_back(std::to_string(limit.period().count() / 1000));
    numbers.push_back(std::to_string(limit.burst()));
  }
  std::vector<std::string_view> args{mode, now, cost_text, extra_text, algorithm, count};
  args.insert(args.end(), numbers.begin(), numbers.end());
  std::string_view keys[] = {redis_key};
  Reply reply = client.eval(decide_script(), keys, args);
  if (reply.type != Reply::Type::array || reply.elements.size() != 7) malformed("expected an array of 7");

  StoreOutcome outcome;
  Decision& d = outcome.grant.decision;
  d.allowed = field(reply, 0) == 1;
  d.limit = field(reply, 1);
  d.remaining = field(reply, 2);
  std::int64_t retry = field(reply, 3);
  d.retry_after = retry == -1 ? Decision::never : Duration{retry};
  d.reset_after = Duration{field(reply, 4)};
  outcome.grant.wait = Duration{field(reply, 5)};
  outcome.booked_at = field(reply, 6);
  if (d.remaining < 0 || d.limit < 0 || (retry < 0 && retry != -1) || d.reset_after < Duration{0} ||
      outcome.grant.wait < Duration{0}) {
    malformed("a negative field");
  }
  return outcome;
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
      throw StoreError{"stored rate \"" + std::string{text.substr(0, 64)} + "\" is not a list of integers"};
    }
    rate.fields.push_back(value);
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
  }
  return rate;
}

}  // namespace leaksnek::redis
