// `leaksnek serve --grpc-listen` as Envoy's rate limit service, driven by a
// real gRPC client over a real socket: envoyproxy/ratelimit's integration
// sequences re-created, our extensions, malformed requests and bad configs.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <google/protobuf/unknown_field_set.h>

#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "redis_server.hpp"
#include "serve_process.hpp"

namespace leaksnek {
namespace {

namespace rls = envoy::service::ratelimit::v3;
using testing::ServeProcess;
using namespace std::chrono_literals;
using Code = rls::RateLimitResponse;

constexpr const char* basic_yaml = R"(domain: basic
descriptors:
  - key: key1
    rate_limit:
      unit: second
      requests_per_unit: 50
  - key: twenty
    rate_limit:
      name: twenty_a_minute
      unit: minute
      requests_per_unit: 20
  - key: free
    rate_limit:
      unlimited: true
  - key: remote_address
    value: 10.0.0.66
    rate_limit:
      unit: second
      requests_per_unit: 0
  - key: tenant
    value: acme
    descriptors:
      - key: path
        rate_limit:
          unit: minute
          requests_per_unit: 5
      - key: path
        value: /login
        rate_limit:
          unit: minute
          requests_per_unit: 2
  - key: client
    value: bot*
    rate_limit:
      unit: minute
      requests_per_unit: 3
  - key: shadow
    shadow_mode: true
    rate_limit:
      unit: minute
      requests_per_unit: 1
  - key: bucket
    rate_limit:
      algorithm: gcra
      unit: hour
      requests_per_unit: 3600
      burst: 4
  - key: burstier
    rate_limit:
      algorithm: gcra
      unit: hour
      requests_per_unit: 10
      burst: 20
  - key: window
    rate_limit:
      unit: minute
      unit_multiplier: 10
      requests_per_unit: 3
  - key: plan
    rate_limit:
      name: plan_default
      unit: minute
      requests_per_unit: 1
  - key: vip
    rate_limit:
      unit: minute
      requests_per_unit: 100
      replaces:
        - name: plan_default
  - key: detailed
    detailed_metric: true
    rate_limit:
      unit: minute
      requests_per_unit: 100
  - key: both
    rate_limits:
      - unit: minute
        requests_per_unit: 2
      - unit: hour
        requests_per_unit: 100
)";

// A YAML file for the test's lifetime.
class YamlFile {
 public:
  explicit YamlFile(const std::string& text, const std::string& name = "basic") {
    path_ = std::filesystem::temp_directory_path() /
            ("leaksnek-envoy-" + std::to_string(getpid()) + "-" + std::to_string(counter_++) + "-" + name + ".yaml");
    write(text);
  }
  ~YamlFile() { std::filesystem::remove(path_); }
  void write(const std::string& text) const { std::ofstream{path_, std::ios::trunc} << text; }
  [[nodiscard]] std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

// The server with `yaml`'s domain on gRPC (and `extra` options).
struct EnvoyServer {
  explicit EnvoyServer(const std::string& yaml = basic_yaml, const std::string& extra = "")
      : file{yaml},
        process{"[server]\ngrpc_listen = \"127.0.0.1:0\"\n", "--config " + file.path() + " " + extra},
        stub{rls::RateLimitService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(process.grpc_port()),
                                                                grpc::InsecureChannelCredentials()))} {}
  YamlFile file;
  ServeProcess process;
  std::unique_ptr<rls::RateLimitService::Stub> stub;
};

struct Answer {
  grpc::Status status;
  rls::RateLimitResponse response;
};

Answer call(EnvoyServer& server, const rls::RateLimitRequest& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  Answer answer;
  answer.status = server.stub->ShouldRateLimit(&context, request, &answer.response);
  return answer;
}

using Entries = std::vector<std::pair<std::string, std::string>>;

rls::RateLimitRequest request_of(const std::string& domain, const std::vector<Entries>& descriptors,
                                 std::uint32_t hits = 0) {
  rls::RateLimitRequest request;
  request.set_domain(domain);
  request.set_hits_addend(hits);
  for (const Entries& entries : descriptors) {
    auto* descriptor = request.add_descriptors();
    for (const auto& [key, value] : entries) {
      auto* entry = descriptor->add_entries();
      entry->set_key(key);
      entry->set_value(value);
    }
  }
  return request;
}

