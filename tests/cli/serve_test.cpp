// `leaksnek serve`: its configuration, and the real binary on a free port
// driven over real sockets: decisions, headers, bad input, metrics, drain,
// and two servers sharing one limit on one real Redis.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "redis_cluster.hpp"
#include "redis_server.hpp"
#include "serve/config.hpp"
#include "serve/requests.hpp"
#include "serve_process.hpp"

namespace leaksnek {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using testing::Client;
using testing::ServeProcess;

std::string config_error(std::string_view text) {
  try {
    (void)cli::parse_serve_config(text, "leaksnek.toml");
  } catch (const cli::ConfigError& error) {
    return error.what();
  }
  return "accepted";
}

TEST(ServeConfig, ParsesTheIssuesShape) {
  auto config = cli::parse_serve_config(R"(
[policies.api]
algorithm = "gcra"        # any of the six
limit = "100/s"
burst = 200
[policies.login]
algorithm = "sliding-log"
limits = ["5/m", "20/h"]
)",
                                        "x.toml");
  ASSERT_EQ(config.policies.size(), 2u);
  EXPECT_EQ(config.policies[0].name, "api");
  EXPECT_EQ(config.policies[0].limits.front(), RateLimit(100, 1s).with_burst(200));
  EXPECT_EQ(config.policies[1].limits.size(), 2u);
  EXPECT_EQ(config.listen, "127.0.0.1:8080");
  EXPECT_EQ(config.storage, "memory");
}

TEST(ServeConfig, LeasesPerPolicy) {
  auto config = cli::parse_serve_config(R"(
[policies.hot]
algorithm = "gcra"
limit = "1000/s"
lease = true
lease_max = 50
lease_ttl = "250ms"
[policies.plain]
algorithm = "gcra"
limit = "1/s"
)",
                                        "x.toml");
  EXPECT_EQ(config.policies[0].lease, true);
  EXPECT_EQ(config.policies[0].lease_max, 50);
  EXPECT_EQ(config.policies[0].lease_ttl, 250ms);
  EXPECT_EQ(config.policies[1].lease, std::nullopt);
  const std::string policy = "[policies.a]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\n";
  EXPECT_NE(config_error(policy + "lease = \"yes\"\n").find("policies.a.lease: must be true or false"),
            std::string::npos);
  EXPECT_NE(config_error(policy + "lease_max = 10\n").find("need lease = true"), std::string::npos);
  EXPECT_NE(config_error(policy + "lease = true\nlease_max = 0\n").find("policies.a.lease_max"), std::string::npos);
  EXPECT_NE(config_error(policy + "lease = true\nlease_ttl = \"2h\"\n").find("from 1ms to 1h"), std::string::npos);
  EXPECT_NE(config_error(policy + "lease = true\nlease_ttl = \"soon\"\n").find("not a duration"), std::string::npos);
}

TEST(ServeConfig, TheOldSpellingsOfStorageAreStillRead) {
  const std::string policy = "[policies.a]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\n";
  auto old = cli::parse_serve_config(
      "[server]\nstore = \"redis://127.0.0.1:1\"\non_store_error = \"fail-closed\"\n" + policy, "x.toml");
  EXPECT_EQ(old.storage, "redis://127.0.0.1:1");
  EXPECT_EQ(old.on_storage_error, OnStorageError::fail_closed);
  auto current = cli::parse_serve_config(
      "[server]\nstorage = \"redis://127.0.0.1:1\"\non_storage_error = \"fail-open\"\n" + policy, "x.toml");
  EXPECT_EQ(current.storage, "redis://127.0.0.1:1");
  EXPECT_EQ(current.on_storage_error, OnStorageError::fail_open);
  EXPECT_NE(config_error("[server]\nstorage = \"memory\"\nstore = \"memory\"\n" + policy).find("old spelling"),
            std::string::npos);
}

TEST(ServeConfig, ErrorsNameTheFileThePolicyAndTheField) {
  EXPECT_EQ(config_error("[policies.api]\nalgorithm = \"gcra\"\nlimit = \"100/x\"\n"),
            "leaksnek.toml: policies.api.limit: invalid rate \"100/x\": unknown unit \"x\" (expected ms, s, sec, "
            "second(s), m, minute(s), h, hour(s), d, day(s))");
  EXPECT_NE(config_error("[policies.api]\nalgorithm = \"gcra2\"\nlimit = \"1/s\"\n").find("policies.api.algorithm"),
            std::string::npos);
  EXPECT_NE(config_error("[policies.api]\nalgorithm = \"gcra\"\n").find("exactly one of \"limit\" and \"limits\""),
            std::string::npos);
  EXPECT_NE(config_error("[policies.api]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\nburts = 3\n")
                .find("unknown field \"burts\""),
            std::string::npos);
  EXPECT_NE(
      config_error("[policies.api]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\nburst = 0\n").find("policies.api.burst"),
      std::string::npos);
  EXPECT_NE(config_error("[policies.a]\nalgorithm = \"gcra\"\nlimits = [\"1/s\", 5]\n").find("policies.a.limits[1]"),
            std::string::npos);
  EXPECT_NE(config_error("[server]\nstorage = \"http://x\"\n[policies.a]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\n")
                .find("server.storage"),
            std::string::npos);
  EXPECT_NE(config_error("[server]\nstore = \"http://x\"\n[policies.a]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\n")
                .find("server.store"),
            std::string::npos);
  EXPECT_NE(config_error("").find("no policies"), std::string::npos);
  EXPECT_NE(config_error("[policies.a]\nalgorithm = \"fixed-window\"\nlimit = \"1/s\"\nburst = 3\n")
                .find("policies.a.burst: only the bucket family"),
            std::string::npos);
  EXPECT_NE(config_error("[policies.a]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\ndeny_status = 404\n")
                .find("must be 429 or 403"),
            std::string::npos);
  EXPECT_NE(config_error("[policies.a]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\nkey_header = \"\"\n")
                .find("policies.a.key_header: must not be empty"),
            std::string::npos);
  EXPECT_NE(config_error("[policies.a\n").find("leaksnek.toml: line 1"), std::string::npos);
  EXPECT_NE(config_error("[policies.a]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\ntrusted_proxies = 0\n")
                .find("policies.a.trusted_proxies"),
            std::string::npos);
  EXPECT_NE(config_error("[policies.a]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\ntrusted_proxies = 17\n")
                .find("policies.a.trusted_proxies"),
            std::string::npos);
}

