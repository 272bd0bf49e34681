// `leaksnek convert`: nginx `combined` access log -> simulate trace, so a
// policy can be tried on real traffic:
//   leaksnek convert access.log | leaksnek simulate --algorithm gcra --limit 10/s --summary
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "io.hpp"

namespace leaksnek::cli {

// The fields of one `combined` line that a trace needs.
struct NginxRecord {
  std::string_view remote_addr;
  std::int64_t unix_seconds = 0;  // $time_local converted to UTC
  std::string_view path;          // request path without the query; empty if the request line is malformed
};

// Parses `$remote_addr - $remote_user [$time_local] "$request" $status ...`;
// nullopt when the line is not in that format.
std::optional<NginxRecord> parse_nginx_combined(std::string_view line);

enum class TraceKey { ip, ip_path };

// Writes one trace line per parsed log line: milliseconds since the first
// line (times never decrease: a line logged out of order takes the previous
// time), the key, no cost. Returns the number of lines skipped as unparseable.
std::int64_t convert_nginx(LineReader& input, Output& output, TraceKey key);

int convert_main(int argc, char** argv);

}  // namespace leaksnek::cli
