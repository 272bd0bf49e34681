#include <gtest/gtest.h>

#include <string>

#include "convert.hpp"
#include "io.hpp"
#include "simulate.hpp"

#include <leaksnek/leaksnek.hpp>

namespace leaksnek::cli {
namespace {

TEST(NginxCombined, ParsesAddressTimeAndPath) {
  auto record = parse_nginx_combined(
      R"(203.0.113.7 - alice [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://example.com/" "Mozilla/4.08")");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->remote_addr, "203.0.113.7");
  EXPECT_EQ(record->unix_seconds, 971211336);  // 2000-10-10T20:55:36Z
  EXPECT_EQ(record->path, "/apache_pb.gif");
}

TEST(NginxCombined, TimeZonesAndLeapDays) {
  auto east = parse_nginx_combined(R"(::1 - - [29/Feb/2024:00:30:00 +0530] "GET / HTTP/1.1" 200 1 "-" "-")");
  ASSERT_TRUE(east);
  EXPECT_EQ(east->unix_seconds, 1709146800);  // 2024-02-28T19:00:00Z
  EXPECT_EQ(east->remote_addr, "::1");
}

TEST(NginxCombined, RejectsOtherFormats) {
  EXPECT_FALSE(parse_nginx_combined(""));
  EXPECT_FALSE(parse_nginx_combined("garbage"));
  EXPECT_FALSE(parse_nginx_combined(R"(1.2.3.4 - - [10/Foo/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1 "-" "-")"));
  EXPECT_FALSE(parse_nginx_combined(R"(1.2.3.4 - - [10/Oct/2000 13:55:36] "GET / HTTP/1.0" 200 1 "-" "-")"));
  EXPECT_FALSE(parse_nginx_combined(R"(1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0)"));
}

TEST(ConvertNginx, WritesMillisecondsSinceTheFirstLineAndSkipsTheRest) {
  std::string log = R"(10.0.0.1 - - [27/Nov/2026:09:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl")"
                    "\n"
                    "not a log line\n"
                    R"(10.0.0.2 - - [27/Nov/2026:09:00:02 +0000] "POST /b,c HTTP/1.1" 200 5 "-" "curl")"
                    "\r\n"
                    // Logged when it finished, a second earlier than the line above: keeps the time non-decreasing.
                    R"(10.0.0.1 - - [27/Nov/2026:09:00:01 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl")"
                    "\n";
  LineReader input{log};
  Output output{Output::Mode::keep};
  EXPECT_EQ(convert_nginx(input, output, TraceKey::ip), 1);
  EXPECT_EQ(output.kept(), "0,10.0.0.1\n2000,10.0.0.2\n2000,10.0.0.1\n");

  LineReader again{log};
  Output by_path{Output::Mode::keep};
  (void)convert_nginx(again, by_path, TraceKey::ip_path);
  EXPECT_EQ(by_path.kept(), "0,10.0.0.1 /a\n2000,10.0.0.2 /b%2Cc\n2000,10.0.0.1 /a\n");
}

TEST(ConvertNginx, KeysNeverHoldACommaOrATrailingSpace) {
  std::string log = R"(a,b - - [27/Nov/2026:09:00:00 +0000] "GET /z HTTP/1.1" 200 5 "-" "curl")"
                    "\n"
                    R"(9.9.9.9 - - [27/Nov/2026:09:00:00 +0000] "-" 400 0 "-" "-")"
                    "\n";
  LineReader input{log};
  Output output{Output::Mode::keep};
  (void)convert_nginx(input, output, TraceKey::ip_path);
  EXPECT_EQ(output.kept(), "0,a%2Cb /z\n0,9.9.9.9\n");
}

TEST(ConvertNginx, ShippedAccessLogReplaysThroughSimulate) {
  // The README's pipeline: convert, then simulate; the login brute force stands out.
  std::string log;
  std::FILE* file = std::fopen(LEAKSNEK_EXAMPLES_DIR "/access.log", "rb");
  ASSERT_NE(file, nullptr);
  char buffer[4096];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, file)) > 0;) log.append(buffer, got);
  std::fclose(file);

  LineReader input{log};
  Output trace{Output::Mode::keep};
  EXPECT_EQ(convert_nginx(input, trace, TraceKey::ip), 1);

  LineReader replay{trace.kept()};
  Output summary{Output::Mode::keep};
  simulate({"sliding-log", rl("30/m"), true}, replay, summary);
  EXPECT_NE(summary.kept().find("203.0.113.66"), std::string::npos) << summary.kept();
}

}  // namespace
}  // namespace leaksnek::cli