TEST(ServeConfig, ThreadsAreOnePerCoreUnlessSet) {
  const std::string policy = "[policies.p]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\n";
  EXPECT_EQ(cli::parse_serve_config(policy, "x.toml").threads, 0);  // 0: one per core
  EXPECT_EQ(cli::parse_serve_config("[server]\nthreads = 4\n" + policy, "x.toml").threads, 4);
  EXPECT_EQ(config_error("[server]\nthreads = 0\n" + policy),
            "leaksnek.toml: server.threads: must be from 1 to 256, got 0");
  EXPECT_EQ(config_error("[server]\nthreads = 257\n" + policy),
            "leaksnek.toml: server.threads: must be from 1 to 256, got 257");
}

TEST(ServeConfig, TrustedProxiesIsOneUnlessSet) {
  auto config = cli::parse_serve_config(
      "[policies.a]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\n"
      "[policies.b]\nalgorithm = \"gcra\"\nlimit = \"1/s\"\ntrusted_proxies = 3\n",
      "x.toml");
  EXPECT_EQ(config.policies[0].trusted_proxies, 1u);
  EXPECT_EQ(config.policies[1].trusted_proxies, 3u);
}

// RFC 9110: the lines of a header are one comma-separated list, in order.
TEST(KeyOfHeader, TakesTheNthElementFromTheEndOfAllLinesTogether) {
  auto key = [](std::vector<std::string_view> lines, std::size_t trusted) {
    return std::string{cli::key_of_header(lines, trusted, "X-Forwarded-For")};
  };
  EXPECT_EQ(key({"10.0.0.1, 203.0.113.9"}, 1), "203.0.113.9");
  EXPECT_EQ(key({"10.0.0.1", "203.0.113.9"}, 1), "203.0.113.9");
  EXPECT_EQ(key({"10.0.0.1, 198.51.100.7", "203.0.113.9"}, 2), "198.51.100.7") << "across lines";
  EXPECT_EQ(key({"a, b", "c ,\td"}, 3), "b");
  EXPECT_EQ(key({"a,, b, ", ""}, 2), "a") << "empty elements are skipped";
  auto refused = [](std::vector<std::string_view> lines, std::size_t trusted) {
    try {
      (void)cli::key_of_header(lines, trusted, "X-Forwarded-For");
    } catch (const cli::BadRequest& bad) {
      EXPECT_EQ(bad.status, 400u);
      return bad.message;
    }
    return std::string{"accepted"};
  };
  EXPECT_EQ(refused({}, 1), "missing the key header X-Forwarded-For");
  EXPECT_EQ(refused({" , "}, 1), "missing the key header X-Forwarded-For (it is empty)");
  EXPECT_EQ(refused({"203.0.113.9"}, 2),
            "the key header X-Forwarded-For has 1 element, fewer than the policy's trusted_proxies = 2");
  EXPECT_EQ(refused({"a, b", "c"}, 4),
            "the key header X-Forwarded-For has 3 elements, fewer than the policy's trusted_proxies = 4");
  EXPECT_NE(refused({std::string_view{std::string(300, 'k')}}, 1).find("at most 256"), std::string::npos);
}

constexpr const char* demo_config = R"(
[server]
max_cost = 50
[policies.demo]
algorithm = "gcra"
limit = "2/m"
[policies.login]
algorithm = "sliding-log"
limits = ["2/m", "20/h"]
key_header = "X-Forwarded-For"
[policies.strict]
algorithm = "gcra"
limit = "1/h"
allow_status = 200
deny_status = 403
key_header = "X-Real-IP"
)";

TEST(Serve, AllowsThenDeniesWithTheRateLimitHeadersOverKeepAlive) {
  ServeProcess server{demo_config};
  Client client{server.port()};
  auto first = client.send(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":"k","cost":1})");
  EXPECT_EQ(first.result_int(), 200u);
  EXPECT_NE(first.body().find("\"allowed\":true"), std::string::npos) << first.body();
  EXPECT_NE(first.body().find("\"remaining\":1"), std::string::npos) << first.body();
  EXPECT_EQ(first["RateLimit-Policy"], "\"demo\";q=2;w=60");
  EXPECT_TRUE(std::string{first["RateLimit"]}.starts_with("\"demo\";r=1;t=")) << first["RateLimit"];
  auto second = client.send(http::verb::get, "/v1/acquire?policy=demo&key=k");
  EXPECT_EQ(second.result_int(), 200u);
  auto third = client.send(http::verb::get, "/v1/acquire?policy=demo&key=k&cost=1");
  EXPECT_EQ(third.result_int(), 429u);
  EXPECT_NE(third.body().find("\"allowed\":false"), std::string::npos);
  EXPECT_NE(third.body().find("\"retry_after_ms\":"), std::string::npos);
  int retry_after = std::stoi(std::string{third[http::field::retry_after]});
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  EXPECT_TRUE(std::string{third["RateLimit"]}.starts_with("\"demo\";r=0;t=")) << third["RateLimit"];
  auto other = client.send(http::verb::get, "/v1/acquire?policy=demo&key=other%20key");  // %-decoded
  EXPECT_EQ(other.result_int(), 200u);
  EXPECT_EQ(server.stop(), 0);
}

// Regression: two policies with equal algorithm and limits shared every
// key's state, so "search" spent "payments"' allowance.
TEST(Serve, PoliciesWithEqualLimitsKeepSeparateState) {
  const std::string config =
      "[policies.search]\nalgorithm = \"fixed-window\"\nlimit = \"2/h\"\n"
      "[policies.payments]\nalgorithm = \"fixed-window\"\nlimit = \"2/h\"\n";
  auto exercise = [](ServeProcess& server) {
    Client client{server.port()};
    EXPECT_EQ(client.send(http::verb::get, "/v1/acquire?policy=search&key=alice").result_int(), 200u);
    EXPECT_EQ(client.send(http::verb::get, "/v1/acquire?policy=search&key=alice").result_int(), 200u);
    EXPECT_EQ(client.send(http::verb::get, "/v1/acquire?policy=search&key=alice").result_int(), 429u);
    EXPECT_EQ(client.send(http::verb::get, "/v1/acquire?policy=payments&key=alice").result_int(), 200u);
    EXPECT_EQ(server.stop(), 0);
  };
  {
    ServeProcess memory{config};
    exercise(memory);
  }
  testing::RedisServer redis;
  ServeProcess shared{config, "--storage " + redis.url()};
  exercise(shared);
  testing::RedisCluster cluster;
  ServeProcess on_cluster{config, "--storage " + cluster.url()};
  EXPECT_EQ(Client{on_cluster.port()}.send(http::verb::get, "/readyz").result_int(), 200u);
  exercise(on_cluster);
}

