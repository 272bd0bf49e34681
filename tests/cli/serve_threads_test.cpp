// `leaksnek serve` on several threads: one storage shared by every worker
// (exactly the limit on one key, whichever threads its connections land on),
// metrics that sum every worker, and the connection cap shedding idle
// connections across workers. Run under ThreadSanitizer too (label "threads").
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "redis_server.hpp"
#include "serve_process.hpp"

namespace leaksnek {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using testing::Client;
using testing::ServeProcess;

// The count of `outcome` decisions for policy `p` on the /metrics page.
std::uint64_t decisions(const std::string& page, const std::string& outcome) {
  const std::string line = "leaksnek_decisions_total{policy=\"p\",outcome=\"" + outcome + "\"} ";
  auto at = page.find(line);
  if (at == std::string::npos) return ~std::uint64_t{0};
  return std::stoull(page.substr(at + line.size()));
}

void receive_timeout(Client& client) {
  timeval limit{10, 0};
  setsockopt(client.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
}

constexpr const char* exact_policy = "[policies.p]\nalgorithm = \"gcra\"\nlimit = \"300/d\"\n";

// 300 a day: nothing refills while the test runs, so exactly 300 are allowed.
// With `reloads`, the configuration is reloaded that many times meanwhile
// (the same policy: its keys keep their state).
void exactly_the_limit_on_one_key(const std::string& options, int reloads = 0) {
  ServeProcess server{exact_policy, options};
  ASSERT_EQ(server.threads(), 4);
  constexpr int clients = 8;
  constexpr int connections_each = 4;
  constexpr int requests_each = 25;  // 800 requests on 32 connections
  std::atomic<int> allowed{0};
  std::atomic<int> denied{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      std::vector<std::unique_ptr<Client>> connections;
      for (int i = 0; i < connections_each; ++i) connections.push_back(std::make_unique<Client>(server.port()));
      for (int r = 0; r < requests_each; ++r) {
        for (auto& connection : connections) {
          const unsigned status = connection->send(http::verb::get, "/v1/acquire?policy=p&key=hot").result_int();
          (status == 200 ? allowed : status == 429 ? denied : other).fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < reloads; ++i) {
    server.reload("[server]\nmax_cost = " + std::to_string(100 + i) + "\n" + exact_policy);
    std::this_thread::sleep_for(2ms);  // spread over the requests
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 300);
  EXPECT_EQ(denied.load(), clients * connections_each * requests_each - 300);
  EXPECT_EQ(other.load(), 0);
  // /metrics sums what every worker counted.
  const std::string page = Client{server.port()}.send(http::verb::get, "/metrics").body();
  EXPECT_EQ(decisions(page, "allowed"), 300u) << page;
  EXPECT_EQ(decisions(page, "denied"), static_cast<std::uint64_t>(clients * connections_each * requests_each - 300));
  if (reloads > 0) {  // signals sent close together may arrive as one
    EXPECT_EQ(page.find("leaksnek_config_reloads_total{result=\"applied\"} 0\n"), std::string::npos) << page;
  }
  EXPECT_EQ(server.stop(), 0);
}

TEST(ServeThreads, ManyConnectionsOnEveryThreadAllowExactlyTheLimitOnOneKey) {
  exactly_the_limit_on_one_key("--threads 4");
}

// Each worker takes the reloaded policies between two requests; the one
// storage keeps the key's state.
TEST(ServeThreads, ReloadsWhileEveryThreadDecidesKeepTheLimitExact) { exactly_the_limit_on_one_key("--threads 4", 20); }

// Every thread's decisions go through the one Redis client (its strand).
TEST(ServeThreads, ManyConnectionsOnEveryThreadAllowExactlyTheLimitOnOneRedisKey) {
  testing::RedisServer redis;
  exactly_the_limit_on_one_key("--threads 4 --storage " + redis.url());
}

// Connections are handed to the two workers in turn: a, c on one, b, d on
// the other. With b and d mid-request, the newcomer that lands on their
// worker finds nothing idle there and takes the other worker's oldest idle
// connection's place.
TEST(ServeThreads, AtTheCapAnIdleConnectionOnAnotherThreadGivesWay) {
  ServeProcess server{"[policies.p]\nalgorithm = \"gcra\"\nlimit = \"5/m\"\n",
                      "--threads 2 --max-connections 4 --read-timeout 60s"};
  Client a{server.port()};
  Client b{server.port()};
  Client c{server.port()};
  Client d{server.port()};
  const std::string body = R"({"policy":"p","key":"k"})";
  ASSERT_EQ(testing::begin_request(b, body), "HTTP/1.1 100 Continue");
  ASSERT_EQ(testing::begin_request(d, body), "HTTP/1.1 100 Continue");
  Client e{server.port()};  // beside a and c: a gives way
  receive_timeout(e);
  EXPECT_EQ(e.send(http::verb::get, "/healthz").result_int(), 200u);
  Client f{server.port()};  // beside b and d, both busy: c, the other worker's oldest idle, gives way
  receive_timeout(f);
  EXPECT_EQ(f.send(http::verb::get, "/healthz").result_int(), 200u);
  EXPECT_TRUE(testing::closed_within(a.socket(), 10s));
  EXPECT_TRUE(testing::closed_within(c.socket(), 10s));
  for (Client* busy : {&b, &d}) {  // the requests in progress were never cut
    asio::write(busy->socket(), asio::buffer(body));
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(busy->socket(), buffer, response);
    EXPECT_EQ(response.result_int(), 200u) << response.body();
  }
  EXPECT_EQ(server.stop(), 0);
}

// Regression: the Redis client runs on worker 0; once worker 0's own
// connections were gone it stopped, and a request still being read on
// another worker waited on Redis for ever: the process never exited.
TEST(ServeThreads, SigtermAnswersARedisRequestStillArrivingOnAnotherThread) {
  testing::RedisServer redis;
  ServeProcess server{"[policies.p]\nalgorithm = \"gcra\"\nlimit = \"5/m\"\n",
                      "--threads 2 --read-timeout 60s --storage " + redis.url()};
  Client first{server.port()};  // worker 0
  EXPECT_EQ(first.send(http::verb::get, "/healthz").result_int(), 200u);
  Client second{server.port()};  // worker 1
  const std::string body = R"({"policy":"p","key":"k"})";
  ASSERT_EQ(testing::begin_request(second, body), "HTTP/1.1 100 Continue");
  server.terminate();
  // Worker 0 drains: its idle connection is closed.
  EXPECT_TRUE(testing::closed_within(first.socket(), 10s));
  std::this_thread::sleep_for(100ms);  // for worker 0 to run out of work, were it allowed to
  asio::write(second.socket(), asio::buffer(body));
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(second.socket(), buffer, response);
  EXPECT_EQ(response.result_int(), 200u) << response.body();
  EXPECT_EQ(server.wait(15s), 0);
}

TEST(ServeThreads, SigtermDrainsEveryThreadAndExitsZero) {
  ServeProcess server{"[policies.p]\nalgorithm = \"gcra\"\nlimit = \"5/m\"\n", "--threads 3 --read-timeout 60s"};
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 6; ++i) {
    idle.push_back(std::make_unique<Client>(server.port()));
    EXPECT_EQ(idle.back()->send(http::verb::get, "/healthz").result_int(), 200u);
  }
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);  // idle connections closed, not held to the deadline
}

}  // namespace
}  // namespace leaksnek
