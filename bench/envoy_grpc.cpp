// ShouldRateLimit calls per second over gRPC: leaksnek's Envoy service on
// memory against a server of the same gRPC stack that answers a constant OK
// (the floor of gRPC here), in the same run, on one core (the process is
// pinned to CPU 0: clients and servers share it). Rounds alternate between
// the two; the ratio of the medians is printed.
//
// usage: leaksnek_envoy_grpc [seconds per round (1)] [rounds (5)] [clients (4)]
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <boost/asio/io_context.hpp>

#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "serve/envoy_config.hpp"
#include "serve/envoy_service.hpp"
#include "serve/grpc_server.hpp"

namespace {

namespace rls = envoy::service::ratelimit::v3;
using leaksnek::cli::EnvoyService;
using leaksnek::cli::GrpcServer;

// The floor: every call answered OK with one status, nothing decided.
class ConstantService final : public rls::RateLimitService::CallbackService {
 public:
  grpc::ServerUnaryReactor* ShouldRateLimit(grpc::CallbackServerContext* context, const rls::RateLimitRequest* request,
                                            rls::RateLimitResponse* response) override {
    response->set_overall_code(rls::RateLimitResponse::OK);
    for (int i = 0; i < request->descriptors_size(); ++i) {
      auto* status = response->add_statuses();
      status->set_code(rls::RateLimitResponse::OK);
      status->set_limit_remaining(1000);
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// Calls per second from `clients` threads, each with its own channel, for
// `seconds`; every answer checked.
double rate(int port, int clients, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<long> calls{0};
  std::atomic<long> failures{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      grpc::ChannelArguments arguments;
      arguments.SetInt("leaksnek.channel", c);  // one connection per client
      auto stub = rls::RateLimitService::NewStub(grpc::CreateCustomChannel(
          "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), arguments));
      rls::RateLimitRequest request;
      request.set_domain("bench");
      auto* entry = request.add_descriptors()->add_entries();
      entry->set_key("client");
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        entry->set_value("client-" + std::to_string(c) + "-" + std::to_string(n++ % 1000));
        grpc::ClientContext context;
        rls::RateLimitResponse response;
        const grpc::Status status = stub->ShouldRateLimit(&context, request, &response);
        if (!status.ok() || response.overall_code() != rls::RateLimitResponse::OK) failures.fetch_add(1);
        calls.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds{200});  // connections up
  const long before = calls.load();
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const long after = calls.load();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stop = true;
  for (std::thread& thread : threads) thread.join();
  if (failures.load() > 0) {
    std::fprintf(stderr, "%ld calls failed or were over the limit\n", failures.load());
    std::exit(1);
  }
  return static_cast<double>(after - before) / elapsed;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
  const int clients = argc > 3 ? std::atoi(argv[3]) : 4;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  if (sched_setaffinity(0, sizeof one, &one) != 0) std::perror("sched_setaffinity (running unpinned)");

  // leaksnek: a descriptor per client value, a limit far above the demand.
  leaksnek::cli::ServeConfig config;
  config.domains.push_back(leaksnek::cli::envoy::parse_envoy_yaml(
      "domain: bench\ndescriptors:\n  - key: client\n    rate_limit:\n      unit: second\n"
      "      requests_per_unit: 1000000000\n",
      "bench.yaml"));
  boost::asio::io_context io;  // memory decisions never wait on it
  leaksnek::cli::ServeStorage storage;
  storage.memory = std::make_shared<leaksnek::MemoryStorage<std::string>>();
  EnvoyService service{io.get_executor(), config, storage};
  GrpcServer ours{service, "127.0.0.1:0"};

  ConstantService constant;
  int constant_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &constant_port);
  builder.RegisterService(&constant);
  std::unique_ptr<grpc::Server> floor = builder.BuildAndStart();

  const int our_port = std::stoi(ours.address().substr(ours.address().rfind(':') + 1));
  std::vector<double> leaksnek_rates;
  std::vector<double> floor_rates;
  for (int round = 0; round < rounds; ++round) {
    floor_rates.push_back(rate(constant_port, clients, seconds));
    leaksnek_rates.push_back(rate(our_port, clients, seconds));
    std::printf("round %d: constant OK %.0f calls/s, leaksnek %.0f calls/s (%.2fx)\n", round + 1, floor_rates.back(),
                leaksnek_rates.back(), leaksnek_rates.back() / floor_rates.back());
  }
  std::printf("median: constant OK %.0f calls/s, leaksnek %.0f calls/s: %.2fx the floor (%d clients, one core)\n",
              median(floor_rates), median(leaksnek_rates), median(leaksnek_rates) / median(floor_rates), clients);
  floor->Shutdown();
  ours.shutdown(std::chrono::milliseconds{1000});
  return 0;
}