TEST(Serve, CheckTakesTheKeyFromTheConfiguredHeader) {
  ServeProcess server{demo_config};
  Client client{server.port()};
  // The last element: the address the nearest proxy saw (the first is the client's to forge).
  auto ok = client.send(http::verb::get, "/v1/check/login", "", {{"X-Forwarded-For", "10.9.9.9, 203.0.113.9"}});
  EXPECT_EQ(ok.result_int(), 204u);
  EXPECT_TRUE(ok[http::field::content_length].empty());  // a 204 has no Content-Length
  EXPECT_EQ(client.send(http::verb::get, "/v1/check/login", "", {{"X-Forwarded-For", "203.0.113.9"}}).result_int(),
            204u);
  auto denied = client.send(http::verb::get, "/v1/check/login", "", {{"X-Forwarded-For", " 203.0.113.9 "}});
  EXPECT_EQ(denied.result_int(), 429u);
  EXPECT_FALSE(denied[http::field::retry_after].empty());
  EXPECT_EQ(denied["RateLimit-Policy"], "\"login\";q=2;w=60, \"login\";q=20;w=3600");
  EXPECT_EQ(client.send(http::verb::get, "/v1/check/login", "", {{"X-Forwarded-For", "198.51.100.1"}}).result_int(),
            204u);
  // Envoy appends the original path to the check's prefix, and wants a 200.
  EXPECT_EQ(client.send(http::verb::get, "/v1/check/strict/orders/17", "", {{"X-Real-IP", "a"}}).result_int(), 200u);
  EXPECT_EQ(client.send(http::verb::get, "/v1/check/strict", "", {{"X-Real-IP", "a"}}).result_int(), 403u);
  auto head = client.send(http::verb::head, "/healthz");  // no body, and the connection stays in step
  EXPECT_EQ(head.result_int(), 200u);
  EXPECT_EQ(client.send(http::verb::get, "/healthz").body(), R"({"status":"ok"})");
  EXPECT_EQ(client.send(http::verb::get, "/healthcheck").result(), http::status::ok);  // upstream's probe path
  EXPECT_EQ(client.send(http::verb::get, "/healthz")[http::field::date].size(),
            29u);  // RFC 9110: "Sun, 06 Nov 1994 08:49:37 GMT"
  EXPECT_EQ(client.send(http::verb::get, "/v1/check/strict").result_int(), 400u);  // no key header
  EXPECT_EQ(client.send(http::verb::get, "/v1/check/nope", "", {{"X-Real-IP", "a"}}).result_int(), 404u);
}

// Regression: with two X-Forwarded-For lines the first, which the client
// wrote, decided the key, so a client got a fresh limit on every request.
TEST(Serve, CheckTakesTheLastLineOfTheKeyHeader) {
  ServeProcess server{demo_config};
  Client client{server.port()};
  for (int i = 0; i < 3; ++i) {
    const std::string forged = "10.0.0." + std::to_string(i);
    auto response = client.send(http::verb::get, "/v1/check/login", "",
                                {{"X-Forwarded-For", forged}, {"X-Forwarded-For", "203.0.113.50"}});
    EXPECT_EQ(response.result_int(), i < 2 ? 204u : 429u) << i;
  }
}

// Behind two proxies the key is the element the first proxy appended; a
// client's own lines and elements come before it and change nothing, and a
// request with too few elements is refused without counting against any key.
TEST(Serve, CheckTakesTheElementTheTrustedProxiesSawFromAllLines) {
  ServeProcess server{"[policies.edge]\nalgorithm = \"fixed-window\"\nlimit = \"2/h\"\ntrusted_proxies = 2\n"};
  Client client{server.port()};
  for (int i = 0; i < 3; ++i) {
    const std::string forged = "10.0.0." + std::to_string(i);
    auto response = client.send(http::verb::get, "/v1/check/edge", "",
                                {{"X-Forwarded-For", forged + ", 198.51.100.7"}, {"X-Forwarded-For", "192.0.2.1"}});
    EXPECT_EQ(response.result_int(), i < 2 ? 204u : 429u) << i;
  }
  auto short_list = client.send(http::verb::get, "/v1/check/edge", "", {{"X-Forwarded-For", "198.51.100.8"}});
  EXPECT_EQ(short_list.result_int(), 400u);
  EXPECT_NE(short_list.body().find("fewer than the policy's trusted_proxies = 2"), std::string::npos)
      << short_list.body();
  // 198.51.100.8 was not counted: its two requests are still there.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(client.send(http::verb::get, "/v1/check/edge", "", {{"X-Forwarded-For", "198.51.100.8, 192.0.2.1"}})
                  .result_int(),
              204u);
  }
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 17; ++i) many.emplace_back("X-Forwarded-For", "192.0.2." + std::to_string(i));
  auto too_many = client.send(http::verb::get, "/v1/check/edge", "", many);
  EXPECT_EQ(too_many.result_int(), 400u);
  EXPECT_NE(too_many.body().find("more than 16 lines"), std::string::npos) << too_many.body();
}

