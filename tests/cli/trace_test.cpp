#include <gtest/gtest.h>

#include <cctype>

#include <limits>
#include <string>

#include "param_name.hpp"

#include "trace.hpp"

namespace leaksnek::cli {
namespace {

TEST(TraceLine, ParsesAllFields) {
  TraceEvent event = parse_trace_line("12.375,user 1,4");
  EXPECT_EQ(event.time_text, "12.375");
  EXPECT_EQ(event.time_ns, 12'375'000);
  EXPECT_EQ(event.key, "user 1");
  EXPECT_EQ(event.cost_text, "4");
  EXPECT_EQ(event.cost, 4);
}

TEST(TraceLine, CostDefaultsToOneAndCrlfIsDropped) {
  TraceEvent event = parse_trace_line("0.000001,k\r");
  EXPECT_EQ(event.time_ns, 1);
  EXPECT_EQ(event.key, "k");
  EXPECT_TRUE(event.cost_text.empty());
  EXPECT_EQ(event.cost, 1);
}

TEST(TraceLine, TimeForms) {
  EXPECT_EQ(parse_time_ms("0"), 0);
  EXPECT_EQ(parse_time_ms("12"), 12'000'000);
  EXPECT_EQ(parse_time_ms("12.5"), 12'500'000);
  EXPECT_EQ(parse_time_ms("12.000001"), 12'000'001);
  EXPECT_EQ(parse_time_ms("007.10"), 7'100'000);
  EXPECT_EQ(parse_time_ms("9223372036853"), 9'223'372'036'853'000'000);
  EXPECT_EQ(parse_time_ms("9223372036854.775807"), 9'223'372'036'854'775'807);  // the largest int64
}

TEST(TraceLine, CostBeyondInt64IsStillAPositiveInteger) {
  TraceEvent event = parse_trace_line("1,k,99999999999999999999");
  EXPECT_EQ(event.cost_text, "99999999999999999999");
  EXPECT_EQ(event.cost, std::numeric_limits<std::int64_t>::max());
}

struct BadLine {
  const char* line;
  const char* problem;
};

class TraceLineRejects : public ::testing::TestWithParam<BadLine> {};

TEST_P(TraceLineRejects, NamingTheProblem) {
  try {
    (void)parse_trace_line(GetParam().line);
    FAIL() << "accepted '" << GetParam().line << "'";
  } catch (const TraceError& error) {
    EXPECT_NE(std::string{error.what()}.find(GetParam().problem), std::string::npos) << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Format, TraceLineRejects,
    ::testing::Values(BadLine{"12", "expected TIME_MS,KEY[,COST]"}, BadLine{"abc,k", "time 'abc' is not a number"},
                      BadLine{"-5,k", "time '-5' is not a number"}, BadLine{"1.1234567,k", "more than 6 decimals"},
                      BadLine{" 1,k", "is not a number"}, BadLine{"1e3,k", "is not a number"},
                      BadLine{".5,k", "is not a number"}, BadLine{"99999999999999999999,k", "too large"},
                      BadLine{"9223372036855,k", "too large"}, BadLine{"9223372036854.775808,k", "too large"},
                      BadLine{"1,,1", "empty key"}, BadLine{"1,", "empty key"},
                      BadLine{"1,k,0", "cost '0' is not a positive integer"},
                      BadLine{"1,k,-2", "cost '-2' is not a positive integer"},
                      BadLine{"1,k,x", "cost 'x' is not a positive integer"},
                      BadLine{"1,k,", "cost '' is not a positive integer"},
                      BadLine{"1,k,1.5", "cost '1.5' is not a positive integer"},
                      BadLine{"1,k, 2", "cost ' 2' is not a positive integer"}, BadLine{"1,k,2,3", "too many fields"}),
    leaksnek::testing::ParamName<&BadLine::line>{});

TEST(TraceLine, SkipsBlankAndCommentLines) {
  EXPECT_TRUE(is_skipped_line(""));
  EXPECT_TRUE(is_skipped_line("\r"));
  EXPECT_TRUE(is_skipped_line("   "));
  EXPECT_TRUE(is_skipped_line("# 1,k"));
  EXPECT_FALSE(is_skipped_line("1,k"));
  EXPECT_FALSE(is_skipped_line(" #1,k"));
}

}  // namespace
}  // namespace leaksnek::cli
