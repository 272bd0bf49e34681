// What a client sends, read and checked: the fields of /v1/acquire from a
// query string or a JSON body, and the key of /v1/check. Every size is
// bounded and every refusal names its problem.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace leaksnek::cli {

// A key longer than this is refused (it would be stored).
constexpr std::size_t max_key_bytes = 256;

// A request refused with a 4xx `status` and a message naming the problem.
struct BadRequest {
  unsigned status;
  std::string message;
};

// /v1/acquire's fields, as given (checked by the caller against the policy).
struct AcquireFields {
  std::optional<std::string> policy;
  std::optional<std::string> key;
  std::optional<std::int64_t> cost;
};

// From `GET /v1/acquire?policy=&key=&cost=` (percent-decoded). Throws BadRequest.
AcquireFields fields_of_query(std::string_view target);
// From a JSON object body {"policy", "key", "cost"}. Throws BadRequest.
AcquireFields fields_of_json(std::string_view body);
// Throws BadRequest for an empty key or one over max_key_bytes.
void check_key(std::string_view key);
// The key of /v1/check: the last comma-separated element of `header` (the
// address the nearest proxy saw), trimmed. Throws BadRequest when empty or too long.
std::string_view key_of_header(std::string_view header, std::string_view header_name);

}  // namespace leaksnek::cli