// A value no earlier run used (fixed windows last up to an hour here).
std::string fresh(const std::string& name) {
  static int counter = 0;
  return name + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

// Runs `body` early enough in a wall-clock minute that no window boundary
// splits it (a sequence takes milliseconds): in a minute's last 5 s it first
// waits for the next (the windows are the wall clock's, as upstream's).
template <class F>
void within_one_minute(F&& body) {
  const auto into = std::chrono::system_clock::now().time_since_epoch() % std::chrono::minutes{1};
  if (into > 55s) std::this_thread::sleep_for(std::chrono::minutes{1} - into);
  body();
}

TEST(EnvoyGrpc, AnUnknownDomainAndAnUnmatchedDescriptorAnswerOk) {
  EnvoyServer server;
  Answer unknown = call(server, request_of("nowhere", {{{"key1", "x"}}}));
  ASSERT_TRUE(unknown.status.ok()) << unknown.status.error_message();
  EXPECT_EQ(unknown.response.overall_code(), Code::OK);
  ASSERT_EQ(unknown.response.statuses_size(), 1);
  EXPECT_EQ(unknown.response.statuses(0).code(), Code::OK);
  EXPECT_FALSE(unknown.response.statuses(0).has_current_limit());
  Answer unmatched = call(server, request_of("basic", {{{"nothing", "here"}}}));
  EXPECT_EQ(unmatched.response.overall_code(), Code::OK);
  EXPECT_FALSE(unmatched.response.statuses(0).has_current_limit());
  EXPECT_EQ(server.process.stop(), 0);
}

// grpc.health.v1.Health/Check, as an Envoy cluster's gRPC health check asks
// it: an empty HealthCheckRequest (the whole server) answers SERVING, whose
// encoding is field 1 (status), varint 1.
TEST(EnvoyGrpc, TheGrpcHealthServiceAnswersServing) {
  EnvoyServer server;
  grpc::GenericStub stub{grpc::CreateChannel("127.0.0.1:" + std::to_string(server.process.grpc_port()),
                                             grpc::InsecureChannelCredentials())};
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::Slice empty{std::string{}};  // a buffer with no slice at all is no message to gRPC
  const grpc::ByteBuffer request{&empty, 1};
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions{}, &request, &response,
                 [&](grpc::Status status) { done.set_value(std::move(status)); });
  const grpc::Status status = done.get_future().get();
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
  EXPECT_EQ(server.process.stop(), 0);
}

TEST(EnvoyGrpc, OneHitOnFiftyASecondLeavesFortyNine) {
  EnvoyServer server;
  Answer answer = call(server, request_of("basic", {{{"key1", fresh("v")}}}));
  ASSERT_TRUE(answer.status.ok()) << answer.status.error_message();
  const auto& status = answer.response.statuses(0);
  EXPECT_EQ(status.code(), Code::OK);
  EXPECT_EQ(status.current_limit().requests_per_unit(), 50u);
  EXPECT_EQ(status.current_limit().unit(), rls::RateLimitResponse::RateLimit::SECOND);
  EXPECT_EQ(status.limit_remaining(), 49u);
  EXPECT_EQ(status.duration_until_reset().seconds(), 1);
  EXPECT_EQ(server.process.stop(), 0);
}

TEST(EnvoyGrpc, TwentyFiveHitsOnTwentyAMinuteGoOverFromTheTwentyFirst) {
  EnvoyServer server;
  within_one_minute([&] {
    const std::string value = fresh("v");
    for (int hit = 1; hit <= 25; ++hit) {
      Answer answer = call(server, request_of("basic", {{{"twenty", value}}}));
      ASSERT_TRUE(answer.status.ok());
      const auto& status = answer.response.statuses(0);
      EXPECT_EQ(answer.response.overall_code(), hit <= 20 ? Code::OK : Code::OVER_LIMIT) << hit;
      EXPECT_EQ(status.limit_remaining(), hit <= 20 ? 20u - hit : 0u) << hit;
      EXPECT_EQ(status.current_limit().name(), "twenty_a_minute");
      EXPECT_GE(status.duration_until_reset().seconds(), 1);
      EXPECT_LE(status.duration_until_reset().seconds(), 60);
    }
  });
  EXPECT_EQ(server.process.stop(), 0);
}

