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

std::string_view key_of_header(std::string_view header, std::string_view header_name) {
  std::string_view last = header.find(',') == std::string_view::npos ? header : header.substr(header.rfind(',') + 1);
  while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) last.remove_prefix(1);
  while (!last.empty() && (last.back() == ' ' || last.back() == '\t')) last.remove_suffix(1);
  if (last.empty()) throw BadRequest{400, "missing the key header " + std::string{header_name}};
  check_key(last);
  return last;
}

}  // namespace leaksnek::cli
