// Random traces replayed through `simulate` (the real algorithms behind the
// command line) and through the plain reference model in reference_model.hpp,
// which follows spec/simulate.md literally with rationals; every output column
// must agree.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <leaksnek/leaksnek.hpp>

#include "io.hpp"
#include "reference_model.hpp"
#include "simulate.hpp"

namespace leaksnek {
namespace {

struct Policy {
  const char* rate;
  std::int64_t burst;
};

std::string trace_text(const std::vector<reference::Event>& events) {
  std::string text;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& event = events[i];
    text.append(event.time_text).append(",").append(event.key);
    if (event.cost != 1 || i % 3 == 0) text.append(",").append(std::to_string(event.cost));  // optional when 1
    text.append("\n");
  }
  return text;
}

std::vector<std::string> simulate_lines(std::string_view algorithm, const RateLimit& limit, const std::string& trace) {
  cli::SimulateOptions options{std::string{algorithm}, limit, false};
  cli::LineReader input{trace};
  cli::Output output{cli::Output::Mode::keep};
  cli::simulate(options, input, output);
  std::vector<std::string> lines;
  std::istringstream stream{output.kept()};
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> reference_lines(std::string_view algorithm, const RateLimit& limit,
                                         const std::vector<reference::Event>& events) {
  return reference::replay(algorithm, limit.count(), limit.period().count(), limit.burst(), events);
}

class AgainstReference : public ::testing::TestWithParam<std::tuple<std::string_view, Policy>> {};

TEST_P(AgainstReference, EveryColumnOfEveryEventMatches) {
  const auto& [algorithm, policy] = GetParam();
  RateLimit limit = rl(policy.rate).with_burst(policy.burst);
  bool bucket = algorithm == "gcra" || algorithm == "token-bucket" || algorithm == "leaky-bucket";
  std::int64_t capacity = bucket ? limit.burst() : limit.count();
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    auto events = reference::random_trace(seed, 20'000, 1 + seed * 37, limit.period().count(), capacity);
    std::vector<std::string> expected = reference_lines(algorithm, limit, events);
    std::vector<std::string> actual = simulate_lines(algorithm, limit, trace_text(events));
    ASSERT_EQ(actual.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      ASSERT_EQ(actual[i], expected[i]) << algorithm << " " << policy.rate << " burst " << policy.burst << " seed "
                                        << seed << " event " << i;
    }
  }
}

constexpr Policy policies[] = {{"7/s", 3}, {"10/m", 10},   {"5/10s", 20}, {"20/500ms", 1},
                               {"3/d", 3}, {"1000/h", 50}, {"1/1ms", 4},  {"13/7ms", 13}};

INSTANTIATE_TEST_SUITE_P(Simulate, AgainstReference,
                         ::testing::Combine(::testing::ValuesIn(algorithm_names), ::testing::ValuesIn(policies)));

TEST(BucketFamily, GcraTokenBucketAndLeakyBucketPrintIdenticalOutput) {
  for (Policy policy : policies) {
    RateLimit limit = rl(policy.rate).with_burst(policy.burst);
    auto events = reference::random_trace(99, 30'000, 200, limit.period().count(), limit.burst());
    std::string trace = trace_text(events);
    std::vector<std::string> gcra = simulate_lines("gcra", limit, trace);
    EXPECT_EQ(simulate_lines("token-bucket", limit, trace), gcra) << policy.rate;
    EXPECT_EQ(simulate_lines("leaky-bucket", limit, trace), gcra) << policy.rate;
  }
}

}  // namespace
}  // namespace leaksnek
