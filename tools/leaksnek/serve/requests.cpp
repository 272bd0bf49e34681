#include "serve/requests.hpp"

#include <charconv>
#include <limits>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace leaksnek::cli {

namespace json = boost::json;

namespace {

std::int64_t parse_cost(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
    throw BadRequest{400, "cost must be a positive integer, got \"" + std::string{text.substr(0, 32)} + "\""};
  }
  return value;
}

}  // namespace

AcquireFields fields_of_query(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) throw BadRequest{400, "malformed request target"};
  AcquireFields fields;
  for (auto param : url->params()) {
    if (param.key == "policy")
      fields.policy = param.value;
    else if (param.key == "key")
      fields.key = param.value;
    else if (param.key == "cost")
      fields.cost = parse_cost(param.value);
    else
      throw BadRequest{
          400, "unknown parameter \"" + std::string{param.key.substr(0, 32)} + "\" (expected policy, key, cost)"};
  }
  return fields;
}

AcquireFields fields_of_json(std::string_view body) {
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec) throw BadRequest{400, "malformed JSON: " + ec.message()};
  if (!value.is_object()) throw BadRequest{400, "the body must be a JSON object with policy, key and cost"};
  AcquireFields fields;
  for (const auto& [name, item] : value.as_object()) {
    if (name == "policy" || name == "key") {
      if (!item.is_string()) throw BadRequest{400, "\"" + std::string{name} + "\" must be a string"};
      (name == "policy" ? fields.policy : fields.key) = std::string{item.as_string()};
    } else if (name == "cost") {
      if (item.is_int64()) {
        fields.cost = item.as_int64();
      } else if (item.is_uint64()) {
        fields.cost = std::numeric_limits<std::int64_t>::max();  // above any cap
      } else {
        throw BadRequest{400, "\"cost\" must be a positive integer"};
      }
    } else {
      throw BadRequest{400, "unknown field \"" + std::string{name.substr(0, 32)} + "\" (expected policy, key, cost)"};
    }
  }
  return fields;
}

void check_key(std::string_view key) {
  if (key.empty()) throw BadRequest{400, "key must not be empty"};
  if (key.size() > max_key_bytes) {
    throw BadRequest{400, "key is " + std::to_string(key.size()) + " bytes, at most " + std::to_string(max_key_bytes)};
  }
}

std::string_view key_of_header(std::span<const std::string_view> lines, std::size_t trusted_proxies,
                               std::string_view header_name) {
  if (lines.empty()) throw BadRequest{400, "missing the key header " + std::string{header_name}};
  // Walk the list from its end: the last line's last element first.
  std::size_t seen = 0;
  for (auto line = lines.rbegin(); line != lines.rend(); ++line) {
    std::string_view rest = *line;
    while (true) {
      const std::size_t comma = rest.rfind(',');
      std::string_view element = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
      while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) element.remove_prefix(1);
      while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) element.remove_suffix(1);
      if (!element.empty() && ++seen == trusted_proxies) {
        check_key(element);
        return element;
      }
      if (comma == std::string_view::npos) break;
      rest = rest.substr(0, comma);
    }
  }
  if (seen == 0) throw BadRequest{400, "missing the key header " + std::string{header_name} + " (it is empty)"};
  throw BadRequest{400, "the key header " + std::string{header_name} + " has " + std::to_string(seen) +
                            (seen == 1 ? " element" : " elements") +
                            ", fewer than the policy's trusted_proxies = " + std::to_string(trusted_proxies)};
}

}  // namespace leaksnek::cli