TEST(EnvoyGrpc, OneDescriptorOverMakesTheRequestOverAndTheOtherStillCounts) {
  EnvoyServer server;
  within_one_minute([&] {
    const std::string over = fresh("over");
    const std::string other = fresh("other");
    for (int i = 0; i < 20; ++i) (void)call(server, request_of("basic", {{{"twenty", over}}}));
    Answer answer = call(server, request_of("basic", {{{"twenty", over}}, {{"twenty", other}}}));
    EXPECT_EQ(answer.response.overall_code(), Code::OVER_LIMIT);
    EXPECT_EQ(answer.response.statuses(0).code(), Code::OVER_LIMIT);
    EXPECT_EQ(answer.response.statuses(1).code(), Code::OK);
    EXPECT_EQ(answer.response.statuses(1).limit_remaining(), 19u);  // counted, as upstream does by default
  });
  EXPECT_EQ(server.process.stop(), 0);
}

TEST(EnvoyGrpc, NestedAndWildcardMatchesPickTheMostSpecificLimit) {
  EnvoyServer server;
  within_one_minute([&] {
    const std::string page = fresh("/page");
    Answer general = call(server, request_of("basic", {{{"tenant", "acme"}, {"path", page}}}));
    EXPECT_EQ(general.response.statuses(0).current_limit().requests_per_unit(), 5u);
    EXPECT_EQ(general.response.statuses(0).limit_remaining(), 4u);
    // The exact value beats the bare key (its own counter: shared by every caller).
    Answer login = call(server, request_of("basic", {{{"tenant", "acme"}, {"path", "/login"}}}));
    EXPECT_EQ(login.response.statuses(0).current_limit().requests_per_unit(), 2u);
    // Only at the depth of the request's last entry: "tenant" alone has no limit.
    Answer shallow = call(server, request_of("basic", {{{"tenant", "acme"}}}));
    EXPECT_FALSE(shallow.response.statuses(0).has_current_limit());
    // A wildcard value.
    const std::string bot = "bot-" + fresh("x");
    for (int i = 1; i <= 4; ++i) {
      Answer wild = call(server, request_of("basic", {{{"client", bot}}}));
      EXPECT_EQ(wild.response.statuses(0).current_limit().requests_per_unit(), 3u);
      EXPECT_EQ(wild.response.statuses(0).code(), i <= 3 ? Code::OK : Code::OVER_LIMIT) << i;
    }
    Answer human = call(server, request_of("basic", {{{"client", "human"}}}));
    EXPECT_FALSE(human.response.statuses(0).has_current_limit());
  });
  EXPECT_EQ(server.process.stop(), 0);
}

// Unlimited: OK with the largest remaining. A count of 0 (upstream's way to
// block an address): always over.
TEST(EnvoyGrpc, UnlimitedAnswersOkAndACountOfZeroIsAlwaysOver) {
  EnvoyServer server;
  for (int i = 0; i < 3; ++i) {
    Answer answer = call(server, request_of("basic", {{{"free", "x"}}}));
    EXPECT_EQ(answer.response.overall_code(), Code::OK);
    EXPECT_EQ(answer.response.statuses(0).limit_remaining(), 4294967295u);
    Answer blocked = call(server, request_of("basic", {{{"remote_address", "10.0.0.66"}}}));
    EXPECT_EQ(blocked.response.overall_code(), Code::OVER_LIMIT);
    EXPECT_EQ(blocked.response.statuses(0).current_limit().requests_per_unit(), 0u);
  }
  EXPECT_EQ(server.process.stop(), 0);
}