TEST(Serve, BadInputIsA4xxNamingTheProblemAndCountsNothing) {
  ServeProcess server{demo_config};
  Client client{server.port()};
  auto expect = [&](http::verb method, const std::string& target, const std::string& body, unsigned status,
                    const std::string& words) {
    auto response = client.send(method, target, body);
    EXPECT_EQ(response.result_int(), status) << target << " " << body << " -> " << response.body();
    EXPECT_NE(response.body().find(words), std::string::npos) << response.body();
    EXPECT_EQ(response[http::field::content_type], "application/json");
  };
  expect(http::verb::post, "/v1/acquire", "{\"policy\":", 400, "malformed JSON");
  expect(http::verb::post, "/v1/acquire", "[1,2]", 400, "JSON object");
  expect(http::verb::post, "/v1/acquire", R"({"policy":"nope","key":"k"})", 404, "unknown policy \\\"nope\\\"");
  expect(http::verb::post, "/v1/acquire", R"({"policy":"demo"})", 400, "missing \\\"key\\\"");
  expect(http::verb::post, "/v1/acquire", R"({"key":"k"})", 400, "missing \\\"policy\\\"");
  expect(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":"k","cost":0})", 400, "positive integer");
  expect(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":"k","cost":-2})", 400, "positive integer");
  expect(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":"k","cost":1.5})", 400, "positive integer");
  expect(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":"k","cost":51})", 400, "above the cap of 50");
  expect(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":""})", 400, "must not be empty");
  expect(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":")" + std::string(257, 'k') + "\"}", 400,
         "257 bytes, at most 256");
  expect(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":"k","extra":1})", 400, "unknown field");
  expect(http::verb::get, "/v1/acquire?policy=demo&key=k&cost=x", "", 400, "positive integer");
  expect(http::verb::get, "/v1/acquire?policy=demo", "", 400, "missing");
  expect(http::verb::delete_, "/v1/acquire", "", 405, "GET or POST");
  expect(http::verb::get, "/nowhere", "", 404, "no such endpoint");
  auto metrics = client.send(http::verb::get, "/metrics");
  EXPECT_NE(metrics.body().find("leaksnek_decisions_total{policy=\"demo\",outcome=\"allowed\"} 0"), std::string::npos)
      << metrics.body();
  EXPECT_NE(metrics.body().find("leaksnek_decisions_total{policy=\"demo\",outcome=\"denied\"} 0"), std::string::npos);
  EXPECT_EQ(client.send(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":"k"})").result_int(), 200u);

  Client large{server.port()};
  auto too_big = large.send(http::verb::post, "/v1/acquire", std::string(5000, ' '));
  EXPECT_EQ(too_big.result_int(), 413u);
  Client headers{server.port()};
  auto too_many = headers.send(http::verb::get, "/healthz", "", {{"X-Padding", std::string(9000, 'x')}});
  EXPECT_EQ(too_many.result_int(), 431u);
  EXPECT_EQ(Client{server.port()}.send(http::verb::get, "/healthz").result_int(), 200u);  // still serving
}

TEST(Serve, ASlowClientIsClosedAfterTheReadTimeoutAndOthersAreServed) {
  ServeProcess server{demo_config};
  Client slow{server.port()};
  asio::write(slow.socket(), asio::buffer(std::string{"GET /healthz HTTP/1.1\r\nHo"}));
  Client other{server.port()};
  EXPECT_EQ(other.send(http::verb::get, "/healthz").result_int(), 200u);
  // Blocks until the server closes the connection (its read timeout is
  // 500 ms); a receive timeout turns a hang into a failure.
  timeval limit{10, 0};
  setsockopt(slow.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  char byte = 0;
  boost::system::error_code error;
  auto start = std::chrono::steady_clock::now();
  asio::read(slow.socket(), asio::buffer(&byte, 1), error);
  EXPECT_EQ(error, asio::error::eof);  // closed by the server
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_EQ(Client{server.port()}.send(http::verb::get, "/healthz").result_int(), 200u);
}

TEST(Serve, AnswersExpectContinueBeforeTheBody) {
  ServeProcess server{demo_config};
  Client client{server.port()};
  const std::string body = R"({"policy":"demo","key":"expecting"})";
  const std::string head =
      "POST /v1/acquire HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  asio::write(client.socket(), asio::buffer(head));
  std::string interim(25, '\0');  // "HTTP/1.1 100 Continue\r\n\r\n"
  asio::read(client.socket(), asio::buffer(interim));
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  asio::write(client.socket(), asio::buffer(body));
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(client.socket(), buffer, response);
  EXPECT_EQ(response.result_int(), 200u);
  EXPECT_NE(response.body().find("\"allowed\":true"), std::string::npos);
}

TEST(Serve, MetricsHealthAndReadiness) {
  ServeProcess server{demo_config};
  Client client{server.port()};
  (void)client.send(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":"m"})");
  (void)client.send(http::verb::post, "/v1/acquire", R"({"policy":"demo","key":"m","cost":2})");
  auto metrics = client.send(http::verb::get, "/metrics");
  EXPECT_EQ(metrics.result_int(), 200u);
  EXPECT_TRUE(std::string{metrics[http::field::content_type]}.starts_with("text/plain"));
  const std::string& text = metrics.body();
  EXPECT_NE(text.find("leaksnek_decisions_total{policy=\"demo\",outcome=\"allowed\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("leaksnek_decisions_total{policy=\"demo\",outcome=\"denied\"} 1"), std::string::npos);
  EXPECT_NE(text.find("# TYPE leaksnek_request_duration_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("leaksnek_request_duration_seconds_bucket{le=\"+Inf\"} 2"), std::string::npos);
  EXPECT_NE(text.find("leaksnek_storage_fallbacks_total{mode=\"local\"} 0"), std::string::npos);
  EXPECT_NE(text.find("leaksnek_store_fallbacks_total{mode=\"local\"} 0"), std::string::npos);  // the old name
  EXPECT_NE(text.find("leaksnek_decisions_pending 0"), std::string::npos);
  EXPECT_EQ(client.send(http::verb::get, "/healthz").result_int(), 200u);
  EXPECT_EQ(client.send(http::verb::get, "/readyz").result_int(), 200u);
}

TEST(Serve, SigtermWithAnIdleKeepAliveConnectionExitsZero) {
  ServeProcess server{demo_config};
  Client idle{server.port()};
  EXPECT_EQ(idle.send(http::verb::get, "/healthz").result_int(), 200u);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);  // not held until the 5 s drain deadline
}

// Regression: with a half-sent request held open past the 5 s drain, the
// io_context was stopped and destroyed the suspended session after the
// server it belonged to: SIGSEGV instead of exit 0.
TEST(Serve, SigtermWithAHalfSentRequestExitsZeroAfterTheDrainDeadline) {
  ServeProcess server{demo_config, "--read-timeout 60s"};
  Client half{server.port()};
  asio::write(half.socket(), asio::buffer(std::string{"GET /healthz HTTP/1.1\r\nHo"}));
  EXPECT_EQ(Client{server.port()}.send(http::verb::get, "/healthz").result_int(), 200u);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(30s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 25s);  // the 5 s deadline, not the 60 s read timeout
}

// Regression: a body awaited after "100 Continue" read as an idle
// connection, so SIGTERM closed it and the request was lost.
TEST(Serve, SigtermAnswersARequestWhoseBodyFollowsA100Continue) {
  ServeProcess server{demo_config, "--read-timeout 60s"};
  Client client{server.port()};
  const std::string body = R"({"policy":"demo","key":"continued"})";
  EXPECT_EQ(testing::begin_request(client, body), "HTTP/1.1 100 Continue");
  server.terminate();
  // Draining once new connections are refused.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    asio::io_context io;
    tcp::socket probe{io};
    boost::system::error_code error;
    probe.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server.port())},
                  error);
    if (error) break;
    std::this_thread::sleep_for(1ms);
  }
  asio::write(client.socket(), asio::buffer(body));
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(client.socket(), buffer, response);
  EXPECT_EQ(response.result_int(), 200u) << response.body();
  EXPECT_FALSE(response.keep_alive());
  EXPECT_EQ(server.wait(15s), 0);
}

