// The trace format of `leaksnek simulate` (spec/simulate.md): one event a
// line, TIME_MS,KEY[,COST].
#pragma once

#include <cstdint>
#include <string_view>

#include <leaksnek/error.hpp>

namespace leaksnek::cli {

// A malformed trace line; the message names the problem (the caller adds the
// line number).
class TraceError : public Error {
 public:
  using Error::Error;
};

struct TraceEvent {
  std::string_view time_text;  // as written
  std::int64_t time_ns = 0;
  std::string_view key;
  std::string_view cost_text;  // as written; empty when omitted
  std::int64_t cost = 1;
};

// True for a line the format skips: blank, or a '#' comment.
bool is_skipped_line(std::string_view line) noexcept;

// Parses one event line (a trailing '\r' is dropped). Throws TraceError.
TraceEvent parse_trace_line(std::string_view line);

// TIME_MS ("12", "12.375", "0.000001") in nanoseconds. Throws TraceError.
std::int64_t parse_time_ms(std::string_view text);

}  // namespace leaksnek::cli
