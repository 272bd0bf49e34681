#include "trace.hpp"

#include <limits>
#include <string>

namespace leaksnek::cli {

namespace {

std::string quoted(std::string_view text) {
  constexpr std::size_t shown = 40;
  if (text.size() > shown) return "'" + std::string{text.substr(0, shown)} + "...'";
  return "'" + std::string{text} + "'";
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool is_skipped_line(std::string_view line) noexcept {
  if (!line.empty() && line.front() == '#') return true;
  for (char c : line) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

std::int64_t parse_time_ms(std::string_view text) {
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::size_t i = 0;
  std::int64_t ms = 0;
  for (; i < text.size() && is_digit(text[i]); ++i) {
    ms = ms * 10 + (text[i] - '0');
    if (ms > max / 1'000'000) throw TraceError{"time " + quoted(text) + " is too large"};
  }
  if (i == 0) {
    throw TraceError{"time " + quoted(text) +
                     " is not a number of milliseconds (digits, optionally '.' and up to 6 decimals)"};
  }
  std::int64_t fraction = 0;
  std::int64_t scale = 1'000'000;
  if (i < text.size() && text[i] == '.') {
    std::size_t decimals = 0;
    for (++i; i < text.size() && is_digit(text[i]); ++i, ++decimals) {
      if (decimals == 6) throw TraceError{"time " + quoted(text) + " has more than 6 decimals"};
      scale /= 10;
      fraction += (text[i] - '0') * scale;
    }
  }
  if (i != text.size()) {
    throw TraceError{"time " + quoted(text) +
                     " is not a number of milliseconds (digits, optionally '.' and up to 6 decimals)"};
  }
  if (ms * 1'000'000 > max - fraction) throw TraceError{"time " + quoted(text) + " is too large"};
  return ms * 1'000'000 + fraction;
}

TraceEvent parse_trace_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  TraceEvent event;
  std::size_t first = line.find(',');
  if (first == std::string_view::npos) throw TraceError{"expected TIME_MS,KEY[,COST], got " + quoted(line)};
  event.time_text = line.substr(0, first);
  event.time_ns = parse_time_ms(event.time_text);

  std::string_view rest = line.substr(first + 1);
  std::size_t second = rest.find(',');
  event.key = rest.substr(0, second);
  if (event.key.empty()) throw TraceError{"empty key"};
  if (second == std::string_view::npos) return event;

  event.cost_text = rest.substr(second + 1);
  if (event.cost_text.find(',') != std::string_view::npos) {
    throw TraceError{"too many fields (expected TIME_MS,KEY[,COST]; a key cannot contain ',')"};
  }
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::int64_t cost = 0;
  bool digits = !event.cost_text.empty();
  for (char c : event.cost_text) {
    if (!is_digit(c)) {
      digits = false;
      break;
    }
    // A cost beyond int64 is still a positive integer: above any capacity, so never allowed.
    cost = cost > (max - (c - '0')) / 10 ? max : cost * 10 + (c - '0');
  }
  if (!digits || cost == 0) throw TraceError{"cost " + quoted(event.cost_text) + " is not a positive integer"};
  event.cost = cost;
  return event;
}

}  // namespace leaksnek::cli