// The resident memory of process `pid`, in KiB.
long resident_kib(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

// Sends `head`, then `filler` again and again (up to 4 MiB): the server must
// refuse (a 400 or 431, then close) or reset, never go on reading.
void refused_at_a_bounded_size(const std::string& head, const std::string& filler) {
  ServeProcess server{demo_config, "--read-timeout 60s"};
  Client hostile{server.port()};
  boost::system::error_code error;
  asio::write(hostile.socket(), asio::buffer(head), error);
  for (std::size_t sent = 0; sent < 4 * 1024 * 1024 && !error; sent += filler.size()) {
    asio::write(hostile.socket(), asio::buffer(filler), error);
  }
  if (!error) {  // the server let go (a write error above means it reset the connection already)
    std::optional<std::string> answer = testing::read_until_closed(hostile.socket(), 10s);
    ASSERT_TRUE(answer.has_value()) << "still open after 4 MiB";
    EXPECT_TRUE(answer->empty() || answer->starts_with("HTTP/1.1 4")) << *answer;
  }
  EXPECT_EQ(Client{server.port()}.send(http::verb::get, "/healthz").result_int(), 200u);
  EXPECT_EQ(server.stop(), 0);
}

// Regression: a chunk-size line that never ends (a chunk extension) was
// buffered until the read timeout: hundreds of MiB from one connection.
TEST(Serve, AChunkLineThatNeverEndsIsRefusedAtABoundedSize) {
  refused_at_a_bounded_size("POST /v1/acquire HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;",
                            std::string(64 * 1024, 'a'));
}

// Trailer fields after the last chunk, without end.
TEST(Serve, TrailersThatNeverEndAreRefusedAtABoundedSize) {
  std::string trailers;
  while (trailers.size() < 64 * 1024) trailers += "X-Trailer: " + std::string(100, 't') + "\r\n";
  refused_at_a_bounded_size(
      "POST /v1/acquire HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n",
      trailers);
}

// Pipelined requests, each small, sent without ever reading an answer: the
// server answers what it can and closes when its answers back up, holding no
// more than one answer meanwhile.
TEST(Serve, PipelinedRequestsThatNeverEndAreRefusedOrAnsweredAtABoundedSize) {
  std::string requests;
  while (requests.size() < 64 * 1024) requests += "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  ServeProcess server{demo_config, "--read-timeout 60s"};
  EXPECT_EQ(Client{server.port()}.send(http::verb::get, "/healthz").result_int(), 200u);
  const long before = resident_kib(server.pid());
  Client hostile{server.port()};
  // The socket's buffers fill both ways; the sends then block (1 s) or fail.
  timeval limit{1, 0};
  setsockopt(hostile.socket().native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
  std::size_t sent = 0;
  while (sent < 64 * 1024 * 1024) {
    const ssize_t n = ::send(hostile.socket().native_handle(), requests.data(), requests.size(), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  EXPECT_LT(sent, 64u * 1024 * 1024);  // the server stopped reading
#if !defined(__SANITIZE_ADDRESS__)     // ASan's quarantine keeps what the requests freed
  EXPECT_LT(resident_kib(server.pid()) - before, 16 * 1024) << "KiB grown";
#else
  (void)before;
#endif
  hostile.socket().close();
  EXPECT_EQ(Client{server.port()}.send(http::verb::get, "/healthz").result_int(), 200u);
  EXPECT_EQ(server.stop(), 0);
}

// The unparsed input a connection may hold is bounded by the header limit
// plus the body limit; requests near those limits, pipelined in one write,
// are all still answered in order.
TEST(Serve, PipelinedRequestsNearTheLimitsAreAllAnswered) {
  ServeProcess server{demo_config};
  Client client{server.port()};
  const std::string big_header = "X-Padding: " + std::string(7 * 1024, 'p') + "\r\n";
  const std::string body = R"({"policy":"demo","key":")" + std::string(200, 'b') + R"("})";
  std::string requests;
  for (int i = 0; i < 3; ++i) {
    requests += "GET /healthz HTTP/1.1\r\nHost: x\r\n" + big_header + "\r\n";
    requests += "POST /v1/acquire HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  asio::write(client.socket(), asio::buffer(requests));
  boost::beast::flat_buffer buffer;
  for (int i = 0; i < 6; ++i) {
    http::response<http::string_body> response;
    http::read(client.socket(), buffer, response);
    EXPECT_EQ(response.result_int(), i % 2 == 0 ? 200u : (i < 4 ? 200u : 429u)) << i << " " << response.body();
  }
  EXPECT_EQ(server.stop(), 0);
}

// Regression: with no cap on open connections, idle sockets held until
// their read timeout kept legitimate clients waiting.
TEST(Serve, IdleConnectionsGiveWayAtTheConnectionCap) {
  ServeProcess server{demo_config, "--read-timeout 60s --max-connections 8 --threads 1"};
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(std::make_unique<Client>(server.port()));
  // A legitimate client, beyond the cap, is answered at once (not after 60 s).
  for (int i = 0; i < 3; ++i) {
    Client client{server.port()};
    timeval limit{10, 0};
    setsockopt(client.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    EXPECT_EQ(client.send(http::verb::get, "/healthz").result_int(), 200u) << i;
  }
  // The oldest idle connection was closed to make room (not at its 60 s read timeout).
  EXPECT_TRUE(testing::closed_within(idle.front()->socket(), 10s));
  EXPECT_EQ(server.stop(), 0);
}

// Sends `text` on a fresh connection and returns all the server answers
// before it closes (the server must close within 10 s).
std::string answer_to_raw(const ServeProcess& server, const std::string& text) {
  Client raw{server.port()};
  asio::write(raw.socket(), asio::buffer(text));
  std::optional<std::string> answer = testing::read_until_closed(raw.socket(), 10s);
  EXPECT_TRUE(answer.has_value()) << "still open after 10 s: " << text;
  return answer.value_or("");
}

std::size_t status_lines(const std::string& answer) {
  std::size_t count = 0;
  for (std::size_t at = answer.find("HTTP/1."); at != std::string::npos; at = answer.find("HTTP/1.", at + 1)) ++count;
  return count;
}

// Regression: a Transfer-Encoding that does not end in chunked was read as
// an empty body, and the body as the next request: a request smuggled past a
// proxy that frames it by the coding spent another key's allowance.
TEST(Serve, ATransferEncodingNotEndingInChunkedIsRefusedAndItsBodyNeverRead) {
  ServeProcess server{demo_config};
  const std::string smuggled = "GET /v1/acquire?policy=demo&key=smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string coding : {"identity", "chunked, identity", "xchunked", "gzip"}) {
    const std::string answer = answer_to_raw(
        server, "POST /v1/acquire HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding + "\r\n\r\n" + smuggled);
    EXPECT_TRUE(answer.starts_with("HTTP/1.1 400")) << coding << ": " << answer;
    EXPECT_EQ(status_lines(answer), 1u) << coding << ": " << answer;
  }
  // Chunked after another coding: not implemented, and nothing read after it.
  const std::string gzipped = answer_to_raw(
      server, "POST /v1/acquire HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled);
  EXPECT_TRUE(gzipped.starts_with("HTTP/1.1 501")) << gzipped;
  EXPECT_EQ(status_lines(gzipped), 1u) << gzipped;
  // The smuggled key was never decided: its first decision leaves 1 of 2.
  Client client{server.port()};
  EXPECT_NE(client.send(http::verb::get, "/v1/acquire?policy=demo&key=smuggled").body().find("\"remaining\":1"),
            std::string::npos);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Serve, AnHttp11RequestWithoutOneHostIsRefusedAndA10OneIsNeverToldToContinue) {
  ServeProcess server{demo_config};
  EXPECT_TRUE(answer_to_raw(server, "GET /healthz HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400"));
  EXPECT_TRUE(answer_to_raw(server, "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").starts_with("HTTP/1.1 400"));
  const std::string old = answer_to_raw(server,
                                        "POST /v1/acquire HTTP/1.0\r\nExpect: 100-continue\r\n"
                                        "Content-Type: application/json\r\nContent-Length: 29\r\n\r\n"
                                        "{\"policy\":\"demo\",\"key\":\"ten\"}");
  EXPECT_EQ(old.find("100 Continue"), std::string::npos) << old;
  EXPECT_NE(old.find(" 200 "), std::string::npos) << old;
  EXPECT_EQ(server.stop(), 0);
}

// Regression: at the connection cap only connections with nothing received
// gave way, so sockets that each sent one byte (of a header, or of a body
// after its header) locked every new client out.
TEST(Serve, ConnectionsStalledInARequestGiveWayAtTheConnectionCap) {
  for (const bool in_body : {false, true}) {
    ServeProcess server{demo_config, "--read-timeout 60s --max-connections 8 --threads 1"};
    std::vector<std::unique_ptr<Client>> stalled;
    for (int i = 0; i < 8; ++i) {
      stalled.push_back(std::make_unique<Client>(server.port()));
      const std::string begun = !in_body ? "G"
                                         : "POST /v1/acquire HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                           "Content-Length: 100\r\n\r\n{";
      asio::write(stalled.back()->socket(), asio::buffer(begun));
    }
    // Stalled means a read begun over a second ago (a real client sends its request at once).
    std::this_thread::sleep_for(1200ms);
    for (int i = 0; i < 3; ++i) {
      Client client{server.port()};
      timeval limit{10, 0};
      setsockopt(client.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      EXPECT_EQ(client.send(http::verb::get, "/healthz").result_int(), 200u) << in_body << i;
    }
    // The longest stalled gave way (not at its 60 s read timeout).
    EXPECT_TRUE(testing::closed_within(stalled.front()->socket(), 10s)) << in_body;
    stalled.clear();  // not left for the drain at stop
    EXPECT_EQ(server.stop(), 0);
  }
}

// CPU time (user + system) the process has used so far.
std::chrono::milliseconds cpu_time(pid_t pid) {
  std::ifstream stat{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text{std::istreambuf_iterator<char>{stat}, {}};
  std::istringstream fields{text.substr(text.rfind(')') + 2)};  // after "pid (comm) "
  std::string field;
  long long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stoll(field);  // utime, stime
  }
  return std::chrono::milliseconds{ticks * 1000 / sysconf(_SC_CLK_TCK)};
}

// Hundreds of idle sockets against a descriptor limit of 128 (the cap then
// sits below it by default): a new client is still answered within a second,
// and the server does not spin while they sit there.
TEST(Serve, ANewClientIsAnsweredWithinASecondWhileIdleSocketsHoldTheDescriptorLimit) {
  ServeProcess server{demo_config, "--read-timeout 60s", "ulimit -n 128"};
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 300; ++i) idle.push_back(std::make_unique<Client>(server.port()));
  EXPECT_EQ(Client{server.port()}.send(http::verb::get, "/healthz").result_int(), 200u);  // all accepted by now
  const auto cpu_before = cpu_time(server.pid());
  const auto wall_before = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    Client client{server.port()};
    timeval limit{1, 0};
    setsockopt(client.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(client.send(http::verb::get, "/healthz").result_int(), 200u) << i;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << i;
  }
  std::this_thread::sleep_for(500ms);  // a window in which nothing happens: a spinning loop would burn it all
  const auto wall = std::chrono::steady_clock::now() - wall_before;
  EXPECT_LT(cpu_time(server.pid()) - cpu_before, wall / 2);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Serve, SigtermFinishesARequestInFlightThenExitsZero) {
  testing::RedisServer redis;
  ServeProcess server{"[policies.p]\nalgorithm = \"gcra\"\nlimit = \"5/h\"\n", "--store " + redis.url()};
  Client client{server.port()};
  EXPECT_EQ(client.send(http::verb::get, "/v1/acquire?policy=p&key=k").result_int(), 200u);
  redis.pause();  // the next decision waits for Redis (then its timeout and the local policy)
  int status = -3;
  std::thread stopper{[&] {
    // SIGTERM only once the decision is in flight, however busy the machine.
    Client observer{server.port()};
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (observer.send(http::verb::get, "/metrics").body().find("leaksnek_decisions_pending 1\n") ==
               std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    status = server.stop();
  }};
  auto response = client.send(http::verb::get, "/v1/acquire?policy=p&key=k");
  stopper.join();
  redis.resume();
  EXPECT_EQ(response.result_int(), 200u);  // answered by the local policy after the store's timeout
  EXPECT_FALSE(response.keep_alive());     // and the connection closed: draining
  EXPECT_EQ(status, 0);
}

// Waits (up to 10 s) until /metrics shows `line`: a reload follows SIGHUP
// asynchronously.
bool metrics_show(int port, const std::string& line) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Client{port}.send(http::verb::get, "/metrics").body().find(line) != std::string::npos) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>{in}, {}};
}

int allowed_of(Client& client, const std::string& target, int tries) {
  int allowed = 0;
  for (int i = 0; i < tries; ++i) allowed += client.send(http::verb::get, target).result_int() == 200u ? 1 : 0;
  return allowed;
}

constexpr const char* reload_before = R"(
[policies.p]
algorithm = "gcra"
limit = "3/h"
[policies.gone]
algorithm = "gcra"
limit = "1/h"
)";

TEST(Serve, SighupAppliesChangedPoliciesAndKeysKeepTheirState) {
  ServeProcess server{reload_before, "--threads 2"};
  Client client{server.port()};
  EXPECT_EQ(allowed_of(client, "/v1/acquire?policy=p&key=k", 4), 3);
  server.reload(R"(
[server]
max_cost = 5
[policies.p]
algorithm = "gcra"
limit = "3/h"
burst = 5
[policies.added]
algorithm = "fixed-window"
limit = "1/h"
)");
  ASSERT_TRUE(metrics_show(server.port(), "leaksnek_config_reloads_total{result=\"applied\"} 1\n"));
  // k had spent 3: a burst of 5 leaves it 2 (its state was kept); a new key has 5.
  EXPECT_EQ(allowed_of(client, "/v1/acquire?policy=p&key=k", 4), 2);
  EXPECT_EQ(allowed_of(client, "/v1/acquire?policy=p&key=fresh", 7), 5);
  EXPECT_EQ(allowed_of(client, "/v1/acquire?policy=added&key=k", 2), 1);
  EXPECT_EQ(client.send(http::verb::get, "/v1/acquire?policy=gone&key=k").result_int(), 404u);
  EXPECT_EQ(client.send(http::verb::get, "/v1/acquire?policy=p&key=other&cost=6").result_int(), 400u);  // max_cost
  const std::string page = client.send(http::verb::get, "/metrics").body();
  // p's counters go on across the reload: 3 + 2 + 5 allowed, 1 + 2 + 2 denied.
  EXPECT_NE(page.find("leaksnek_decisions_total{policy=\"p\",outcome=\"allowed\"} 10\n"), std::string::npos) << page;
  EXPECT_NE(page.find("leaksnek_decisions_total{policy=\"p\",outcome=\"denied\"} 5\n"), std::string::npos) << page;
  EXPECT_NE(page.find("leaksnek_config_last_reload_successful 1\n"), std::string::npos);
  EXPECT_EQ(server.stop(), 0);
}

TEST(Serve, SighupWithABadFileIsRefusedWithTheMessageOfAStartAndTheOldPoliciesServe) {
  const auto errors = std::filesystem::temp_directory_path() / ("leaksnek-reload-" + std::to_string(getpid()));
  ServeProcess server{reload_before, "2>" + errors.string()};
  Client client{server.port()};
  EXPECT_EQ(allowed_of(client, "/v1/acquire?policy=p&key=k", 2), 2);
  const std::string bad = "[policies.p]\nalgorithm = \"gcra\"\nlimit = \"3/fortnight\"\n";
  server.reload(bad);
  ASSERT_TRUE(metrics_show(server.port(), "leaksnek_config_reloads_total{result=\"refused\"} 1\n"));
  EXPECT_TRUE(metrics_show(server.port(), "leaksnek_config_last_reload_successful 0\n"));
  const std::string at_start = config_error(bad);  // the same text, named leaksnek.toml
  const std::string logged = read_file(errors);
  EXPECT_NE(logged.find("reload refused"), std::string::npos) << logged;
  EXPECT_NE(logged.find(at_start.substr(at_start.find(':'))), std::string::npos) << logged << "\n" << at_start;
  // The old policies, with their state: k has one left, "gone" still exists.
  EXPECT_EQ(allowed_of(client, "/v1/acquire?policy=p&key=k", 2), 1);
  EXPECT_EQ(client.send(http::verb::get, "/v1/acquire?policy=gone&key=k").result_int(), 200u);
  server.reload(reload_before);  // fixed: applied
  EXPECT_TRUE(metrics_show(server.port(), "leaksnek_config_last_reload_successful 1\n"));
  EXPECT_EQ(server.stop(), 0);
  std::filesystem::remove(errors);
}

TEST(Serve, SighupReportsTheSettingsThatTakeEffectAtTheNextStart) {
  const auto errors = std::filesystem::temp_directory_path() / ("leaksnek-restart-" + std::to_string(getpid()));
  ServeProcess server{"[server]\nthreads = 2\n" + std::string{reload_before}, "2>" + errors.string()};
  server.reload("[server]\nthreads = 3\nmax_keys = 10\n" + std::string{reload_before});
  ASSERT_TRUE(metrics_show(server.port(), "leaksnek_config_reloads_total{result=\"applied\"} 1\n"));
  const std::string logged = read_file(errors);
  EXPECT_NE(logged.find("server.threads changed from 2 to 3; that takes effect at the next start"), std::string::npos)
      << logged;
  EXPECT_NE(logged.find("server.max_keys changed from 1000000 to 10; that takes effect at the next start"),
            std::string::npos)
      << logged;
  EXPECT_EQ(Client{server.port()}.send(http::verb::get, "/v1/acquire?policy=p&key=k").result_int(), 200u);
  EXPECT_EQ(server.stop(), 0);
  std::filesystem::remove(errors);
}

TEST(Serve, TheAccessLogIsOneJsonLinePerRequestAndOffByDefault) {
  auto log = std::filesystem::temp_directory_path() / ("leaksnek-access-" + std::to_string(getpid()) + ".log");
  {
    ServeProcess server{demo_config, "--access-log 2>" + log.string()};
    Client client{server.port()};
    (void)client.send(http::verb::get, "/v1/acquire?policy=demo&key=logged");
    // Bytes that are not UTF-8 still make a line of valid JSON.
    (void)answer_to_raw(server,
                        "GET /v1/acquire?policy=demo&key=\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(server.stop(), 0);
  }
  std::ifstream in{log};
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind(R"({"method":"GET","target":"/v1/acquire?policy=demo&key=logged","status":200,"us":)", 0), 0u)
      << line;
  std::getline(in, line);
  EXPECT_EQ(line.rfind(R"({"method":"GET","target":"/v1/acquire?policy=demo&key=\u00ff\u00fe","status":)", 0), 0u)
      << line;
  {
    ServeProcess quiet{demo_config, "2>" + log.string()};
    Client client{quiet.port()};
    (void)client.send(http::verb::get, "/healthz");
    EXPECT_EQ(quiet.stop(), 0);
  }
  EXPECT_EQ(std::filesystem::file_size(log), 0u);
  std::filesystem::remove(log);
}

TEST(Serve, ABadConfigurationExitsTwoNamingIt) {
  auto path = std::filesystem::temp_directory_path() / ("leaksnek-bad-" + std::to_string(getpid()) + ".toml");
  std::ofstream{path} << "[policies.api]\nalgorithm = \"gcra\"\nlimit = \"0/s\"\n";
  std::string command = std::string{LEAKSNEK_BINARY} + " serve --config " + path.string() + " 2>&1";
  std::FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  int status = pclose(pipe);
  std::filesystem::remove(path);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(out.find(path.string() + ": policies.api.limit:"), std::string::npos) << out;
}

// A policy with `lease = true` decides a hot key from leases: far fewer
// Redis calls than requests (counted in /metrics), and no more allowed than
// the limit; the other policy on the same Redis does not lease.
TEST(Serve, APolicyWithLeasesSpendsThemOnAHotKey) {
  testing::RedisServer redis;
  const std::string config =
      "[policies.hot]\nalgorithm = \"gcra\"\nlimit = \"100/h\"\nlease = true\nlease_ttl = \"10s\"\n"
      "[policies.plain]\nalgorithm = \"gcra\"\nlimit = \"100/h\"\n";
  ServeProcess server{config, "--storage " + redis.url()};
  Client client{server.port()};
  int allowed = 0;
  for (int i = 0; i < 150; ++i) {
    allowed += client.send(http::verb::get, "/v1/acquire?policy=hot&key=tenant").result_int() == 200u ? 1 : 0;
  }
  for (int i = 0; i < 5; ++i) (void)client.send(http::verb::get, "/v1/acquire?policy=plain&key=tenant");
  EXPECT_LE(allowed, 100);
  EXPECT_GE(allowed, 100 - 25) << "at most one lease (a quarter of the burst) held back";
  const std::string metrics = client.send(http::verb::get, "/metrics").body();
  auto value = [&](std::string_view name) {
    const std::size_t at = metrics.find("\n" + std::string{name} + " ");
    return at == std::string::npos ? -1L : std::stol(metrics.substr(at + name.size() + 2));
  };
  EXPECT_GT(value("leaksnek_leases_total"), 0) << metrics;
  EXPECT_GT(value("leaksnek_local_decisions_total{source=\"lease\"}"), 50) << metrics;
  EXPECT_GT(value("leaksnek_local_decisions_total{source=\"cached_denial\"}"), 0) << metrics;
  EXPECT_EQ(server.stop(), 0);
}

// Leasing follows the configuration: a reload that drops `lease = true`
// stops it (the storage keeps no stale setting), and `lease = false` turns
// off the URL's ?lease=on for its policy.
TEST(Serve, AReloadThatDropsLeaseStopsLeasingAndLeaseFalseOverridesTheUrl) {
  testing::RedisServer redis;
  const std::string leasing = "[policies.hot]\nalgorithm = \"gcra\"\nlimit = \"1000/h\"\nlease = true\n";
  ServeProcess server{leasing, "--storage " + redis.url()};
  Client client{server.port()};
  auto leases = [&] {
    const std::string metrics = client.send(http::verb::get, "/metrics").body();
    const std::string name = "\nleaksnek_leases_total ";
    const std::size_t at = metrics.find(name);
    return at == std::string::npos ? -1L : std::stol(metrics.substr(at + name.size()));
  };
  for (int i = 0; i < 50; ++i) (void)client.send(http::verb::get, "/v1/acquire?policy=hot&key=tenant");
  const long before = leases();
  ASSERT_GT(before, 0);
  server.reload("[policies.hot]\nalgorithm = \"gcra\"\nlimit = \"1000/h\"\n");
  ASSERT_TRUE(metrics_show(server.port(), "leaksnek_config_reloads_total{result=\"applied\"} 1\n"));
  for (int i = 0; i < 50; ++i) (void)client.send(http::verb::get, "/v1/acquire?policy=hot&key=tenant");
  EXPECT_EQ(leases(), before);
  EXPECT_EQ(server.stop(), 0);

  ServeProcess url_on{
      "[policies.off]\nalgorithm = \"gcra\"\nlimit = \"1000/h\"\nlease = false\n"
      "[policies.on]\nalgorithm = \"gcra\"\nlimit = \"1000/h\"\n",
      "--storage '" + redis.url() + "?lease=on'"};
  Client to_url_on{url_on.port()};
  for (int i = 0; i < 50; ++i) (void)to_url_on.send(http::verb::get, "/v1/acquire?policy=off&key=tenant");
  const std::string off = to_url_on.send(http::verb::get, "/metrics").body();
  EXPECT_NE(off.find("\nleaksnek_leases_total 0\n"), std::string::npos) << off;
  for (int i = 0; i < 50; ++i) (void)to_url_on.send(http::verb::get, "/v1/acquire?policy=on&key=tenant");
  const std::string on = to_url_on.send(http::verb::get, "/metrics").body();
  EXPECT_EQ(on.find("\nleaksnek_leases_total 0\n"), std::string::npos) << on;
  EXPECT_EQ(url_on.stop(), 0);
}

TEST(Serve, TwoServersOnOneRedisEnforceOneLimit) {
  testing::RedisServer redis;
  const std::string config = "[policies.shared]\nalgorithm = \"sliding-window\"\nlimit = \"20/h\"\n";
  ServeProcess a{config, "--storage " + redis.url()};
  ServeProcess b{config, "--store " + redis.url()};
  Client to_a{a.port()};
  Client to_b{b.port()};
  int allowed = 0;
  for (int i = 0; i < 30; ++i) {
    Client& client = i % 2 == 0 ? to_a : to_b;
    allowed += client.send(http::verb::get, "/v1/acquire?policy=shared&key=tenant-7").result_int() == 200u ? 1 : 0;
  }
  EXPECT_EQ(allowed, 20);
  EXPECT_EQ(to_a.send(http::verb::get, "/readyz").result_int(), 200u);
  redis.kill();
  EXPECT_EQ(to_a.send(http::verb::get, "/readyz").result_int(), 503u);
  EXPECT_EQ(a.stop(), 0);
  EXPECT_EQ(b.stop(), 0);
}

}  // namespace
}  // namespace leaksnek
