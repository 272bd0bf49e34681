#include "convert.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "arguments.hpp"

namespace leaksnek::cli {

namespace {

bool parse_digits(std::string_view text, std::int64_t& value) {
  if (text.empty()) return false;
  value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12).
std::int64_t days_from_civil(std::int64_t year, std::int64_t month, std::int64_t day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const std::int64_t year_of_era = year - era * 400;
  const std::int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + day_of_era - 719468;
}

// "10/Oct/2000:13:55:36 -0700" -> seconds since the Unix epoch, UTC.
std::optional<std::int64_t> parse_time_local(std::string_view text) {
  constexpr std::array<std::string_view, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (text.size() != 26 || text[2] != '/' || text[6] != '/' || text[11] != ':' || text[14] != ':' || text[17] != ':' ||
      text[20] != ' ' || (text[21] != '+' && text[21] != '-')) {
    return std::nullopt;
  }
  std::int64_t day = 0, year = 0, hour = 0, minute = 0, second = 0, zone = 0;
  std::int64_t month = 0;
  while (month < 12 && months[static_cast<std::size_t>(month)] != text.substr(3, 3)) ++month;
  if (month == 12 || !parse_digits(text.substr(0, 2), day) || !parse_digits(text.substr(7, 4), year) ||
      !parse_digits(text.substr(12, 2), hour) || !parse_digits(text.substr(15, 2), minute) ||
      !parse_digits(text.substr(18, 2), second) || !parse_digits(text.substr(22, 4), zone)) {
    return std::nullopt;
  }
  std::int64_t offset = (zone / 100 * 3600 + zone % 100 * 60) * (text[21] == '-' ? -1 : 1);
  return days_from_civil(year, month + 1, day) * 86400 + hour * 3600 + minute * 60 + second - offset;
}

// A trace key cannot hold a comma: write it as %2C, as in a URL.
void append_key_text(Output& output, std::string_view text) {
  for (char c : text) {
    if (c == ',') {
      output.append("%2C");
    } else {
      output.append(c);
    }
  }
}

constexpr std::string_view convert_usage =
    "usage: leaksnek convert [--key ip|ip-path] [FILE]\n"
    "  Reads an nginx 'combined' access log (FILE or standard input) and prints a trace for\n"
    "  'leaksnek simulate': TIME_MS (since the first line),KEY. The key is the client address\n"
    "  (default) or the address and the request path. Lines in another format are skipped.\n";

}  // namespace

std::optional<NginxRecord> parse_nginx_combined(std::string_view line) {
  NginxRecord record;
  std::size_t space = line.find(' ');
  if (space == 0 || space == std::string_view::npos) return std::nullopt;
  record.remote_addr = line.substr(0, space);
  std::size_t open = line.find('[', space);
  std::size_t close = open == std::string_view::npos ? open : line.find(']', open);
  if (close == std::string_view::npos) return std::nullopt;
  std::optional<std::int64_t> seconds = parse_time_local(line.substr(open + 1, close - open - 1));
  if (!seconds) return std::nullopt;
  record.unix_seconds = *seconds;
  std::size_t quote = line.find('"', close);
  std::size_t end = quote == std::string_view::npos ? quote : line.find('"', quote + 1);
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view request = line.substr(quote + 1, end - quote - 1);  // "GET /path?query HTTP/1.1"
  std::size_t path_begin = request.find(' ');
  if (path_begin != std::string_view::npos) {
    std::string_view target = request.substr(path_begin + 1);
    record.path = target.substr(0, std::min(target.find(' '), target.find('?')));
  }
  return record;
}

std::int64_t convert_nginx(LineReader& input, Output& output, TraceKey key) {
  std::string_view line;
  std::int64_t skipped = 0;
  std::optional<std::int64_t> first_seconds;
  std::int64_t previous_ms = 0;
  while (input.next(line)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::optional<NginxRecord> record = parse_nginx_combined(line);
    if (!record) {
      ++skipped;
      continue;
    }
    if (!first_seconds) first_seconds = record->unix_seconds;
    // nginx logs a request when it ends, so lines can be slightly out of order.
    previous_ms = std::max(previous_ms, (record->unix_seconds - *first_seconds) * 1000);
    output.append_int(previous_ms);
    output.append(',');
    append_key_text(output, record->remote_addr);
    if (key == TraceKey::ip_path && !record->path.empty()) {
      output.append(' ');
      append_key_text(output, record->path);
    }
    output.append('\n');
  }
  output.flush();
  return skipped;
}

int convert_main(int argc, char** argv) {
  int fd = STDIN_FILENO;
  try {
    Arguments arguments{argc, argv, {"--key"}, {"--help"}};
    if (arguments.flag("--help")) {
      std::fputs(convert_usage.data(), stdout);
      return 0;
    }
    TraceKey key = TraceKey::ip;
    if (std::optional<std::string> name = arguments.value("--key")) {
      if (*name == "ip-path") {
        key = TraceKey::ip_path;
      } else if (*name != "ip") {
        throw UsageError{"--key: unknown key '" + *name + "' (expected ip or ip-path)"};
      }
    }
    if (arguments.positional().size() > 1) throw UsageError{"expected at most one FILE"};
    if (!arguments.positional().empty() && arguments.positional()[0] != "-") {
      const std::string& path = arguments.positional()[0];
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw UsageError{"cannot open '" + path + "': " + std::strerror(errno)};
    }
    LineReader input{fd};
    Output output{stdout};
    std::int64_t skipped = convert_nginx(input, output, key);
    if (skipped > 0)
      std::fprintf(stderr, "leaksnek convert: skipped %lld lines not in nginx combined format\n",
                   static_cast<long long>(skipped));
  } catch (const UsageError& error) {
    std::fprintf(stderr, "leaksnek convert: %s\n%s", error.what(), convert_usage.data());
    return 2;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "leaksnek convert: %s\n", error.what());
    return 2;
  }
  if (fd != STDIN_FILENO) ::close(fd);
  return 0;
}

}  // namespace leaksnek::cli
