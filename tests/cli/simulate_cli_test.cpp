// `leaksnek simulate` driven as a user drives it: the real binary, real files,
// exit status, stdout and stderr.
#include <gtest/gtest.h>

#include <cctype>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "param_name.hpp"

namespace {

namespace fs = std::filesystem;

struct Outcome {
  int status = -1;
  std::string out;
  std::string err;
};

std::string read_file(const fs::path& path) {
  std::ifstream file{path, std::ios::binary};
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

class SimulateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("leaksnek-cli-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& content) {
    fs::path path = dir_ / name;
    std::ofstream{path, std::ios::binary} << content;
    return path;
  }

  // Runs `leaksnek ARGS < stdin_text` through the shell.
  Outcome run(const std::string& args, const std::string& stdin_text = "") {
    fs::path in = write("stdin", stdin_text);
    std::string command = std::string{LEAKSNEK_BINARY} + " " + args + " < '" + in.string() + "' > '" +
                          (dir_ / "out").string() + "' 2> '" + (dir_ / "err").string() + "'";
    int raw = std::system(command.c_str());
    Outcome result;
    result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    result.out = read_file(dir_ / "out");
    result.err = read_file(dir_ / "err");
    return result;
  }

  fs::path dir_;
};

// Worked by hand: 7 per second, capacity 3; one token every 1000/7 ms.
constexpr const char* hand_trace =
    "0,a\n"
    "0,a\n"
    "0,a\n"
    "0,a\n"           // empty: one token in 142.857... ms -> 143
    "100,a\n"         // 0.7 token: 0.3 more in 42.857... ms -> 43
    "142.857143,a\n"  // 1.000000001 tokens
    "143,b,3\n"       // b's own full bucket
    "143,b\n"         // empty again -> 143
    "500,a,4\n"       // above capacity: never; a holds 2.5 tokens
    "1000.5,a,2\n";   // full again (3), leaves 1
constexpr const char* hand_output =
    "0,a,1,1,2,0\n"
    "0,a,1,1,1,0\n"
    "0,a,1,1,0,0\n"
    "0,a,1,0,0,143\n"
    "100,a,1,0,0,43\n"
    "142.857143,a,1,1,0,0\n"
    "143,b,3,1,0,0\n"
    "143,b,1,0,0,143\n"
    "500,a,4,0,2,-1\n"
    "1000.5,a,2,1,1,0\n";

TEST_F(SimulateCli, BucketFamilyPrintsTheSpecFormatByteForByte) {
  fs::path trace = write("trace.csv", hand_trace);
  for (const char* algorithm : {"gcra", "token-bucket", "leaky-bucket"}) {
    Outcome result = run(std::string{"simulate --algorithm "} + algorithm + " --limit 7/s --burst 3 " + trace.string());
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, hand_output) << algorithm;
    EXPECT_EQ(result.err, "");
  }
}

TEST_F(SimulateCli, ADecimalMultiplierIsTheSamePeriodByteForByte) {
  fs::path trace = write("decimal.csv", "0,a\n0,a\n0,a\n0,a\n100,a\n250,a,2\n499.999999,a\n500,a\n90000,b\n");
  for (const char* algorithm : {"gcra", "fixed-window", "sliding-window", "sliding-log"}) {
    std::string base = std::string{"simulate --algorithm "} + algorithm + " --limit ";
    Outcome decimal = run(base + "3/0.5s " + trace.string());
    Outcome whole = run(base + "3/500ms " + trace.string());
    EXPECT_EQ(decimal.status, 0) << decimal.err;
    EXPECT_EQ(decimal.out, whole.out) << algorithm;
    EXPECT_EQ(run(base + "1/1.5m " + trace.string()).out, run(base + "1/90s " + trace.string()).out) << algorithm;
  }
}

TEST_F(SimulateCli, TheReadmeExample) {
  Outcome result = run("simulate --algorithm gcra --limit 7/s --burst 3", "0,a\n0,a\n0,a\n0,a\n100,a\n500,a,4\n");
  EXPECT_EQ(result.out, "0,a,1,1,2,0\n0,a,1,1,1,0\n0,a,1,1,0,0\n0,a,1,0,0,143\n100,a,1,0,0,43\n500,a,4,0,3,-1\n");
}

TEST_F(SimulateCli, ReadsStandardInputWithCrlfCommentsAndBlankLines) {
  Outcome result =
      run("simulate --algorithm=fixed-window --limit=2/s", "# header\r\n\r\n0,k\r\n10,k\r\n20,k\r\n\n1000,k,2\r\n");
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(result.out, "0,k,1,1,1,0\n10,k,1,1,0,0\n20,k,1,0,0,980\n1000,k,2,1,0,0\n");
}

TEST_F(SimulateCli, EchoesTimeKeyAndCostAsWritten) {
  Outcome result = run("simulate --algorithm sliding-log --limit 5/m -", "0.500,key with spaces,02\n0.5,Ключ\n");
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(result.out, "0.500,key with spaces,02,1,3,0\n0.5,Ключ,1,1,4,0\n");
}

