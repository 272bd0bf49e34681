// EnvoyService called from several threads at once, as the gRPC server's
// threads call it, beside reloads and /metrics: exact counts, and (in the
// tsan preset) no data race in the service's snapshot swap, its metric
// series, its override runners or the storage under them. In process: no
// socket, so ThreadSanitizer sees our code only.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "serve/envoy_service.hpp"

namespace leaksnek::cli {
namespace {

// A day's fixed window (aligned to the Unix epoch, as upstream's): the test
// would only see it roll over if it ran across midnight UTC.
constexpr const char* edge_yaml = R"(domain: edge
descriptors:
  - key: user
    rate_limit:
      unit: day
      requests_per_unit: 1000
  - key: path
    detailed_metric: true
    rate_limit:
      unit: day
      requests_per_unit: 300
)";

rls::RateLimitRequest request_for(const std::string& key, const std::string& value) {
  rls::RateLimitRequest request;
  request.set_domain("edge");
  auto* entry = request.add_descriptors()->add_entries();
  entry->set_key(key);
  entry->set_value(value);
  return request;
}

// A request that names its own limit (a RateLimitOverride): 200 a day.
rls::RateLimitRequest override_request() {
  rls::RateLimitRequest request = request_for("user", "override");
  auto* limit = request.mutable_descriptors(0)->mutable_limit();
  limit->set_requests_per_unit(200);
  limit->set_unit(::envoy::type::v3::RateLimitUnit::DAY);
  return request;
}

TEST(EnvoyThreads, RequestsFromManyThreadsCountExactlyWhileReloading) {
  ServeConfig config;
  config.domains.push_back(envoy::parse_envoy_yaml(edge_yaml, "edge.yaml"));
  boost::asio::thread_pool pool{1};
  ServeStorage storage;
  storage.memory = std::make_shared<MemoryStorage<std::string>>();
  EnvoyService service{pool.get_executor(), config, storage};

  constexpr int threads = 4;
  constexpr int per_thread = 600;  // of each kind: 2400 in all against 1000, 300 and 200
  struct Counts {
    std::atomic<int> ok{0};
    std::atomic<int> over{0};
  };
  Counts user;
  Counts path;
  Counts own;
  auto ask = [&](const rls::RateLimitRequest& request, Counts& counts) {
    rls::RateLimitResponse response;
    bool done = false;
    service.should_rate_limit(request, response, [&] { done = true; });
    ASSERT_TRUE(done);  // memory: answered on the calling thread
    ASSERT_EQ(response.statuses_size(), 1);
    (response.overall_code() == rls::RateLimitResponse::OK ? counts.ok : counts.over).fetch_add(1);
  };
  std::atomic<bool> running{true};
  std::thread reloader{[&] {
    // Reloads keep every counter's state (same descriptors, same limits),
    // and /metrics reads the series while requests add to them.
    while (running.load()) {
      service.configure(config);
      EXPECT_NE(service.metrics().find("leaksnek_envoy_hits_total"), std::string::npos);
    }
  }};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      const rls::RateLimitRequest by_user = request_for("user", "alice");
      const rls::RateLimitRequest by_path = request_for("path", "/login");
      const rls::RateLimitRequest by_own = override_request();
      for (int i = 0; i < per_thread; ++i) {
        ask(by_user, user);
        ask(by_path, path);
        ask(by_own, own);
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  running.store(false);
  reloader.join();

  EXPECT_EQ(user.ok.load(), 1000);
  EXPECT_EQ(user.over.load(), threads * per_thread - 1000);
  EXPECT_EQ(path.ok.load(), 300);
  EXPECT_EQ(path.over.load(), threads * per_thread - 300);
  EXPECT_EQ(own.ok.load(), 200);
  EXPECT_EQ(own.over.load(), threads * per_thread - 200);
  const std::string metrics = service.metrics();
  EXPECT_NE(metrics.find("{descriptor=\"edge.user\",outcome=\"within_limit\"} 1000\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("{descriptor=\"edge.user\",outcome=\"over_limit\"} 1400\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("{descriptor=\"edge.path_/login\",outcome=\"within_limit\"} 300\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("{descriptor=\"edge._override\",outcome=\"within_limit\"} 200\n"), std::string::npos)
      << metrics;
}

}  // namespace
}  // namespace leaksnek::cli
