// `leaksnek acquire`, the real binary: several processes on one real Redis
// share one exact limit; arguments, output and exit statuses.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <leaksnek/redis/cluster.hpp>
#include <leaksnek/redis/keys.hpp>

#include "redis_cluster.hpp"
#include "redis_server.hpp"

namespace leaksnek {
namespace {

struct Outcome {
  int status = -1;
  std::string out;
};

// Starts `leaksnek ARGS` (stderr into stdout); finish() waits for it.
class Process {
 public:
  explicit Process(const std::string& args)
      : pipe_{popen((std::string{LEAKSNEK_BINARY} + " " + args + " 2>&1").c_str(), "r")} {}
  Outcome finish() {
    Outcome outcome;
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe_)) > 0) outcome.out.append(buffer, n);
    int raw = pclose(pipe_);
    outcome.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return outcome;
  }

 private:
  std::FILE* pipe_;
};

Outcome run(const std::string& args) { return Process{args}.finish(); }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class AcquireAcrossProcesses : public ::testing::TestWithParam<const char*> {};

TEST_P(AcquireAcrossProcesses, FourProcessesOnOneKeyGetExactlyTheLimit) {
  testing::RedisServer server;
  std::vector<Process> processes;
  for (int p = 0; p < 4; ++p) {
    processes.emplace_back("acquire --storage " + server.url() + " --algorithm " + GetParam() +
                           " --limit 1000/h --count 2000 shared-key");
  }
  int allowed = 0;
  int denied = 0;
  for (Process& process : processes) {
    Outcome outcome = process.finish();
    EXPECT_EQ(outcome.status, 1);  // each saw denials
    for (const std::string& line : lines_of(outcome.out)) {
      ASSERT_TRUE(line.starts_with("shared-key,1,")) << line;
      (line[13] == '1' ? allowed : denied) += 1;
    }
  }
  EXPECT_EQ(allowed, 1000);
  EXPECT_EQ(denied, 7000);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, AcquireAcrossProcesses,
                         ::testing::Values("gcra", "token-bucket", "leaky-bucket", "fixed-window", "sliding-window",
                                           "sliding-log"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

// The same on a Redis Cluster reached through one of its nodes: on a key of
// each master, four processes get exactly the limit.
TEST(AcquireCluster, FourProcessesPerKeyOnEveryMasterGetExactlyTheLimit) {
  testing::RedisCluster cluster;
  const std::vector<RateLimit> limits{RateLimit{150, std::chrono::hours{1}}};
  redis::PreparedPolicy policy{redis::Options{}, "", "gcra", limits};  // acquire's policy has no name
  std::map<int, std::string> key_of_master;
  for (int i = 0; key_of_master.size() < 3 && i < 1000; ++i) {
    std::string key = "k" + std::to_string(i);
    key_of_master.emplace(cluster.master_of(redis::key_slot(policy.key(key))), key);
  }
  ASSERT_EQ(key_of_master.size(), 3U);
  std::vector<Process> processes;
  for (const auto& [master, key] : key_of_master) {
    for (int p = 0; p < 4; ++p) {
      processes.emplace_back("acquire --storage " + cluster.url() + " --algorithm gcra --limit 150/h --count 100 " +
                             key);
    }
  }
  std::map<std::string, int> allowed;
  for (Process& process : processes) {
    Outcome outcome = process.finish();
    // 1 once denied; 0 when a slow machine ran this process before the others.
    EXPECT_TRUE(outcome.status == 0 || outcome.status == 1) << outcome.status << outcome.out;
    for (const std::string& line : lines_of(outcome.out)) {
      const std::string key = line.substr(0, line.find(','));
      allowed[key] += line.substr(key.size(), 5) == ",1,1," ? 1 : 0;
    }
  }
  ASSERT_EQ(allowed.size(), 3U);
  for (const auto& [key, count] : allowed) EXPECT_EQ(count, 150) << key;  // of 400 attempts
}

TEST(AcquireCli, PrintsTheDecisionColumnsAndExitsOneOnADenial) {
  testing::RedisServer server;
  Outcome first =
      run("acquire --storage " + server.url() + " --algorithm token-bucket --limit 5/m --burst 3 --cost 2 'a key'");
  EXPECT_EQ(first.status, 0);
  EXPECT_EQ(first.out, "a key,2,1,1,0\n");
  Outcome second = run("acquire --storage " + server.url() +
                       " --algorithm token-bucket --limit 5/m --burst 3 --cost 2 --count 2 'a key'");
  EXPECT_EQ(second.status, 1);
  auto lines = lines_of(second.out);
  ASSERT_EQ(lines.size(), 2u);
  // 1 token left, 1 more in 12 s (5 per minute), less the little time since.
  EXPECT_TRUE(lines[0].starts_with("a key,2,0,1,1")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with("a key,2,0,1,1")) << lines[1];
  Outcome never = run("acquire --storage " + server.url() + " --algorithm sliding-log --limit 5/m --cost 6 k");
  EXPECT_EQ(never.out, "k,6,0,5,-1\n");
  EXPECT_EQ(never.status, 1);
}

TEST(AcquireCli, WaitsUntilTheRequestFits) {
  testing::RedisServer server;
  auto start = std::chrono::steady_clock::now();
  Outcome waited =
      run("acquire --storage " + server.url() + " --algorithm gcra --limit 20/s --burst 1 --count 3 --wait 1s k");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(waited.status, 0);
  EXPECT_EQ(lines_of(waited.out).size(), 3u);
  EXPECT_GE(took, std::chrono::milliseconds{95});  // two waits of 50 ms
  Outcome short_wait =
      run("acquire --storage " + server.url() + " --algorithm fixed-window --limit 1/h --count 2 --wait 10ms j");
  EXPECT_EQ(short_wait.status, 1);
}

TEST(AcquireCli, TheMemoryStoreIsTheDefault) {
  Outcome outcome = run("acquire --algorithm fixed-window --limit 2/h --count 3 k");
  EXPECT_EQ(outcome.out, "k,1,1,1,0\nk,1,1,0,0\n" + lines_of(outcome.out).back() + "\n");
  EXPECT_TRUE(lines_of(outcome.out).back().starts_with("k,1,0,0,"));
  EXPECT_EQ(outcome.status, 1);
}

TEST(AcquireCli, AnUnreachableStoreFollowsThePolicy) {
  testing::RedisServer server;
  std::string url = server.url();
  server.kill();
  Outcome closed = run("acquire --storage " + url + " --algorithm gcra --limit 1/h --on-storage-error fail-closed k");
  EXPECT_EQ(closed.status, 2);
  EXPECT_NE(closed.out.find("cannot connect"), std::string::npos) << closed.out;
  Outcome open =
      run("acquire --storage " + url + " --algorithm gcra --limit 1/h --count 2 --on-store-error fail-open k");
  EXPECT_EQ(open.status, 0);
  EXPECT_EQ(open.out, "k,1,1,0,0\nk,1,1,0,0\n");
  Outcome local = run("acquire --storage " + url + " --algorithm gcra --limit 1/h --count 2 k");  // the default
  EXPECT_EQ(local.status, 1);
  EXPECT_EQ(lines_of(local.out).size(), 2u);
  EXPECT_EQ(lines_of(local.out)[0], "k,1,1,0,0");
}

struct BadArguments {
  const char* args;
  const char* message;
};

class AcquireBadArguments : public ::testing::TestWithParam<BadArguments> {};

TEST_P(AcquireBadArguments, ExitTwoNamingTheProblem) {
  Outcome outcome = run(std::string{"acquire "} + GetParam().args);
  EXPECT_EQ(outcome.status, 2);
  EXPECT_NE(outcome.out.find(GetParam().message), std::string::npos) << outcome.out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AcquireBadArguments,
    ::testing::Values(BadArguments{"--algorithm gcra --limit 1/s", "expected one KEY"},
                      BadArguments{"--algorithm gcra --limit 1/x k", "--limit"},
                      BadArguments{"--algorithm nope --limit 1/s k", "unknown algorithm"},
                      BadArguments{"--algorithm gcra --limit 1/s --cost 0 k", "--cost"},
                      BadArguments{"--algorithm gcra --limit 1/s --cost -3 k", "--cost"},
                      BadArguments{"--algorithm gcra --limit 1/s --count x k", "--count"},
                      BadArguments{"--algorithm gcra --limit 1/s --wait 5 k", "--wait"},
                      BadArguments{"--algorithm gcra --limit 1/s --timeout 0 k", "--timeout"},
                      BadArguments{"--algorithm gcra --limit 1/s --on-store-error maybe k", "--on-store-error"},
                      BadArguments{"--algorithm gcra --limit 1/s --storage http://x k", "--storage"},
                      BadArguments{"--algorithm gcra --limit 1/s --storage memory --store memory k",
                                   "--store is its old spelling"},
                      BadArguments{"--algorithm gcra --limit 1/s --frobnicate k", "frobnicate"}));

}  // namespace
}  // namespace leaksnek