TEST(EnvoyGrpc, HitsAddendPerRequestAndPerDescriptorAndZeroOnlyChecks) {
  EnvoyServer server;
  within_one_minute([&] {
    const std::string value = fresh("v");
    Answer five = call(server, request_of("basic", {{{"twenty", value}}}, 5));
    EXPECT_EQ(five.response.statuses(0).limit_remaining(), 15u);
    rls::RateLimitRequest check = request_of("basic", {{{"twenty", value}}}, 5);
    check.mutable_descriptors(0)->mutable_hits_addend()->set_value(0);
    Answer checked = call(server, check);
    EXPECT_EQ(checked.response.statuses(0).code(), Code::OK);
    EXPECT_EQ(checked.response.statuses(0).limit_remaining(), 15u);
    // Over with 16: the window is spent (as upstream's counter goes past it).
    Answer over = call(server, request_of("basic", {{{"twenty", value}}}, 16));
    EXPECT_EQ(over.response.overall_code(), Code::OVER_LIMIT);
    Answer one = call(server, request_of("basic", {{{"twenty", value}}}));
    EXPECT_EQ(one.response.overall_code(), Code::OVER_LIMIT);
    // Hits far past any limit (a request's uint32, a descriptor's uint64)
    // are answered OVER_LIMIT, as upstream answers them, never an error
    // (which Envoy lets through), and spend the window as upstream's would.
    for (const std::uint64_t huge : {std::uint64_t{4'294'967'295}, std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
      const std::string fresh_value = fresh("huge");
      rls::RateLimitRequest request = request_of("basic", {{{"twenty", fresh_value}}});
      if (huge <= 4'294'967'295) {
        request.set_hits_addend(static_cast<std::uint32_t>(huge));
      } else {
        request.mutable_descriptors(0)->mutable_hits_addend()->set_value(huge);
      }
      Answer answer = call(server, request);
      ASSERT_TRUE(answer.status.ok()) << huge << ": " << answer.status.error_message();
      EXPECT_EQ(answer.response.overall_code(), Code::OVER_LIMIT) << huge;
      EXPECT_EQ(answer.response.statuses(0).current_limit().requests_per_unit(), 20u);
      EXPECT_EQ(call(server, request_of("basic", {{{"twenty", fresh_value}}})).response.overall_code(),
                Code::OVER_LIMIT)
          << huge;
    }
    // A burst above the count: hits past the count but within the burst are
    // charged in full (15, then 6 more is over 20).
    const std::string burst_value = fresh("burst");
    EXPECT_EQ(call(server, request_of("basic", {{{"burstier", burst_value}}}, 15)).response.overall_code(), Code::OK);
    EXPECT_EQ(call(server, request_of("basic", {{{"burstier", burst_value}}}, 6)).response.overall_code(),
              Code::OVER_LIMIT);
  });
  EXPECT_EQ(server.process.stop(), 0);
}

// Shadow mode, and /metrics well formed whatever a client sends.
TEST(EnvoyGrpc, ShadowModeAnswersOkButCountsAndMetricsStayWellFormed) {
  EnvoyServer server;
  within_one_minute([&] {
    const std::string value = fresh("v");
    for (int i = 0; i < 3; ++i) {
      Answer answer = call(server, request_of("basic", {{{"shadow", value}}}));
      EXPECT_EQ(answer.response.overall_code(), Code::OK);
      EXPECT_EQ(answer.response.statuses(0).limit_remaining(), 0u);
    }
  });
  (void)call(server, request_of("basic", {{{"detailed", "x\nforged_metric 1"}}}));
  testing::Client client{server.process.port()};
  const std::string metrics = client.send(boost::beast::http::verb::get, "/metrics").body();
  EXPECT_NE(metrics.find("{descriptor=\"basic.shadow\",outcome=\"shadow_mode\"} 2"), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("\nforged_metric"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("basic.detailed_x\\nforged_metric 1"), std::string::npos) << metrics;
  EXPECT_EQ(server.process.stop(), 0);
}

TEST(EnvoyGrpc, ExtensionsAlgorithmBurstUnitMultiplierAndSeveralLimits) {
  EnvoyServer server;
  within_one_minute([&] {
    // GCRA at 1/s with a burst of 4.
    const std::string bucket = fresh("b");
    int allowed = 0;
    for (int i = 0; i < 6; ++i) {
      allowed += call(server, request_of("basic", {{{"bucket", bucket}}})).response.overall_code() == Code::OK;
    }
    EXPECT_EQ(allowed, 4);
    // A window of 10 minutes: the reset is up to 600 s away.
    Answer window = call(server, request_of("basic", {{{"window", fresh("w")}}}));
    EXPECT_EQ(window.response.statuses(0).limit_remaining(), 2u);
    EXPECT_GT(window.response.statuses(0).duration_until_reset().seconds(), 0);
    EXPECT_LE(window.response.statuses(0).duration_until_reset().seconds(), 600);
    // Two limits, all-or-nothing: 2 a minute binds.
    const std::string both = fresh("two");
    std::vector<Code::Code> codes;
    for (int i = 0; i < 3; ++i)
      codes.push_back(call(server, request_of("basic", {{{"both", both}}})).response.overall_code());
    EXPECT_EQ(codes, (std::vector<Code::Code>{Code::OK, Code::OK, Code::OVER_LIMIT}));
  });
  EXPECT_EQ(server.process.stop(), 0);
}

TEST(EnvoyGrpc, StopIncrementWhenOverLimitCountsNothingOnceOneIsOver) {
  EnvoyServer server{basic_yaml, "--grpc-stop-increment-when-over-limit --grpc-response-headers"};
  within_one_minute([&] {
    const std::string over = fresh("over");
    const std::string other = fresh("other");
    for (int i = 0; i < 20; ++i) (void)call(server, request_of("basic", {{{"twenty", over}}}));
    Answer answer = call(server, request_of("basic", {{{"twenty", over}}, {{"twenty", other}}}));
    EXPECT_EQ(answer.response.overall_code(), Code::OVER_LIMIT);
    // A check (hits_addend 0) beside a descriptor over its limit is OK.
    rls::RateLimitRequest with_check = request_of("basic", {{{"twenty", over}}, {{"twenty", other}}});
    with_check.mutable_descriptors(1)->mutable_hits_addend()->set_value(0);
    Answer checked = call(server, with_check);
    EXPECT_EQ(checked.response.statuses(1).code(), Code::OK);
    Answer alone = call(server, request_of("basic", {{{"twenty", other}}}));
    EXPECT_EQ(alone.response.statuses(0).limit_remaining(), 19u) << "the other was not counted";
    std::map<std::string, std::string> headers;
    for (const auto& header : alone.response.response_headers_to_add()) headers[header.key()] = header.value();
    EXPECT_EQ(headers["RateLimit-Limit"], "20");
    EXPECT_EQ(headers["RateLimit-Remaining"], "19");
    EXPECT_FALSE(headers["RateLimit-Reset"].empty());
  });
  EXPECT_EQ(server.process.stop(), 0);
}

// A request's own limit (RateLimitOverride) replaces the configured one,
// with its own counter; a count of 0 is always over.
TEST(EnvoyGrpc, ARequestsOwnLimitOverridesTheConfiguredOne) {
  EnvoyServer server;
  within_one_minute([&] {
    const std::string value = fresh("v");
    auto with_override = [&](std::uint32_t count) {
      rls::RateLimitRequest request = request_of("basic", {{{"twenty", value}}});
      auto* limit = request.mutable_descriptors(0)->mutable_limit();
      limit->set_requests_per_unit(count);
      limit->set_unit(::envoy::type::v3::MINUTE);
      return call(server, request);
    };
    for (int hit = 1; hit <= 4; ++hit) {
      Answer answer = with_override(3);
      EXPECT_EQ(answer.response.statuses(0).current_limit().requests_per_unit(), 3u);
      EXPECT_EQ(answer.response.overall_code(), hit <= 3 ? Code::OK : Code::OVER_LIMIT) << hit;
    }
    EXPECT_EQ(with_override(0).response.overall_code(), Code::OVER_LIMIT);
    // The configured limit's counter was not touched.
    EXPECT_EQ(call(server, request_of("basic", {{{"twenty", value}}})).response.statuses(0).limit_remaining(), 19u);
  });
  EXPECT_EQ(server.process.stop(), 0);
}

// `replaces`: a matched limit named in another's replaces is dropped (not
// counted, no status limit).
TEST(EnvoyGrpc, ReplacesDropsTheReplacedLimit) {
  EnvoyServer server;
  within_one_minute([&] {
    const std::string plan = fresh("p");
    for (int i = 0; i < 3; ++i) {
      Answer answer = call(server, request_of("basic", {{{"plan", plan}}, {{"vip", plan}}}));
      EXPECT_EQ(answer.response.overall_code(), Code::OK) << i;
      EXPECT_FALSE(answer.response.statuses(0).has_current_limit());
      EXPECT_EQ(answer.response.statuses(1).limit_remaining(), 99u - i);
    }
    // Alone, the plan's limit applies, and was never counted above.
    EXPECT_EQ(call(server, request_of("basic", {{{"plan", plan}}})).response.statuses(0).code(), Code::OK);
    EXPECT_EQ(call(server, request_of("basic", {{{"plan", plan}}})).response.statuses(0).code(), Code::OVER_LIMIT);
  });
  EXPECT_EQ(server.process.stop(), 0);
}

// A request as large as upstream answers (a path of 100 KB in a descriptor,
// which Envoy's headers allow) is decided, not refused: a refusal would let
// Envoy pass it. Only past upstream's 4 MiB is it an error.
TEST(EnvoyGrpc, ALargeRequestIsDecidedAndOnlyOneOverFourMiBIsRefused) {
  EnvoyServer server;
  within_one_minute([&] {
    const std::string value = fresh("v") + std::string(100'000, 'p');
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(call(server, request_of("basic", {{{"twenty", value}}})).response.overall_code(), Code::OK) << i;
    }
    EXPECT_EQ(call(server, request_of("basic", {{{"twenty", value}}})).response.overall_code(), Code::OVER_LIMIT);
    Answer huge = call(server, request_of("basic", {{{"twenty", std::string(5 << 20, 'h')}}}));
    EXPECT_EQ(huge.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  });
  EXPECT_EQ(server.process.stop(), 0);
}

TEST(EnvoyGrpc, AMalformedRequestIsInvalidArgumentAndCountsNothing) {
  EnvoyServer server;
  within_one_minute([&] {
    const std::string value = fresh("v");
    auto expect_invalid = [&](const rls::RateLimitRequest& request, const std::string& words) {
      Answer answer = call(server, request);
      EXPECT_EQ(answer.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << words;
      EXPECT_NE(answer.status.error_message().find(words), std::string::npos) << answer.status.error_message();
    };
    expect_invalid(request_of("", {{{"twenty", value}}}), "domain is empty");
    expect_invalid(request_of("basic", {}), "no descriptors");
    expect_invalid(request_of("basic", {{{"twenty", value}}, {{"", "x"}}}), "empty key");
    std::vector<Entries> many(65, Entries{{"twenty", value}});
    expect_invalid(request_of("basic", many), "65 descriptors");
    Entries long_entries(17, {"twenty", value});
    expect_invalid(request_of("basic", {long_entries}), "17 entries");
    rls::RateLimitRequest refund = request_of("basic", {{{"twenty", value}}});
    refund.mutable_descriptors(0)
        ->GetReflection()
        ->MutableUnknownFields(refund.mutable_descriptors(0))
        ->AddVarint(4, 1);
    expect_invalid(refund, "is_negative_hits");
    Answer first = call(server, request_of("basic", {{{"twenty", value}}}));
    EXPECT_EQ(first.response.statuses(0).limit_remaining(), 19u) << "nothing counted before";
  });
  EXPECT_EQ(server.process.stop(), 0);
}

// examples/envoy/edge.yaml, as the README serves it: its token bucket
// admits its burst of 40 at once.
TEST(EnvoyGrpc, TheExampleConfigurationServes) {
  std::ifstream in{std::string{LEAKSNEK_EXAMPLES_DIR} + "/envoy/edge.yaml"};
  std::stringstream text;
  text << in.rdbuf();
  EnvoyServer server{text.str()};
  const std::string key = fresh("k");
  int allowed = 0;
  for (int i = 0; i < 45; ++i) {
    allowed += call(server, request_of("edge", {{{"api_key", key}}})).response.overall_code() == Code::OK;
  }
  EXPECT_GE(allowed, 40);
  EXPECT_LE(allowed, 42);  // and what refills meanwhile (10 a second)
  EXPECT_EQ(server.process.stop(), 0);
}

TEST(EnvoyGrpc, AConfigThatMustBeRefusedExitsTwoNamingFileDomainAndKey) {
  YamlFile bad{"domain: edge\ndescriptors:\n  - key: a\n    rate_limt:\n      unit: second\n"};
  std::string command =
      std::string{LEAKSNEK_BINARY} + " serve --grpc-listen 127.0.0.1:0 --config " + bad.path() + " 2>&1";
  std::FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  const int status = pclose(pipe);
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(out.find(bad.path()), std::string::npos) << out;
  EXPECT_NE(out.find("edge"), std::string::npos) << out;
  EXPECT_NE(out.find("rate_limt"), std::string::npos) << out;
}

TEST(EnvoyGrpc, SighupReadsTheYamlAgain) {
  EnvoyServer server;
  const std::string value = fresh("v");
  EXPECT_EQ(
      call(server, request_of("basic", {{{"key1", value}}})).response.statuses(0).current_limit().requests_per_unit(),
      50u);
  std::string changed = basic_yaml;
  changed.replace(changed.find("requests_per_unit: 50"), 21, "requests_per_unit: 70");
  server.file.write(changed);
  kill(server.process.pid(), SIGHUP);
  std::uint32_t limit = 0;
  for (int i = 0; i < 200 && limit != 70u; ++i) {
    limit = call(server, request_of("basic", {{{"key1", fresh("w")}}}))
                .response.statuses(0)
                .current_limit()
                .requests_per_unit();
    if (limit != 70u) std::this_thread::sleep_for(10ms);  // the reload is asynchronous, not a limit
  }
  EXPECT_EQ(limit, 70u);
  EXPECT_EQ(server.process.stop(), 0);
}

// On Redis: decisions wait on Redis without a thread waiting, windows on
// the server's clock, a key of any length; Redis gone: the fault policy
// (here fail-open) answers, within the timeout.
TEST(EnvoyGrpc, OnRedisTheSameAnswersAndTheFaultPolicyWhenRedisIsGone) {
  testing::RedisServer redis;
  EnvoyServer server{basic_yaml, "--storage " + redis.url() + " --on-storage-error fail-open"};
  within_one_minute([&] {
    const std::string value = fresh("v");
    for (int hit = 1; hit <= 22; ++hit) {
      Answer answer = call(server, request_of("basic", {{{"twenty", value}}, {{"key1", value}}}));
      ASSERT_TRUE(answer.status.ok()) << answer.status.error_message();
      EXPECT_EQ(answer.response.statuses(0).code(), hit <= 20 ? Code::OK : Code::OVER_LIMIT) << hit;
    }
    const std::string path(4000, 'p');  // over Redis keys' 512-byte bound: hashed, still its own counter
    EXPECT_EQ(call(server, request_of("basic", {{{"twenty", path}}})).response.statuses(0).limit_remaining(), 19u);
    EXPECT_EQ(call(server, request_of("basic", {{{"twenty", path}}})).response.statuses(0).limit_remaining(), 18u);
  });
  redis.kill();
  const auto start = std::chrono::steady_clock::now();
  Answer down = call(server, request_of("basic", {{{"twenty", fresh("v")}}}));
  EXPECT_TRUE(down.status.ok());
  EXPECT_EQ(down.response.overall_code(), Code::OK) << "fail-open";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(server.process.stop(), 0);
}

}  // namespace
}  // namespace leaksnek
