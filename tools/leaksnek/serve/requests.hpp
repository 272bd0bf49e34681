// What a client sends, read and checked: the fields of /v1/acquire from a
// query string or a JSON body, and the key of /v1/check. Every size is
// bounded and every refusal names its problem.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
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
// The most proxies a policy may trust, and the most lines of its key header a
// request may carry (more is refused: every count a client sets is capped).
constexpr std::int64_t max_trusted_proxies = 16;
constexpr std::size_t max_key_header_lines = 16;

// The key of /v1/check: the header's `lines`, in order, read as one
// comma-separated list (RFC 9110; empty elements are skipped), and of it the
// `trusted_proxies`-th element from the end, trimmed. Throws BadRequest (400)
// when the header is missing, has fewer elements, or the key is too long.
std::string_view key_of_header(std::span<const std::string_view> lines, std::size_t trusted_proxies,
                               std::string_view header_name);

}  // namespace leaksnek::cli