TEST_F(SimulateCli, MalformedLineStopsWithItsPhysicalLineNumber) {
  Outcome result = run("simulate --algorithm gcra --limit 10/s", "# comment\n0,a\n\n1,a\n2,a,0\n3,a\n");
  EXPECT_EQ(result.status, 2);
  EXPECT_EQ(result.out, "0,a,1,1,9,0\n1,a,1,1,8,0\n");  // nothing after the error
  EXPECT_NE(result.err.find("line 5"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("cost '0'"), std::string::npos) << result.err;
}

TEST_F(SimulateCli, DecreasingTimeIsAnError) {
  Outcome result = run("simulate --algorithm sliding-window --limit 10/s", "5,a\n4.999999,b\n");
  EXPECT_EQ(result.status, 2);
  EXPECT_EQ(result.out, "5,a,1,1,9,0\n");
  EXPECT_NE(result.err.find("line 2"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("previous"), std::string::npos) << result.err;
}

struct BadArguments {
  const char* args;
  const char* named;  // what stderr must name
};

class SimulateCliArguments : public SimulateCli, public ::testing::WithParamInterface<BadArguments> {};

TEST_P(SimulateCliArguments, ExitTwoNamingTheArgument) {
  Outcome result = run(GetParam().args, "0,a\n");
  EXPECT_EQ(result.status, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find(GetParam().named), std::string::npos) << result.err;
}

INSTANTIATE_TEST_SUITE_P(
    Usage, SimulateCliArguments,
    ::testing::Values(BadArguments{"simulate --limit 10/s", "missing --algorithm"},
                      BadArguments{"simulate --algorithm gcra", "missing --limit"},
                      BadArguments{"simulate --algorithm leaky --limit 10/s", "unknown algorithm 'leaky'"},
                      BadArguments{"simulate --algorithm gcra --limit 10/x", "unknown unit \"x\""},
                      BadArguments{"simulate --algorithm gcra --limit 0/s", "--limit"},
                      BadArguments{"simulate --algorithm gcra --limit 1/0.0000001ms", "whole number of nanoseconds"},
                      BadArguments{"simulate --algorithm gcra --limit '10/m junk'", "unexpected text"},
                      BadArguments{"simulate --algorithm gcra --limit 10/s --burst 0", "--burst: '0'"},
                      BadArguments{"simulate --algorithm gcra --limit 10/s --burst -3", "--burst: '-3'"},
                      BadArguments{"simulate --algorithm gcra --limit 10/s --burst x", "--burst: 'x'"},
                      BadArguments{"simulate --algorithm leaky-bucket --limit 1/365d --burst 101",
                                   "--burst: burst 101"},
                      BadArguments{"simulate --algorithm gcra --limit 10/s --burst", "--burst needs a value"},
                      BadArguments{"simulate --algorithm gcra --limit 10/s --bogus", "unknown option '--bogus'"},
                      BadArguments{"simulate --algorithm gcra --limit 10/s /nonexistent/trace.csv",
                                   "cannot open '/nonexistent/trace.csv'"},
                      BadArguments{"simulate --algorithm gcra --limit 10/s a.csv b.csv", "at most one FILE"},
                      BadArguments{"simulate --algorithm gcra --limit 10/s --summary=yes", "--summary takes no value"},
                      BadArguments{"frobnicate", "unknown command 'frobnicate'"}, BadArguments{"", "usage"}),
    leaksnek::testing::ParamName<&BadArguments::args>{});

TEST_F(SimulateCli, SummaryCountsAllowedAndDeniedAndListsTheTenMostDenied) {
  std::string trace;
  // key-i sends 3 + i requests at t = 0 against 3/s: key-i is denied i times.
  for (int i = 0; i < 12; ++i) {
    for (int n = 0; n < 3 + i; ++n) trace += "0,key-" + std::to_string(i) + "\n";
  }
  Outcome result = run("simulate --algorithm token-bucket --limit 3/s --summary", trace);
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_NE(result.out.find("allowed: 36"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("denied: 66"), std::string::npos) << result.out;
  for (int i = 2; i < 12; ++i) EXPECT_NE(result.out.find("key-" + std::to_string(i) + "\n"), std::string::npos) << i;
  EXPECT_EQ(result.out.find("key-1\n"), std::string::npos) << "only the 10 most denied keys";
  EXPECT_LT(result.out.find("key-11\n"), result.out.find("key-2\n")) << "most denied first";
  EXPECT_EQ(result.out.find(",0,"), std::string::npos) << "no per-event lines";
}

TEST_F(SimulateCli, ShippedSampleTraceRunsUnderEveryAlgorithm) {
  for (const char* algorithm :
       {"token-bucket", "gcra", "leaky-bucket", "fixed-window", "sliding-window", "sliding-log"}) {
    Outcome result = run(std::string{"simulate --algorithm "} + algorithm + " --limit 10/s --burst 20 --summary " +
                         LEAKSNEK_EXAMPLES_DIR + "/sample-trace.csv");
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("scraper-203.0.113.9"), std::string::npos) << algorithm << result.out;
  }
}

TEST_F(SimulateCli, CostBeyondInt64IsNeverAllowed) {
  Outcome result = run("simulate --algorithm gcra --limit 3/s", "0,a,99999999999999999999\n");
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(result.out, "0,a,99999999999999999999,0,3,-1\n");
}

TEST_F(SimulateCli, WindowsIgnoreABurstTheBucketsWouldRefuse) {
  Outcome result = run("simulate --algorithm fixed-window --limit 1/365d --burst 1000", "0,a\n");
  EXPECT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(result.out, "0,a,1,1,0,0\n");
}

TEST_F(SimulateCli, WriteErrorExitsTwo) {
  fs::path trace = write("trace.csv", "0,a\n");
  std::string command = std::string{LEAKSNEK_BINARY} + " simulate --algorithm gcra --limit 1/s '" + trace.string() +
                        "' > /dev/full 2> '" + (dir_ / "err").string() + "'";
  int raw = std::system(command.c_str());
  EXPECT_EQ(WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, 2);
  EXPECT_NE(read_file(dir_ / "err").find("cannot write"), std::string::npos);
}

TEST_F(SimulateCli, HelpExitsZero) {
  Outcome result = run("simulate --help");
  EXPECT_EQ(result.status, 0);
  EXPECT_NE(result.out.find("--algorithm ALGO"), std::string::npos);
}

}  // namespace
